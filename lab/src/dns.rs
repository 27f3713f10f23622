//! The authoritative DNS responder (UDP and TCP on one port) and the silent
//! name server that reads and never answers.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::faults::{self, Fault, Injector};
use crate::tcp::{self, BIND_ATTEMPTS, PortClaim};
use crate::zones::{self, Zone};

/// The authoritative server's address.
pub(crate) const DNS_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 53);
/// The silent server's address.
pub(crate) const SILENT_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 54);

/// Largest UDP answer without EDNS.
pub(crate) const UDP_PLAIN: usize = 512;
/// Largest UDP answer with EDNS, whatever the client advertises.
pub(crate) const UDP_EDNS_MAX: u16 = 1232;
/// An idle TCP connection to the authoritative server is closed after this.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// The silent server holds an idle TCP connection this long (longer than any
/// sane client timeout, so the client gives up first).
const SILENT_IDLE: Duration = Duration::from_secs(60);

/// The transport a query arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// Answers queries for the lab zones.
#[derive(Debug)]
pub(crate) struct Responder {
    zones: Vec<Zone>,
}

impl Responder {
    pub(crate) fn new() -> io::Result<Self> {
        let zones = zones::build_all().map_err(|e| io::Error::other(format!("lab zones: {e}")))?;
        Ok(Self { zones })
    }

    /// The wire answer to one request, or `None` when it must be dropped
    /// (too short to carry an ID, or not a query). Never panics.
    pub(crate) fn respond(&self, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
        std::panic::catch_unwind(AssertUnwindSafe(|| self.respond_inner(request, transport)))
            .unwrap_or_else(|_| form_err(request))
    }

    fn respond_inner(&self, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
        if request.get(2).is_some_and(|b| b & 0x80 != 0) {
            return None; // QR set: a response, never answered (no loops)
        }
        let query = match Message::from_vec(request) {
            Ok(m) => m,
            Err(_) => return form_err(request),
        };
        if query.metadata.message_type != MessageType::Query {
            return None;
        }
        let response = self.answer(&query, transport);
        let limit = match transport {
            Transport::Tcp => usize::from(u16::MAX),
            Transport::Udp => match &query.edns {
                Some(edns) => usize::from(edns.max_payload().clamp(512, UDP_EDNS_MAX)),
                None => UDP_PLAIN,
            },
        };
        encode(&response, limit)
    }

    /// Builds the response message for a decoded query.
    pub(crate) fn answer(&self, query: &Message, transport: Transport) -> Message {
        let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
        resp.metadata = Metadata::response_from_request(&query.metadata);
        resp.queries = query.queries.clone();
        if let Some(req_edns) = &query.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(UDP_EDNS_MAX);
            resp.edns = Some(edns);
            if req_edns.version() > 0 {
                resp.metadata.response_code = ResponseCode::BADVERS;
                return resp;
            }
        }
        if query.metadata.op_code != OpCode::Query {
            resp.metadata.response_code = ResponseCode::NotImp;
            return resp;
        }
        let [q] = query.queries.as_slice() else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return resp;
        };
        if !matches!(q.query_class(), DNSClass::IN | DNSClass::ANY) {
            resp.metadata.response_code = ResponseCode::Refused;
            return resp;
        }
        let Some(zone) = zones::find(&self.zones, q.name()) else {
            resp.metadata.response_code = ResponseCode::Refused;
            return resp;
        };
        let qname = q.name();
        match q.query_type() {
            RecordType::AXFR | RecordType::IXFR => {
                if !zone.allow_axfr || qname != &zone.origin {
                    resp.metadata.response_code = ResponseCode::Refused;
                    return resp;
                }
                resp.metadata.authoritative = true;
                match transport {
                    // a transfer never fits a datagram: send the client to TCP
                    Transport::Udp => resp.metadata.truncation = true,
                    Transport::Tcp => resp.answers = zone.transfer(),
                }
            }
            qtype => {
                resp.metadata.authoritative = true;
                let here: Vec<&Record> = zone.at(qname).collect();
                if here.is_empty() {
                    if !zone.exists(qname) {
                        resp.metadata.response_code = ResponseCode::NXDomain;
                    }
                    resp.authorities.push(zone.soa.clone());
                } else if let Some(cname) = here.iter().find(|r| r.record_type() == RecordType::CNAME) {
                    // the client follows it
                    resp.answers.push((*cname).clone());
                } else {
                    // With the DO bit (RFC 3225) the RRSIGs over the answer come along.
                    let dnssec_ok = query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
                    resp.answers = here
                        .into_iter()
                        .filter(|r| {
                            qtype == RecordType::ANY
                                || r.record_type() == qtype
                                || (dnssec_ok && zones::covers(r, qtype))
                        })
                        .cloned()
                        .collect();
                    if resp.answers.is_empty() {
                        resp.authorities.push(zone.soa.clone()); // NODATA
                    }
                }
            }
        }
        resp
    }
}

