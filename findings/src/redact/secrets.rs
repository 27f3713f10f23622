//! proptest strategies that make secrets of every kind [`redact`](super::redact)
//! knows, for the property tests of this crate and of the scanner (feature
//! `proptest`). Each gives the text to plant and the part that must never
//! come out again.

use proptest::prelude::*;

/// An AWS access key id; its last 16 characters must not survive.
pub fn aws_key() -> impl Strategy<Value = String> {
    "(AKIA|ASIA)[A-Z0-9]{16}"
}

/// A GitHub token; all but its `ghp_` prefix must not survive.
pub fn github_token() -> impl Strategy<Value = String> {
    "gh[pousr]_[A-Za-z0-9]{36}"
}

/// A password assignment and its value, in one of the usual notations.
pub fn password() -> impl Strategy<Value = (String, String)> {
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
pub fn embed(secret: String) -> impl Strategy<Value = String> {
    ("[ -~]{0,40}", "[ -~]{0,40}", prop_oneof![Just(" "), Just("\n")])
        .prop_map(move |(before, after, sep)| format!("{before}{sep}{secret}{sep}{after}"))
}

/// A secret of any kind the redactor covers: `(text to plant, what must not come out)`.
pub fn any_secret() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        aws_key().prop_map(|k| (k.clone(), k[4..].to_owned())),
        "[A-Za-z0-9/+]{40}".prop_map(|k| (format!("aws_secret_access_key = {k}"), k)),
        github_token().prop_map(|t| (t.clone(), t[4..].to_owned())),
        password(),
        "[A-Za-z0-9]{20,40}".prop_map(|t| (format!("Authorization: Bearer {t}"), t)),
        ("[a-z]{3,8}", "[A-Za-z0-9]{8,20}")
            .prop_map(|(user, pw)| (format!("https://{user}:{pw}@portal.agency.test/.git/config"), pw)),
        "[A-Za-z0-9+/]{40,64}".prop_map(|body| {
            (format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"), body)
        }),
        ("[A-Za-z0-9_-]{8,20}", "[A-Za-z0-9_-]{8,30}")
            .prop_map(|(claims, sig)| (format!("eyJhbGciOiJIUzI1NiJ9.eyJ{claims}.{sig}"), format!("{claims}.{sig}"))),
        "[A-Za-z0-9]{24}".prop_map(|t| (format!("xoxb-{t}"), t)),
        "[0-9A-Za-z_-]{35}".prop_map(|k| (format!("AIza{k}"), k)),
    ]
}
