//! The per-port breaker: consecutive probes of one port without a definite
//! answer, and the failed units of the port not reported yet.

/// Consecutive probes of one port without a definite answer before the
/// rest of its probes are given up (and recorded as failed, with why).
pub(super) const BREAKER: u32 = 3;

/// The per-port breaker, and the failed units of a port not yet reported.
#[derive(Debug, Default)]
pub(super) struct PortFaults {
    /// Consecutive probes without a definite answer.
    pub(super) streak: u32,
    pub(super) last: String,
    /// (check group, name, why).
    pub(super) failed: Vec<(&'static str, String, String)>,
    /// The port answered, but with bytes that are neither TLS, HTTP nor a
    /// service that waits: maybe the greeting of a server that speaks first,
    /// late on the first connection. The greeting checks then have no answer.
    pub(super) other: bool,
}

impl PortFaults {
    pub(super) fn fail(&mut self, group: &'static str, name: &str, why: String) {
        self.streak += 1;
        self.last.clone_from(&why);
        self.failed.push((group, name.to_owned(), why));
    }

    pub(super) fn ok(&mut self) {
        self.streak = 0;
    }

    /// The port proved to be something that rules `group` out (a service
    /// is no web server, a web server is no Redis): its failures are moot.
    pub(super) fn settle(&mut self, group: &str) {
        self.failed.retain(|(g, _, _)| *g != group);
    }

    /// Why the port is given up, once the breaker has tripped.
    pub(super) fn tripped(&self) -> Option<String> {
        (self.streak >= BREAKER)
            .then(|| format!("gave up on the port after {BREAKER} consecutive failures (last: {})", self.last))
    }
}
