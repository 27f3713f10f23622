//! haetae-lab: a deliberately weak (and a hardened) set of targets on loopback.
//!
//! [`Lab::start`] brings up, inside the calling process and only on
//! `127.0.0.0/8`, on ports the kernel picks (never fixed ports):
//!
//! * an authoritative name server at `127.77.0.53:<port>` (UDP and TCP) for
//!   `agency.test` (weak, unsigned, a mail subdomain `newsletter` under its
//!   `p=none`), `hardened.test` (done right, with DNSKEY and RRSIG records whose
//!   dates are current: presence and dates, the bytes do not validate),
//!   `oldmail.test` (an SOA signature that expired), `agency-cdn.test` and
//!   `othercorp.test`;
//! * a silent name server at `127.77.0.54:<port>` that reads and never answers;
//! * an SSH-like banner on `www.agency.test` (127.77.1.20), an SMTP-like
//!   banner on `mail.agency.test` (127.77.1.25), a listener that says nothing
//!   on `www.hardened.test` (127.77.2.20);
//! * tripwires that count connections a correct scan never makes: the
//!   out-of-scope addresses 127.99.0.1 and 127.99.0.2, and the excluded host
//!   `payments.agency.test` (127.77.1.30), all on the SSH port number;
//! * TLS endpoints, each a name in the zones on its own address and port
//!   ([`Lab::tls_endpoints`]): `tls.hardened.test` (127.77.2.40, sound) and,
//!   in `agency.test`, `expired` (.1.41), `expiring` (.1.42), `selfsigned`
//!   (.1.43), `wronghost` (.1.44), `weakkey` (.1.45, RSA-1024), `weaksig`
//!   (.1.46, SHA-1 signature) and `tls10` (.1.47: TLS 1.0, 3DES and static
//!   RSA suites, a 1024-bit DH group). Their certificates come from a lab CA
//!   that is the same on every run ([`CA_PEM`]). HTTPS web sites share that
//!   set: `secure` (.1.48, no HSTS, an insecure cookie), `docker` (.1.51),
//!   `search` (.1.52, Elasticsearch), `k8s` (.1.53) and `bucket` (.1.54), and
//!   `tls.hardened.test` answers as a hardened site; the apex names
//!   `agency.test` (.1.10, no security.txt) and `hardened.test` (127.77.2.10,
//!   a valid one) are HTTPS sites too;
//! * web sites over plain HTTP: the weak `portal.agency.test` (127.77.1.50,
//!   most content checks planted), whose legacy origin 127.77.1.21 still serves
//!   it (`[[migration]]`), and the hardened `app.hardened.test` (127.77.2.50,
//!   everything sent to HTTPS), whose legacy origin 127.77.2.21 only shows a
//!   default page. Each legacy origin shares its site's port number;
//! * services identified by what they say, all on one port number: Redis
//!   without a password (`redis.agency.test`, 127.77.1.60), MySQL (.1.61),
//!   PostgreSQL (.1.62), MongoDB (.1.63), RDP (`remote`, .1.64), VNC (.1.65),
//!   and a Redis that asks for a password (`db.hardened.test`, 127.77.2.60);
//! * an S3-compatible object store standing in for Naver Cloud's public-sector
//!   one (`kr.object.gov-ncloudstorage.com`, in scope, 127.77.3.10): the bucket
//!   behind `files.agency.test` is gone (`dns.takeover`), the one behind
//!   `static.hardened.test` exists; `oldapp.agency.test` points to an app
//!   service name that no longer exists (`dns.takeover` on DNS evidence);
//! * a cloud the scope does not name (`unknown-cloud.test`, 127.77.3.20-22,
//!   see `cloud.rs`): `docs.agency.test` CNAMEs to its documents site and is
//!   probed as itself, `assets.agency.test` to a bucket that is gone
//!   (`dns.takeover` by fingerprint), `files.hardened.test` to one that exists.
//!
//! [`Lab::start_with`] builds the same lab with options: [`LabOptions::faults`]
//! injects faults (delays, resets, truncated bodies, SERVFAIL) on a seeded
//! share of exchanges. [`hostile::HostileLab`] is another lab whose every
//! endpoint misbehaves in one way.
//!
//! [`Lab::scope_toml`] and [`Lab::haetae_toml`] write the configuration that
//! scans it (the caller also writes [`Lab::ca_pem`] to [`CA_FILE`] next to
//! `haetae.toml`); [`PLANTED`] lists what a scan must find. Everything stops when the
//! [`Lab`] is dropped or [`Lab::shutdown`] is awaited.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let lab = haetae_lab::Lab::start().await?;
//! assert_eq!(lab.dns_addr().ip().to_string(), "127.77.0.53");
//! assert!(lab.scope_toml().contains("id = \"KR-LAB-0001\""));
//! assert!(lab.haetae_toml().contains(&lab.dns_addr().to_string()));
//! // ... scan it ...
//! assert_eq!(lab.out_of_scope_connections(), 0);
//! assert_eq!(lab.excluded_connections(), 0);
//! lab.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod clock;
mod cloud;
mod dns;
mod faults;
pub mod hostile;
pub mod provider;
mod services;
mod switches;
mod tcp;
mod tls;
mod web;
mod zones;

