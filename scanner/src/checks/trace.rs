//! `http.trace-enabled`: one `TRACE /` per web endpoint (name and port),
//! carrying a random `X-Haetae-Trace` value. The method is reported only
//! when the server answers 2xx AND the body echoes the request: it holds the
//! request line `TRACE / HTTP/1.1` and the random value we sent. A refusal
//! (405, 501, 403 ...) or a 2xx that does not echo is a definite "no".
//!
//! This is code rather than a template: the evidence needs a value that is
//! fresh for every request, and templates only send fixed GET/HEAD requests.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use haetae_findings::{Asset, CheckId, Observation};

use super::observe;
use crate::http::HttpResponse;

/// The header whose random value must come back in the body.
pub(crate) const NONCE_HEADER: &str = "X-Haetae-Trace";
/// The path asked.
pub(crate) const PATH: &str = "/";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh random value (32 hex digits): a counter hashed with SipHash under
/// the random keys of a new [`RandomState`].
pub(crate) fn nonce() -> String {
    let keys = RandomState::new();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}{:016x}", keys.hash_one(n), keys.hash_one(!n))
}

/// What one TRACE answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// 2xx, and the body holds the request line and our value: TRACE echoes.
    Echoes(String),
    /// A definite answer without an echo (refused, or a 2xx that does not echo).
    Silent,
    /// No definite answer (429/503, a body cut at the cap), and why.
    Unknown(String),
}

/// Whether `hay` contains `needle`, ASCII case-insensitively.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// Judge the answer to `TRACE {PATH}` sent with `NONCE_HEADER: nonce`.
pub(crate) fn judge(resp: &HttpResponse, nonce: &str) -> Verdict {
    if matches!(resp.status, 429 | 503) {
        return Verdict::Unknown(format!("TRACE {PATH}: HTTP {}", resp.status));
    }
    let line = format!("TRACE {PATH} HTTP/1.1");
    let echoes = (200..300).contains(&resp.status)
        && resp.body.windows(line.len()).any(|w| w == line.as_bytes())
        && contains_ci(&resp.body, nonce.as_bytes());
    if echoes {
        let shown = resp.header("content-type").map_or_else(String::new, |t| format!(" ({t})"));
        return Verdict::Echoes(format!(
            "TRACE {PATH} answered {}{shown} and echoed the request back: the body holds `{line}` and the random \
             {NONCE_HEADER} value sent ({nonce})",
            resp.status
        ));
    }
    if resp.truncated {
        // A body cut at the cap may have held the echo further on.
        return Verdict::Unknown(format!("TRACE {PATH}: body over the {} KiB cap", crate::http::BODY_CAP / 1024));
    }
    Verdict::Silent
}

/// The observation of an echoing endpoint.
pub(crate) fn observation(
    evidence: String,
    host: &str,
    addr: IpAddr,
    port: u16,
    https: bool,
    engagement: &str,
    audit: u64,
) -> Observation {
    let scheme = if https { "https" } else { "http" };
    let asset = Asset { host: host.to_owned(), ip: Some(addr), port: Some(port) };
    let location = format!("{scheme}://{host}:{port}{PATH}");
    observe(CheckId::HttpTraceEnabled, engagement, asset, &location, evidence, &[audit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("Content-Type".into(), "message/http".into())],
            body: body.as_bytes().to_vec(),
            truncated: false,
            audit: 3,
        }
    }

    #[test]
    fn only_a_2xx_that_echoes_line_and_nonce_is_an_echo() {
        let n = nonce();
        assert_eq!(n.len(), 32);
        assert_ne!(n, nonce(), "fresh every time");
        let echo = format!("TRACE / HTTP/1.1\r\nHost: a.test\r\nx-haetae-trace: {n}\r\n\r\n");
        let Verdict::Echoes(why) = judge(&resp(200, &echo), &n) else { panic!("no echo") };
        assert!(why.contains(&n) && why.contains("message/http"), "{why}");
        // Header names may come back lower-cased; the value is what counts.
        let shouted = echo.replace("x-haetae-trace", "X-HAETAE-TRACE");
        assert!(matches!(judge(&resp(200, &shouted), &n), Verdict::Echoes(_)));
        assert_eq!(judge(&resp(405, &echo), &n), Verdict::Silent, "refused, whatever the body");
        assert_eq!(judge(&resp(501, ""), &n), Verdict::Silent);
        assert_eq!(judge(&resp(403, "Forbidden"), &n), Verdict::Silent);
        assert_eq!(judge(&resp(200, "<html>Welcome</html>"), &n), Verdict::Silent, "a page, not an echo");
        let other = echo.replace(&n, "0123");
        assert_eq!(judge(&resp(200, &other), &n), Verdict::Silent, "an old or cached echo");
        assert!(matches!(judge(&resp(503, &echo), &n), Verdict::Unknown(_)));
        assert!(matches!(judge(&resp(429, ""), &n), Verdict::Unknown(_)));
        let mut cut = resp(200, "TRACE / HTTP/1.1\r\n");
        cut.truncated = true;
        assert!(matches!(judge(&cut, &n), Verdict::Unknown(_)));
    }
}
