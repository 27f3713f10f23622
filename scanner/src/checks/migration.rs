//! `migration.legacy-origin-live`: a host moved to the cloud, but an address
//! it used to live at (a `[[migration]]` legacy address, or an address an
//! earlier scan saw it resolve to) still serves the site.
//!
//! The current origin's front page is fetched as usual, then the same page
//! at the legacy address with the host's own name in `Host` and SNI. The old
//! origin "still serves the site" when both answer with the same status
//! class and the pages agree: same non-empty title, or bodies whose word
//! sets overlap by at least [`SIMILAR`]. A default page, an error, a redirect
//! elsewhere or a closed port is not the site.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::LazyLock;

use haetae_findings::{Asset, CheckId, Observation};
use regex::bytes::Regex;

use super::observe;
use crate::guard::ScopeGuard;
use crate::http::redirect::fetch_following_same_host;
use crate::http::{FetchError, Followed, HttpClient, Method, Request};

/// Jaccard similarity of the pages' word sets above which they are the same site.
pub(crate) const SIMILAR: f64 = 0.8;

/// Most bytes of a body compared.
const COMPARE_CAP: usize = 64 * 1024;

/// One web endpoint of the host today.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Current {
    pub(crate) addr: IpAddr,
    pub(crate) port: u16,
    pub(crate) https: bool,
}

/// What the comparison of one legacy address found.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The finding, when the old origin serves the site.
    pub(crate) observation: Option<Observation>,
    /// Whether the answer is definite (a time-out or a refused hop is not).
    pub(crate) definite: bool,
}

/// The page's summary for comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) title: Option<String>,
    pub(crate) words: HashSet<String>,
}

impl Page {
    pub(crate) fn of(status: u16, body: &[u8]) -> Page {
        static TITLE: LazyLock<Option<Regex>> =
            LazyLock::new(|| Regex::new(r"(?is)<title[^>]*>\s*([^<]{1,200}?)\s*</title>").ok());
        let body = &body[..body.len().min(COMPARE_CAP)];
        let title = TITLE
            .as_ref()
            .and_then(|re| re.captures(body))
            .and_then(|c| c.get(1))
            .map(|m| String::from_utf8_lossy(m.as_bytes()).trim().to_owned())
            .filter(|t| !t.is_empty());
        let text = String::from_utf8_lossy(body).to_lowercase();
        let words = text.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 1).map(str::to_owned).collect();
        Page { status, title, words }
    }

    /// Jaccard similarity of the word sets (1.0 for two empty bodies).
    pub(crate) fn similarity(&self, other: &Page) -> f64 {
        if self.words.is_empty() && other.words.is_empty() {
            return 1.0;
        }
        let common = self.words.intersection(&other.words).count();
        let all = self.words.union(&other.words).count();
        common as f64 / all.max(1) as f64
    }

    /// Whether `legacy` shows the same site as `self`.
    pub(crate) fn same_site(&self, legacy: &Page) -> bool {
        let class = |s: u16| s / 100;
        if class(self.status) != class(legacy.status) || class(legacy.status) != 2 {
            return false;
        }
        match (&self.title, &legacy.title) {
            (Some(a), Some(b)) if a == b => true,
            (Some(_), Some(_)) => false,
            _ => self.similarity(legacy) >= SIMILAR,
        }
    }
}

fn request<'a>(host: &'a str, addr: IpAddr, port: u16, https: bool) -> Request<'a> {
    Request { https, host, addr, port, method: Method::Get, path: "/", headers: &[] }
}

/// Compare the host's front page at `legacy` with the one at `current`.
/// The guard must already allow `legacy` for `host` ([`ScopeGuard::allow_origin`]).
pub(crate) async fn compare(
    guard: &ScopeGuard,
    client: &HttpClient,
    host: &str,
    current: Current,
    legacy: IpAddr,
    engagement: &str,
) -> Outcome {
    let scheme = if current.https { "https" } else { "http" };
    let now =
        match crate::http::fetch_following(client, guard, &request(host, current.addr, current.port, current.https))
            .await
        {
            Ok(f) => f,
            // Without today's page there is nothing to compare with.
            Err(e) => return Outcome { observation: None, definite: !transient(&e) },
        };
    // At the old address, only hops that stay on it count: a redirect to the
    // new origin means the old one no longer serves the site itself.
    let old = match fetch_following_same_host(client, guard, &request(host, legacy, current.port, current.https)).await
    {
        Ok(f) => f,
        Err(e) => return Outcome { observation: None, definite: !transient(&e) },
    };
    let (a, b) = (page(&now), page(&old));
    if !a.same_site(&b) {
        return Outcome { observation: None, definite: true };
    }
    let why = match (&a.title, &b.title) {
        (Some(t), Some(_)) => format!("same title \"{}\"", t.chars().take(80).collect::<String>()),
        _ => format!("bodies {:.0}% alike", a.similarity(&b) * 100.0),
    };
    let evidence = format!(
        "{scheme}://{host}:{}/ at legacy address {legacy} answers {} like the current origin {} ({}; {why})",
        current.port, b.status, current.addr, a.status
    );
    let asset = Asset { host: host.to_owned(), ip: Some(legacy), port: Some(current.port) };
    let location = format!("{scheme}://{host}:{}/ via {legacy}", current.port);
    let audit: Vec<u64> = now.audit.iter().chain(&old.audit).copied().collect();
    let o = observe(CheckId::MigrationLegacyOriginLive, engagement, asset, &location, evidence, &audit);
    Outcome { observation: Some(o), definite: true }
}

fn page(f: &Followed) -> Page {
    Page::of(f.response.status, &f.response.body)
}

/// A failure that says nothing about the server (time-out, rate limit,
/// window): the unit is not covered.
fn transient(e: &FetchError) -> bool {
    !e.is_definite()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTAL: &[u8] = b"<html><head><title>Agency portal</title></head><body>Welcome citizens</body></html>";

    #[test]
    fn same_title_or_alike_bodies_are_the_same_site() {
        let now = Page::of(200, PORTAL);
        assert!(now.same_site(&Page::of(200, PORTAL)));
        assert!(now.same_site(&Page::of(200, b"<TITLE> Agency portal </TITLE><p>older build</p>")));
        let untitled = Page::of(200, b"alpha beta gamma delta epsilon zeta eta theta iota kappa");
        assert!(untitled.same_site(&Page::of(200, b"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda")));
    }

    #[test]
    fn default_pages_errors_and_redirects_are_not_the_site() {
        let now = Page::of(200, PORTAL);
        let nginx =
            b"<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>";
        assert!(!now.same_site(&Page::of(200, nginx)));
        assert!(!now.same_site(&Page::of(404, PORTAL)));
        assert!(!now.same_site(&Page::of(301, b"")));
        assert!(!Page::of(301, b"").same_site(&Page::of(301, b"")), "two redirects say nothing about the site");
        let untitled = Page::of(200, b"alpha beta gamma delta");
        assert!(!untitled.same_site(&Page::of(200, b"lorem ipsum dolor sit amet")));
    }
}
