//! The hostile lab: loopback servers that each misbehave in one way, for
//! testing that a scan stays bounded and says what it could not cover.
//!
//! [`HostileLab::start`] brings up, inside the calling process and only on
//! `127.78.0.0/20` (plus one tripwire at 127.98.0.1), on ports the kernel
//! picks:
//!
//! * web servers, all on one port number ([`HostileLab::http_port`]), each on
//!   its own address and DNS name in `hostile.test` (see [`Kind`]);
//! * TLS servers, all on one port number ([`HostileLab::tls_port`]);
//! * a banner that never ends, on its own port;
//! * [`HostileOptions::silent_ports`] ports on 127.78.4.1
//!   (`silent.hostile.test`) that accept and never speak;
//! * a name server ([`HostileLab::dns_addr`], UDP and TCP) whose tricks are
//!   listed in the `dns` module's table and in [`Kind`];
//! * two well-behaved twins scanned alongside ([`HostileLab::twins`]): the
//!   HTTPS site `twin.hostile.test` (127.78.5.1, a lab-CA certificate, the
//!   hardened site's headers) and `www.hostile.test` (127.78.5.2, plain HTTP
//!   sending everything to `https://twin.hostile.test`). A scan must cover
//!   them completely and find nothing on them;
//! * a tripwire at 127.98.0.1 (outside the scope's cidrs) that
//!   [`Kind::RedirectOutOfScope`] redirects to; it counts every connection
//!   ([`HostileLab::out_of_scope_contacts`]; a correct scan leaves it at 0).
//!
//! Everything the lab sends is made as it is sent: whatever a client is made
//! to read (10 MB of headers, an endless body, a 10 MB certificate chain, an
//! endless zone transfer), the lab holds at most a few tens of KiB per
//! connection and at most 256 connections per listener. Every task stops
//! when the lab is dropped or [`HostileLab::shutdown`] is awaited; a
//! connection a client leaves open is held at most [`HOLD`].
//!
//! How a scan is expected to see each endpoint (for the scanner's test): none
//! is a finding and none is silence; each is a unit that failed (timeout,
//! stall, oversize, loop, refused hop, 503), named by [`HostileEndpoint::host`]
//! and port. [`HostileLab::scope_toml`] sets `timeout_ms` from
//! [`HostileOptions::timeout_ms`], the deadline a scan's bound is computed from.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use haetae_lab::hostile::{HostileLab, HostileOptions, Kind};
//! let opts = HostileOptions { silent_ports: 5, ..HostileOptions::default() };
//! let lab = HostileLab::start(opts).await?;
//! let drip = lab.endpoint(Kind::SlowHead).unwrap();
//! assert_eq!(drip.host, "slow-head.hostile.test");
//! assert_eq!(lab.endpoints().iter().filter(|e| e.kind == Kind::SilentPort).count(), 5);
//! assert!(lab.scope_toml().contains("127.78.0.0/20"));
//! lab.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::tcp::{self, PortClaim};
use crate::{CA_FILE, clock};

mod dns;
mod http;
mod tls;

pub use dns::{CHAIN_HOPS, ENDLESS_PER_MESSAGE, SLOW_AXFR_MESSAGES};
pub use http::{HUGE_HEADERS, LYING_BODY, LYING_LENGTH, SLOW_HEAD, TRICKLE_BYTES};
pub use tls::{GARBAGE, HUGE_CHAIN};

/// The engagement ID of the hostile lab's scope.
pub const HOSTILE_ENGAGEMENT_ID: &str = "KR-LAB-HOSTILE";
/// The scope's cidr: every hostile server and twin is inside it.
pub const HOSTILE_CIDR: &str = "127.78.0.0/20";
/// The tripwire's address, outside [`HOSTILE_CIDR`].
pub const TRIPWIRE_IP: Ipv4Addr = Ipv4Addr::new(127, 98, 0, 1);
/// The longest a connection the client leaves open is held.
pub const HOLD: Duration = Duration::from_secs(120);
/// Bytes per second the endless banner sends at most.
pub const BANNER_RATE: usize = 64 * 1024;
/// The zones the hostile name server serves (all in the scope).
pub const ZONES: [&str; 4] = ["hostile.test", "silent-nx.test", "slow-axfr.test", "endless-axfr.test"];