pub use faults::Faults;
pub use switches::Switch;
pub use tls::certs::CA_PEM;

/// The file name [`Lab::haetae_toml`] gives the lab CA in `[tls] extra_roots`,
/// relative to `haetae.toml`: write [`Lab::ca_pem`] there.
pub const CA_FILE: &str = "lab-ca.pem";

/// The engagement ID of the lab's scope.
pub const ENGAGEMENT_ID: &str = "KR-LAB-0001";

/// One weakness planted in the lab: the check that must report it, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Planted {
    /// The check's identifier, e.g. `dns.spf-permissive`.
    pub check: &'static str,
    /// The host (a DNS name) the finding is about.
    pub host: &'static str,
}

/// Every weakness planted in the lab. Nothing is planted on `hardened.test`.
pub const PLANTED: &[Planted] = &[
    Planted { check: "dns.spf-permissive", host: "agency.test" },
    Planted { check: "dns.dmarc-weak", host: "agency.test" },
    Planted { check: "dns.caa-missing", host: "agency.test" },
    Planted { check: "dns.axfr-open", host: "agency.test" },
    Planted { check: "dns.dangling-cname", host: "old.agency.test" },
    Planted { check: "dns.points-out-of-scope", host: "legacy.agency.test" },
    Planted { check: "dns.points-out-of-scope", host: "cdn.agency.test" },
    Planted { check: "svc.ssh-exposed", host: "www.agency.test" },
    Planted { check: "dns.spf-missing", host: "oldmail.test" },
    Planted { check: "dns.dmarc-missing", host: "oldmail.test" },
    Planted { check: "tls.cert-expired", host: "expired.agency.test" },
    Planted { check: "tls.cert-expiring", host: "expiring.agency.test" },
    Planted { check: "tls.cert-untrusted", host: "selfsigned.agency.test" },
    Planted { check: "tls.cert-hostname-mismatch", host: "wronghost.agency.test" },
    Planted { check: "tls.weak-key", host: "weakkey.agency.test" },
    Planted { check: "tls.weak-signature", host: "weaksig.agency.test" },
    Planted { check: "tls.legacy-protocol", host: "tls10.agency.test" },
    Planted { check: "tls.weak-cipher", host: "tls10.agency.test" },
    Planted { check: "tls.weak-dh", host: "tls10.agency.test" },
    Planted { check: "http.version-disclosure", host: "portal.agency.test" },
    Planted { check: "http.csp-missing", host: "portal.agency.test" },
    Planted { check: "http.xcto-missing", host: "portal.agency.test" },
    Planted { check: "http.clickjacking", host: "portal.agency.test" },
    Planted { check: "http.exposed-git", host: "portal.agency.test" },
    Planted { check: "http.exposed-env", host: "portal.agency.test" },
    Planted { check: "http.no-https-redirect", host: "portal.agency.test" },
    Planted { check: "http.exposed-backup", host: "portal.agency.test" },
    Planted { check: "http.exposed-status-page", host: "portal.agency.test" },
    Planted { check: "http.exposed-actuator", host: "portal.agency.test" },
    Planted { check: "http.exposed-phpinfo", host: "portal.agency.test" },
    Planted { check: "http.exposed-admin", host: "portal.agency.test" },
    Planted { check: "http.exposed-api-docs", host: "portal.agency.test" },
    Planted { check: "http.directory-listing", host: "portal.agency.test" },
    Planted { check: "http.secret-in-response", host: "portal.agency.test" },
    Planted { check: "http.cors-reflect-credentials", host: "portal.agency.test" },
    Planted { check: "http.open-redirect", host: "portal.agency.test" },
    Planted { check: "migration.legacy-origin-live", host: "portal.agency.test" },
    Planted { check: "http.hsts-missing", host: "secure.agency.test" },
    Planted { check: "http.cookie-insecure", host: "secure.agency.test" },
    Planted { check: "svc.docker-api", host: "docker.agency.test" },
    Planted { check: "svc.elasticsearch-open", host: "search.agency.test" },
    Planted { check: "svc.kubernetes-api", host: "k8s.agency.test" },
    Planted { check: "http.public-bucket-listing", host: "bucket.agency.test" },
    Planted { check: "dns.takeover", host: "files.agency.test" },
    Planted { check: "dns.takeover", host: "oldapp.agency.test" },
    Planted { check: "dns.dangling-cname", host: "oldapp.agency.test" },
    Planted { check: "svc.redis-noauth", host: "redis.agency.test" },
    Planted { check: "svc.database-exposed", host: "mysql.agency.test" },
    Planted { check: "svc.database-exposed", host: "postgres.agency.test" },
    Planted { check: "svc.database-exposed", host: "mongo.agency.test" },
    Planted { check: "svc.remote-desktop-exposed", host: "remote.agency.test" },
    Planted { check: "svc.remote-desktop-exposed", host: "vnc.agency.test" },
    Planted { check: "http.trace-enabled", host: "portal.agency.test" },
    Planted { check: "http.security-txt-missing", host: "agency.test" },
    // Software past its end of life, and a version in a CISA KEV range. The
    // portal's Server header is Apache/2.4.49 (CVE-2021-41773) with PHP/7.2.24
    // (an ended line, one release past CVE-2019-11043's range); the weak
    // services announce ended lines too. Hardened hosts show no version.
    Planted { check: "software.known-exploited", host: "portal.agency.test" },
    Planted { check: "software.eol", host: "portal.agency.test" },
    Planted { check: "software.eol", host: "redis.agency.test" },
    Planted { check: "software.eol", host: "mysql.agency.test" },
    Planted { check: "software.eol", host: "docker.agency.test" },
    Planted { check: "software.eol", host: "search.agency.test" },
    Planted { check: "software.eol", host: "k8s.agency.test" },
    // CNAMEd out of domains to in-scope addresses (cloud.rs): probed as themselves.
    Planted { check: "http.no-https-redirect", host: "docs.agency.test" },
    Planted { check: "dns.takeover", host: "assets.agency.test" },
    Planted { check: "dns.spf-missing", host: "newsletter.agency.test" },
    Planted { check: "dns.dmarc-weak", host: "newsletter.agency.test" },
    Planted { check: "dns.dnssec-missing", host: "agency.test" },
    Planted { check: "dns.dnssec-expired", host: "oldmail.test" },
];

