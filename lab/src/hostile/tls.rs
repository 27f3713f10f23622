//! The hostile TLS servers: each reads the client's ClientHello (as the lab's
//! legacy responder parses it) and then misbehaves in one way.
//!
//! * [`Kind::TlsGarbage`]: 4 KiB of bytes that are not TLS records, then close;
//! * [`Kind::TlsStalledRecord`]: a handshake record header that promises
//!   16,384 bytes, the first 6 of them (a ServerHello's start), then silence;
//! * [`Kind::TlsHugeChain`]: a ServerHello, then one Certificate message of
//!   [`HUGE_CHAIN`] bytes (the lab CA's certificate over and over, each with
//!   its 3-byte length, as a real chain is laid out) in 16 KiB records, made as
//!   they are sent; then silence (no ServerHelloDone);
//! * [`Kind::TlsSilent`]: nothing at all.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{Kind, hold};
use crate::tls::legacy;

/// The size of the Certificate message of [`Kind::TlsHugeChain`].
pub const HUGE_CHAIN: usize = 10 * 1024 * 1024;
/// Largest TLS record fragment.
const FRAGMENT: usize = 16 * 1024;
/// How many garbage bytes [`Kind::TlsGarbage`] sends.
pub const GARBAGE: usize = 4096;
/// Bound on one write.
const WRITE_WAIT: Duration = Duration::from_secs(30);
/// How long the server waits for a ClientHello.
const HELLO_WAIT: Duration = Duration::from_secs(10);

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    matches!(tokio::time::timeout(WRITE_WAIT, stream.write_all(bytes)).await, Ok(Ok(())))
}

fn u24(n: usize) -> [u8; 3] {
    let [_, a, b, c] = u32::try_from(n.min(0x00FF_FFFF)).unwrap_or(0x00FF_FFFF).to_be_bytes();
    [a, b, c]
}

/// A TLS 1.2 ServerHello record choosing ECDHE-RSA-AES128-GCM-SHA256.
pub(crate) fn server_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend((0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11))); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0xC0, 0x2F]); // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    body.push(0); // no compression
    let mut hs = vec![0x02];
    hs.extend_from_slice(&u24(body.len()));
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x03];
    record.extend_from_slice(&u16::try_from(hs.len()).unwrap_or(0).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

/// Bytes that are not TLS: a deterministic pseudo-random stream whose first
/// byte is no TLS content type.
pub(crate) fn garbage() -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut out: Vec<u8> = (0..GARBAGE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    if let Some(first) = out.first_mut() {
        *first = b'G';
    }
    out
}

/// Streams the Certificate message of [`Kind::TlsHugeChain`] in records;
/// `false` once the client stops reading.
async fn send_huge_chain(stream: &mut TcpStream) -> bool {
    let Ok(ca) = crate::tls::certs::ca_der() else { return false };
    let Some(cert) = ca.first() else { return false };
    let mut unit = u24(cert.len()).to_vec();
    unit.extend_from_slice(cert.as_ref());
    // handshake header (4) + certificate_list length (3) + units
    let units = (HUGE_CHAIN - 7).div_ceil(unit.len());
    let list = units * unit.len();
    let mut message_head = vec![0x0B];
    message_head.extend_from_slice(&u24(list + 3));
    message_head.extend_from_slice(&u24(list));
    let total = message_head.len() + list;
    let mut at = 0usize;
    let mut record = Vec::with_capacity(FRAGMENT + 5);
    while at < total {
        let n = (total - at).min(FRAGMENT);
        record.clear();
        record.extend_from_slice(&[0x16, 0x03, 0x03]);
        record.extend_from_slice(&u16::try_from(n).unwrap_or(0).to_be_bytes());
        // bytes at..at+n of the message: its head, then the unit over and over
        let mut i = at;
        while i < at + n {
            let want = at + n - i;
            let piece = match message_head.get(i..) {
                Some(head) if !head.is_empty() => head,
                _ => unit.get((i - message_head.len()) % unit.len()..).unwrap_or_default(),
            };
            let take = piece.len().min(want);
            if take == 0 {
                return false;
            }
            record.extend_from_slice(piece.get(..take).unwrap_or_default());
            i += take;
        }
        if !write(stream, &record).await {
            return false;
        }
        at += n;
    }
    true
}

/// Serves one connection as `kind` says.
pub(crate) async fn serve(mut stream: TcpStream, kind: Kind) {
    if !matches!(tokio::time::timeout(HELLO_WAIT, legacy::read_client_hello(&mut stream)).await, Ok(Some(_))) {
        return;
    }
    match kind {
        Kind::TlsGarbage => {
            let _ = write(&mut stream, &garbage()).await;
            let _ = stream.shutdown().await;
            return;
        }
        Kind::TlsStalledRecord => {
            // a handshake record of 16,384 bytes; a ServerHello of 70 begins
            if !write(&mut stream, &[0x16, 0x03, 0x03, 0x40, 0x00, 0x02, 0x00, 0x00, 0x46, 0x03, 0x03]).await {
                return;
            }
        }
        Kind::TlsHugeChain => {
            if !write(&mut stream, &server_hello()).await || !send_huge_chain(&mut stream).await {
                return;
            }
        }
        Kind::TlsSilent => {}
        _ => return,
    }
    hold(&mut stream).await;
}
