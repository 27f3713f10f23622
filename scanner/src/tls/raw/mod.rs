//! Hand-built TLS probes, for what rustls cannot say: SSLv3, TLS 1.0 and 1.1,
//! and weak cipher suites.
//!
//! Like testssl.sh or sslyze, a probe writes one ClientHello built byte by byte
//! ([`client_hello`]) and reads the server's first flight without completing the
//! handshake ([`probe`], [`parse_flight`]): the ServerHello's version and cipher,
//! the certificates, the finite-field DH group size of a DHE ServerKeyExchange,
//! or the Alert a server refuses with. No key exchange ever happens, so no
//! cryptography is needed and nothing past the server's first flight is read.
//!
//! - [`Version`]: the protocol versions a probe can offer (never TLS 1.3).
//! - [`suite`], [`weak_suites`], [`broad_suites`], [`dhe_suites`]: the
//!   cipher suite table and the lists probes offer.
//! - [`Reply`]: what the server answered.

mod hello;
mod reply;
mod suites;
#[cfg(test)]
mod tests;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub use hello::client_hello;
pub use reply::{Flight, Reply, ServerHello, parse_flight};
pub use suites::{Suite, Weakness, broad_suites, dhe_suites, suite, weak_suites};

use reply::FlightParser;

/// A protocol version a probe offers (TLS 1.3 is rustls' business).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// SSL 3.0 (RFC 6101), wire 0x0300.
    Ssl3,
    /// TLS 1.0 (RFC 2246), wire 0x0301.
    Tls10,
    /// TLS 1.1 (RFC 4346), wire 0x0302.
    Tls11,
    /// TLS 1.2 (RFC 5246), wire 0x0303.
    Tls12,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 4] = [Version::Ssl3, Version::Tls10, Version::Tls11, Version::Tls12];

    /// The version as written in a hello (`0x0300`..`0x0303`).
    pub fn wire(self) -> u16 {
        match self {
            Version::Ssl3 => 0x0300,
            Version::Tls10 => 0x0301,
            Version::Tls11 => 0x0302,
            Version::Tls12 => 0x0303,
        }
    }

    /// The usual name: "SSLv3", "TLS 1.0", "TLS 1.1", "TLS 1.2".
    pub fn name(self) -> &'static str {
        match self {
            Version::Ssl3 => "SSLv3",
            Version::Tls10 => "TLS 1.0",
            Version::Tls11 => "TLS 1.1",
            Version::Tls12 => "TLS 1.2",
        }
    }

    /// The version a wire value stands for, if it is one of ours.
    pub fn from_wire(wire: u16) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.wire() == wire)
    }
}

/// Size of each read from the server.
const READ_CHUNK: usize = 16 * 1024;

/// Write `hello` (from [`client_hello`]) and read the server's answer, all
/// within `timeout`.
///
/// Reading stops at ServerHelloDone, at an Alert, at the first record that is
/// not plaintext handshake (a ChangeCipherSpec or encrypted data after the
/// ServerHello), on garbage, or after 256 KiB. When the server closes the
/// connection (or resets it, or the time runs out) after its ServerHello, the
/// ServerHello read so far is the answer; before any byte it is
/// [`Reply::Closed`] (or [`Reply::Timeout`]). A failed write is not final: the
/// server may have answered before closing, so the reply is still read.
pub async fn probe<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, hello: &[u8], timeout: Duration) -> Reply {
    let mut parser = FlightParser::new();
    let outcome = tokio::time::timeout(timeout, exchange(stream, hello, &mut parser)).await;
    match outcome {
        Ok(reply) => reply,
        Err(_elapsed) => parser.end(true),
    }
}

/// The exchange [`probe`] bounds in time.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, hello: &[u8], parser: &mut FlightParser) -> Reply {
    // A write error (the server reset at once) still leaves whatever it sent to read.
    if stream.write_all(hello).await.is_ok() {
        let _ = stream.flush().await;
    }
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return parser.end(false),
            Ok(n) => {
                if let Flight::Done(reply) = parser.feed(buf.get(..n).unwrap_or_default()) {
                    return reply;
                }
            }
        }
    }
}
