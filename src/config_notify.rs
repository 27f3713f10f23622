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
