//! Service fingerprints, as code: `svc.redis-noauth`, `svc.database-exposed`
//! (MySQL/MariaDB, PostgreSQL, MongoDB) and `svc.remote-desktop-exposed`
//! (RDP, VNC).
//!
//! Two entry points, one per kind of server:
//! - [`from_greeting`] reads what a server sent first on its own (the engine's
//!   greeting read): a MySQL protocol-10 handshake or a VNC `RFB` banner.
//! - [`probe_silent`] speaks to a server that waits for the client: Redis
//!   `PING`, a PostgreSQL `SSLRequest`, a MongoDB `hello`, an RDP X.224
//!   Connection Request, each on its own guard connection, concurrently.
//!
//! Identity comes only from what the server answers, never from the port
//! number (which only orders the probes). Every request is read-only, every
//! reply is read with a size cap and a deadline, and every parser is bounded.

mod wire;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

use haetae_findings::{Asset, CheckId, Confidence, Observation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::observe;
use crate::guard::{Connected, GuardError, ScopeGuard};

/// The checks this module runs (a definite [`SilentReport`] covers them all).
pub(crate) const CHECKS: [CheckId; 3] =
    [CheckId::SvcRedisNoauth, CheckId::SvcDatabaseExposed, CheckId::SvcRemoteDesktopExposed];

/// Longest wait for one reply.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// After PostgreSQL's one-byte answer, how long nothing else may arrive.
const PG_QUIET: Duration = Duration::from_millis(250);
/// Longest reply to PING read.
const REDIS_PING_CAP: usize = 512;
/// Request ids of our MongoDB messages.
const MONGO_HELLO_ID: i32 = 0x4861_6501;
const MONGO_ISMASTER_ID: i32 = 0x4861_6502;

/// A service a probe recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Redis,
    Mysql,
    Postgres,
    Mongo,
    Rdp,
    Vnc,
}

impl Service {
    /// A short name (`redis`, `mysql`, ...).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Service::Redis => "redis",
            Service::Mysql => "mysql",
            Service::Postgres => "postgresql",
            Service::Mongo => "mongodb",
            Service::Rdp => "rdp",
            Service::Vnc => "vnc",
        }
    }

    /// The check a finding of this service belongs to.
    pub(crate) fn check(self) -> CheckId {
        match self {
            Service::Redis => CheckId::SvcRedisNoauth,
            Service::Mysql | Service::Postgres | Service::Mongo => CheckId::SvcDatabaseExposed,
            Service::Rdp | Service::Vnc => CheckId::SvcRemoteDesktopExposed,
        }
    }
}

/// One service identified on a port: what to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identified {
    pub(crate) service: Service,
    pub(crate) check: CheckId,
    pub(crate) confidence: Confidence,
    /// One line, without the address (the observation adds it).
    pub(crate) evidence: String,
    /// Audit ids of the connections that showed it (empty from [`from_greeting`]:
    /// the caller adds the id of the connection that read the greeting).
    pub(crate) audit: Vec<u64>,
    /// The product and version it announced, for the `software.*` checks.
    pub(crate) software: Option<crate::software::Reading>,
}

impl Identified {
    fn new(service: Service, confidence: Confidence, evidence: String, audit: Vec<u64>) -> Identified {
        Identified { service, check: service.check(), confidence, evidence, audit, software: None }
    }

    /// The observation to report for `host` at `addr`:`port`.
    pub(crate) fn observation(&self, engagement: &str, host: &str, addr: IpAddr, port: u16) -> Observation {
        let asset = Asset { host: host.to_owned(), ip: Some(addr), port: Some(port) };
        let evidence = format!("{addr}:{port}: {}", self.evidence);
        let mut o = observe(self.check.clone(), engagement, asset, "", evidence, &self.audit);
        o.confidence = self.confidence;
        let (remediation, references) = guidance(&self.check);
        o.remediation = remediation.to_owned();
        o.references = references.iter().map(|r| (*r).to_owned()).collect();
        o.tags.push(format!("service:{}", self.service.name()));
        o
    }
}