/// How the hostile lab is built.
#[derive(Debug, Clone)]
pub struct HostileOptions {
    /// How many ports accept and never speak (default 1,000).
    pub silent_ports: usize,
    /// The pause between two messages of the slow zone transfer (default 1.5 s).
    pub axfr_interval: Duration,
    /// The pause between two bytes of the slow head and two chunks of the
    /// trickled body (default 500 ms).
    pub drip_interval: Duration,
    /// `timeout_ms` written in [`HostileLab::scope_toml`] (default 2,000).
    pub timeout_ms: u64,
}

impl Default for HostileOptions {
    fn default() -> Self {
        HostileOptions {
            silent_ports: 1000,
            axfr_interval: Duration::from_millis(1500),
            drip_interval: Duration::from_millis(500),
            timeout_ms: 2000,
        }
    }
}

/// How one endpoint misbehaves (or, for the twins, behaves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// HTTP: the response head, one byte per [`HostileOptions::drip_interval`] ([`SLOW_HEAD`]).
    SlowHead,
    /// HTTP: `200`, no length, `Connection: close`, a body that never ends.
    EndlessBody,
    /// HTTP: a chunked body of 16 KiB chunks that never ends.
    EndlessChunked,
    /// HTTP: a chunked body whose first chunk size is `ffffffffffffffffff`
    /// (past u64), 16 KiB of data, then silence.
    ChunkSizeOverflow,
    /// HTTP: [`HUGE_HEADERS`] bytes of header lines, then a 2-byte body.
    HugeHeaders,
    /// HTTP: `Content-Length: 1000000`, [`LYING_BODY`] (10 bytes), then silence.
    LyingLength,
    /// HTTP: a valid chunked body of [`TRICKLE_BYTES`] one-byte chunks, one
    /// per [`HostileOptions::drip_interval`].
    TrickleChunks,
    /// HTTP: `/a` redirects to `/b`, anything else to `/a`.
    RedirectLoop,
    /// HTTP: every path redirects to `http://127.98.0.1:<port>/`, the tripwire.
    RedirectOutOfScope,
    /// HTTP: `503 Service Unavailable` with `Retry-After: 5`, every request.
    RetryAfter,
    /// HTTP: `/` answers a page; every other path is read and never answered.
    RootOnly,
    /// TLS: 4 KiB of garbage in reply to the ClientHello, then close.
    TlsGarbage,
    /// TLS: a record header promising 16 KiB, 6 bytes, then silence.
    TlsStalledRecord,
    /// TLS: a ServerHello, then a [`HUGE_CHAIN`]-byte Certificate message.
    TlsHugeChain,
    /// TLS: reads the ClientHello, never answers.
    TlsSilent,
    /// TCP: `SSH-2.0-` and then printable bytes, never a newline, at most
    /// [`BANNER_RATE`] bytes a second, forever.
    EndlessBanner,
    /// TCP: accepts and never speaks.
    SilentPort,
    /// DNS: `wrong-id.hostile.test`, answered with the ID's bits flipped.
    DnsWrongId,
    /// DNS: `truncated.hostile.test`, TC=1 on UDP forever; half an answer on TCP, then silence.
    DnsTruncated,
    /// DNS: `cname-loop-a.hostile.test` ↔ `cname-loop-b.hostile.test`.
    DnsCnameLoop,
    /// DNS: `pointer-loop.hostile.test`, an owner name that points at itself.
    DnsPointerLoop,
    /// DNS: `chain-0.hostile.test`, [`CHAIN_HOPS`] CNAME hops to an A record.
    DnsLongChain,
    /// DNS: `slow-axfr.test`, an open transfer of [`SLOW_AXFR_MESSAGES`]
    /// messages, one per [`HostileOptions::axfr_interval`].
    DnsSlowAxfr,
    /// DNS: `endless-axfr.test`, an open transfer that never ends.
    DnsEndlessAxfr,
    /// DNS: `silent-nx.test`, no reply for names that do not exist.
    DnsDropsNxdomain,
    /// The twin: a hardened HTTPS site (`twin.hostile.test`).
    TwinHttps,
    /// The twin: plain HTTP sending everything to HTTPS (`www.hostile.test`).
    TwinHttp,
}

