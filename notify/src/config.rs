//! `[notify]` of haetae.toml after validation: which events notify, which
//! channels exist, where they go. The binary parses the file (with
//! file:line:column errors); the checks of single values live here.

use std::fmt;
use std::str::FromStr;

/// One entry of `on = [...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// `new:P1` .. `new:P4`: a new finding of that priority (1..=4).
    New(u8),
    /// `regression`: a fixed finding seen again.
    Regression,
    /// `sla-breach`: a finding open past its due date (once per finding).
    SlaBreach,
    /// `change:<kind>`: a change event of that kind (`change:port` means
    /// `port-opened` and `port-closed`).
    Change(&'static str),
    /// `scan-failed`: a run that failed or ended incomplete.
    ScanFailed,
}

/// The change kinds `change:<kind>` accepts (the store's event kinds, and
/// `port` for both port events).
pub const CHANGE_KINDS: &[&str] =
    &["certificate", "addresses", "port", "port-opened", "port-closed", "banner", "host-new", "host-gone"];

/// What `on` accepts, for error messages.
pub const TRIGGER_FORMS: &str = "new:P1, new:P2, new:P3, new:P4, regression, sla-breach, scan-failed, change:certificate, change:addresses, change:port, change:port-opened, change:port-closed, change:banner, change:host-new, change:host-gone";

impl FromStr for Trigger {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = match s {
            "new:P1" => Trigger::New(1),
            "new:P2" => Trigger::New(2),
            "new:P3" => Trigger::New(3),
            "new:P4" => Trigger::New(4),
            "regression" => Trigger::Regression,
            "sla-breach" => Trigger::SlaBreach,
            "scan-failed" => Trigger::ScanFailed,
            other => match other.strip_prefix("change:").and_then(|k| CHANGE_KINDS.iter().find(|c| **c == k)) {
                Some(kind) => Trigger::Change(kind),
                None => return Err(format!("unknown trigger \"{s}\" (expected one of {TRIGGER_FORMS})")),
            },
        };
        Ok(t)
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::New(p) => write!(f, "new:P{p}"),
            Trigger::Regression => f.write_str("regression"),
            Trigger::SlaBreach => f.write_str("sla-breach"),
            Trigger::Change(k) => write!(f, "change:{k}"),
            Trigger::ScanFailed => f.write_str("scan-failed"),
        }
    }
}

/// The signed webhook.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `http://` or `https://` URL.
    pub url: String,
    /// The HMAC key (from `webhook_secret_file` or `webhook_secret_env`).
    pub secret: Vec<u8>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook").field("url", &self.url).field("secret", &"(hidden)").finish()
    }
}

/// `[notify.email]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// `smtp://host[:port]` (STARTTLS when offered) or `smtps://host[:port]` (TLS from the start).
    pub smtp: String,
    /// Sender address.
    pub from: String,
    /// Recipients (at least one).
    pub to: Vec<String>,
}

/// The whole `[notify]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// What notifies.
    pub on: Vec<Trigger>,
    /// One message per run (true, the default) or one per event.
    pub digest: bool,
    /// Signed JSON webhook.
    pub webhook: Option<Webhook>,
    /// Slack-compatible incoming webhook URL.
    pub slack: Option<String>,
    /// E-mail.
    pub email: Option<Email>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig { on: default_triggers(), digest: true, webhook: None, slack: None, email: None }
    }
}

/// `on` when not given: new P1/P2 findings, regressions, SLA breaches and failed scans.
pub fn default_triggers() -> Vec<Trigger> {
    vec![Trigger::New(1), Trigger::New(2), Trigger::Regression, Trigger::SlaBreach, Trigger::ScanFailed]
}

impl NotifyConfig {
    /// Whether any channel is configured.
    pub fn has_channels(&self) -> bool {
        self.webhook.is_some() || self.slack.is_some() || self.email.is_some()
    }

    /// Whether `t` is listed in `on`.
    pub fn wants(&self, t: &Trigger) -> bool {
        self.on.contains(t)
    }

    /// Whether a change event of `kind` (the store's name, `port-opened`) notifies.
    pub fn wants_change(&self, kind: &str) -> bool {
        self.on.iter().any(|t| match t {
            Trigger::Change(k) => *k == kind || (*k == "port" && (kind == "port-opened" || kind == "port-closed")),
            _ => false,
        })
    }
}

/// Checks an `http://` or `https://` URL with a host; the error says what was expected.
pub fn check_http_url(url: &str) -> Result<(), String> {
    crate::deliver::split_url(url).map(|_| ())
}

/// Checks `smtp://host[:port]` or `smtps://host[:port]`.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    crate::mail::split_smtp(url).map(|_| ())
}

/// Checks an e-mail address (`local@domain`).
pub fn check_address(addr: &str) -> Result<(), String> {
    addr.parse::<lettre::Address>().map(|_| ()).map_err(|e| format!("not an e-mail address \"{addr}\" ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_parse_and_print_back() {
        for form in TRIGGER_FORMS.split(", ") {
            let t: Trigger = form.parse().unwrap();
            assert_eq!(t.to_string(), form);
        }
        assert!("new:P5".parse::<Trigger>().unwrap_err().contains("expected one of new:P1"));
        assert!("change:dns".parse::<Trigger>().is_err());
    }

    #[test]
    fn change_port_means_opened_and_closed() {
        let c = NotifyConfig { on: vec![Trigger::Change("port")], ..NotifyConfig::default() };
        assert!(c.wants_change("port-opened") && c.wants_change("port-closed"));
        assert!(!c.wants_change("certificate"));
        assert!(!c.wants(&Trigger::New(1)));
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_http_url("https://hooks.example.test/x").is_ok());
        assert!(check_http_url("ftp://x").unwrap_err().contains("http:// or https://"));
        assert!(check_http_url("http://:80/").is_err());
        assert!(check_smtp_url("smtp://127.0.0.1:2525").is_ok());
        assert!(check_smtp_url("smtp://").is_err());
        assert!(check_address("soc@agency.test").is_ok());
        assert!(check_address("soc").is_err());
    }
}
