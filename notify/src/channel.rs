//! Channels: what is queued for each configured channel (a payload the
//! store keeps opaque) and how a queued payload is sent. Secrets are never
//! queued: the webhook's signature is computed when it is sent.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Digest;
use crate::config::NotifyConfig;

/// The signed JSON webhook.
pub const WEBHOOK: &str = "webhook";
/// The Slack-compatible incoming webhook.
pub const SLACK: &str = "slack";
/// E-mail over SMTP.
pub const EMAIL: &str = "email";

/// The header carrying the webhook's HMAC.
pub const SIGNATURE_HEADER: &str = "x-haetae-signature";

/// Each attempt's deadline (connect, TLS, reply).
pub const DEADLINE: Duration = Duration::from_secs(15);

/// One message for one channel, ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// `webhook`, `slack` or `email`.
    pub channel: &'static str,
    /// Where it goes, without secrets (for listings).
    pub endpoint: String,
    /// What is sent (JSON for the webhooks; subject and text for e-mail).
    pub payload: String,
}

#[derive(Serialize, Deserialize)]
struct MailPayload {
    subject: String,
    text: String,
}

/// The message of `digest` for every configured channel.
pub fn outgoing(cfg: &NotifyConfig, digest: &Digest) -> Vec<Outgoing> {
    let mut out = Vec::new();
    if let Some(w) = &cfg.webhook {
        out.push(Outgoing {
            channel: WEBHOOK,
            endpoint: endpoint_of(WEBHOOK, cfg).unwrap_or_else(|| w.url.clone()),
            payload: String::from_utf8_lossy(&digest.webhook_body()).into_owned(),
        });
    }
    if cfg.slack.is_some() {
        out.push(Outgoing {
            channel: SLACK,
            endpoint: endpoint_of(SLACK, cfg).unwrap_or_default(),
            payload: String::from_utf8_lossy(&digest.slack_body()).into_owned(),
        });
    }
    if cfg.email.is_some() {
        let mail = MailPayload { subject: digest.subject(), text: digest.text() };
        out.push(Outgoing {
            channel: EMAIL,
            endpoint: endpoint_of(EMAIL, cfg).unwrap_or_default(),
            payload: serde_json::to_string(&mail).unwrap_or_default(),
        });
    }
    out
}

/// Where `channel` goes as configured now, without secrets; `None` when
/// it is not configured.
pub fn endpoint_of(channel: &str, cfg: &NotifyConfig) -> Option<String> {
    let http = |url: &str| crate::deliver::split_url(url).map(|u| u.label()).unwrap_or_else(|e| e);
    match channel {
        WEBHOOK => cfg.webhook.as_ref().map(|w| http(&w.url)),
        SLACK => cfg.slack.as_deref().map(http),
        EMAIL => cfg.email.as_ref().map(|e| {
            let server = crate::mail::split_smtp(&e.smtp).map(|u| u.label()).unwrap_or_else(|e| e);
            format!("{server} to {}", e.to.join(", "))
        }),
        _ => None,
    }
}

/// What one attempt did, for the audit log and the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The channel.
    pub channel: String,
    /// Where (no secrets).
    pub endpoint: String,
    /// Host contacted.
    pub host: String,
    /// Port contacted.
    pub port: Option<u16>,
    /// SMTP (else HTTP).
    pub smtp: bool,
    /// `Ok(what the server said)` when delivered, else why not.
    pub result: Result<String, String>,
}

/// Sends queued payloads to the channels of a configuration.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The configuration in force.
    pub config: NotifyConfig,
    /// TLS client for https webhooks.
    pub tls: Arc<rustls::ClientConfig>,
    /// Extra trusted CAs (PEM) for SMTP's TLS.
    pub smtp_roots: Vec<Vec<u8>>,
    /// Each attempt's deadline.
    pub deadline: Duration,
}

impl Sender {
    /// A sender trusting the web PKI roots, with the default deadline.
    ///
    /// # Errors
    /// Never in practice (TLS setup).
    pub fn new(config: NotifyConfig) -> Result<Sender, String> {
        Ok(Sender { config, tls: crate::deliver::web_pki_tls()?, smtp_roots: Vec::new(), deadline: DEADLINE })
    }

