//! A tiny programmable DNS server on loopback (UDP and TCP on one port) for
//! the resolver and zone-transfer tests: a handler decides, per query, to
//! drop it, answer it (now or later), or, over TCP, stream messages.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One query as the server saw it.
pub(crate) struct Ask {
    pub(crate) msg: Message,
    pub(crate) tcp: bool,
}

impl Ask {
    /// The question's name, lowercase, without the trailing dot.
    pub(crate) fn name(&self) -> String {
        self.msg
            .queries
            .first()
            .map(|q| q.name().to_ascii().trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_default()
    }

    pub(crate) fn qtype(&self) -> RecordType {
        self.msg.queries.first().map(|q| q.query_type()).unwrap_or(RecordType::NULL)
    }

    /// An empty authoritative NOERROR response to this query.
    pub(crate) fn reply(&self) -> Message {
        let mut resp = Message::response(self.msg.metadata.id, self.msg.metadata.op_code);
        resp.metadata = Metadata::response_from_request(&self.msg.metadata);
        resp.metadata.authoritative = true;
        resp.queries = self.msg.queries.clone();
        resp
    }

    pub(crate) fn answer(&self, records: Vec<Record>) -> Message {
        let mut m = self.reply();
        m.answers = records;
        m
    }

    pub(crate) fn rcode(&self, code: ResponseCode) -> Message {
        let mut m = self.reply();
        m.metadata.response_code = code;
        m
    }
}

/// What the server does with a query.
pub(crate) enum Reply {
    /// Nothing.
    Drop,
    /// These messages, in order.
    Send(Vec<Message>),
    /// These messages after a delay (UDP only).
    After(Duration, Vec<Message>),
    /// TCP only: message `i` from `next(i)`, one every `every`, until `None`
    /// or the client goes away.
    Stream { every: Duration, next: Box<dyn FnMut(u64) -> Option<Message> + Send> },
}

pub(crate) type Handler = Arc<dyn Fn(&Ask) -> Reply + Send + Sync>;

pub(crate) struct FakeDns {
    pub(crate) addr: SocketAddr,
    /// Every question received: (name, type, over TCP).
    asked: Arc<Mutex<Vec<(String, RecordType, bool)>>>,
    /// Messages sent by streams.
    pub(crate) streamed: Arc<AtomicU64>,
    /// Notified when a stream sent its first message.
    pub(crate) stream_started: Arc<Notify>,
    token: CancellationToken,
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

fn frame(m: &Message) -> Vec<u8> {
    let bytes = m.to_vec().unwrap();
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&bytes);
    out
}

impl FakeDns {
    pub(crate) async fn start(handler: Handler) -> FakeDns {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let fake = FakeDns {
            addr: udp.local_addr().unwrap(),
            asked: Arc::default(),
            streamed: Arc::default(),
            stream_started: Arc::default(),
            token: CancellationToken::new(),
        };
        let udp = Arc::new(udp);
        {
            let (h, asked, token, udp) = (handler.clone(), fake.asked.clone(), fake.token.clone(), udp.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65535];
                loop {
                    let (n, peer) = tokio::select! {
                        () = token.cancelled() => return,
                        r = udp.recv_from(&mut buf) => match r { Ok(x) => x, Err(_) => continue },
                    };
                    let Ok(msg) = Message::from_vec(&buf[..n]) else { continue };
                    let ask = Ask { msg, tcp: false };
                    asked.lock().unwrap().push((ask.name(), ask.qtype(), false));
                    let (delay, msgs) = match h(&ask) {
                        Reply::Send(m) => (Duration::ZERO, m),
                        Reply::After(d, m) => (d, m),
                        Reply::Drop | Reply::Stream { .. } => continue,
                    };
                    let udp = udp.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        for m in msgs {
                            let _ = udp.send_to(&m.to_vec().unwrap(), peer).await;
                        }
                    });
                }
            });
        }
        {
            let (asked, token) = (fake.asked.clone(), fake.token.clone());
            let (streamed, started) = (fake.streamed.clone(), fake.stream_started.clone());
            tokio::spawn(async move {
                loop {
                    let stream = tokio::select! {
                        () = token.cancelled() => return,
                        r = tcp.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                    };
                    let conn = connection(stream, handler.clone(), asked.clone(), streamed.clone(), started.clone());
                    let token = token.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = token.cancelled() => {}
                            () = conn => {}
                        }
                    });
                }
            });
        }
        fake
    }

    /// Questions received so far: (name, type, over TCP).
    pub(crate) fn asked(&self) -> Vec<(String, RecordType, bool)> {
        self.asked.lock().unwrap().clone()
    }
}

async fn connection(
    mut s: TcpStream,
    h: Handler,
    asked: Arc<Mutex<Vec<(String, RecordType, bool)>>>,
    streamed: Arc<AtomicU64>,
    started: Arc<Notify>,
) {
    loop {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut buf).await.is_err() {
            return;
        }
        let Ok(msg) = Message::from_vec(&buf) else { return };
        let ask = Ask { msg, tcp: true };
        asked.lock().unwrap().push((ask.name(), ask.qtype(), true));
        match h(&ask) {
            Reply::Drop => {}
            Reply::Send(msgs) | Reply::After(_, msgs) => {
                for m in msgs {
                    if s.write_all(&frame(&m)).await.is_err() {
                        return;
                    }
                }
            }
            Reply::Stream { every, mut next } => {
                let mut i = 0;
                while let Some(m) = next(i) {
                    if s.write_all(&frame(&m)).await.is_err() {
                        return;
                    }
                    if streamed.fetch_add(1, Ordering::SeqCst) == 0 {
                        started.notify_one();
                    }
                    i += 1;
                    if every.is_zero() {
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(every).await;
                    }
                }
            }
        }
    }
}

pub(crate) fn name(n: &str) -> Name {
    Name::from_ascii(format!("{n}.")).unwrap()
}

pub(crate) fn a(owner: &str, ip: Ipv4Addr) -> Record {
    Record::from_rdata(name(owner), 60, RData::A(A(ip)))
}

pub(crate) fn soa(zone: &str) -> Record {
    let rdata = SOA::new(name(&format!("ns1.{zone}")), name(&format!("hostmaster.{zone}")), 1, 3600, 600, 604_800, 60);
    Record::from_rdata(name(zone), 60, RData::SOA(rdata))
}

pub(crate) fn ns(zone: &str, host: &str) -> Record {
    Record::from_rdata(name(zone), 60, RData::NS(NS(name(host))))
}

/// The zone `agency.test` served from `hosts` (name → address; the apex has
/// an SOA and the name server `ns1.agency.test`, which should be a host):
/// other names are NXDOMAIN, other types NODATA; AXFR is refused.
pub(crate) fn zone(ask: &Ask, hosts: &[(&str, Ipv4Addr)]) -> Message {
    let n = ask.name();
    let t = ask.qtype();
    if n == "agency.test" {
        return match t {
            RecordType::SOA => ask.answer(vec![soa("agency.test")]),
            RecordType::NS => ask.answer(vec![ns("agency.test", "ns1.agency.test")]),
            RecordType::AXFR => ask.rcode(ResponseCode::Refused),
            _ => ask.reply(),
        };
    }
    match hosts.iter().find(|(h, _)| *h == n) {
        Some((h, ip)) if t == RecordType::A => ask.answer(vec![a(h, *ip)]),
        Some(_) => ask.reply(),
        None => ask.rcode(ResponseCode::NXDomain),
    }
}
