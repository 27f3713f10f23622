//! Changes to a running lab, for tests of a scanner that keeps running (the
//! daemon): a planted weakness removed and restored, a server made silent,
//! a TLS endpoint's certificate swapped. Nothing is switched unless a test
//! asks: a lab that nobody switches is [`crate::PLANTED`] exactly.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use tokio_rustls::TlsAcceptor;

use crate::services::Kind;
use crate::tcp::Behavior;
use crate::tls;

/// Something a test can turn on and off in a running lab ([`crate::Lab::switch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Switch {
    /// `redis.agency.test` asks for a password, like its hardened twin: the
    /// planted `svc.redis-noauth` (and the version `INFO` showed) is gone.
    RedisAuth,
    /// `redis.agency.test` accepts connections and never says a word (a
    /// timeout for the scanner, not an answer).
    RedisSilent,
}

/// The acceptor an endpoint's next connection uses, replaceable.
type Slot = Arc<RwLock<TlsAcceptor>>;

/// The state of every switch of one lab, and the certificate slot of each
/// rustls endpoint. Shared by the lab's servers, read on every connection.
#[derive(Default)]
pub(crate) struct Switches {
    redis_auth: AtomicBool,
    redis_silent: AtomicBool,
    /// (endpoint name, the acceptor its next connection uses).
    certs: RwLock<Vec<(&'static str, Slot)>>,
}

impl std::fmt::Debug for Switches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switches")
            .field("redis_auth", &self.redis_auth)
            .field("redis_silent", &self.redis_silent)
            .finish_non_exhaustive()
    }
}

impl Switches {
    pub(crate) fn set(&self, switch: Switch, on: bool) {
        let flag = match switch {
            Switch::RedisAuth => &self.redis_auth,
            Switch::RedisSilent => &self.redis_silent,
        };
        flag.store(on, Ordering::SeqCst);
    }

    /// What a listener built as `behavior` does with its next connection.
    pub(crate) fn behavior(&self, behavior: Behavior) -> Behavior {
        if behavior != Behavior::Service(Kind::RedisWeak) {
            return behavior;
        }
        if self.redis_silent.load(Ordering::SeqCst) {
            Behavior::Quiet
        } else if self.redis_auth.load(Ordering::SeqCst) {
            Behavior::Service(Kind::RedisHardened)
        } else {
            behavior
        }
    }

    /// A swappable slot for the acceptor of endpoint `name`.
    pub(crate) fn cert_slot(&self, name: &'static str, acceptor: TlsAcceptor) -> Slot {
        let slot = Arc::new(RwLock::new(acceptor));
        self.certs.write().unwrap_or_else(PoisonError::into_inner).push((name, Arc::clone(&slot)));
        slot
    }

    /// Issues endpoint `name` a new certificate (a new key, so a new SHA-256)
    /// that its next connections are served; those already open keep theirs.
    pub(crate) fn swap_certificate(&self, name: &str) -> io::Result<()> {
        let slot = self
            .certs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, s)| Arc::clone(s))
            .ok_or_else(|| io::Error::other(format!("{name}: not a lab endpoint whose certificate can be swapped")))?;
        let acceptor = tls::reissue(name)?;
        *slot.write().unwrap_or_else(PoisonError::into_inner) = acceptor;
        Ok(())
    }
}

/// The acceptor in `slot` now.
pub(crate) fn current(slot: &RwLock<TlsAcceptor>) -> TlsAcceptor {
    slot.read().unwrap_or_else(PoisonError::into_inner).clone()
}
