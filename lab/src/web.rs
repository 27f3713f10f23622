//! The lab's web sites: one HTTP/1.1 request per connection, answered from a
//! table per site, over plain TCP or (for the HTTPS sites) over a rustls
//! stream.
//!
//! | site | served at | planted |
//! |------|-----------|---------|
//! | `Portal` | `portal.agency.test` 127.77.1.50, plain HTTP | version disclosure, missing CSP/XCTO/frame protection, `.git`, `.env`, a SQL dump, server-status, actuator, phpinfo, an admin login, OpenAPI docs, a directory index, an AWS key in `config.js`, CORS reflecting any origin with credentials, an open redirect on `/login`, no HTTPS redirect |
//! | `Portal` again | 127.77.1.21: the portal's legacy origin, still serving it | `migration.legacy-origin-live` |
//! | `Hardened` | `app.hardened.test` 127.77.2.50, plain HTTP | nothing: every request is sent to HTTPS |
//! | `Decommissioned` | 127.77.2.21: `app.hardened.test`'s legacy origin | nothing: a default page, not the site |
//! | `SecureWeak` | `secure.agency.test`, HTTPS | no HSTS, a session cookie without `Secure` |
//! | `SecureHardened` | `tls.hardened.test`, HTTPS | nothing |
//! | `Docker` | `docker.agency.test`, HTTPS | the Docker Engine API answers anonymously |
//! | `Search` | `search.agency.test`, HTTPS | Elasticsearch without security |
//! | `Kube` | `k8s.agency.test`, HTTPS | a Kubernetes API server |
//! | `Bucket` | `bucket.agency.test`, HTTPS | an object-store bucket that lists its keys |
//! | `AgencyApex` | `agency.test` 127.77.1.10, HTTPS: the apex web site | no `/.well-known/security.txt` (404) |
//! | `HardenedApex` | `hardened.test` 127.77.2.10, HTTPS | nothing: a valid security.txt, Expires 180 days after now |
//!
//! `TRACE` is echoed by the portal (`http.trace-enabled`, as Apache's default
//! `TraceEnable On` does), answered 405 by the hardened sites and both apex
//! sites (as nginx does), and 400 by the others, like any method but GET/HEAD.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long a site waits for the request head, or to write its answer.
const WAIT: Duration = Duration::from_secs(5);
/// Largest request head read.
const HEAD_CAP: usize = 8192;

/// Which site answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    Portal,
    Hardened,
    Decommissioned,
    SecureWeak,
    SecureHardened,
    Docker,
    Search,
    Kube,
    Bucket,
    /// `agency.test`'s apex web site: hardened, but without a security.txt.
    AgencyApex,
    /// `hardened.test`'s apex web site: hardened, with a valid security.txt.
    HardenedApex,
    /// The hostile lab's plain-HTTP twin (`www.hostile.test`): as `Hardened`,
    /// sending everything to `https://twin.hostile.test`.
    HostileTwin,
}

/// The hardened headers every HTTPS site but `SecureWeak` sends.
const HARDENED_HEADERS: &[(&str, &str)] = &[
    ("Server", "nginx"),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
];

/// The page of the portal, served by its current and its legacy origin.
pub(crate) const PORTAL_PAGE: &str = "<html><head><title>Agency portal</title></head><body>Welcome</body></html>";

struct Reply {
    status: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn new(status: &'static str, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status, headers: vec![("Content-Type".into(), content_type.into())], body: body.into() }
    }

    fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn headers(mut self, list: &[(&str, &str)]) -> Reply {
        self.headers.extend(list.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
        self
    }
}

fn not_found() -> Reply {
    Reply::new("404 Not Found", "text/html", "<html><body><h1>404 Not Found</h1></body></html>")
}

/// The value of query parameter `name`, percent-decoded.
fn query_param(path: &str, name: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    let raw = query.split('&').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn portal(path: &str, origin: Option<&str>) -> Reply {
    let bare = path.split('?').next().unwrap_or("/");
    let reply = match bare {
        "/" => Reply::new("200 OK", "text/html", PORTAL_PAGE),
        "/.git/HEAD" => Reply::new("200 OK", "text/plain", "ref: refs/heads/main\n"),
        "/.env" => {
            Reply::new("200 OK", "text/plain", "APP_ENV=production\nAPP_DEBUG=false\nDB_HOST=db.portal.internal\n")
        }
        "/backup.sql" => Reply::new(
            "200 OK",
            "application/octet-stream",
            "-- MySQL dump 10.13\nCREATE TABLE `citizens` (\n  `id` int NOT NULL,\n  `name` varchar(64)\n);\n",
        ),
        "/server-status" => Reply::new(
            "200 OK",
            "text/html",
            "<html><head><title>Apache Status</title></head><body><h1>Apache Server Status for portal.agency.test</h1><dl><dt>Server Version: Apache/2.4.29 (Ubuntu)</dt></dl></body></html>",
        ),
        "/actuator" => Reply::new(
            "200 OK",
            "application/vnd.spring-boot.actuator.v3+json",
            r#"{"_links":{"self":{"href":"http://portal.agency.test/actuator","templated":false},"env":{"href":"http://portal.agency.test/actuator/env","templated":false}}}"#,
        ),
        "/phpinfo.php" => Reply::new(
            "200 OK",
            "text/html",
            "<html><head><title>PHP 7.2.24 - phpinfo()</title></head><body><h1 class=\"p\">PHP Version 7.2.24</h1></body></html>",
        ),
        "/admin/" => Reply::new(
            "200 OK",
            "text/html",
            "<html><head><title>Portal Admin - Sign in</title></head><body><form method=\"post\"><input name=\"user\"><input type=\"password\" name=\"pw\"></form></body></html>",
        ),
        "/v3/api-docs" => Reply::new(
            "200 OK",
            "application/json",
            r#"{"openapi":"3.0.1","info":{"title":"Portal citizen API","version":"v1"},"paths":{}}"#,
        ),
        "/uploads/" => Reply::new(
            "200 OK",
            "text/html",
            "<html><head><title>Index of /uploads/</title></head><body><h1>Index of /uploads/</h1><pre><a href=\"../\">../</a>\n<a href=\"resident-list.xlsx\">resident-list.xlsx</a></pre></body></html>",
        ),
        // AWS's documented example key id: a real key's shape, no real key.
        "/config.js" => Reply::new(
            "200 OK",
            "application/javascript",
            "window.CONFIG = { region: \"ap-northeast-2\", accessKeyId: \"AKIAIOSFODNN7EXAMPLE\" };\n",
        ),
        "/api/" => Reply::new("200 OK", "application/json", r#"{"status":"ok"}"#),
        "/login" => match query_param(path, "next") {
            // Sends the visitor wherever `next` says: an open redirect.
            Some(next) => Reply::new("302 Found", "text/html", "").header("Location", &next),
            None => Reply::new("200 OK", "text/html", "<html><head><title>Sign in</title></head></html>"),
        },
        _ => not_found(),
    };
    let reply = reply.headers(&[("Server", "Apache/2.4.49 (Unix)"), ("X-Powered-By", "PHP/7.2.24")]);
    // Any origin is trusted, with cookies.
    match origin {
        Some(o) => reply.header("Access-Control-Allow-Origin", o).header("Access-Control-Allow-Credentials", "true"),
        None => reply,
    }
}

fn json(body: &str) -> Reply {
    Reply::new("200 OK", "application/json", body).headers(HARDENED_HEADERS)
}

/// A hardened plain-HTTP site: every request is sent to `https://{host}`.
fn hardened_redirect(host: &str, path: &str) -> Reply {
    Reply::new("301 Moved Permanently", "text/html; charset=utf-8", "<html><body>Moved to HTTPS</body></html>")
        .headers(&[
            ("Server", "nginx"),
            ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
        ])
        .header("Location", &format!("https://{host}{path}"))
}

fn respond(site: Site, path: &str, origin: Option<&str>) -> Reply {
    let bare = path.split('?').next().unwrap_or("/");
    match site {
        Site::Portal => portal(path, origin),
        Site::Hardened => hardened_redirect("app.hardened.test", path),
        Site::HostileTwin => hardened_redirect("twin.hostile.test", path),
        Site::Decommissioned => match bare {
            "/" => Reply::new(
                "200 OK",
                "text/html",
                "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>",
            )
            .headers(&[("Server", "nginx"), ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Content-Security-Policy", "default-src 'self'")]),
            _ => not_found(),
        },
        Site::SecureWeak => match bare {
            "/" => Reply::new("200 OK", "text/html", "<html><head><title>Agency e-services</title></head><body>Sign in</body></html>")
                .headers(&[
                    ("Server", "nginx"),
                    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
                    ("X-Content-Type-Options", "nosniff"),
                    ("X-Frame-Options", "DENY"),
                    ("Set-Cookie", "SESSIONID=lab-session-1; Path=/; HttpOnly"),
                ]),
            _ => not_found(),
        },
        Site::SecureHardened => match bare {
            "/" => Reply::new("200 OK", "text/html", "<html><head><title>Hardened</title></head><body>Nothing to see</body></html>")
                .headers(HARDENED_HEADERS)
                .header("Set-Cookie", "SESSIONID=lab-session-2; Path=/; Secure; HttpOnly; SameSite=Lax"),
            _ => not_found().headers(HARDENED_HEADERS),
        },
        Site::Docker => match bare {
            "/version" => json(
                r#"{"Platform":{"Name":"Docker Engine - Community"},"Version":"24.0.7","ApiVersion":"1.43","MinAPIVersion":"1.12","GitCommit":"311b9ff","GoVersion":"go1.20.10","Os":"linux","Arch":"amd64","KernelVersion":"6.1.0-13-amd64"}"#,
            ),
            _ => Reply::new("404 Not Found", "application/json", r#"{"message":"page not found"}"#).headers(HARDENED_HEADERS),
        },
        Site::Search => match bare {
            "/" => json(
                r#"{"name":"es01","cluster_name":"agency-search","version":{"number":"7.17.14"},"tagline":"You Know, for Search"}"#,
            ),
            _ => Reply::new("404 Not Found", "application/json", r#"{"error":"not found","status":404}"#).headers(HARDENED_HEADERS),
        },
        Site::Kube => match bare {
            "/version" => json(
                r#"{"major":"1","minor":"28","gitVersion":"v1.28.3","gitTreeState":"clean","goVersion":"go1.20.10","compiler":"gc","platform":"linux/amd64"}"#,
            ),
            _ => Reply::new("403 Forbidden", "application/json", r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}"#)
                .headers(HARDENED_HEADERS),
        },
        Site::AgencyApex | Site::HardenedApex => match bare {
            "/" => Reply::new("200 OK", "text/html", "<html><head><title>Agency</title></head><body>Home</body></html>")
                .headers(HARDENED_HEADERS),
            "/.well-known/security.txt" if site == Site::HardenedApex => {
                Reply::new("200 OK", "text/plain; charset=utf-8", security_txt(crate::clock::now_unix()))
                    .headers(HARDENED_HEADERS)
            }
            _ => not_found().headers(HARDENED_HEADERS),
        },
        Site::Bucket => match bare {
            "/" => Reply::new(
                "200 OK",
                "application/xml",
                r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>agency-public</Name><Contents><Key>notice.pdf</Key></Contents></ListBucketResult>"#,
            )
            .headers(HARDENED_HEADERS),
            _ => not_found().headers(HARDENED_HEADERS),
        },
    }
}

/// A valid RFC 9116 file whose `Expires` is 180 days after `now` (Unix seconds).
pub(crate) fn security_txt(now: i64) -> String {
    let expires = crate::clock::rfc3339(now.saturating_add(180 * crate::clock::DAY));
    format!(
        "# hardened.test vulnerability disclosure\nContact: mailto:security@hardened.test\nExpires: {expires}\nPreferred-Languages: ko, en\nCanonical: https://hardened.test/.well-known/security.txt\n"
    )
}

/// The answer to `TRACE`: the portal echoes the request head back (what
/// Apache does with `TraceEnable On`), the hardened sites refuse it with 405
/// (nginx's answer); `None` for the others (400, like any other method).
fn trace_reply(site: Site, head: &str) -> Option<Reply> {
    match site {
        Site::Portal => Some(Reply::new("200 OK", "message/http", head.to_owned())),
        Site::Hardened | Site::SecureHardened | Site::AgencyApex | Site::HardenedApex => Some(
            Reply::new("405 Method Not Allowed", "text/html", "<html><body>405 Not Allowed</body></html>")
                .header("Allow", "GET, HEAD"),
        ),
        _ => None,
    }
}

/// Reads a request head (up to the blank line, at most [`HEAD_CAP`] bytes,
/// within [`WAIT`]); `None` if the client closed or stayed silent first.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_CAP {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    matches!(tokio::time::timeout(WAIT, read).await, Ok(true)).then_some(head)
}

/// Serves one request on `stream` as `site`, then closes. I/O errors end it.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, site: Site) {
    serve_faulty(stream, site, false).await;
}

/// As [`serve`]; with `truncate` (an injected fault, `faults.rs`), the head
/// announces the whole body and only its first half is sent before closing.
pub(crate) async fn serve_faulty<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, site: Site, truncate: bool) {
    let Some(head) = read_head(&mut stream).await else {
        // No request (a TLS client that only said hello): close cleanly.
        let _ = tokio::time::timeout(WAIT, stream.shutdown()).await;
        return;
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let http1 = parts.next().is_some_and(|v| v.starts_with("HTTP/1."));
    let traced = if method == "TRACE" && http1 { trace_reply(site, &text) } else { None };
    if traced.is_none() && (!(method == "GET" || method == "HEAD") || !http1) {
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
        let _ = tokio::time::timeout(WAIT, stream.shutdown()).await;
        return;
    }
    let origin = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("origin"))
        .map(|(_, v)| v.trim().to_owned());
    let reply = match traced {
        Some(r) => r,
        None => respond(site, path, origin.as_deref()),
    };
    let mut out = format!("HTTP/1.1 {}\r\n", reply.status);
    for (n, v) in &reply.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", reply.body.len()));
    let mut bytes = out.into_bytes();
    if method != "HEAD" {
        let keep = if truncate { reply.body.len() / 2 } else { reply.body.len() };
        bytes.extend(reply.body.iter().take(keep));
    }
    let _ = tokio::time::timeout(WAIT, stream.write_all(&bytes)).await;
    let _ = tokio::time::timeout(WAIT, stream.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_percent_decoded() {
        let p = "/login?a=1&next=https%3A%2F%2Fx.invalid%2F&b";
        assert_eq!(query_param(p, "next").as_deref(), Some("https://x.invalid/"));
        assert_eq!(query_param(p, "a").as_deref(), Some("1"));
        assert_eq!(query_param(p, "zz"), None);
        assert_eq!(query_param("/login?next=%zz%2", "next").as_deref(), Some("%zz%2"));
    }

    #[test]
    fn the_hardened_security_txt_expires_after_now() {
        let now = 1_795_842_000; // 2026-11-28T05:00:00Z
        let txt = security_txt(now);
        assert!(txt.contains("Contact: mailto:security@hardened.test\n"), "{txt}");
        assert!(txt.contains("Expires: 2027-05-27T05:00:00Z\n"), "{txt}");
        assert!(trace_reply(Site::Portal, "TRACE / HTTP/1.1\r\n\r\n").is_some_and(|r| r.status == "200 OK"));
        assert!(trace_reply(Site::HardenedApex, "").is_some_and(|r| r.status.starts_with("405")));
        assert!(trace_reply(Site::Docker, "").is_none());
    }
}
