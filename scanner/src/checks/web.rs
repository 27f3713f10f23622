//! Web checks that are code rather than templates: `http.no-https-redirect`.

use std::net::IpAddr;

use haetae_findings::{Asset, CheckId, Observation};

use super::observe;
use crate::templates::{Method, RequestKey, Response};

/// Whether a response sends the client to HTTPS: a 3xx whose Location is an
/// `https://` URL (relative Locations stay on plain HTTP).
fn redirects_to_https(r: &Response) -> bool {
    (300..400).contains(&r.status)
        && r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("location"))
            .is_some_and(|(_, v)| v.trim().to_ascii_lowercase().starts_with("https://"))
}

/// `GET /` over plain HTTP answered with content (2xx) or a redirect that stays
/// on plain HTTP: the site is served without TLS.
pub(crate) fn no_https_redirect(
    responses: &[(RequestKey, Response, u64)],
    host: &str,
    addr: IpAddr,
    port: u16,
    engagement: &str,
) -> Option<Observation> {
    let (_, root, audit) =
        responses.iter().find(|(k, _, _)| k.method == Method::Get && k.path == "/" && k.headers.is_empty())?;
    if redirects_to_https(root) {
        return None;
    }
    let plain = (200..300).contains(&root.status)
        || ((300..400).contains(&root.status)
            && root.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("location") && !v.trim().is_empty()));
    if !plain {
        return None;
    }
    let what = if (200..300).contains(&root.status) {
        format!("{} answers {} with content over plain HTTP", root.url, root.status)
    } else {
        format!("{} redirects ({}) but not to HTTPS", root.url, root.status)
    };
    let asset = Asset { host: host.to_owned(), ip: Some(addr), port: Some(port) };
    Some(observe(CheckId::HttpNoHttpsRedirect, engagement, asset, &format!("http://{host}:{port}/"), what, &[*audit]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(status: u16, location: Option<&str>) -> Vec<(RequestKey, Response, u64)> {
        let mut headers = vec![("Content-Type".to_owned(), "text/html".to_owned())];
        if let Some(l) = location {
            headers.push(("Location".to_owned(), l.to_owned()));
        }
        let key = RequestKey { method: Method::Get, path: "/".into(), headers: vec![] };
        vec![(key, Response { status, headers, body: b"<html></html>".to_vec(), url: "http://a.test:80/".into() }, 7)]
    }

    #[test]
    fn fires_on_plain_content_and_plain_redirects_only() {
        let ip: IpAddr = "127.77.1.50".parse().unwrap();
        let check =
            |r: Vec<(RequestKey, Response, u64)>| no_https_redirect(&r, "a.test", ip, 80, "KR").map(|o| o.evidence);
        assert!(check(root(200, None)).unwrap().contains("plain HTTP"));
        assert!(check(root(302, Some("/login"))).unwrap().contains("not to HTTPS"));
        assert!(check(root(301, Some("https://a.test/"))).is_none());
        assert!(check(root(308, Some("HTTPS://A.test/x"))).is_none());
        assert!(check(root(404, None)).is_none(), "nothing served");
        assert!(check(Vec::new()).is_none());
    }
}
