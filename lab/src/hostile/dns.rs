//! The hostile name server (UDP and TCP on one port at [`DNS_IP`]) for the
//! zones `hostile.test`, `silent-nx.test`, `slow-axfr.test` and
//! `endless-axfr.test`.
//!
//! | name or zone | what it does |
//! |--------------|--------------|
//! | `wrong-id.hostile.test` | a correct answer whose ID is the query's with every bit flipped (UDP and TCP) |
//! | `truncated.hostile.test` | UDP: TC=1 and no answer, every time; TCP: a length prefix for the whole answer, half of it, then silence |
//! | `cname-loop-a.hostile.test` | CNAME `cname-loop-b`, which is a CNAME back to `cname-loop-a` (one CNAME per answer: the client follows) |
//! | `pointer-loop.hostile.test` | an answer whose owner name is a compression pointer to itself |
//! | `chain-0.hostile.test` | CNAME `chain-1` ... `chain-49` CNAME `chain-50`, which is A 127.78.0.99: 50 hops, one per answer |
//! | `silent-nx.test` | answers names that exist; a query for a name that does not (NXDOMAIN) gets no reply at all |
//! | `slow-axfr.test` | AXFR (TCP) open: SOA, then one message per interval ([`super::HostileOptions::axfr_interval`]), [`SLOW_AXFR_MESSAGES`] messages, then SOA |
//! | `endless-axfr.test` | AXFR (TCP) open: SOA, then messages of 100 A records, as fast as the client reads, never the closing SOA |
//!
//! The names a transfer lists (`n<i>.<zone>`) exist and are A 127.78.0.99,
//! an address where nothing listens. Every zone has a strict SPF, DMARC
//! `p=reject` and a CAA record, so only the trick itself is hostile; AXFR of
//! `hostile.test` and `silent-nx.test` is refused.

use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CAA, CNAME, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::hold;
use crate::tcp;
use crate::zones::{SERIAL, TTL, Zone};

/// The hostile name server's address.
pub(crate) const DNS_IP: Ipv4Addr = Ipv4Addr::new(127, 78, 0, 53);
/// Where every generated name (chain end, transfer names) points: nothing listens there.
pub(crate) const NOWHERE: Ipv4Addr = Ipv4Addr::new(127, 78, 0, 99);
/// Hops of the `chain-<i>` CNAME chain.
pub const CHAIN_HOPS: usize = 50;
/// Messages of the slow transfer between its two SOAs.
pub const SLOW_AXFR_MESSAGES: usize = 2000;
/// A records per message of the endless transfer.
pub const ENDLESS_PER_MESSAGE: usize = 100;
/// An idle TCP connection is closed after this.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Bound on one TCP write.
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// The zones served.
pub(crate) const HOSTILE_ZONE: &str = "hostile.test.";
pub(crate) const SILENT_NX_ZONE: &str = "silent-nx.test.";
pub(crate) const SLOW_AXFR_ZONE: &str = "slow-axfr.test.";
pub(crate) const ENDLESS_AXFR_ZONE: &str = "endless-axfr.test.";

/// How a zone behaves beyond answering from its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trait {
    Plain,
    DropsNxdomain,
    SlowAxfr,
    EndlessAxfr,
}

/// What the server does with one query.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Nothing (the query is dropped).
    Drop,
    /// These bytes.
    Send(Vec<u8>),
    /// TCP: a length prefix for all of these bytes, half of them, then silence.
    HalfThenStall(Vec<u8>),
    /// TCP: a zone transfer, streamed.
    Transfer { query: Message, slow: bool },
}

/// Answers queries for the hostile zones.
#[derive(Debug)]
pub(crate) struct Responder {
    zones: Vec<(Zone, Trait)>,
    axfr_interval: Duration,
    /// Queries that reached a decision (UDP and TCP, dropped ones included).
    pub(crate) queries: AtomicU64,
}

fn name(s: &str) -> io::Result<Name> {
    Name::from_ascii(s).map_err(|e| io::Error::other(format!("hostile zone name {s}: {e}")))
}