/// Remediation and references of this module's checks.
pub(crate) fn guidance(check: &CheckId) -> (&'static str, &'static [&'static str]) {
    match check {
        CheckId::SvcRedisNoauth => (
            "Require authentication (requirepass, or ACL users with passwords), keep protected-mode on, bind Redis to private interfaces and allow only the application hosts at the firewall.",
            &[
                "https://redis.io/docs/latest/operate/oss_and_stack/management/security/",
                "https://cwe.mitre.org/data/definitions/306.html",
            ],
        ),
        CheckId::SvcDatabaseExposed => (
            "Do not expose database ports beyond the application tier: bind to private interfaces, allow only the application hosts at the firewall or security group, and require TLS and strong authentication.",
            &[
                "https://cheatsheetseries.owasp.org/cheatsheets/Database_Security_Cheat_Sheet.html",
                "https://cwe.mitre.org/data/definitions/668.html",
            ],
        ),
        CheckId::SvcRemoteDesktopExposed => (
            "Reach remote desktops only through a VPN or a remote-desktop gateway, restrict the port to management networks, and require NLA (RDP) or strong authentication (VNC).",
            &[
                "https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-rdpbcgr/",
                "https://www.rfc-editor.org/rfc/rfc6143",
                "https://cwe.mitre.org/data/definitions/668.html",
            ],
        ),
        _ => ("", &[]),
    }
}

/// Identify a service from the bytes it sent first: a MySQL/MariaDB
/// protocol-10 handshake or a VNC `RFB xxx.yyy` banner. An ERR packet (a
/// MySQL that refuses this client), SSH, SMTP or FTP banners give `None`.
pub(crate) fn from_greeting(data: &[u8]) -> Option<Identified> {
    if let Some(h) = wire::mysql_handshake(data) {
        let product = if h.version.to_ascii_lowercase().contains("mariadb") { "MariaDB" } else { "MySQL" };
        let evidence = format!("{product} protocol-10 handshake to any client, server version {}", h.version);
        return Some(Identified::new(Service::Mysql, Confidence::Certain, evidence, Vec::new()));
    }
    if let Some(v) = wire::rfb_version(data) {
        let evidence = format!("VNC server announces RFB {v}");
        return Some(Identified::new(Service::Vnc, Confidence::Certain, evidence, Vec::new()));
    }
    None
}

/// The product and version a greeting announces (MySQL/MariaDB), for the
/// `software.*` checks.
pub(crate) fn greeting_software(data: &[u8]) -> Option<crate::software::Reading> {
    crate::software::parse::from_mysql(&wire::mysql_handshake(data)?.version)
}

/// What the probes of a silent server found.
#[derive(Debug, Default)]
pub(crate) struct SilentReport {
    /// Services identified (usually none or one).
    pub(crate) found: Vec<Identified>,
    /// Whether every probe got a definite answer (a reply, silence, or a
    /// close); false when a connection failed otherwise.
    pub(crate) definite: bool,
    /// Guard errors that made a probe indefinite (window closed, audit log
    /// failure, ...), for the engine to act on.
    pub(crate) errors: Vec<GuardError>,
    /// The Redis probe got a definite answer of its own (`+PONG`, an error
    /// such as `-NOAUTH`, a close): `svc.redis-noauth` is decided even when
    /// another probe is not (a real Redis stays silent on the PostgreSQL,
    /// MongoDB and RDP probes, waiting for a line end).
    pub(crate) redis_definite: bool,
}

/// What one probe saw.
#[derive(Debug, Default)]
struct Outcome {
    found: Option<Identified>,
    definite: bool,
    error: Option<GuardError>,
}

impl Outcome {
    fn nothing() -> Outcome {
        Outcome { found: None, definite: true, error: None }
    }

    fn indefinite() -> Outcome {
        Outcome { found: None, definite: false, error: None }
    }

    fn found(id: Identified) -> Outcome {
        Outcome { found: Some(id), definite: true, error: None }
    }
}

type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// The usual ports of the services [`probe_silent`] identifies: there, they
/// are asked before HTTP (Redis, for one, logs an HTTP request as an attack).
const SERVICE_PORTS: [u16; 8] = [6379, 6380, 5432, 5433, 27017, 27018, 27019, 3389];

/// Whether `port` is the usual port of a service [`probe_silent`] identifies.
pub(crate) fn is_service_port(port: u16) -> bool {
    SERVICE_PORTS.contains(&port)
}

/// Probe a server that waits for the client: Redis, PostgreSQL, MongoDB and
/// RDP, each on its own guard connection, all at once. The port number only
/// decides which probe starts first.
pub(crate) async fn probe_silent(guard: &ScopeGuard, host: &str, addr: IpAddr, port: u16) -> SilentReport {
    let p = Probe { guard, host, addr, port, wait: guard.timeout().min(MAX_WAIT) };
    let mut probes: Vec<(&[u16], bool, ProbeFuture<'_>)> = vec![
        (&[6379, 6380], true, Box::pin(p.redis())),
        (&[5432, 5433], false, Box::pin(p.postgres())),
        (&[27017, 27018, 27019], false, Box::pin(p.mongo())),
        (&[3389], false, Box::pin(p.rdp())),
    ];
    probes.sort_by_key(|(ports, _, _)| !ports.contains(&port));
    let (redis, futures): (Vec<bool>, Vec<ProbeFuture<'_>>) = probes.into_iter().map(|(_, r, f)| (r, f)).unzip();
    let outcomes = futures_util::future::join_all(futures).await;
    let mut report = SilentReport { definite: true, ..SilentReport::default() };
    for (is_redis, o) in redis.into_iter().zip(outcomes) {
        if is_redis {
            report.redis_definite = o.definite;
        }
        report.definite &= o.definite;
        report.found.extend(o.found);
        report.errors.extend(o.error);
    }
    // One service per port: once one is identified, the others' silence is
    // an answer too.
    report.definite |= !report.found.is_empty();
    report.redis_definite |= report.definite;
    report
}

/// One endpoint and the bounds of its probes.
struct Probe<'a> {
    guard: &'a ScopeGuard,
    host: &'a str,
    addr: IpAddr,
    port: u16,
    wait: Duration,
}

impl Probe<'_> {
    /// A fresh guard connection for `probe`; a refused connection (the port
    /// closed since) is a definite nothing.
    async fn open(&self, probe: &str) -> Result<Connected, Outcome> {
        match self.guard.connect(self.host, self.addr, self.port, probe).await {
            Ok(c) => Ok(c),
            Err(GuardError::Failed(why)) if why == "closed" => Err(Outcome::nothing()),
            Err(e) => Err(Outcome { found: None, definite: false, error: Some(e) }),
        }
    }

    /// Redis: `PING`; `+PONG` means commands run without authentication. Then,
    /// read-only, `INFO server` for the version.
    async fn redis(&self) -> Outcome {
        let mut conn = match self.open("svc.redis").await {
            Ok(c) => c,
            Err(o) => return o,
        };
        let ping =
            exchange(&mut conn.stream, wire::REDIS_PING, self.wait, REDIS_PING_CAP, |d| wire::first_line(d).is_some())
                .await;
        if no_answer(&ping) {
            return Outcome::indefinite();
        }
        if wire::redis_ping(&ping.data) != wire::RedisPing::Pong {
            return Outcome::nothing();
        }
        let info =
            exchange(&mut conn.stream, wire::REDIS_INFO, self.wait, wire::REDIS_INFO_CAP, wire::redis_bulk_complete)
                .await;
        let raw = wire::redis_version(&info.data);
        let version = raw.as_ref().map(|v| format!(" (redis_version {v})")).unwrap_or_default();
        let evidence = format!("Redis answered PING with +PONG without authentication{version}");
        let mut id = Identified::new(Service::Redis, Confidence::Certain, evidence, vec![conn.audit]);
        id.software = raw.as_deref().and_then(crate::software::parse::from_redis);
        Outcome::found(id)
    }

    /// PostgreSQL: an SSLRequest gets exactly one byte, `S` or `N`, and then
    /// the server waits for the client again.
    async fn postgres(&self) -> Outcome {
        let mut conn = match self.open("svc.postgres").await {
            Ok(c) => c,
            Err(o) => return o,
        };
        let first = exchange(&mut conn.stream, &wire::PG_SSL_REQUEST, self.wait, 64, |d| !d.is_empty()).await;
        if no_answer(&first) {
            return Outcome::indefinite();
        }
        let Some(tls) = wire::pg_ssl_answer(&first.data).filter(|_| first.end == End::Complete) else {
            return Outcome::nothing();
        };
        // Anything more (or a close) means it was not PostgreSQL's answer.
        let more = read_reply(&mut conn.stream, self.wait.min(PG_QUIET), 64, |d| !d.is_empty()).await;
        match more.end {
            End::Silent if more.data.is_empty() => {}
            End::Failed => return Outcome::indefinite(),
            _ => return Outcome::nothing(),
        }
        let evidence = if tls {
            "PostgreSQL answered an SSLRequest with 'S' (TLS offered)"
        } else {
            "PostgreSQL answered an SSLRequest with 'N' (no TLS)"
        };
        Outcome::found(Identified::new(Service::Postgres, Confidence::Firm, evidence.to_owned(), vec![conn.audit]))
    }

    /// MongoDB: OP_MSG `hello` (and `isMaster` for servers before 4.4.2 that
    /// answer `hello` without a wire version); a well-formed reply with
    /// `maxWireVersion`.
    async fn mongo(&self) -> Outcome {
        let mut conn = match self.open("svc.mongodb").await {
            Ok(c) => c,
            Err(o) => return o,
        };
        let mut asked = "hello";
        let msg = wire::mongo_command(MONGO_HELLO_ID, asked);
        let r = exchange(&mut conn.stream, &msg, self.wait, wire::MONGO_CAP, wire::mongo_complete).await;
        if no_answer(&r) {
            return Outcome::indefinite();
        }
        let Some(mut hello) = wire::mongo_reply(&r.data, MONGO_HELLO_ID) else { return Outcome::nothing() };
        if hello.max_wire_version.is_none() {
            asked = "isMaster";
            let msg = wire::mongo_command(MONGO_ISMASTER_ID, asked);
            let r = exchange(&mut conn.stream, &msg, self.wait, wire::MONGO_CAP, wire::mongo_complete).await;
            match wire::mongo_reply(&r.data, MONGO_ISMASTER_ID) {
                Some(h) => hello = h,
                None if r.end == End::Failed => return Outcome::indefinite(),
                None => return Outcome::nothing(),
            }
        }
        let Some(wire_version) = hello.max_wire_version else { return Outcome::nothing() };
        let release = wire::mongo_release(wire_version).map(|r| format!(", MongoDB {r}")).unwrap_or_default();
        let version = hello.version.map(|v| format!(", version {v}")).unwrap_or_default();
        let evidence = format!("MongoDB answered {asked}: maxWireVersion {wire_version}{release}{version}");
        Outcome::found(Identified::new(Service::Mongo, Confidence::Certain, evidence, vec![conn.audit]))
    }

    /// RDP: an X.224 Connection Request gets a TPKT v3 Connection Confirm.
    async fn rdp(&self) -> Outcome {
        let mut conn = match self.open("svc.rdp").await {
            Ok(c) => c,
            Err(o) => return o,
        };
        let r =
            exchange(&mut conn.stream, &wire::RDP_CONNECTION_REQUEST, self.wait, wire::RDP_CAP, wire::tpkt_complete)
                .await;
        if no_answer(&r) {
            return Outcome::indefinite();
        }
        let Some(confirm) = wire::rdp_confirm(&r.data) else { return Outcome::nothing() };
        let detail = match confirm {
            wire::RdpConfirm::Plain => "standard RDP security, no negotiation".to_owned(),
            wire::RdpConfirm::Selected(p) => format!("selected {}", wire::rdp_protocol(p)),
            wire::RdpConfirm::Failure(c) => format!("negotiation failure {}", wire::rdp_failure(c)),
        };
        let evidence = format!("RDP answered an X.224 Connection Request with a Connection Confirm ({detail})");
        Outcome::found(Identified::new(Service::Rdp, Confidence::Certain, evidence, vec![conn.audit]))
    }
}

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The reply is whole (by the protocol's framing).
    Complete,
    /// The peer closed (or reset) the connection.
    Closed,
    /// Nothing more within the wait.
    Silent,
    /// The size cap was reached.
    Full,
    /// Another I/O error: no definite answer.
    Failed,
}

