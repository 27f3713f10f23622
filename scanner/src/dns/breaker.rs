//! Circuit breakers for name servers: a server that failed several queries in
//! a row is skipped for a cool-down, then given one trial query.
//!
//! Time is passed in (`now`), read from [`tokio::time::Instant`] by the
//! guard, so tests drive it with `tokio::time::pause` and `advance`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Consecutive failures (timeouts, no usable reply) that open a breaker.
pub const FAILURES_TO_OPEN: u32 = 5;

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// How long an open breaker skips its server before a trial query.
    pub cool_down: Duration,
}

impl Policy {
    /// The default for a per-query `timeout`: [`FAILURES_TO_OPEN`] failures,
    /// and a cool-down of five timeouts (at least 1 s, at most 60 s), so a
    /// dead server costs at most one trial timeout per cool-down.
    pub fn for_timeout(timeout: Duration) -> Policy {
        Policy {
            failures: FAILURES_TO_OPEN,
            cool_down: timeout.saturating_mul(5).clamp(Duration::from_secs(1), Duration::from_secs(60)),
        }
    }
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Queries go to the server; `failures` in a row so far.
    Closed {
        /// Consecutive failures.
        failures: u32,
    },
    /// The server is skipped until `until`.
    Open {
        /// End of the cool-down.
        until: Instant,
    },
    /// One trial query is under way since `since`; others skip the server.
    HalfOpen {
        /// When the trial was let through.
        since: Instant,
    },
}

/// Whether a query may go to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Yes.
    Go,
    /// Yes, as the one trial after a cool-down.
    Trial,
    /// No: skipped until `until`.
    Skip {
        /// When the server may be tried again.
        until: Instant,
    },
}

/// The breaker of one name server.
#[derive(Debug)]
pub struct Breaker {
    policy: Policy,
    state: Mutex<State>,
    /// When the server last answered. A server that answered within the
    /// cool-down is alive: its failures are about the names asked (a server
    /// that drops queries for names that do not exist), so they never open
    /// the breaker for every other name.
    answered: Mutex<Option<Instant>>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(policy: Policy) -> Breaker {
        Breaker { policy, state: Mutex::new(State::Closed { failures: 0 }), answered: Mutex::new(None) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state.
    pub fn state(&self) -> State {
        *self.lock()
    }

    /// Whether a query may go to the server at `now`. After the cool-down the
    /// first caller gets the trial; a trial that never reports (its query was
    /// cancelled) is replaced by another after one more cool-down.
    pub fn admit(&self, now: Instant) -> Admit {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => Admit::Go,
            State::Open { until } if now < until => Admit::Skip { until },
            State::Open { .. } => {
                *s = State::HalfOpen { since: now };
                Admit::Trial
            }
            State::HalfOpen { since } => {
                let until = since + self.policy.cool_down;
                if now < until {
                    Admit::Skip { until }
                } else {
                    *s = State::HalfOpen { since: now };
                    Admit::Trial
                }
            }
        }
    }

    /// The server answered: close the breaker.
    pub fn success(&self) {
        *self.lock() = State::Closed { failures: 0 };
        *self.answered.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Whether the server answered within the cool-down before `now`.
    fn alive(&self, now: Instant) -> bool {
        let answered = *self.answered.lock().unwrap_or_else(|p| p.into_inner());
        answered.is_some_and(|at| now.saturating_duration_since(at) < self.policy.cool_down)
    }

    /// The server failed a query at `now`: count it, and open the breaker
    /// after [`Policy::failures`] in a row or when the trial failed.
    pub fn failure(&self, now: Instant) {
        let alive = self.alive(now);
        let mut s = self.lock();
        let open = State::Open { until: now + self.policy.cool_down };
        *s = match *s {
            State::Closed { failures } if failures + 1 < self.policy.failures || alive => {
                State::Closed { failures: (failures + 1).min(self.policy.failures) }
            }
            State::Closed { .. } | State::HalfOpen { .. } => open,
            // A query let through before the breaker opened: the cool-down stands.
            State::Open { until } => State::Open { until },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy { failures: 3, cool_down: Duration::from_secs(10) }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_k_failures_and_half_opens_after_the_cool_down() {
        let b = Breaker::new(policy());
        let now = Instant::now;
        for _ in 0..2 {
            assert_eq!(b.admit(now()), Admit::Go);
            b.failure(now());
        }
        assert_eq!(b.state(), State::Closed { failures: 2 });
        assert_eq!(b.admit(now()), Admit::Go);
        b.failure(now());
        let until = now() + Duration::from_secs(10);
        assert_eq!(b.state(), State::Open { until });
        assert_eq!(b.admit(now()), Admit::Skip { until });

        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(b.admit(now()), Admit::Skip { until }, "still cooling down");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.admit(now()), Admit::Trial, "one trial after the cool-down");
        assert!(matches!(b.admit(now()), Admit::Skip { .. }), "only one trial at a time");
        b.success();
        assert_eq!(b.state(), State::Closed { failures: 0 });
        assert_eq!(b.admit(now()), Admit::Go);
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_answers_other_names_stays_closed() {
        let b = Breaker::new(policy());
        b.success();
        for _ in 0..10 {
            b.failure(Instant::now());
        }
        assert_eq!(b.state(), State::Closed { failures: 3 }, "it answered 0 s ago: alive");
        // Once it has said nothing for a whole cool-down, failures open it.
        tokio::time::advance(Duration::from_secs(10)).await;
        b.failure(Instant::now());
        assert!(matches!(b.state(), State::Open { .. }), "{:?}", b.state());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_reopens_for_another_cool_down() {
        let b = Breaker::new(policy());
        for _ in 0..3 {
            b.failure(Instant::now());
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.admit(Instant::now()), Admit::Trial);
        b.failure(Instant::now());
        let until = Instant::now() + Duration::from_secs(10);
        assert_eq!(b.state(), State::Open { until });
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.admit(Instant::now()), Admit::Skip { until });
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_count_and_an_abandoned_trial_is_replaced() {
        let b = Breaker::new(policy());
        b.failure(Instant::now());
        b.failure(Instant::now());
        b.success();
        b.failure(Instant::now());
        b.failure(Instant::now());
        assert_eq!(b.admit(Instant::now()), Admit::Go, "failures must be consecutive");
        // Silent for a whole cool-down since it last answered: the third opens it.
        tokio::time::advance(Duration::from_secs(10)).await;
        b.failure(Instant::now());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.admit(Instant::now()), Admit::Trial);
        // The trial's query was cancelled and never reported.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.admit(Instant::now()), Admit::Trial, "a new trial once the old one is overdue");
    }

    #[test]
    fn the_default_cool_down_follows_the_timeout() {
        assert_eq!(Policy::for_timeout(Duration::from_millis(2000)).cool_down, Duration::from_secs(10));
        assert_eq!(Policy::for_timeout(Duration::from_millis(50)).cool_down, Duration::from_secs(1));
        assert_eq!(Policy::for_timeout(Duration::from_secs(60)).cool_down, Duration::from_secs(60));
        assert_eq!(Policy::for_timeout(Duration::from_secs(1)).failures, FAILURES_TO_OPEN);
    }
}
