//! A fake S3-compatible object store, for `dns.takeover`: the shape of Naver
//! Cloud, NHN Cloud and Kakao Cloud object storage (and S3) as an anonymous
//! visitor sees it.
//!
//! The bucket comes from the Host header, as in S3 virtual-host addressing:
//! `{bucket}.{endpoint}` names `{bucket}`, and any other Host is itself the
//! bucket name (a custom domain). A claimed bucket is private and answers
//! `403` `AccessDenied`; any other bucket answers `404` with the S3 error
//! document `<Error><Code>NoSuchBucket</Code>...`. `GET` and `HEAD` only; one
//! request per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::tcp;

/// How long the store waits for a request.
const WAIT: Duration = Duration::from_secs(5);

/// What the store holds.
#[derive(Debug)]
pub struct ObjectStore {
    endpoint: String,
    claimed: Vec<String>,
    requests: AtomicU64,
}

impl ObjectStore {
    /// A store whose regional endpoint is `endpoint` (e.g.
    /// `kr.object.gov-ncloudstorage.com`) and whose existing buckets are `claimed`.
    pub fn new(endpoint: &str, claimed: &[&str]) -> Arc<ObjectStore> {
        Arc::new(ObjectStore {
            endpoint: endpoint.trim_end_matches('.').to_ascii_lowercase(),
            claimed: claimed.iter().map(|b| b.to_ascii_lowercase()).collect(),
            requests: AtomicU64::new(0),
        })
    }

    /// Connections accepted so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The bucket a Host header names: `{bucket}.{endpoint}`, else the whole host.
    /// The endpoint itself names none (a ListBuckets request).
    pub fn bucket_of(&self, host: &str) -> Option<String> {
        let host = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() || host == self.endpoint {
            return None;
        }
        match host.strip_suffix(&self.endpoint).and_then(|b| b.strip_suffix('.')) {
            Some(bucket) => Some(bucket.to_owned()),
            None => Some(host),
        }
    }

    /// The status line and body for `host`.
    fn answer(&self, host: Option<&str>) -> (&'static str, String) {
        let Some(host) = host else {
            return ("400 Bad Request", error("InvalidRequest", "Missing required header for this request: Host", ""));
        };
        match self.bucket_of(host) {
            None => ("403 Forbidden", error("AccessDenied", "Access Denied", "")),
            Some(b) if self.claimed.contains(&b) => ("403 Forbidden", error("AccessDenied", "Access Denied", &b)),
            Some(b) => ("404 Not Found", error("NoSuchBucket", "The specified bucket does not exist.", &b)),
        }
    }
}

fn error(code: &str, message: &str, bucket: &str) -> String {
    let bucket = if bucket.is_empty() { String::new() } else { format!("<BucketName>{bucket}</BucketName>") };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{bucket}<RequestId>tx000000000000000000001-lab</RequestId><HostId>lab</HostId></Error>"
    )
}

fn strip_port(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return host;
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Serves `store` on `listener` until `token` is cancelled; each connection is a
/// task on `tracker`. Bind the listener first: a bound listener is ready.
pub async fn serve_object_store(
    listener: TcpListener,
    store: Arc<ObjectStore>,
    token: CancellationToken,
    tracker: TaskTracker,
) {
    let counter = Arc::clone(&store);
    tcp::accept_loop(
        listener,
        move || {
            counter.requests.fetch_add(1, Ordering::Relaxed);
        },
        move |stream| serve_one(stream, Arc::clone(&store)),
        token,
        tracker,
    )
    .await;
}

async fn serve_one(mut stream: TcpStream, store: Arc<ObjectStore>) {
    let Some(head) = crate::web::read_head(&mut stream).await else { return };
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("");
    let host = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_owned());
    let (status, body) = if method == "GET" || method == "HEAD" {
        store.answer(host.as_deref())
    } else {
        ("405 Method Not Allowed", error("MethodNotAllowed", "The specified method is not allowed.", ""))
    };
    let body = if method == "HEAD" { String::new() } else { body };
    let reply = format!(
        "HTTP/1.1 {status}\r\nServer: lab-object-store\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(WAIT, stream.write_all(reply.as_bytes())).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn buckets_come_from_the_host() {
        let s = ObjectStore::new("kr.object.gov-ncloudstorage.com", &["agency-assets"]);
        assert_eq!(s.bucket_of("agency-files.kr.object.gov-ncloudstorage.com:8080").as_deref(), Some("agency-files"));
        assert_eq!(s.bucket_of("Agency-Assets.KR.object.gov-ncloudstorage.com.").as_deref(), Some("agency-assets"));
        assert_eq!(s.bucket_of("files.agency.test").as_deref(), Some("files.agency.test"));
        assert_eq!(s.bucket_of("kr.object.gov-ncloudstorage.com"), None);
        assert_eq!(
            s.bucket_of("xkr.object.gov-ncloudstorage.com").as_deref(),
            Some("xkr.object.gov-ncloudstorage.com")
        );
        assert_eq!(s.answer(Some("agency-assets.kr.object.gov-ncloudstorage.com")).0, "403 Forbidden");
        let (status, body) = s.answer(Some("agency-files.kr.object.gov-ncloudstorage.com"));
        assert_eq!(status, "404 Not Found");
        assert!(body.contains("<Code>NoSuchBucket</Code>") && body.contains("<BucketName>agency-files</BucketName>"));
        assert_eq!(s.answer(Some("kr.object.gov-ncloudstorage.com")).0, "403 Forbidden");
        assert_eq!(s.answer(None).0, "400 Bad Request");
    }

    #[tokio::test]
    async fn serves_over_tcp_until_cancelled() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = ObjectStore::new("kr.object.ncloudstorage.com", &["claimed"]);
        let (token, tracker) = (CancellationToken::new(), TaskTracker::new());
        tracker.spawn(serve_object_store(listener, Arc::clone(&store), token.clone(), tracker.clone()));
        let get = |host: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let gone = get("gone.kr.object.ncloudstorage.com").await;
        assert!(gone.starts_with("HTTP/1.1 404 Not Found\r\n"), "{gone}");
        assert!(gone.contains("<Code>NoSuchBucket</Code>"));
        let kept = get("claimed.kr.object.ncloudstorage.com").await;
        assert!(kept.starts_with("HTTP/1.1 403 Forbidden\r\n") && kept.contains("AccessDenied"), "{kept}");
        assert_eq!(store.requests(), 2);
        token.cancel();
        tracker.close();
        tracker.wait().await;
    }
}