/// How [`Lab::start_with`] builds the lab. The default is [`Lab::start`]'s lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabOptions {
    /// Fault injection (see [`Faults`]): `None`, or a percent of 0, is
    /// today's lab exactly.
    ///
    /// On a seeded random `percent` of exchanges (an accepted connection to a
    /// service, web site or TLS endpoint, or a query to the authoritative name
    /// server) the lab injects one fault: TCP, a delay of
    /// [`LabOptions::fault_delay`] before serving, or a reset (RST at once);
    /// web sites also a truncated body (the whole `Content-Length` announced,
    /// half sent, then closed); DNS, SERVFAIL or no answer. Exchange `i` on
    /// one listener address (TCP) or one question (DNS) faults the same way
    /// for the same seed, whatever the order of other exchanges. The
    /// tripwires, the silent name server and the object store never fault.
    pub faults: Option<Faults>,
    /// `timeout_ms` written in [`Lab::scope_toml`] (default 2,000): the
    /// scanner's deadline for one exchange.
    pub timeout_ms: u64,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions { faults: None, timeout_ms: 2000 }
    }
}

impl LabOptions {
    /// How long a delayed exchange waits before it is served: twice
    /// [`LabOptions::timeout_ms`], so a scanner that keeps its deadline has
    /// given up on it first (with the default, 4 s against 2 s).
    pub fn fault_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.saturating_mul(2))
    }
}

/// The running lab. Dropping it (or awaiting [`Lab::shutdown`]) stops every
/// task and closes every socket.
#[derive(Debug)]
pub struct Lab {
    token: CancellationToken,
    tracker: TaskTracker,
    dns_addr: SocketAddr,
    silent_dns_addr: SocketAddr,
    ports: Vec<u16>,
    counters: Arc<tcp::Counters>,
    answered: Arc<AtomicU64>,
    tls_endpoints: Vec<(&'static str, SocketAddr)>,
    tls_counters: Arc<tls::Counters>,
    faults: Arc<faults::Injector>,
    switches: Arc<switches::Switches>,
    timeout_ms: u64,
    _claim: tcp::PortClaim,
}

impl Lab {
    /// Binds every socket, starts serving, and returns: once this returns,
    /// every server is ready (bound is ready). Must be called inside a Tokio
    /// runtime. The same as [`Lab::start_with`] with [`LabOptions::default`].
    pub async fn start() -> io::Result<Lab> {
        Lab::start_with(LabOptions::default()).await
    }

