//! The lab's TCP services, the accept loop they share, and port bookkeeping.
//!
//! Every listener binds port 0 on its own loopback address (never a fixed
//! port) and spawns one task per connection, at most [`MAX_CONNECTIONS`] at a
//! time per listener. Every accepted connection is counted.

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::faults::{self, Injector};
use crate::services;
use crate::web::{self, Site};

/// The SSH-like service (`www.agency.test`).
pub(crate) const SSH_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 1, 20);
/// The SMTP-like service (`mail.agency.test`).
pub(crate) const MAIL_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 1, 25);
/// The excluded host (`payments.agency.test`).
pub(crate) const EXCLUDED_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 1, 30);
/// The hardened web host (`www.hardened.test`): accepts, says nothing.
pub(crate) const HARDENED_WWW_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 2, 20);
/// `portal.agency.test`: the weak web server.
pub(crate) const WEAK_WEB_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 1, 50);
/// `app.hardened.test`: the hardened web server.
pub(crate) const HARDENED_WEB_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 2, 50);
/// The portal's legacy origin (`[[migration]]`): still serving the portal.
pub(crate) const WEAK_LEGACY_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 1, 21);
/// `app.hardened.test`'s legacy origin: decommissioned, a default page.
pub(crate) const HARDENED_LEGACY_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 2, 21);
/// Out-of-scope addresses (`legacy.agency.test`, `edge.othercorp.test`).
pub(crate) const OUT_OF_SCOPE_IPS: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 99, 0, 1), Ipv4Addr::new(127, 99, 0, 2)];

/// The lab's services (`services.rs`) and their addresses; `zones.rs` names them.
pub(crate) const SERVICE_HOSTS: [(Ipv4Addr, services::Kind); 7] = [
    (Ipv4Addr::new(127, 77, 1, 60), services::Kind::RedisWeak),
    (Ipv4Addr::new(127, 77, 1, 61), services::Kind::Mysql),
    (Ipv4Addr::new(127, 77, 1, 62), services::Kind::Postgres),
    (Ipv4Addr::new(127, 77, 1, 63), services::Kind::Mongo),
    (Ipv4Addr::new(127, 77, 1, 64), services::Kind::Rdp),
    (Ipv4Addr::new(127, 77, 1, 65), services::Kind::Vnc),
    (Ipv4Addr::new(127, 77, 2, 60), services::Kind::RedisHardened),
];

/// Connection tasks per listener.
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// How many times a group of sockets that must share one port is retried.
pub(crate) const BIND_ATTEMPTS: usize = 32;

pub(crate) const SSH_BANNER: &[u8] = b"SSH-2.0-OpenSSH_7.4\r\n";
pub(crate) const SMTP_BANNER: &[u8] = b"220 mail.agency.test ESMTP Postfix\r\n";

/// How long a service waits for the client before closing.
const SERVICE_WAIT: Duration = Duration::from_secs(5);
/// How much a service reads from a client at most.
const READ_CAP: usize = 4096;

/// Port numbers held by live labs in this process. No two sockets of the labs
/// share a port number (except the SSH group, on purpose), even on different
/// addresses, so a scan of one lab's ports never reaches another lab's
/// services, nor this lab's name servers.
static LIVE_PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// The port numbers one lab holds; released when dropped.
#[derive(Debug, Default)]
pub(crate) struct PortClaim {
    ports: Vec<u16>,
}

impl PortClaim {
    /// Claims `port` unless this lab or another live lab already holds it.
    pub(crate) fn try_claim(&mut self, port: u16) -> bool {
        let mut live = LIVE_PORTS.lock().unwrap_or_else(PoisonError::into_inner);
        if live.get_or_insert_with(HashSet::new).insert(port) {
            self.ports.push(port);
            true
        } else {
            false
        }
    }

    /// Whether any live lab (this one included) holds `port`.
    fn is_live(port: u16) -> bool {
        let live = LIVE_PORTS.lock().unwrap_or_else(PoisonError::into_inner);
        live.as_ref().is_some_and(|s| s.contains(&port))
    }
}

