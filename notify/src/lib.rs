//! Notifications: what happened in a run ([`Notice`]), one digest per run
//! ([`Digest`]), and the bytes sent to a webhook (signed) or a Slack-compatible
//! incoming webhook; the `[notify]` configuration ([`config`]), what each
//! channel is sent ([`channel`]) and how: HTTP(S) POST ([`deliver`]) and
//! SMTP ([`mail`]). The queue lives in the store and the glue (triggers,
//! retries, audit) in `haetae-service`'s notifier.

pub mod channel;
pub mod config;
pub mod deliver;
pub mod mail;

pub use channel::{Attempt, Outgoing, Sender};
pub use config::{Email, NotifyConfig, Trigger, Webhook};

use serde::Serialize;
use sha2::Sha256;

/// One thing worth telling a human about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// A new finding of priority P1 or P2 (`priority` is 1 or 2).
    NewFinding { priority: u8, check: String, asset: String },
    /// A finding that had been fixed came back.
    Regression { check: String, asset: String },
    /// A finding open past its SLA.
    SlaBreach { check: String, asset: String, days_open: u32 },
    /// A change event of a kind listed in `[notify] on`.
    Change { change: String, asset: String },
    /// A scan that did not finish.
    ScanFailed { reason: String },
}

impl Notice {
    fn line(&self) -> String {
        match self {
            Notice::NewFinding { priority, check, asset } => format!("new P{priority} {check} on {asset}"),
            Notice::Regression { check, asset } => format!("regression: {check} on {asset}"),
            Notice::SlaBreach { check, asset, days_open } => {
                format!("SLA breach: {check} on {asset} open {days_open} days")
            }
            Notice::Change { change, asset } => format!("change: {change} on {asset}"),
            Notice::ScanFailed { reason } => format!("scan failed: {reason}"),
        }
    }
}

/// One message per run: counts per kind and the first `top` items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digest {
    pub run: String,
    pub new_findings: usize,
    pub regressions: usize,
    pub sla_breaches: usize,
    pub changes: usize,
    pub scan_failures: usize,
    pub top: Vec<Notice>,
}

impl Digest {
    /// Builds the digest of a run; P1 items come first in `top`.
    #[must_use]
    pub fn build(run: &str, notices: &[Notice], top: usize) -> Digest {
        let count = |f: fn(&Notice) -> bool| notices.iter().filter(|n| f(n)).count();
        let mut sorted: Vec<&Notice> = notices.iter().collect();
        sorted.sort_by_key(|n| match n {
            Notice::ScanFailed { .. } => 0,
            Notice::NewFinding { priority, .. } => *priority,
            Notice::Regression { .. } => 3,
            Notice::SlaBreach { .. } => 4,
            Notice::Change { .. } => 5,
        });
        Digest {
            run: run.to_owned(),
            new_findings: count(|n| matches!(n, Notice::NewFinding { .. })),
            regressions: count(|n| matches!(n, Notice::Regression { .. })),
            sla_breaches: count(|n| matches!(n, Notice::SlaBreach { .. })),
            changes: count(|n| matches!(n, Notice::Change { .. })),
            scan_failures: count(|n| matches!(n, Notice::ScanFailed { .. })),
            top: sorted.into_iter().take(top).cloned().collect(),
        }
    }

    /// The message a channel test sends.
    #[must_use]
    pub fn test() -> Digest {
        Digest {
            run: "test".to_owned(),
            new_findings: 0,
            regressions: 0,
            sla_breaches: 0,
            changes: 0,
            scan_failures: 0,
            top: Vec::new(),
        }
    }

    /// A one-line subject for e-mail.
    #[must_use]
    pub fn subject(&self) -> String {
        if self.run == "test" {
            return "haetae: test message".to_owned();
        }
        format!(
            "haetae run {}: {} new, {} regressions, {} SLA breaches, {} changes, {} scan failures",
            self.run, self.new_findings, self.regressions, self.sla_breaches, self.changes, self.scan_failures
        )
    }

    /// Plain text for chat channels.
    #[must_use]
    pub fn text(&self) -> String {
        if self.run == "test" {
            return "haetae test message: this notification channel works (sent by `haetae notify test`)".to_owned();
        }
        let mut s = format!(
            "haetae run {}: {} new P1/P2, {} regressions, {} SLA breaches, {} changes, {} scan failures",
            self.run, self.new_findings, self.regressions, self.sla_breaches, self.changes, self.scan_failures
        );
        for n in &self.top {
            s.push_str("\n- ");
            s.push_str(&n.line());
        }
        s
    }

    /// The JSON body of a generic webhook.
    #[must_use]
    pub fn webhook_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The JSON body of a Slack-compatible incoming webhook.
    #[must_use]
    pub fn slack_body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "text": self.text() })).unwrap_or_default()
    }
}

/// HMAC-SHA256 (RFC 2104) of `body` keyed by `key`.
#[must_use]
pub fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC accepts a key of any length (RFC 2104 hashes a long one), so this
    // constructor cannot fail; the fallback keeps the function total.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `X-Haetae-Signature` header value: `sha256=<hex HMAC of the exact body bytes>`.
#[must_use]
pub fn signature_header(secret: &[u8], body: &[u8]) -> String {
    let mac = hmac_sha256(secret, body);
    let mut s = String::from("sha256=");
    for b in mac {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        assert_eq!(
            signature_header(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn digest_counts_and_orders_top_items() {
        let notices = vec![
            Notice::Change { change: "port opened".into(), asset: "a.test".into() },
            Notice::NewFinding { priority: 2, check: "tls.expired".into(), asset: "b.test".into() },
            Notice::NewFinding { priority: 1, check: "redis.open".into(), asset: "c.test".into() },
        ];
        let d = Digest::build("r1", &notices, 2);
        assert_eq!((d.new_findings, d.changes, d.regressions), (2, 1, 0));
        assert_eq!(d.top.len(), 2);
        assert!(matches!(d.top[0], Notice::NewFinding { priority: 1, .. }));
    }

    #[test]
    fn slack_payload_is_a_text_object() {
        let d = Digest::build("r1", &[Notice::ScanFailed { reason: "timeout".into() }], 5);
        let v: serde_json::Value = serde_json::from_slice(&d.slack_body()).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 1);
        assert!(obj["text"].as_str().unwrap().contains("scan failed: timeout"));
    }
}

/// Wait before retry number `attempts` (1 = after the first failure): 30 s,
/// doubling, capped at one hour.
#[must_use]
pub fn backoff(attempts: u32) -> std::time::Duration {
    let secs = 30u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(20));
    std::time::Duration::from_secs(secs.min(3600))
}

#[cfg(test)]
mod backoff_tests {
    #[test]
    fn backoff_doubles_from_30s_and_caps_at_an_hour() {
        let secs: Vec<u64> = (1..=9).map(|a| super::backoff(a).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(super::backoff(u32::MAX).as_secs(), 3600);
    }
}