/// Encodes `msg`; when it is longer than `limit`, sends the header, question
/// and OPT only, with TC set.
pub(crate) fn encode(msg: &Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = match msg.to_vec() {
        Ok(b) => b,
        Err(_) => {
            let mut fail = Message::error_msg(msg.metadata.id, msg.metadata.op_code, ResponseCode::ServFail);
            fail.metadata.recursion_desired = msg.metadata.recursion_desired;
            return fail.to_vec().ok();
        }
    };
    if bytes.len() <= limit {
        return Some(bytes);
    }
    msg.truncate().to_vec().ok()
}

/// FORMERR for a request we could not decode, when it carries an ID.
fn form_err(request: &[u8]) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*request.first()?, *request.get(1)?]);
    let flags = request.get(2).copied().unwrap_or(0);
    let mut msg = Message::error_msg(id, OpCode::from_u8((flags >> 3) & 0x0f), ResponseCode::FormErr);
    msg.metadata.recursion_desired = flags & 1 == 1;
    msg.to_vec().ok()
}

/// Binds UDP `ip:0`, then TCP on the same port; retries with a new port when
/// the TCP bind or the claim fails.
pub(crate) async fn bind_pair(ip: Ipv4Addr, claim: &mut PortClaim) -> io::Result<(UdpSocket, TcpListener)> {
    let mut rejected = Vec::new(); // kept open so the kernel hands out other ports
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind(SocketAddr::from((ip, 0))).await?;
        // Room for bursts of queries (the kernel caps it at net.core.rmem_max).
        let _ = socket2::SockRef::from(&udp).set_recv_buffer_size(4 << 20);
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::from((ip, port))).await {
            Ok(tcp) => {
                if claim.try_claim(port) {
                    return Ok((udp, tcp));
                }
                rejected.push((udp, Some(tcp)));
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::AddrInUse) => rejected.push((udp, None)),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("no UDP+TCP port pair on {ip} after {BIND_ATTEMPTS} attempts"),
    ))
}

/// The answer to `request`, or none, after asking `faults` whether this
/// query faults (SERVFAIL or no answer, `faults.rs`).
fn answer_or_fault(responder: &Responder, faults: &Injector, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let query = Message::from_vec(request).ok();
    let key = match query.as_ref().and_then(|q| q.queries.first()) {
        Some(q) => format!("dns {} {}", q.name().to_lowercase(), q.query_type()),
        None => "dns ?".to_owned(),
    };
    match faults.decide(&key, faults::DNS) {
        None => responder.respond(request, transport),
        Some(Fault::ServFail) => {
            let query = query?;
            let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
            resp.metadata = Metadata::response_from_request(&query.metadata);
            resp.metadata.response_code = ResponseCode::ServFail;
            resp.queries = query.queries;
            resp.to_vec().ok()
        }
        Some(_) => None,
    }
}