/// One endpoint of the hostile lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostileEndpoint {
    /// A stable name, the same on every run: `http-slow-head`,
    /// `dns-wrong-id`, `silent-port-17`, `twin-https`, ...
    pub name: String,
    /// The DNS name a scan knows it by (a seed of the scope): for DNS tricks
    /// the name or zone queried, e.g. `wrong-id.hostile.test`, `slow-axfr.test`.
    pub host: String,
    /// The address it listens on (for DNS tricks: the name server's).
    pub addr: IpAddr,
    /// The TCP port (for DNS tricks: the name server's UDP and TCP port).
    pub port: u16,
    /// How it misbehaves.
    pub kind: Kind,
}

struct Spec {
    name: &'static str,
    host: &'static str,
    ip: Ipv4Addr,
    kind: Kind,
}

const fn spec(name: &'static str, host: &'static str, ip: [u8; 2], kind: Kind) -> Spec {
    Spec { name, host, ip: Ipv4Addr::new(127, 78, ip[0], ip[1]), kind }
}

/// The web servers, sharing one port number.
const WEB: &[Spec] = &[
    spec("http-slow-head", "slow-head.hostile.test", [1, 1], Kind::SlowHead),
    spec("http-endless-body", "endless-body.hostile.test", [1, 2], Kind::EndlessBody),
    spec("http-endless-chunked", "endless-chunked.hostile.test", [1, 3], Kind::EndlessChunked),
    spec("http-chunk-overflow", "chunk-overflow.hostile.test", [1, 4], Kind::ChunkSizeOverflow),
    spec("http-huge-headers", "huge-headers.hostile.test", [1, 5], Kind::HugeHeaders),
    spec("http-lying-length", "lying-length.hostile.test", [1, 6], Kind::LyingLength),
    spec("http-trickle-chunks", "trickle-chunks.hostile.test", [1, 7], Kind::TrickleChunks),
    spec("http-redirect-loop", "redirect-loop.hostile.test", [1, 8], Kind::RedirectLoop),
    spec("http-redirect-out", "redirect-out.hostile.test", [1, 9], Kind::RedirectOutOfScope),
    spec("http-retry-after", "retry-after.hostile.test", [1, 10], Kind::RetryAfter),
    spec("http-root-only", "root-only.hostile.test", [1, 11], Kind::RootOnly),
];

/// The TLS servers, sharing one port number.
const TLS: &[Spec] = &[
    spec("tls-garbage", "tls-garbage.hostile.test", [2, 1], Kind::TlsGarbage),
    spec("tls-stalled-record", "tls-stall.hostile.test", [2, 2], Kind::TlsStalledRecord),
    spec("tls-huge-chain", "tls-huge-chain.hostile.test", [2, 3], Kind::TlsHugeChain),
    spec("tls-silent", "tls-silent.hostile.test", [2, 4], Kind::TlsSilent),
];

const BANNER: Spec = spec("tcp-endless-banner", "endless-banner.hostile.test", [3, 1], Kind::EndlessBanner);
const SILENT_IP: Ipv4Addr = Ipv4Addr::new(127, 78, 4, 1);
const SILENT_HOST: &str = "silent.hostile.test";
const TWIN_HTTPS: Spec = spec("twin-https", "twin.hostile.test", [5, 1], Kind::TwinHttps);
const TWIN_HTTP: Spec = spec("twin-http", "www.hostile.test", [5, 2], Kind::TwinHttp);

/// The DNS tricks: (stable name, the name or zone to query, kind).
const DNS_TRICKS: &[(&str, &str, Kind)] = &[
    ("dns-wrong-id", "wrong-id.hostile.test", Kind::DnsWrongId),
    ("dns-truncated", "truncated.hostile.test", Kind::DnsTruncated),
    ("dns-cname-loop", "cname-loop-a.hostile.test", Kind::DnsCnameLoop),
    ("dns-pointer-loop", "pointer-loop.hostile.test", Kind::DnsPointerLoop),
    ("dns-long-chain", "chain-0.hostile.test", Kind::DnsLongChain),
    ("dns-slow-axfr", "slow-axfr.test", Kind::DnsSlowAxfr),
    ("dns-endless-axfr", "endless-axfr.test", Kind::DnsEndlessAxfr),
    ("dns-drops-nxdomain", "silent-nx.test", Kind::DnsDropsNxdomain),
];

/// Reads and discards until the client closes, an error, or [`HOLD`].
pub(crate) async fn hold<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(HOLD, read).await;
}