    /// Send a queued payload to `channel` once.
    pub async fn send(&self, channel: &str, payload: &str) -> Attempt {
        let cfg = &self.config;
        let mut attempt = Attempt {
            channel: channel.to_owned(),
            endpoint: endpoint_of(channel, cfg).unwrap_or_else(|| "(not configured)".to_owned()),
            host: String::new(),
            port: None,
            smtp: channel == EMAIL,
            result: Err(format!("channel {channel} is not configured in [notify] any more; the message stays queued")),
        };
        let http_target = |url: &str, a: &mut Attempt| {
            if let Ok(u) = crate::deliver::split_url(url) {
                a.host = u.host;
                a.port = Some(u.port);
            }
        };
        match channel {
            WEBHOOK => {
                if let Some(w) = &cfg.webhook {
                    http_target(&w.url, &mut attempt);
                    let body = payload.as_bytes().to_vec();
                    let sig = crate::signature_header(&w.secret, &body);
                    let r =
                        crate::deliver::post_with(&self.tls, &w.url, &[(SIGNATURE_HEADER, sig)], body, self.deadline)
                            .await;
                    attempt.result = r.map(|s| format!("HTTP {s}"));
                }
            }
            SLACK => {
                if let Some(url) = &cfg.slack {
                    http_target(url, &mut attempt);
                    let r = crate::deliver::post_with(&self.tls, url, &[], payload.as_bytes().to_vec(), self.deadline)
                        .await;
                    attempt.result = r.map(|s| format!("HTTP {s}"));
                }
            }
            EMAIL => {
                if let Some(e) = &cfg.email {
                    if let Ok(u) = crate::mail::split_smtp(&e.smtp) {
                        attempt.host = u.host;
                        attempt.port = Some(u.port);
                    }
                    attempt.result = match serde_json::from_str::<MailPayload>(payload) {
                        Ok(m) => crate::mail::send(e, &m.subject, &m.text, &self.smtp_roots, self.deadline).await,
                        Err(err) => Err(format!("the queued e-mail is unreadable: {err}")),
                    };
                }
            }
            _ => {}
        }
        attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Notice;
    use crate::config::{Email, Webhook};

    #[test]
    fn one_message_per_configured_channel_without_secrets() {
        let cfg = NotifyConfig {
            webhook: Some(Webhook { url: "http://127.0.0.1:9000/hook?token=abc".into(), secret: b"k".to_vec() }),
            slack: Some("https://hooks.slack.test/services/T/B/X".into()),
            email: Some(Email {
                smtp: "smtp://127.0.0.1:2525".into(),
                from: "haetae@agency.test".into(),
                to: vec!["soc@agency.test".into()],
            }),
            ..NotifyConfig::default()
        };
        let d = Digest::build("7", &[Notice::ScanFailed { reason: "x".into() }], 5);
        let out = outgoing(&cfg, &d);
        let channels: Vec<&str> = out.iter().map(|o| o.channel).collect();
        assert_eq!(channels, [WEBHOOK, SLACK, EMAIL]);
        assert_eq!(out[0].endpoint, "http://127.0.0.1:9000/…");
        assert_eq!(out[1].endpoint, "https://hooks.slack.test:443/…");
        assert_eq!(out[2].endpoint, "smtp://127.0.0.1:2525 to soc@agency.test");
        assert!(out.iter().all(|o| !o.payload.contains("token=abc") && !o.payload.contains("T/B/X")));
        let slack: serde_json::Value = serde_json::from_str(&out[1].payload).unwrap();
        assert!(slack["text"].as_str().unwrap().contains("scan failed: x"));
        let mail: serde_json::Value = serde_json::from_str(&out[2].payload).unwrap();
        assert!(mail["subject"].as_str().unwrap().contains("run 7"));
        assert!(outgoing(&NotifyConfig::default(), &d).is_empty());
    }
}