    /// As [`Lab::start`], built as `opts` says (fault injection, timeout).
    pub async fn start_with(opts: LabOptions) -> io::Result<Lab> {
        let responder = Arc::new(dns::Responder::new()?);
        let mut claim = tcp::PortClaim::default();

        let (dns_udp, dns_tcp) = dns::bind_pair(dns::DNS_IP, &mut claim).await?;
        let (silent_udp, silent_tcp) = dns::bind_pair(dns::SILENT_IP, &mut claim).await?;
        let bound = tcp::bind_all(&mut claim).await?;
        let tls_bound = tls::bind_all(&mut claim).await?;
        let tls_endpoints = tls_bound.endpoints.clone();
        let (store_listener, store_port) = tcp::bind_one(zones::OBJECT_STORE_ADDR, &mut claim).await?;
        let cloud_bound = cloud::bind(store_port, &mut claim).await?;
        let dns_addr = dns_udp.local_addr()?;
        let silent_dns_addr = silent_udp.local_addr()?;
        let mut ports = vec![
            bound.ssh_port,
            bound.smtp_port,
            bound.quiet_port,
            bound.web_ports[0],
            bound.web_ports[1],
            bound.service_port,
            store_port,
        ];
        ports.extend(tls_endpoints.iter().map(|(_, a)| a.port()));
        ports.extend(&cloud_bound.ports);
        ports.sort_unstable();
        ports.dedup();

        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        let counters = Arc::new(tcp::Counters::default());
        let answered = Arc::new(AtomicU64::new(0));
        let tls_counters = Arc::new(tls::Counters::default());
        let faults = Arc::new(faults::Injector::new(opts.faults, opts.fault_delay()));
        let switches = Arc::new(switches::Switches::default());

        // Certificates are issued first: if that fails, nothing is serving yet.
        tls::spawn_all(tls_bound, &tls_counters, &faults, &switches, &token, &tracker)?;
        tracker.spawn(dns::serve_udp(
            dns_udp,
            Arc::clone(&responder),
            Arc::clone(&answered),
            Arc::clone(&faults),
            token.clone(),
        ));
        tracker.spawn(dns::serve_tcp(
            dns_tcp,
            responder,
            Arc::clone(&answered),
            Arc::clone(&faults),
            token.clone(),
            tracker.clone(),
        ));
        tracker.spawn(dns::silent_udp(silent_udp, token.clone()));
        tracker.spawn(dns::silent_tcp(silent_tcp, token.clone(), tracker.clone()));
        tcp::spawn_all(bound.services, &counters, &faults, &switches, &token, &tracker);
        let store = provider::ObjectStore::new("kr.object.gov-ncloudstorage.com", &["hardened-assets"]);
        tracker.spawn(provider::serve_object_store(store_listener, store, token.clone(), tracker.clone()));
        cloud::spawn(cloud_bound, &token, &tracker);

        Ok(Lab {
            token,
            tracker,
            dns_addr,
            silent_dns_addr,
            ports,
            counters,
            answered,
            tls_endpoints,
            tls_counters,
            faults,
            switches,
            timeout_ms: opts.timeout_ms,
            _claim: claim,
        })
    }

    /// The authoritative server for the lab zones: `127.77.0.53:<port>`,
    /// UDP and TCP on the same port.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns_addr
    }

    /// `127.77.0.54:<port>`: UDP and TCP sockets that read but never answer.
    pub fn silent_dns_addr(&self) -> SocketAddr {
        self.silent_dns_addr
    }

    /// The TCP ports the lab's services listen on (SSH-like, SMTP-like, the
    /// hardened web host, and every TLS endpoint), sorted and deduplicated.
    /// The name servers' ports are not among them.
    pub fn ports(&self) -> Vec<u16> {
        self.ports.clone()
    }