impl Drop for PortClaim {
    fn drop(&mut self) {
        let mut live = LIVE_PORTS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(set) = live.as_mut() {
            for p in &self.ports {
                set.remove(p);
            }
        }
    }
}

/// What a listener does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behavior {
    /// Writes the SSH banner, reads up to 4 KiB or until EOF or 5 s, closes.
    Ssh,
    /// Writes the SMTP banner, reads one line (or EOF, 4 KiB, 5 s), closes.
    Smtp,
    /// Writes nothing; closes on EOF or after 5 s.
    Quiet,
    /// A web site (see `web.rs`).
    Web(Site),
    /// A service that waits for or greets the client (see `services.rs`).
    Service(services::Kind),
}

/// Connection counters, one per role.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) ssh: AtomicU64,
    pub(crate) smtp: AtomicU64,
    pub(crate) quiet: AtomicU64,
    pub(crate) out_of_scope: AtomicU64,
    pub(crate) excluded: AtomicU64,
}

/// Which counter a listener adds to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    Ssh,
    Smtp,
    Quiet,
    OutOfScope,
    Excluded,
}

impl Role {
    fn counter(self, c: &Counters) -> &AtomicU64 {
        match self {
            Self::Ssh => &c.ssh,
            Self::Smtp => &c.smtp,
            Self::Quiet => &c.quiet,
            Self::OutOfScope => &c.out_of_scope,
            Self::Excluded => &c.excluded,
        }
    }
}

/// One bound listener and what it does.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) listener: TcpListener,
    pub(crate) behavior: Behavior,
    pub(crate) role: Role,
}

/// The bound TCP services of one lab.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) services: Vec<Service>,
    pub(crate) ssh_port: u16,
    pub(crate) smtp_port: u16,
    pub(crate) quiet_port: u16,
    pub(crate) web_ports: [u16; 2],
    /// The port the database, cache and remote-desktop services share.
    pub(crate) service_port: u16,
}

fn in_use(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable)
}

/// Binds `ip:0` and claims the port number, retrying on a clash with
/// another live lab.
pub(crate) async fn bind_one(ip: Ipv4Addr, claim: &mut PortClaim) -> io::Result<(TcpListener, u16)> {
    let mut rejected = Vec::new(); // kept open so the kernel hands out other ports
    for _ in 0..BIND_ATTEMPTS {
        let listener = TcpListener::bind(SocketAddr::from((ip, 0))).await?;
        let port = listener.local_addr()?.port();
        if claim.try_claim(port) {
            return Ok((listener, port));
        }
        rejected.push(listener);
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, format!("no free port on {ip} after {BIND_ATTEMPTS} attempts")))
}

/// Binds the same port number on every address of `ips`, claiming it;
/// retries the whole group with a new port when one cannot be bound.
async fn bind_group<const N: usize>(ips: [Ipv4Addr; N], claim: &mut PortClaim) -> io::Result<([TcpListener; N], u16)> {
    let (group, port) = bind_many(&ips, claim).await?;
    match <[TcpListener; N]>::try_from(group) {
        Ok(listeners) => Ok((listeners, port)),
        Err(_) => Err(io::Error::other(format!("bound a different number of sockets than {N} for {ips:?}"))),
    }
}

/// Binds the same port number on every address of `ips` (in order),
/// claiming it; retries the whole group with a new port when one cannot be
/// bound.
pub(crate) async fn bind_many(ips: &[Ipv4Addr], claim: &mut PortClaim) -> io::Result<(Vec<TcpListener>, u16)> {
    let mut rejected = Vec::new();
    'attempt: for _ in 0..BIND_ATTEMPTS {
        let mut group = Vec::with_capacity(ips.len());
        let mut port = 0;
        for ip in ips {
            match TcpListener::bind(SocketAddr::from((*ip, port))).await {
                Ok(l) => {
                    port = l.local_addr()?.port();
                    group.push(l);
                }
                Err(e) if in_use(&e) => {
                    rejected.extend(group);
                    continue 'attempt;
                }
                Err(e) => return Err(e),
            }
        }
        if PortClaim::is_live(port) || !claim.try_claim(port) {
            rejected.extend(group);
            continue;
        }
        return Ok((group, port));
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, format!("no shared port for {ips:?} after {BIND_ATTEMPTS} attempts")))
}

