//! `[notify]` of haetae.toml: parsed strictly, each value checked, errors at
//! file:line:column. A webhook must have a secret (`webhook_secret_file` or
//! `webhook_secret_env`): an unsigned webhook would let anyone who finds the
//! URL forge haetae's alerts, so haetae.toml without one is refused.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Result;
use haetae_notify::config::{NotifyConfig, Trigger, Webhook, check_address, check_http_url, check_smtp_url};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotify {
    on: Option<Vec<Spanned<String>>>,
    digest: Option<bool>,
    webhook: Option<Spanned<String>>,
    webhook_secret_file: Option<Spanned<PathBuf>>,
    webhook_secret_env: Option<Spanned<String>>,
    slack: Option<Spanned<String>>,
    email: Option<RawEmail>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    smtp: Spanned<String>,
    from: Spanned<String>,
    to: Spanned<Vec<Spanned<String>>>,
}

/// Turns a span and a message into the file:line:column error.
pub(crate) type At<'a> = &'a dyn Fn(Range<usize>, String) -> anyhow::Error;

/// Validate `[notify]`; relative secret files are under `dir`.
pub(crate) fn validate(raw: RawNotify, dir: &Path, at: At<'_>) -> Result<NotifyConfig> {
    let mut cfg = NotifyConfig::default();
    if let Some(on) = raw.on {
        cfg.on.clear();
        for t in on {
            let trigger = t.get_ref().parse::<Trigger>().map_err(|m| at(t.span(), format!("[notify] on: {m}")))?;
            if !cfg.on.contains(&trigger) {
                cfg.on.push(trigger);
            }
        }
    }
    if let Some(d) = raw.digest {
        cfg.digest = d;
    }
    let secret = match (&raw.webhook_secret_file, &raw.webhook_secret_env) {
        (Some(_), Some(env)) => {
            return Err(at(
                env.span(),
                "[notify] webhook_secret_env: give webhook_secret_file or webhook_secret_env, not both".into(),
            ));
        }
        (Some(file), None) => {
            let path = if file.get_ref().is_absolute() { file.get_ref().clone() } else { dir.join(file.get_ref()) };
            let bytes = std::fs::read(&path).map_err(|e| {
                at(
                    file.span(),
                    format!(
                        "[notify] webhook_secret_file: expected a readable file holding the webhook's secret; cannot read {}: {}",
                        path.display(),
                        haetae_findings::error::io_reason(&e)
                    ),
                )
            })?;
            let secret = trim_secret(bytes);
            if secret.is_empty() {
                return Err(at(
                    file.span(),
                    format!("[notify] webhook_secret_file: {} is empty; expected the webhook's secret", path.display()),
                ));
            }
            Some((secret, file.span()))
        }
        (None, Some(env)) => {
            let name = env.get_ref();
            let value = std::env::var_os(name).map(|v| trim_secret(v.into_encoded_bytes())).unwrap_or_default();
            if value.is_empty() {
                return Err(at(
                    env.span(),
                    format!(
                        "[notify] webhook_secret_env: expected the environment variable {name} to hold the webhook's secret; it is unset or empty"
                    ),
                ));
            }
            Some((value, env.span()))
        }
        (None, None) => None,
    };
    match (&raw.webhook, secret) {
        (Some(w), Some((secret, _))) => {
            check_http_url(w.get_ref()).map_err(|m| at(w.span(), format!("[notify] webhook: {m}")))?;
            cfg.webhook = Some(Webhook { url: w.get_ref().clone(), secret });
        }
        (Some(w), None) => {
            return Err(at(
                w.span(),
                "[notify] webhook: expected webhook_secret_file or webhook_secret_env beside it (the body is signed with X-Haetae-Signature; an unsigned webhook is refused)".into(),
            ));
        }
        (None, Some((_, span))) => {
            return Err(at(span, "[notify]: a webhook secret without `webhook = \"https://...\"`".into()));
        }
        (None, None) => {}
    }
    if let Some(s) = raw.slack {
        check_http_url(s.get_ref()).map_err(|m| at(s.span(), format!("[notify] slack: {m}")))?;
        cfg.slack = Some(s.into_inner());
    }
    if let Some(e) = raw.email {
        check_smtp_url(e.smtp.get_ref()).map_err(|m| at(e.smtp.span(), format!("[notify.email] smtp: {m}")))?;
        check_address(e.from.get_ref()).map_err(|m| at(e.from.span(), format!("[notify.email] from: {m}")))?;
        if e.to.get_ref().is_empty() {
            return Err(at(e.to.span(), "[notify.email] to: expected at least one address".into()));
        }
        for t in e.to.get_ref() {
            check_address(t.get_ref()).map_err(|m| at(t.span(), format!("[notify.email] to: {m}")))?;
        }
        cfg.email = Some(haetae_notify::Email {
            smtp: e.smtp.into_inner(),
            from: e.from.into_inner(),
            to: e.to.into_inner().into_iter().map(Spanned::into_inner).collect(),
        });
    }
    Ok(cfg)
}