/// Answers every datagram until cancelled.
pub(crate) async fn serve_udp(
    socket: UdpSocket,
    responder: Arc<Responder>,
    answered: Arc<AtomicU64>,
    faults: Arc<Injector>,
    token: CancellationToken,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, peer) = tokio::select! {
            () = token.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(_) => continue, // e.g. ICMP port unreachable reported on Linux
            },
        };
        let Some(request) = buf.get(..n) else { continue };
        if let Some(resp) = answer_or_fault(&responder, &faults, request, Transport::Udp) {
            // counted before sending, so a client that has the answer sees the count
            answered.fetch_add(1, Ordering::Relaxed);
            let _ = socket.send_to(&resp, peer).await;
        }
    }
}

/// Accepts DNS-over-TCP connections until cancelled.
pub(crate) async fn serve_tcp(
    listener: TcpListener,
    responder: Arc<Responder>,
    answered: Arc<AtomicU64>,
    faults: Arc<Injector>,
    token: CancellationToken,
    tracker: TaskTracker,
) {
    tcp::accept_loop(
        listener,
        || {},
        move |stream| tcp_connection(stream, Arc::clone(&responder), Arc::clone(&answered), Arc::clone(&faults)),
        token,
        tracker,
    )
    .await;
}

/// Serves length-prefixed queries on one connection until EOF, an error, or
/// [`TCP_IDLE`] without a complete query.
async fn tcp_connection(
    mut stream: TcpStream,
    responder: Arc<Responder>,
    answered: Arc<AtomicU64>,
    faults: Arc<Injector>,
) {
    loop {
        let mut len = [0u8; 2];
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await, Ok(Ok(_))) {
            return;
        }
        // a u16 prefix: at most 65535 bytes are ever read
        let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut request)).await, Ok(Ok(_))) {
            return;
        }
        let Some(resp) = answer_or_fault(&responder, &faults, &request, Transport::Tcp) else { continue };
        let Ok(resp_len) = u16::try_from(resp.len()) else { continue };
        let mut framed = Vec::with_capacity(resp.len() + 2);
        framed.extend_from_slice(&resp_len.to_be_bytes());
        framed.extend_from_slice(&resp);
        answered.fetch_add(1, Ordering::Relaxed);
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.write_all(&framed)).await, Ok(Ok(()))) {
            return;
        }
    }
}

/// Reads every datagram and never answers.
pub(crate) async fn silent_udp(socket: UdpSocket, token: CancellationToken) {
    let mut buf = vec![0u8; 65_535];
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            _ = socket.recv_from(&mut buf) => {}
        }
    }
}

/// Accepts TCP connections, reads, and never answers.
pub(crate) async fn silent_tcp(listener: TcpListener, token: CancellationToken, tracker: TaskTracker) {
    tcp::accept_loop(listener, || {}, silent_connection, token, tracker).await;
}

