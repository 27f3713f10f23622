//! Token buckets: one for the whole scan, one per host name, one per address.
//! Every DNS query and every connection waits on all that apply.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

type Direct = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;
type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// A rate of `per_second` with bursts of at most a tenth of a second's worth,
/// so no one-second window sees much more than the configured rate.
fn quota(per_second: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new((per_second / 10).max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

pub(crate) struct Limiters {
    global: Direct,
    per_host: Keyed<String>,
    per_addr: Keyed<IpAddr>,
}

impl Limiters {
    pub(crate) fn new(max_rps: u32, per_host_rps: u32) -> Self {
        Limiters {
            global: RateLimiter::direct(quota(max_rps)),
            per_host: RateLimiter::keyed(quota(per_host_rps)),
            per_addr: RateLimiter::keyed(quota(per_host_rps)),
        }
    }

    /// Wait until the whole scan, `host` (if any) and `addr` may send one more.
    pub(crate) async fn acquire(&self, host: Option<&str>, addr: IpAddr) {
        self.global.until_ready().await;
        if let Some(h) = host {
            self.per_host.until_key_ready(&h.to_owned()).await;
        }
        self.per_addr.until_key_ready(&addr).await;
    }
}