/// The secret without the line end an editor adds.
fn trim_secret(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last().is_some_and(|b| matches!(b, b'\n' | b'\r' | b' ' | b'\t')) {
        bytes.pop();
    }
    bytes
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use haetae_notify::Trigger;

    use crate::cli::Global;
    use crate::config::Workspace;

    fn load(dir: &Path, toml: &str) -> anyhow::Result<Workspace> {
        std::fs::write(dir.join("haetae.toml"), toml).unwrap();
        Workspace::load(&Global { chdir: Some(dir.to_owned()), ..Global::default() })
    }

    fn error(dir: &Path, toml: &str) -> String {
        load(dir, toml).unwrap_err().to_string()
    }

    #[test]
    fn the_spec_example_loads() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("hook.secret"), "s3cret\n").unwrap();
        let w = load(
            d.path(),
            r#"[notify]
on = ["new:P1", "new:P2", "regression", "sla-breach", "change:certificate", "change:port", "scan-failed"]
digest = true
webhook = "http://127.0.0.1:9000/hook"
webhook_secret_file = "hook.secret"
slack = "http://127.0.0.1:9001/services/T/B/X"
[notify.email]
smtp = "smtp://127.0.0.1:2525"
from = "haetae@agency.test"
to = ["soc@agency.test"]
"#,
        )
        .unwrap();
        let n = &w.notify;
        assert_eq!(n.on.len(), 7);
        assert!(n.wants(&Trigger::SlaBreach) && n.wants_change("port-closed") && !n.wants_change("banner"));
        assert!(n.digest);
        let hook = n.webhook.as_ref().unwrap();
        assert_eq!((hook.url.as_str(), hook.secret.as_slice()), ("http://127.0.0.1:9000/hook", b"s3cret".as_slice()));
        assert_eq!(n.email.as_ref().unwrap().to, ["soc@agency.test"]);
        // Without [notify]: no channel, the default triggers.
        let w = load(d.path(), "").unwrap();
        assert!(!w.notify.has_channels());
        assert!(w.notify.wants(&Trigger::New(1)) && !w.notify.wants(&Trigger::New(3)));
    }

    #[test]
    fn errors_name_file_line_column_and_what_was_expected() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("hook.secret"), "k").unwrap();
        let cases: &[(&str, &str, &str)] = &[
            ("[notify]\nwebhok = \"http://h/\"\n", "haetae.toml:2:1:", "unknown field `webhok`"),
            ("[notify]\non = [\"new:P1\", \"new:P9\"]\n", "haetae.toml:2:17:", "expected one of new:P1"),
            ("[notify]\non = [\"change:dns\"]\n", "haetae.toml:2:7:", "unknown trigger \"change:dns\""),
            (
                "[notify]\nwebhook = \"ftp://h/\"\nwebhook_secret_file = \"hook.secret\"\n",
                "haetae.toml:2:11:",
                "expected an http:// or https:// URL",
            ),
            (
                "[notify]\nwebhook = \"http://h/\"\nwebhook_secret_file = \"missing.secret\"\n",
                "haetae.toml:3:23:",
                "expected a readable file holding the webhook's secret",
            ),
            (
                "[notify]\nwebhook = \"http://h/\"\n",
                "haetae.toml:2:11:",
                "expected webhook_secret_file or webhook_secret_env",
            ),
            (
                "[notify]\nwebhook = \"http://h/\"\nwebhook_secret_env = \"HAETAE_TEST_SURELY_UNSET_VARIABLE\"\n",
                "haetae.toml:3:22:",
                "HAETAE_TEST_SURELY_UNSET_VARIABLE to hold the webhook's secret",
            ),
            ("[notify]\nslack = \"hooks.slack.test/x\"\n", "haetae.toml:2:9:", "[notify] slack: expected an http://"),
            (
                "[notify.email]\nsmtp = \"smtp://127.0.0.1:2525\"\nfrom = \"h@agency.test\"\nto = [\"soc\"]\n",
                "haetae.toml:4:7:",
                "not an e-mail address \"soc\"",
            ),
            (
                "[notify.email]\nsmtp = \"imap://x\"\nfrom = \"h@agency.test\"\nto = [\"soc@agency.test\"]\n",
                "haetae.toml:2:8:",
                "expected smtp://HOST[:PORT]",
            ),
            (
                "[notify.email]\nsmtp = \"smtp://x\"\nfrom = \"h@agency.test\"\n",
                "haetae.toml:1:1:",
                "missing field `to`",
            ),
        ];
        for (toml, at, what) in cases {
            let e = error(d.path(), toml);
            assert!(e.contains(at) && e.contains(what), "{toml}\n=> {e}");
        }
    }
}