fn record(owner: &Name, data: RData) -> Record {
    Record::from_rdata(owner.clone(), TTL, data)
}

/// A zone with the hardened basics (NS, SPF, DMARC, CAA) and `extra`.
fn zone(origin: &str, allow_axfr: bool, extra: &[(String, RData)]) -> io::Result<Zone> {
    let origin = name(origin)?;
    let ns = name("ns1.hostile.test.")?;
    let soa = record(
        &origin,
        RData::SOA(SOA::new(ns.clone(), name(&format!("hostmaster.{origin}"))?, SERIAL, 3600, 600, 604_800, TTL)),
    );
    let mut records = vec![
        soa.clone(),
        record(&origin, RData::NS(NS(ns))),
        record(&origin, RData::TXT(TXT::new(vec!["v=spf1 -all".to_owned()]))),
        record(
            &name(&format!("_dmarc.{origin}"))?,
            RData::TXT(TXT::new(vec![format!(
                "v=DMARC1; p=reject; rua=mailto:dmarc@{}",
                origin.to_ascii().trim_end_matches('.')
            )])),
        ),
        record(&origin, RData::CAA(CAA::new_issue(false, Some(name("letsencrypt.org.")?), Vec::new()))),
    ];
    for (owner, data) in extra {
        records.push(record(&name(owner)?, data.clone()));
    }
    Ok(Zone { origin, allow_axfr, soa, records })
}

/// The A record of a generated transfer name `n<i>.<zone>`, if `qname` is one.
fn generated(zone: &Zone, qname: &Name) -> Option<Record> {
    if qname.num_labels() != zone.origin.num_labels() + 1 || !zone.origin.zone_of(qname) {
        return None;
    }
    let first = qname.iter().next()?;
    let digits = first.strip_prefix(b"n").or_else(|| first.strip_prefix(b"N"))?;
    (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit)).then(|| record(qname, RData::A(A(NOWHERE))))
}

impl Responder {
    /// The zones, with `hosts` (DNS name, address) added to `hostile.test`.
    pub(crate) fn new(hosts: &[(String, Ipv4Addr)], axfr_interval: Duration) -> io::Result<Responder> {
        let mut extra: Vec<(String, RData)> = hosts.iter().map(|(h, ip)| (format!("{h}."), RData::A(A(*ip)))).collect();
        extra.push(("ns1.hostile.test.".into(), RData::A(A(DNS_IP))));
        for trick in ["wrong-id", "truncated", "pointer-loop"] {
            extra.push((format!("{trick}.hostile.test."), RData::A(A(NOWHERE))));
        }
        extra.push(("cname-loop-a.hostile.test.".into(), RData::CNAME(CNAME(name("cname-loop-b.hostile.test.")?))));
        extra.push(("cname-loop-b.hostile.test.".into(), RData::CNAME(CNAME(name("cname-loop-a.hostile.test.")?))));
        for i in 0..CHAIN_HOPS {
            let next = name(&format!("chain-{}.hostile.test.", i + 1))?;
            extra.push((format!("chain-{i}.hostile.test."), RData::CNAME(CNAME(next))));
        }
        extra.push((format!("chain-{CHAIN_HOPS}.hostile.test."), RData::A(A(NOWHERE))));
        let www = |zone: &str| vec![(format!("www.{zone}"), RData::A(A(NOWHERE)))];
        Ok(Responder {
            zones: vec![
                (zone(HOSTILE_ZONE, false, &extra)?, Trait::Plain),
                (zone(SILENT_NX_ZONE, false, &www(SILENT_NX_ZONE))?, Trait::DropsNxdomain),
                (zone(SLOW_AXFR_ZONE, true, &www(SLOW_AXFR_ZONE))?, Trait::SlowAxfr),
                (zone(ENDLESS_AXFR_ZONE, true, &www(ENDLESS_AXFR_ZONE))?, Trait::EndlessAxfr),
            ],
            axfr_interval,
            queries: AtomicU64::new(0),
        })
    }