/// What a read got.
#[derive(Debug)]
struct Read {
    data: Vec<u8>,
    end: End,
}

fn end_of(e: &std::io::Error) -> End {
    match e.kind() {
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => End::Closed,
        _ => End::Failed,
    }
}

/// Whether a read is no answer at all: an I/O failure, or silence or a
/// close (or reset) before a single byte. A server that says anything, even
/// something that is not the protocol asked, has answered.
fn no_answer(r: &Read) -> bool {
    r.end == End::Failed || (r.data.is_empty() && matches!(r.end, End::Silent | End::Closed))
}

/// Send `msg`, then read the reply (see [`read_reply`]).
async fn exchange(
    stream: &mut TcpStream,
    msg: &[u8],
    wait: Duration,
    cap: usize,
    complete: impl Fn(&[u8]) -> bool,
) -> Read {
    match tokio::time::timeout(wait, stream.write_all(msg)).await {
        Ok(Ok(())) => read_reply(stream, wait, cap, complete).await,
        Ok(Err(e)) => Read { data: Vec::new(), end: end_of(&e) },
        Err(_) => Read { data: Vec::new(), end: End::Silent },
    }
}

/// Read until `complete` says the reply is whole, `cap` bytes, a close, an
/// error, or `wait` has passed in all (a trickling server gains nothing).
async fn read_reply(stream: &mut TcpStream, wait: Duration, cap: usize, complete: impl Fn(&[u8]) -> bool) -> Read {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let room = cap.saturating_sub(data.len()).min(buf.len());
            if room == 0 {
                return End::Full;
            }
            match stream.read(&mut buf[..room]).await {
                Ok(0) => return End::Closed,
                Ok(n) => {
                    data.extend_from_slice(&buf[..n]);
                    if complete(&data) {
                        return End::Complete;
                    }
                }
                Err(e) => return end_of(&e),
            }
        }
    };
    let end = tokio::time::timeout(wait, read).await.unwrap_or(End::Silent);
    Read { data, end }
}
