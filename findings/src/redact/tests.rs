//! Secrets never survive redaction.

use proptest::prelude::*;

use super::secrets::{any_secret, aws_key, embed, github_token, password};
use super::{COMPILED, RULES, redact};

#[test]
fn every_rule_compiles() {
    assert!(COMPILED.as_ref().is_some_and(|c| c.rules.len() == RULES.len() && c.any.len() == RULES.len()));
}

#[test]
fn each_kind_keeps_a_recognisable_prefix() {
    let cases = [
        ("key AKIAIOSFODNN7EXAMPLE here", "key AKIA…[redacted] here"),
        ("ASIAY34FZKBOKMUTVV7A", "ASIA…[redacted]"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [redacted]"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\ntail",
            "-----BEGIN OPENSSH PRIVATE KEY-----[redacted]\ntail",
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "-----BEGIN PRIVATE KEY-----[redacted]"),
        ("t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl;", "t=eyJ…[redacted];"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "Bearer eyJ…[redacted]"),
        ("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_…[redacted]"),
        ("xoxp-1234567890-abcdefghij", "xoxp-…[redacted]"),
        ("AIzaSyA-1234567890abcdefghijklmnopqrstu", "AIza…[redacted]"),
        ("password=hunter2 next", "password=[redacted] next"),
        ("\"apiKey\": \"k-123\", \"x\": 1", "\"apiKey\": \"[redacted]\", \"x\": 1"),
        ("DB_PASSWD='s p a c e'", "DB_PASSWD='[redacted]'"),
        ("postgres://app:pa55@db.agency.test/x", "postgres://app:[redacted]@db.agency.test/x"),
        ("Authorization: Basic YWRtaW46YWRtaW4=", "Authorization: Basic [redacted]"),
        ("nginx/1.18.0 and Index of /files/", "nginx/1.18.0 and Index of /files/"),
    ];
    for (input, expected) in cases {
        assert_eq!(redact(input), expected, "input {input:?}");
    }
}

proptest! {
    #[test]
    fn aws_keys_never_survive(text in aws_key().prop_flat_map(|k| (embed(k.clone()), Just(k)))) {
        let (text, key) = text;
        let out = redact(&text);
        prop_assert!(!out.contains(&key), "{out:?}");
        prop_assert!(!out.contains(&key[4..]), "{out:?}");
    }

    #[test]
    fn github_tokens_never_survive(text in github_token().prop_flat_map(|t| (embed(t.clone()), Just(t)))) {
        let (text, token) = text;
        let out = redact(&text);
        prop_assert!(!out.contains(&token[4..]), "{out:?}");
    }

    #[test]
    fn passwords_never_survive(text in password().prop_flat_map(|(t, v)| (embed(t), Just(v)))) {
        let (text, value) = text;
        let out = redact(&text);
        prop_assert!(!out.contains(&value), "{out:?}");
    }

    #[test]
    fn redaction_is_idempotent_and_never_panics(text in "\\PC{0,200}") {
        let once = redact(&text);
        prop_assert_eq!(redact(&once), once.clone());
    }

    #[test]
    fn no_kind_of_secret_survives((text, secret) in any_secret().prop_flat_map(|(t, s)| (embed(t), Just(s)))) {
        let out = redact(&text);
        prop_assert!(!out.contains(&secret), "{out:?}");
    }
}