    fn find(&self, qname: &Name) -> Option<&(Zone, Trait)> {
        self.zones.iter().filter(|(z, _)| z.origin.zone_of(qname)).max_by_key(|(z, _)| z.origin.num_labels())
    }

    /// What to do with one request. Never panics.
    pub(crate) fn respond(&self, request: &[u8], tcp: bool) -> Answer {
        self.queries.fetch_add(1, Ordering::Relaxed);
        if request.get(2).is_some_and(|b| b & 0x80 != 0) {
            return Answer::Drop;
        }
        let Ok(query) = Message::from_vec(request) else { return Answer::Drop };
        if query.metadata.message_type != MessageType::Query || query.metadata.op_code != OpCode::Query {
            return Answer::Drop;
        }
        let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
        resp.metadata = Metadata::response_from_request(&query.metadata);
        resp.queries = query.queries.clone();
        let limit = if tcp {
            usize::from(u16::MAX)
        } else if query.edns.is_some() {
            1232
        } else {
            512
        };
        let send = |m: &Message| crate::dns::encode(m, limit).map_or(Answer::Drop, Answer::Send);
        let [q] = query.queries.as_slice() else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return send(&resp);
        };
        let Some((zone, tr)) = self.find(q.name()).filter(|_| matches!(q.query_class(), DNSClass::IN)) else {
            resp.metadata.response_code = ResponseCode::Refused;
            return send(&resp);
        };
        resp.metadata.authoritative = true;
        let qname = q.name().to_lowercase();
        if matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR) {
            if !zone.allow_axfr || qname != zone.origin {
                resp.metadata.response_code = ResponseCode::Refused;
                return send(&resp);
            }
            if !tcp {
                resp.metadata.truncation = true;
                return send(&resp);
            }
            return Answer::Transfer { query, slow: *tr == Trait::SlowAxfr };
        }
        let here: Vec<Record> = match generated(zone, &qname) {
            Some(r) if matches!(tr, Trait::SlowAxfr | Trait::EndlessAxfr) => vec![r],
            _ => zone.at(&qname).cloned().collect(),
        };
        let trick = qname.to_ascii();
        if trick == "pointer-loop.hostile.test." {
            return resp.to_vec().map_or(Answer::Drop, |b| Answer::Send(pointer_loop(b)));
        }
        if trick == "truncated.hostile.test." && !tcp {
            resp.metadata.truncation = true;
            return send(&resp);
        }
        if here.is_empty() {
            if !zone.exists(&qname) {
                if *tr == Trait::DropsNxdomain {
                    return Answer::Drop;
                }
                resp.metadata.response_code = ResponseCode::NXDomain;
            }
            resp.authorities.push(zone.soa.clone());
        } else if let Some(cname) = here.iter().find(|r| r.record_type() == RecordType::CNAME) {
            resp.answers.push(cname.clone());
        } else {
            let qtype = q.query_type();
            resp.answers = here.into_iter().filter(|r| qtype == RecordType::ANY || r.record_type() == qtype).collect();
            if resp.answers.is_empty() {
                resp.authorities.push(zone.soa.clone());
            }
        }
        match trick.as_str() {
            "wrong-id.hostile.test." => match crate::dns::encode(&resp, limit) {
                Some(mut b) => {
                    if let Some(id) = b.get_mut(..2) {
                        id.iter_mut().for_each(|x| *x ^= 0xFF);
                    }
                    Answer::Send(b)
                }
                None => Answer::Drop,
            },
            "truncated.hostile.test." => crate::dns::encode(&resp, limit).map_or(Answer::Drop, Answer::HalfThenStall),
            _ => send(&resp),
        }
    }

    /// Message `i` of the transfer of `zone` (`None` past the end of a slow one).
    fn transfer_message(&self, query: &Message, slow: bool, i: usize) -> Option<Vec<u8>> {
        let q = query.queries.first()?;
        let (zone, _) = self.find(q.name())?;
        let mut m = Message::response(query.metadata.id, OpCode::Query);
        m.metadata.authoritative = true;
        if i == 0 {
            m.queries = query.queries.clone();
            m.answers.push(zone.soa.clone());
        }
        let gen_name = |k: usize| Name::from_ascii(format!("n{k}")).and_then(|n| n.append_domain(&zone.origin));
        if slow {
            if i > SLOW_AXFR_MESSAGES {
                return None;
            }
            if i == SLOW_AXFR_MESSAGES {
                m.answers.push(zone.soa.clone());
            } else {
                m.answers.push(record(&gen_name(i).ok()?, RData::A(A(NOWHERE))));
            }
        } else {
            for k in i * ENDLESS_PER_MESSAGE..(i + 1) * ENDLESS_PER_MESSAGE {
                m.answers.push(record(&gen_name(k).ok()?, RData::A(A(NOWHERE))));
            }
        }
        m.to_vec().ok()
    }
}

