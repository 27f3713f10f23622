//! Secrets never reach the evidence of http.secret-in-response (redaction
//! itself is tested where it lives, in haetae-findings).

use haetae_findings::redact::secrets::{aws_key, embed, github_token, password};
use proptest::prelude::*;

use super::{builtin, response, template};

proptest! {
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
}
