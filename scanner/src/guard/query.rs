//! DNS queries to the configured name servers. Each server is asked in the
//! configured order, skipping those whose breaker is open, until one answers;
//! a server gets one deadline (`timeout_ms`) for the whole exchange, UDP and
//! the TCP retry after a truncated reply. Every exchange is audited.

use std::net::SocketAddr;

use haetae_findings::audit::{AuditEntry, Protocol, Verdict};
use tokio::time::Instant;

use super::net::{self, NetError};
use super::{Attempt, GuardError, QueryResult, ScopeGuard};
use crate::dns::breaker::Admit;
use crate::dns::{self, Rcode, RecordType, Response};

/// The audit record of an exchange under way: written with the outcome when
/// the exchange ends, or, when the query is dropped first (the scan was
/// cancelled), with that said, so no packet sent goes unrecorded.
struct Pending<'a> {
    guard: &'a ScopeGuard,
    entry: Option<AuditEntry>,
}

impl Pending<'_> {
    fn finish(mut self, outcome: &str) -> Result<u64, GuardError> {
        match self.entry.take() {
            Some(mut e) => {
                e.outcome = outcome.to_owned();
                self.guard.record(e)
            }
            None => Err(GuardError::Audit("the exchange was recorded twice".into())),
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(mut e) = self.entry.take() {
            e.outcome = "abandoned: the scan stopped before the reply".into();
            let _ = self.guard.record(e);
        }
    }
}

/// Why one server gave no answer.
enum Failure {
    /// The audit log failed: nothing more may be sent.
    Audit(GuardError),
    /// The server did not answer in time, or not usably.
    Server(String),
}

fn outcome(r: &Result<Response, NetError>) -> String {
    match r {
        Ok(r) if r.truncated => format!("{} truncated (TC)", r.rcode),
        Ok(r) => format!("{} {} answer(s)", r.rcode, r.answers.len()),
        Err(e) => e.to_string(),
    }
}

fn decode(bytes: Vec<u8>) -> Result<Response, NetError> {
    dns::decode_response(&bytes).map_err(|e| NetError::Malformed(e.to_string()))
}

impl ScopeGuard {
    /// A fresh random DNS message id (for zone transfers over a guard connection).
    pub(crate) fn dns_id(&self) -> u16 {
        self.ids.next_id()
    }

    fn pending(&self, name: &str, server: SocketAddr, protocol: Protocol, probe: &str) -> Pending<'_> {
        let attempt = Attempt { target: name, address: Some(server.ip()), port: Some(server.port()), protocol, probe };
        Pending {
            guard: self,
            entry: Some(self.entry(attempt, Verdict::Allowed, "query to a configured name server", "")),
        }
    }

    /// Ask the configured name servers for `name`/`rtype`, in order, until
    /// one answers (UDP, then TCP when truncated; EDNS0, random ids; a reply
    /// to another id or question is ignored). A server whose breaker is open
    /// is skipped; a SERVFAIL or REFUSED sends the question on to the next
    /// server and is returned only when no server did better. Queries go only
    /// to the configured resolvers, never to a target.
    pub async fn query(&self, name: &str, rtype: RecordType) -> QueryResult {
        let probe = format!("dns.query {rtype}");
        let attempt = Attempt { target: name, address: None, port: None, protocol: Protocol::Dns, probe: &probe };
        let mut audit = Vec::new();
        if let Err(e) = self.window() {
            return QueryResult { response: Err(self.refuse(attempt, e)), audit };
        }
        let mut query = match dns::encode_query(0, name, rtype, true) {
            Ok(q) => q,
            Err(e) => return QueryResult { response: Err(GuardError::Failed(e.to_string())), audit },
        };
        let mut failures: Vec<String> = Vec::new();
        let mut skipped: Vec<String> = Vec::new();
        let mut poor: Option<Response> = None;
        for (server, breaker) in self.nameservers.iter().zip(&self.breakers) {
            if let Admit::Skip { until } = breaker.admit(Instant::now()) {
                let left = until.saturating_duration_since(Instant::now());
                skipped.push(format!("{server} for {:.1} s more", left.as_secs_f64()));
                continue;
            }
            // The window may have closed while an earlier server was asked.
            if let Err(e) = self.window() {
                return QueryResult { response: Err(self.refuse(attempt, e)), audit };
            }
            match self.ask(*server, name, rtype, &probe, &mut query, &mut audit).await {
                Ok(r) if matches!(r.rcode, Rcode::NoError | Rcode::NxDomain) => {
                    breaker.success();
                    return QueryResult { response: Ok(r), audit };
                }
                Ok(r) => {
                    breaker.success();
                    failures.push(format!("{server}: {}", r.rcode));
                    poor = Some(r);
                }
                Err(Failure::Audit(e)) => return QueryResult { response: Err(e), audit },
                Err(Failure::Server(e)) => {
                    breaker.failure(Instant::now());
                    failures.push(format!("{server}: {e}"));
                }
            }
        }
        if let Some(r) = poor {
            return QueryResult { response: Ok(r), audit };
        }
        let skipped = if skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped after repeated failures: {}", skipped.join(", "))
        };
        if failures.is_empty() {
            // Nothing was sent: record why the name was not asked.
            let why = format!("{name} {rtype} was not asked: every configured name server is failing{skipped}");
            let entry = self.entry(attempt, Verdict::Refused, &why, "not attempted");
            return match self.record(entry) {
                Ok(seq) => {
                    audit.push(seq);
                    QueryResult { response: Err(GuardError::Failed(why)), audit }
                }
                Err(e) => QueryResult { response: Err(e), audit },
            };
        }
        let why = format!("no configured name server answered {name} {rtype} ({}{skipped})", failures.join("; "));
        QueryResult { response: Err(GuardError::Failed(why)), audit }
    }

    /// One server, one deadline: the UDP exchange and, after a truncated
    /// reply, the TCP exchange, each audited.
    async fn ask(
        &self,
        server: SocketAddr,
        name: &str,
        rtype: RecordType,
        probe: &str,
        query: &mut [u8],
        audit: &mut Vec<u64>,
    ) -> Result<Response, Failure> {
        self.limits.acquire(None, server.ip()).await;
        let deadline = Instant::now() + self.timeout;
        if let Some(head) = query.get_mut(..2) {
            head.copy_from_slice(&self.ids.next_id().to_be_bytes());
        }
        let accept = |b: &[u8]| dns::decode_response(b).is_ok_and(|r| r.answers_question(name, rtype));
        self.stats.queries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pending = self.pending(name, server, Protocol::Dns, probe);
        let udp = self.udp.exchange(server, query, deadline, &accept).await.and_then(decode);
        audit.push(pending.finish(&outcome(&udp)).map_err(Failure::Audit)?);
        let r = udp.map_err(|e| Failure::Server(e.to_string()))?;
        if !r.truncated {
            return Ok(r);
        }
        // Over TCP with the id the UDP query went out with, within what is
        // left of the same deadline.
        let id = query.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
        let accept_tcp = |b: &[u8]| b.get(..2) == Some(id.as_slice()) && accept(b);
        self.stats.queries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pending = self.pending(name, server, Protocol::DnsTcp, probe);
        let tcp = net::tcp_exchange(server, query, deadline, &accept_tcp).await.and_then(decode);
        audit.push(pending.finish(&outcome(&tcp)).map_err(Failure::Audit)?);
        tcp.map_err(|e| Failure::Server(format!("over TCP after a truncated reply: {e}")))
    }
}
