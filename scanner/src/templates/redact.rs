//! Redaction of evidence. [`redact`] lives in `haetae-findings` (every export
//! runs it again); re-exported here so the scanner's path stays the same.

pub use haetae_findings::redact::redact;

/// Redact `text`, and when no rule recognised it, hide it anyway: it was
/// extracted as a secret. Long values keep 4 characters to stay recognisable.
pub(crate) fn mask(text: &str) -> String {
    let redacted = redact(text);
    if redacted != text {
        return redacted;
    }
    if text.chars().count() >= 16 {
        let head: String = text.chars().take(4).collect();
        format!("{head}…[redacted]")
    } else {
        "[redacted]".to_owned()
    }
}