/// Binds the SSH service and, on the same port number, the two out-of-scope
/// listeners and the excluded host; retries the whole group with a new port
/// when one of them cannot be bound.
async fn bind_ssh_group(claim: &mut PortClaim) -> io::Result<(Vec<Service>, u16)> {
    let mut rejected = Vec::new();
    'attempt: for _ in 0..BIND_ATTEMPTS {
        let ssh = TcpListener::bind(SocketAddr::from((SSH_IP, 0))).await?;
        let port = ssh.local_addr()?.port();
        if PortClaim::is_live(port) {
            rejected.push(ssh);
            continue;
        }
        let mut services = vec![Service { listener: ssh, behavior: Behavior::Ssh, role: Role::Ssh }];
        let partners = [
            (OUT_OF_SCOPE_IPS[0], Role::OutOfScope),
            (OUT_OF_SCOPE_IPS[1], Role::OutOfScope),
            (EXCLUDED_IP, Role::Excluded),
        ];
        for (ip, role) in partners {
            match TcpListener::bind(SocketAddr::from((ip, port))).await {
                Ok(listener) => services.push(Service { listener, behavior: Behavior::Ssh, role }),
                Err(e) if in_use(&e) => {
                    rejected.extend(services.into_iter().map(|s| s.listener));
                    continue 'attempt;
                }
                Err(e) => return Err(e),
            }
        }
        if claim.try_claim(port) {
            return Ok((services, port));
        }
        rejected.extend(services.into_iter().map(|s| s.listener));
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("no shared port for the SSH group after {BIND_ATTEMPTS} attempts"),
    ))
}

/// Binds every TCP service of the lab.
pub(crate) async fn bind_all(claim: &mut PortClaim) -> io::Result<Bound> {
    let (mut services, ssh_port) = bind_ssh_group(claim).await?;
    let (smtp, smtp_port) = bind_one(MAIL_IP, claim).await?;
    services.push(Service { listener: smtp, behavior: Behavior::Smtp, role: Role::Smtp });
    let (quiet, quiet_port) = bind_one(HARDENED_WWW_IP, claim).await?;
    services.push(Service { listener: quiet, behavior: Behavior::Quiet, role: Role::Quiet });
    // Each web site shares its port number with its legacy origin, as a site
    // that moved keeps its port.
    let ([weak, weak_legacy], weak_port) = bind_group([WEAK_WEB_IP, WEAK_LEGACY_IP], claim).await?;
    services.push(Service { listener: weak, behavior: Behavior::Web(Site::Portal), role: Role::Quiet });
    services.push(Service { listener: weak_legacy, behavior: Behavior::Web(Site::Portal), role: Role::Quiet });
    let ([hard, hard_legacy], hard_port) = bind_group([HARDENED_WEB_IP, HARDENED_LEGACY_IP], claim).await?;
    services.push(Service { listener: hard, behavior: Behavior::Web(Site::Hardened), role: Role::Quiet });
    services.push(Service { listener: hard_legacy, behavior: Behavior::Web(Site::Decommissioned), role: Role::Quiet });
    // Services that a scan must identify by what they say, not by their port:
    // all on one (ephemeral) port number, each on its own address.
    let kinds = SERVICE_HOSTS.map(|(_, kind)| kind);
    let (listeners, service_port) = bind_group(SERVICE_HOSTS.map(|(ip, _)| ip), claim).await?;
    for (listener, kind) in listeners.into_iter().zip(kinds) {
        services.push(Service { listener, behavior: Behavior::Service(kind), role: Role::Quiet });
    }
    Ok(Bound { services, ssh_port, smtp_port, quiet_port, web_ports: [weak_port, hard_port], service_port })
}