    /// A complete `scope.toml` for the lab; the engagement window runs from a
    /// day ago to 30 days from now.
    pub fn scope_toml(&self) -> String {
        let (not_before, not_after) = clock::window(clock::now_unix());
        let ports = self.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        let timeout_ms = self.timeout_ms;
        format!(
            r#"[engagement]
id = "{ENGAGEMENT_ID}"
agency = "haetae lab"
contact = "lab@haetae.invalid"
not_before = {not_before}
not_after = {not_after}

[scope]
domains = ["agency.test", "hardened.test", "oldmail.test", "kr.object.gov-ncloudstorage.com"]
cidrs = ["127.77.0.0/20"]
ports = [{ports}]
exclude_domains = ["payments.agency.test"]
exclude_cidrs = []
exclude_paths = ["/logout"]
seeds = ["agency.test", "hardened.test", "oldmail.test"]

[limits]
max_rps = 2000
per_host_rps = 500
concurrency = 256
timeout_ms = {timeout_ms}

[[migration]]
host = "portal.agency.test"
legacy_addresses = ["127.77.1.21"]

[[migration]]
host = "app.hardened.test"
legacy_addresses = ["127.77.2.21"]
"#
        )
    }

    /// A complete `haetae.toml` whose resolver is the lab's name server and
    /// which trusts the lab CA through `[tls] extra_roots = ["lab-ca.pem"]`.
    /// It names no rules file, so a `rules.toml` beside it is used when present.
    /// The caller writes [`Lab::ca_pem`] to [`CA_FILE`] (`lab-ca.pem`) in the
    /// same directory as `haetae.toml`.
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

    /// The lab CA certificate (PEM), which issued every lab leaf except
    /// `selfsigned.agency.test`'s. The same on every run: [`CA_PEM`].
    pub fn ca_pem(&self) -> String {
        CA_PEM.to_owned()
    }

    /// Every TLS endpoint: (DNS name, address:port), `tls.hardened.test`
    /// first, then the weak ones in `agency.test`, then the apex sites
    /// `hardened.test` and `agency.test`.
    pub fn tls_endpoints(&self) -> Vec<(&'static str, SocketAddr)> {
        self.tls_endpoints.clone()
    }

    /// TCP connections accepted by the TLS endpoint named `name` (0 for a
    /// name that is not one). Counted on accept, before any handshake.
    pub fn tls_connections(&self, name: &str) -> u64 {
        self.tls_counters.get(name)
    }

    /// TCP connections accepted on the out-of-scope addresses (127.99.0.1,
    /// 127.99.0.2). A correct scan leaves this at 0.
    pub fn out_of_scope_connections(&self) -> u64 {
        self.counters.out_of_scope.load(Ordering::Relaxed)
    }

    /// TCP connections accepted by the excluded host `payments.agency.test`.
    /// A correct scan leaves this at 0.
    pub fn excluded_connections(&self) -> u64 {
        self.counters.excluded.load(Ordering::Relaxed)
    }

    /// Queries the authoritative server has answered (UDP and TCP, error
    /// answers included; a zone transfer counts once). Counted just before the
    /// answer is sent, so a client holding an answer already sees it counted.
    pub fn dns_queries(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Exchanges the lab has seen that could fault: connections accepted by
    /// its services, web sites and TLS endpoints, and queries to the
    /// authoritative name server. Counted whether or not faults are on.
    pub fn exchanges(&self) -> u64 {
        self.faults.exchanges()
    }

    /// Exchanges that were given a fault ([`LabOptions::faults`]).
    pub fn faults_injected(&self) -> u64 {
        self.faults.injected()
    }

    /// Turns `switch` on or off ([`Switch`]); connections accepted from now on
    /// see it. Every switch is off in a new lab.
    pub fn switch(&self, switch: Switch, on: bool) {
        self.switches.set(switch, on);
    }

    /// Gives the TLS endpoint `name` (one whose leaf the lab issues at start:
    /// not `weakkey`, `weaksig` or `tls10`) a new certificate, same names and
    /// validity, new key: its
    /// SHA-256 changes. Connections accepted from now on are served it.
    pub fn swap_certificate(&self, name: &str) -> io::Result<()> {
        self.switches.swap_certificate(name)
    }

    /// A future that completes once every lab task has stopped and its
    /// sockets are closed, after the lab is dropped or shut down. Take it
    /// before dropping the lab.
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

impl Drop for Lab {
    fn drop(&mut self) {
        self.token.cancel();
        self.tracker.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_is_only_on_the_weak_zones() {
        assert_eq!(PLANTED.len(), 67);
        for p in PLANTED {
            let weak = |z: &str| p.host == z || p.host.ends_with(&format!(".{z}"));
            assert!(weak("agency.test") || weak("oldmail.test"), "{p:?}");
            assert!(!p.host.ends_with("hardened.test"));
        }
    }
}