async fn silent_connection(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(SILENT_IDLE, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::{Name, RData};

    fn responder() -> Responder {
        Responder::new().unwrap()
    }

    fn query(name: &str, qtype: RecordType) -> Message {
        let mut m = Message::query();
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        m
    }

    fn ask(r: &Responder, q: &Message, t: Transport) -> Message {
        let wire = r.respond(&q.to_vec().unwrap(), t).unwrap();
        Message::from_vec(&wire).unwrap()
    }

    #[test]
    fn signatures_come_with_the_do_bit_only() {
        let r = responder();
        let mut q = query("hardened.test.", RecordType::SOA);
        let mut edns = Edns::new();
        q.set_edns(edns.clone());
        let m = ask(&r, &q, Transport::Udp);
        assert_eq!(m.answers.len(), 1, "no DO bit: the SOA alone");
        edns.set_dnssec_ok(true);
        q.set_edns(edns);
        let m = ask(&r, &q, Transport::Udp);
        let types: Vec<RecordType> = m.answers.iter().map(Record::record_type).collect();
        assert_eq!(types, vec![RecordType::SOA, RecordType::RRSIG]);
        let m = ask(&r, &query("agency.test.", RecordType::DNSKEY), Transport::Udp);
        assert!(m.answers.is_empty() && m.metadata.response_code == ResponseCode::NoError, "agency.test is unsigned");
    }

    #[test]
    fn large_answers_are_truncated_on_udp() {
        let r = responder();
        let q = query("agency.test.", RecordType::ANY);
        let full = r.answer(&q, Transport::Udp);
        assert!(full.answers.len() >= 4);
        let wire = encode(&full, 60).unwrap();
        let m = Message::from_vec(&wire).unwrap();
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        assert_eq!(m.queries, q.queries);
        assert!(m.metadata.authoritative);
        assert_eq!(m.metadata.id, q.metadata.id);
    }

    #[test]
    fn axfr_over_udp_sends_the_client_to_tcp() {
        let r = responder();
        let m = ask(&r, &query("agency.test.", RecordType::AXFR), Transport::Udp);
        assert!(m.metadata.truncation);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        let m = ask(&r, &query("hardened.test.", RecordType::AXFR), Transport::Udp);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        let m = ask(&r, &query("www.agency.test.", RecordType::AXFR), Transport::Tcp);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    }

    #[test]
    fn edns_is_echoed_and_bad_versions_are_rejected() {
        let r = responder();
        let mut q = query("agency.test.", RecordType::A);
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        q.set_edns(edns.clone());
        let m = ask(&r, &q, Transport::Udp);
        assert_eq!(m.edns.as_ref().unwrap().max_payload(), UDP_EDNS_MAX);
        assert_eq!(m.answers.len(), 1);
        edns.set_version(1);
        q.set_edns(edns);
        let m = ask(&r, &q, Transport::Udp);
        // 16 is both BADVERS and BADSIG; hickory decodes it as the latter
        assert_eq!(u16::from(m.metadata.response_code), 16);
    }

    #[test]
    fn odd_requests() {
        let r = responder();
        // no question
        let mut q = Message::query();
        q.metadata.recursion_desired = true;
        let m = ask(&r, &q, Transport::Udp);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        // not a query opcode
        let mut q = query("agency.test.", RecordType::A);
        q.metadata.op_code = OpCode::Status;
        let m = ask(&r, &q, Transport::Udp);
        assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
        // class CH
        let mut q = query("version.bind.", RecordType::TXT);
        q.queries[0].set_query_class(DNSClass::CH);
        assert_eq!(ask(&r, &q, Transport::Udp).metadata.response_code, ResponseCode::Refused);
        // a response is never answered
        let q = query("agency.test.", RecordType::A).into_response();
        assert!(r.respond(&q.to_vec().unwrap(), Transport::Udp).is_none());
        // too short for an ID
        assert!(r.respond(&[], Transport::Udp).is_none());
        assert!(r.respond(&[7], Transport::Udp).is_none());
        // an ID and nothing else
        let m = Message::from_vec(&r.respond(&[0x12, 0x34], Transport::Udp).unwrap()).unwrap();
        assert_eq!(m.metadata.id, 0x1234);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    }

    #[test]
    fn case_is_ignored_and_the_question_echoed() {
        let r = responder();
        let q = query("WWW.Agency.TEST.", RecordType::A);
        let m = ask(&r, &q, Transport::Udp);
        assert_eq!(m.queries, q.queries);
        assert_eq!(m.queries[0].name().to_ascii(), "WWW.Agency.TEST.");
        assert!(matches!(m.answers[0].data, RData::A(a) if a.0 == Ipv4Addr::new(127, 77, 1, 20)));
    }

    #[test]
    fn garbage_never_panics() {
        let r = responder();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let valid = query("www.agency.test.", RecordType::A).to_vec().unwrap();
        for i in 0..20_000 {
            let len = (next() % 600) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 {
                // mutate a valid query instead: reaches deeper into the decoder
                buf = valid.clone();
                for _ in 0..(next() % 4 + 1) {
                    let at = (next() as usize) % buf.len();
                    buf[at] = next() as u8;
                }
                buf.truncate((next() as usize) % (valid.len() + 1));
            }
            for t in [Transport::Udp, Transport::Tcp] {
                if let Some(resp) = r.respond(&buf, t) {
                    assert!(resp.len() >= 12);
                    assert_eq!(resp[..2], buf[..2], "the ID is copied");
                }
            }
        }
    }
}