/// Accepts connections until cancelled; one tracked task per connection,
/// at most [`MAX_CONNECTIONS`] at once. `handle` serves one connection.
pub(crate) async fn accept_loop<H, F>(
    listener: TcpListener,
    counter: impl Fn() + Send + 'static,
    handle: H,
    token: CancellationToken,
    tracker: TaskTracker,
) where
    H: Fn(TcpStream) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            () = token.cancelled() => return,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            () = token.cancelled() => return,
            r = listener.accept() => match r {
                Ok((stream, _peer)) => stream,
                Err(_) => {
                    // e.g. out of file descriptors: let other tasks run, try again
                    tokio::task::yield_now().await;
                    continue;
                }
            },
        };
        counter();
        let conn = handle(stream);
        let token = token.clone();
        tracker.spawn(async move {
            tokio::select! {
                () = token.cancelled() => {}
                () = conn => {}
            }
            drop(permit);
        });
    }
}

/// Spawns the accept loop of every service. Connections to the tripwires
/// (out of scope, excluded) never fault; the others ask `faults`.
pub(crate) fn spawn_all(
    services: Vec<Service>,
    counters: &Arc<Counters>,
    faults: &Arc<Injector>,
    switches: &Arc<crate::switches::Switches>,
    token: &CancellationToken,
    tracker: &TaskTracker,
) {
    for s in services {
        let counters = Arc::clone(counters);
        let role = s.role;
        let behavior = s.behavior;
        let tripwire = matches!(role, Role::OutOfScope | Role::Excluded);
        let key = format!("tcp {}", s.listener.local_addr().map(|a| a.ip().to_string()).unwrap_or_default());
        let faults = Arc::clone(faults);
        let switches = Arc::clone(switches);
        tracker.spawn(accept_loop(
            s.listener,
            move || {
                role.counter(&counters).fetch_add(1, Ordering::Relaxed);
            },
            move |stream| {
                let behavior = switches.behavior(behavior);
                let fault = if tripwire {
                    None
                } else {
                    let choices = if matches!(behavior, Behavior::Web(_)) { faults::WEB } else { faults::TCP };
                    faults.decide(&key, choices)
                };
                let faults = Arc::clone(&faults);
                async move {
                    if let Some((stream, truncate)) = faults.before_serve(stream, fault).await {
                        serve(stream, behavior, truncate).await;
                    }
                }
            },
            token.clone(),
            tracker.clone(),
        ));
    }
}

/// Serves one connection (a web site's body cut in half when `truncate`).
/// I/O errors just end it.
async fn serve(mut stream: TcpStream, behavior: Behavior, truncate: bool) {
    if let Behavior::Web(site) = behavior {
        return web::serve_faulty(stream, site, truncate).await;
    }
    if let Behavior::Service(kind) = behavior {
        return services::serve(stream, kind).await;
    }
    let banner = match behavior {
        Behavior::Ssh => Some(SSH_BANNER),
        Behavior::Smtp => Some(SMTP_BANNER),
        _ => None,
    };
    if let Some(banner) = banner {
        match tokio::time::timeout(SERVICE_WAIT, stream.write_all(banner)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let until_line = behavior == Behavior::Smtp;
    let cap = if behavior == Behavior::Quiet { usize::MAX } else { READ_CAP };
    let _ = tokio::time::timeout(SERVICE_WAIT, read_until(&mut stream, cap, until_line)).await;
    let _ = stream.shutdown().await;
}

/// Reads and discards until EOF, `cap` bytes, or (if `until_line`) a newline.
async fn read_until(stream: &mut TcpStream, cap: usize, until_line: bool) {
    let mut buf = [0u8; 1024];
    let mut total = 0usize;
    while total < cap {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        total = total.saturating_add(n);
        if until_line && buf.get(..n).is_some_and(|b| b.contains(&b'\n')) {
            return;
        }
    }
}