/// Appends to an answer with no records one A record whose owner name is a
/// compression pointer to itself, and sets ANCOUNT to 1.
pub(crate) fn pointer_loop(mut bytes: Vec<u8>) -> Vec<u8> {
    let at = bytes.len() & 0x3FFF;
    let [hi, lo] = u16::try_from(at).unwrap_or(0).to_be_bytes();
    bytes.extend_from_slice(&[0xC0 | hi, lo]);
    bytes.extend_from_slice(&[0, 1, 0, 1, 0, 0, 1, 44, 0, 4]);
    bytes.extend_from_slice(&NOWHERE.octets());
    if let Some(count) = bytes.get_mut(6..8) {
        count.copy_from_slice(&1u16.to_be_bytes());
    }
    bytes
}

/// Answers every datagram until cancelled.
pub(crate) async fn serve_udp(socket: UdpSocket, responder: Arc<Responder>, token: CancellationToken) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, peer) = tokio::select! {
            () = token.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(_) => continue,
            },
        };
        let Some(request) = buf.get(..n) else { continue };
        if let Answer::Send(resp) = responder.respond(request, false) {
            let _ = socket.send_to(&resp, peer).await;
        }
    }
}

/// Accepts DNS-over-TCP connections until cancelled.
pub(crate) async fn serve_tcp(
    listener: TcpListener,
    responder: Arc<Responder>,
    token: CancellationToken,
    tracker: TaskTracker,
) {
    tcp::accept_loop(listener, || {}, move |s| connection(s, Arc::clone(&responder)), token, tracker).await;
}

async fn write_framed(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    let Ok(len) = u16::try_from(bytes.len()) else { return false };
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    matches!(tokio::time::timeout(WRITE_WAIT, stream.write_all(&framed)).await, Ok(Ok(())))
}

async fn connection(mut stream: TcpStream, responder: Arc<Responder>) {
    loop {
        let mut len = [0u8; 2];
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await, Ok(Ok(_))) {
            return;
        }
        let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut request)).await, Ok(Ok(_))) {
            return;
        }
        match responder.respond(&request, true) {
            Answer::Drop => {}
            Answer::Send(b) => {
                if !write_framed(&mut stream, &b).await {
                    return;
                }
            }
            Answer::HalfThenStall(b) => {
                let Ok(len) = u16::try_from(b.len()) else { return };
                let mut out = len.to_be_bytes().to_vec();
                out.extend(b.iter().take(b.len() / 2));
                let _ = tokio::time::timeout(WRITE_WAIT, stream.write_all(&out)).await;
                hold(&mut stream).await;
                return;
            }
            Answer::Transfer { query, slow } => {
                let mut tick = tokio::time::interval(responder.axfr_interval);
                let mut i = 0usize;
                while let Some(msg) = responder.transfer_message(&query, slow, i) {
                    if slow {
                        tick.tick().await;
                    }
                    if !write_framed(&mut stream, &msg).await {
                        return;
                    }
                    i += 1;
                }
            }
        }
    }
}
