//! Fault injection for the weak lab ([`crate::Lab::start_with`]): on a
//! seeded random share of exchanges the lab misbehaves once.
//!
//! An exchange is one accepted TCP connection on a lab service (banners,
//! services, web sites, TLS endpoints) or one query to the authoritative
//! name server (UDP or TCP). The tripwires (out-of-scope and excluded
//! addresses), the silent name server and the object store never fault.
//!
//! Whether exchange number `i` on key `k` faults, and how, is a function of
//! (seed, `k`, `i`) only: the key is the listener's address for TCP and the
//! question (lower-cased name and type) for DNS, and `i` counts the
//! exchanges on that key. So a scan that asks the same things in the same
//! order per key meets the same faults, however its tasks interleave.
//!
//! The faults:
//!
//! * TCP, any service: *delay*, the connection is accepted and nothing
//!   happens for [`crate::LabOptions::fault_delay`] (twice `timeout_ms`, so
//!   past the scanner's deadline for one exchange), then it is served
//!   normally; *reset*, closed at once with `SO_LINGER` 0 (an RST);
//! * TCP, web sites (plain and HTTPS) also: *truncated body*, the head
//!   announces the whole body's `Content-Length` and half of it is sent
//!   before the connection is closed;
//! * DNS: *SERVFAIL* in place of the answer, or *no answer* at all (the
//!   query is dropped: the client's timeout passes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpStream;

/// Which share of exchanges fault, chosen by a seeded generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    /// The seed: the same seed, the same faults for the same exchanges.
    pub seed: u64,
    /// The share of exchanges that fault, 0 to 100 (more counts as 100).
    pub percent: u8,
}

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Nothing for the fault delay, then the normal exchange.
    Delay,
    /// An RST at once.
    Reset,
    /// Half the body (web sites only).
    Truncate,
    /// SERVFAIL (DNS only).
    ServFail,
    /// No answer (DNS only).
    Drop,
}

/// The faults a plain TCP service can take.
pub(crate) const TCP: &[Fault] = &[Fault::Delay, Fault::Reset];
/// The faults a web site can take.
pub(crate) const WEB: &[Fault] = &[Fault::Delay, Fault::Reset, Fault::Truncate];
/// The faults a DNS query can take.
pub(crate) const DNS: &[Fault] = &[Fault::ServFail, Fault::Drop];

/// Decides, per exchange, whether and how it faults; counts both.
#[derive(Debug)]
pub(crate) struct Injector {
    faults: Option<Faults>,
    pub(crate) delay: Duration,
    counts: Mutex<HashMap<String, u64>>,
    exchanges: AtomicU64,
    injected: AtomicU64,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3))
}

impl Injector {
    pub(crate) fn new(faults: Option<Faults>, delay: Duration) -> Injector {
        Injector { faults, delay, counts: Mutex::default(), exchanges: AtomicU64::new(0), injected: AtomicU64::new(0) }
    }

    /// Whether exchange on `key` faults, and with which of `choices`.
    pub(crate) fn decide(&self, key: &str, choices: &[Fault]) -> Option<Fault> {
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        let faults = self.faults?;
        let index = {
            let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            let c = counts.entry(key.to_owned()).or_insert(0);
            let i = *c;
            *c += 1;
            i
        };
        let h = splitmix(faults.seed ^ splitmix(fnv1a(key) ^ index.rotate_left(32)));
        if h % 100 >= u64::from(faults.percent) {
            return None;
        }
        let n = u64::try_from(choices.len()).ok().filter(|n| *n > 0)?;
        let fault = choices.get(usize::try_from((h >> 32) % n).ok()?).copied()?;
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(fault)
    }

    /// Exchanges seen (faulted or not).
    pub(crate) fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// Exchanges that faulted.
    pub(crate) fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Applies a TCP fault before serving: `None` if the connection was
    /// reset (do not serve it), else whether to truncate the body.
    pub(crate) async fn before_serve(&self, stream: TcpStream, fault: Option<Fault>) -> Option<(TcpStream, bool)> {
        match fault {
            Some(Fault::Reset) => {
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                drop(stream);
                None
            }
            Some(Fault::Delay) => {
                tokio::time::sleep(self.delay).await;
                Some((stream, false))
            }
            Some(Fault::Truncate) => Some((stream, true)),
            _ => Some((stream, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_faults_per_key() {
        let f = Some(Faults { seed: 7, percent: 30 });
        let a = Injector::new(f, Duration::ZERO);
        let b = Injector::new(f, Duration::ZERO);
        // b sees the keys interleaved differently: per key, the same answers
        let xs: Vec<_> = (0..200).map(|_| a.decide("x", WEB)).collect();
        let mut ys = Vec::new();
        for _ in 0..200 {
            b.decide("y", WEB);
            ys.push(b.decide("x", WEB));
        }
        assert_eq!(xs, ys);
        let faulted = xs.iter().filter(|x| x.is_some()).count();
        assert!((30..90).contains(&faulted), "{faulted} of 200 at 30%");
        assert!(
            xs.contains(&Some(Fault::Truncate)) && xs.contains(&Some(Fault::Reset)) && xs.contains(&Some(Fault::Delay))
        );
        let c = Injector::new(Some(Faults { seed: 8, percent: 30 }), Duration::ZERO);
        let zs: Vec<_> = (0..200).map(|_| c.decide("x", WEB)).collect();
        assert_ne!(xs, zs, "another seed, other faults");
    }

    #[test]
    fn zero_never_and_hundred_always() {
        let none = Injector::new(Some(Faults { seed: 1, percent: 0 }), Duration::ZERO);
        let all = Injector::new(Some(Faults { seed: 1, percent: 100 }), Duration::ZERO);
        let off = Injector::new(None, Duration::ZERO);
        for i in 0..500 {
            let key = format!("k{}", i % 7);
            assert_eq!(none.decide(&key, DNS), None);
            assert_eq!(off.decide(&key, DNS), None);
            assert!(matches!(all.decide(&key, DNS), Some(Fault::ServFail | Fault::Drop)));
        }
        assert_eq!((none.exchanges(), none.injected()), (500, 0));
        assert_eq!((all.exchanges(), all.injected()), (500, 500));
        assert_eq!(off.exchanges(), 500);
    }
}