/// Sends `SSH-2.0-` and then printable bytes with no newline, forever, at
/// most [`BANNER_RATE`] bytes a second.
async fn endless_banner(mut stream: TcpStream) {
    const PIECE: usize = 1024;
    let piece: Vec<u8> = (0..PIECE).map(|i| b'A' + (i % 26) as u8).collect();
    if stream.write_all(b"SSH-2.0-").await.is_err() {
        return;
    }
    let per_piece = Duration::from_secs(1) / u32::try_from(BANNER_RATE / PIECE).unwrap_or(1);
    let mut tick = tokio::time::interval(per_piece);
    loop {
        tick.tick().await;
        match tokio::time::timeout(Duration::from_secs(30), stream.write_all(&piece)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

async fn silent(mut stream: TcpStream) {
    hold(&mut stream).await;
}

/// The running hostile lab. Dropping it (or awaiting
/// [`HostileLab::shutdown`]) stops every task and closes every socket.
#[derive(Debug)]
pub struct HostileLab {
    token: CancellationToken,
    tracker: TaskTracker,
    opts: HostileOptions,
    dns_addr: SocketAddr,
    http_port: u16,
    tls_port: u16,
    endpoints: Vec<HostileEndpoint>,
    twins: Vec<HostileEndpoint>,
    tripwire: SocketAddr,
    contacts: Arc<AtomicU64>,
    dns: Arc<dns::Responder>,
    _claim: PortClaim,
}

fn endpoint(s: &Spec, port: u16) -> HostileEndpoint {
    HostileEndpoint { name: s.name.to_owned(), host: s.host.to_owned(), addr: IpAddr::V4(s.ip), port, kind: s.kind }
}

impl HostileLab {
    /// Binds every socket, starts serving, and returns once every server is
    /// ready (bound is ready). Must be called inside a Tokio runtime.
    pub async fn start(opts: HostileOptions) -> io::Result<HostileLab> {
        let mut claim = PortClaim::default();
        let (dns_udp, dns_tcp) = crate::dns::bind_pair(dns::DNS_IP, &mut claim).await?;
        let dns_addr = dns_udp.local_addr()?;
        let (web, http_port) = tcp::bind_many(&WEB.iter().map(|s| s.ip).collect::<Vec<_>>(), &mut claim).await?;
        let (tls_l, tls_port) = tcp::bind_many(&TLS.iter().map(|s| s.ip).collect::<Vec<_>>(), &mut claim).await?;
        let (banner, banner_port) = tcp::bind_one(BANNER.ip, &mut claim).await?;
        let (twin_https, twin_https_port) = tcp::bind_one(TWIN_HTTPS.ip, &mut claim).await?;
        let (twin_http, twin_http_port) = tcp::bind_one(TWIN_HTTP.ip, &mut claim).await?;
        let (tripwire_l, tripwire_port) = tcp::bind_one(TRIPWIRE_IP, &mut claim).await?;
        let mut silent_l = Vec::with_capacity(opts.silent_ports);
        for _ in 0..opts.silent_ports {
            silent_l.push(tcp::bind_one(SILENT_IP, &mut claim).await?);
        }
        let tripwire = SocketAddr::from((TRIPWIRE_IP, tripwire_port));

        let mut endpoints: Vec<HostileEndpoint> = WEB.iter().map(|s| endpoint(s, http_port)).collect();
        endpoints.extend(TLS.iter().map(|s| endpoint(s, tls_port)));
        endpoints.push(endpoint(&BANNER, banner_port));
        endpoints.extend(silent_l.iter().enumerate().map(|(i, (_, port))| HostileEndpoint {
            name: format!("silent-port-{i}"),
            host: SILENT_HOST.to_owned(),
            addr: IpAddr::V4(SILENT_IP),
            port: *port,
            kind: Kind::SilentPort,
        }));
        endpoints.extend(DNS_TRICKS.iter().map(|(name, host, kind)| HostileEndpoint {
            name: (*name).to_owned(),
            host: (*host).to_owned(),
            addr: dns_addr.ip(),
            port: dns_addr.port(),
            kind: *kind,
        }));
        let twins = vec![endpoint(&TWIN_HTTPS, twin_https_port), endpoint(&TWIN_HTTP, twin_http_port)];

        let mut hosts: Vec<(String, Ipv4Addr)> = WEB
            .iter()
            .chain(TLS)
            .chain([&BANNER, &TWIN_HTTPS, &TWIN_HTTP])
            .map(|s| (s.host.to_owned(), s.ip))
            .collect();
        hosts.push((SILENT_HOST.to_owned(), SILENT_IP));
        let responder = Arc::new(dns::Responder::new(&hosts, opts.axfr_interval)?);

        // The twin's certificate is issued before anything serves.
        let ca = crate::tls::certs::LabCa::load()?;
        let now = clock::now_unix();
        let leaf = ca.issue(
            None,
            &[TWIN_HTTPS.host],
            crate::tls::certs::days_from(now, -1),
            crate::tls::certs::days_from(now, 90),
        )?;
        let acceptor = crate::tls::rustls_server::acceptor(leaf)?;

        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        let contacts = Arc::new(AtomicU64::new(0));
        tracker.spawn(dns::serve_udp(dns_udp, Arc::clone(&responder), token.clone()));
        tracker.spawn(dns::serve_tcp(dns_tcp, Arc::clone(&responder), token.clone(), tracker.clone()));
        let spawn = |listener, handle: Box<dyn Fn(TcpStream) -> futures_box::BoxFut + Send>| {
            tracker.spawn(tcp::accept_loop(listener, || {}, handle, token.clone(), tracker.clone()));
        };
        for (listener, s) in web.into_iter().zip(WEB) {
            let web = http::Web { kind: s.kind, drip: opts.drip_interval, tripwire };
            spawn(listener, Box::new(move |st| Box::pin(http::serve(st, web))));
        }
        for (listener, s) in tls_l.into_iter().zip(TLS) {
            let kind = s.kind;
            spawn(listener, Box::new(move |st| Box::pin(tls::serve(st, kind))));
        }
        spawn(banner, Box::new(|st| Box::pin(endless_banner(st))));
        for (listener, _) in silent_l {
            spawn(listener, Box::new(|st| Box::pin(silent(st))));
        }
        spawn(
            twin_https,
            Box::new(move |st| {
                Box::pin(crate::tls::rustls_server::serve_web(st, acceptor.clone(), crate::web::Site::SecureHardened))
            }),
        );
        spawn(twin_http, Box::new(|st| Box::pin(crate::web::serve(st, crate::web::Site::HostileTwin))));
        let counter = Arc::clone(&contacts);
        tracker.spawn(tcp::accept_loop(
            tripwire_l,
            move || {
                counter.fetch_add(1, Ordering::Relaxed);
            },
            silent,
            token.clone(),
            tracker.clone(),
        ));

        Ok(HostileLab {
            token,
            tracker,
            opts,
            dns_addr,
            http_port,
            tls_port,
            endpoints,
            twins,
            tripwire,
            contacts,
            dns: responder,
            _claim: claim,
        })
    }

    /// Every hostile endpoint (not the twins), in a stable order: web, TLS,
    /// banner, silent ports, DNS tricks.
    pub fn endpoints(&self) -> &[HostileEndpoint] {
        &self.endpoints
    }

    /// The first endpoint of `kind` (hostile or twin).
    pub fn endpoint(&self, kind: Kind) -> Option<&HostileEndpoint> {
        self.endpoints.iter().chain(&self.twins).find(|e| e.kind == kind)
    }

    /// The well-behaved twins, which a scan must cover completely: the HTTPS
    /// site first, then the plain HTTP one.
    pub fn twins(&self) -> &[HostileEndpoint] {
        &self.twins
    }

    /// The hostile name server, `127.78.0.53:<port>`, UDP and TCP.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns_addr
    }

    /// The port number every hostile web server listens on (each on its own address).
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The port number every hostile TLS server listens on (each on its own address).
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The tripwire outside the scope that [`Kind::RedirectOutOfScope`] points at.
    pub fn tripwire_addr(&self) -> SocketAddr {
        self.tripwire
    }

    /// Connections the tripwire (outside the scope) has accepted. A correct
    /// scan leaves this at 0.
    pub fn out_of_scope_contacts(&self) -> u64 {
        self.contacts.load(Ordering::Relaxed)
    }

    /// Queries the hostile name server has received (UDP and TCP, dropped ones included).
    pub fn dns_queries(&self) -> u64 {
        self.dns.queries.load(Ordering::Relaxed)
    }

    /// Every TCP port of the lab's endpoints and twins, sorted, deduplicated
    /// (the name server's port is not among them).
    pub fn ports(&self) -> Vec<u16> {
        self.ports_of(&self.all())
    }

    /// Every DNS name to scan: the zones, then each endpoint's and twin's host.
    pub fn seeds(&self) -> Vec<String> {
        let mut seeds: Vec<String> = ZONES.iter().map(|z| (*z).to_owned()).collect();
        seeds.extend(self.hosts_of(&self.all()));
        seeds.dedup();
        seeds
    }

    fn all(&self) -> Vec<&HostileEndpoint> {
        self.endpoints.iter().chain(&self.twins).collect()
    }

    fn ports_of(&self, list: &[&HostileEndpoint]) -> Vec<u16> {
        let mut ports: Vec<u16> = list.iter().filter(|e| e.addr != self.dns_addr.ip()).map(|e| e.port).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    fn hosts_of(&self, list: &[&HostileEndpoint]) -> Vec<String> {
        let mut hosts: Vec<String> = Vec::new();
        for e in list {
            if !hosts.contains(&e.host) && !ZONES.contains(&e.host.as_str()) {
                hosts.push(e.host.clone());
            }
        }
        hosts
    }

    /// A complete `scope.toml`: the zones, [`HOSTILE_CIDR`], every port,
    /// every host as a seed, `timeout_ms` from [`HostileOptions::timeout_ms`];
    /// the engagement window runs from a day ago to 30 days from now.
    pub fn scope_toml(&self) -> String {
        let mut seeds: Vec<String> = ZONES.iter().map(|z| (*z).to_owned()).collect();
        seeds.extend(self.hosts_of(&self.all()));
        self.scope_with(&self.ports(), &seeds)
    }

    /// As [`HostileLab::scope_toml`], scanning only the endpoints of `kinds`
    /// and the twins: their hosts (a DNS trick's name or zone) are the seeds
    /// and their ports the scope's ports; every zone stays in scope. For
    /// measuring what one hostile case costs.
    pub fn scope_toml_for(&self, kinds: &[Kind]) -> String {
        let chosen: Vec<&HostileEndpoint> =
            self.endpoints.iter().filter(|e| kinds.contains(&e.kind)).chain(&self.twins).collect();
        let mut seeds: Vec<String> = Vec::new();
        for e in &chosen {
            if !seeds.contains(&e.host) {
                seeds.push(e.host.clone());
            }
        }
        self.scope_with(&self.ports_of(&chosen), &seeds)
    }

    fn scope_with(&self, ports: &[u16], seeds: &[String]) -> String {
        let (not_before, not_after) = clock::window(clock::now_unix());
        let list = |v: Vec<String>| v.join(", ");
        let ports = list(ports.iter().map(u16::to_string).collect());
        let domains = list(ZONES.iter().map(|z| format!("\"{z}\"")).collect());
        let seeds = list(seeds.iter().map(|s| format!("\"{s}\"")).collect());
        let timeout_ms = self.opts.timeout_ms;
        format!(
            r#"[engagement]
id = "{HOSTILE_ENGAGEMENT_ID}"
agency = "haetae hostile lab"
contact = "lab@haetae.invalid"
not_before = {not_before}
not_after = {not_after}

[scope]
domains = [{domains}]
cidrs = ["{HOSTILE_CIDR}"]
ports = [{ports}]
exclude_domains = []
exclude_cidrs = []
exclude_paths = []
seeds = [{seeds}]

[limits]
max_rps = 5000
per_host_rps = 2000
concurrency = 512
timeout_ms = {timeout_ms}
"#
        )
    }

    /// A complete `haetae.toml` whose resolver is the hostile name server and
    /// which trusts the lab CA (write [`crate::Lab::ca_pem`]'s text, i.e.
    /// [`crate::CA_PEM`], to [`CA_FILE`] next to it).
    pub fn haetae_toml(&self) -> String {
        format!(
            r#"scope = "scope.toml"
store = ".haetae"

[resolver]
nameservers = ["{}"]

[tls]
extra_roots = ["{CA_FILE}"]
"#,
            self.dns_addr
        )
    }

    /// A future that completes once every task has stopped, after the lab is
    /// dropped or shut down. Take it before dropping the lab.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let tracker = self.tracker.clone();
        async move { tracker.wait().await }
    }

    /// Stops every task and waits until all sockets are closed.
    pub async fn shutdown(self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for HostileLab {
    fn drop(&mut self) {
        self.token.cancel();
        self.tracker.close();
    }
}

mod futures_box {
    use std::future::Future;
    use std::pin::Pin;

    /// A boxed connection future.
    pub(super) type BoxFut = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}
