//! Secrets never survive redaction, nor reach the evidence of
//! http.secret-in-response.

use proptest::prelude::*;

use super::{builtin, response, template};
use crate::templates::redact;
use crate::templates::redact::rules_compile;

#[test]
fn every_rule_compiles() {
    assert!(rules_compile());
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

fn aws_key() -> impl Strategy<Value = String> {
    "(AKIA|ASIA)[A-Z0-9]{16}"
}

fn github_token() -> impl Strategy<Value = String> {
    "gh[pousr]_[A-Za-z0-9]{36}"
}

/// A password assignment and its value, in one of the usual notations.
fn password() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        Just("password"),
        Just("DB_PASSWORD"),
        Just("db_passwd"),
        Just("secret"),
        Just("api_key"),
        Just("apikey"),
        Just("token")
    ];
    let form = 0..4usize;
    (name, form, "[A-Za-z0-9!@#$%^*()_+=-]{8,24}").prop_map(|(name, form, value)| {
        let text = match form {
            0 => format!("{name}={value}"),
            1 => format!("{name}: {value}"),
            2 => format!("\"{name}\": \"{value}\""),
            _ => format!("{name} = '{value}'"),
        };
        (text, value)
    })
}

/// Random printable text around a secret, separated by a space or newline.
fn embed(secret: String) -> impl Strategy<Value = String> {
    ("[ -~]{0,40}", "[ -~]{0,40}", prop_oneof![Just(" "), Just("\n")])
        .prop_map(move |(before, after, sep)| format!("{before}{sep}{secret}{sep}{after}"))
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
    fn secret_in_response_evidence_never_holds_the_secret(
        (body, secret) in prop_oneof![
            aws_key().prop_map(|k| (k.clone(), k[4..].to_owned())),
            github_token().prop_map(|t| (t.clone(), t[4..].to_owned())),
            password().prop_map(|(t, v)| (format!("DB_{t}"), v)),
        ].prop_flat_map(|(s, secret)| (embed(s), Just(secret)))
    ) {
        let set = builtin();
        let t = template(set, "http.secret-in-response");
        let r = response("/app.js", 200, &[("Content-Type", "application/javascript")], &body);
        if let Some(evidence) = t.evaluate(&[&r]) {
            prop_assert!(!evidence.contains(&secret), "{evidence:?}");
        }
    }

    #[test]
    fn redaction_is_idempotent_and_never_panics(text in "\\PC{0,200}") {
        let once = redact(&text);
        prop_assert_eq!(redact(&once), once.clone());
    }
}
