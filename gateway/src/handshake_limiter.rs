//! WebSocket handshakes per client address, forgetting addresses that went quiet.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use foldhash::fast::RandomState;
use governor::middleware::NoOpMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use pushgate_fanout::drain::Drain;

/// How often addresses whose budget is full again are forgotten. The map then holds only the
/// addresses that handshook within about this long (plus the time their burst takes to
/// refill), so rotating source addresses cannot grow it without bound.
pub const FORGET_EVERY: Duration = Duration::from_secs(5);
/// Burst allowed per address, as a multiple of the sustained rate.
const BURST_FACTOR: u32 = 5;
/// IPv6 addresses share a budget per /64: one subscriber usually holds a whole /64, so a
/// budget per address would be a budget per attempt.
const IPV6_PREFIX_BITS: u8 = 64;

/// Handshake budgets by client address.
#[derive(Debug)]
pub struct HandshakeLimiter {
    /// One GCRA state per address (per /64 for IPv6), in a map hashed with foldhash (seeded
    /// per process, as the node's user maps are): SipHash, governor's default, was about 100
    /// instructions of every connect.
    limiter: DefaultKeyedRateLimiter<IpAddr, NoOpMiddleware, RandomState>,
}

impl HandshakeLimiter {
    /// `per_sec` sustained handshakes per address, bursts of five times that.
    pub fn new(per_sec: NonZeroU32) -> Self {
        let burst = per_sec.saturating_mul(NonZeroU32::new(BURST_FACTOR).expect("non-zero"));
        Self {
            limiter: RateLimiter::dashmap_with_hasher(
                Quota::per_second(per_sec).allow_burst(burst),
                RandomState::default(),
            ),
        }
    }

    /// Take one handshake from `client`'s budget; false when it is spent.
    pub fn check(&self, client: IpAddr) -> bool {
        self.limiter.check_key(&budget_key(client)).is_ok()
    }

    /// Addresses currently remembered.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }

    /// Forget every address whose budget is full again (it would start fresh anyway).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Forget idle addresses every [`FORGET_EVERY`] until the node drains.
    pub async fn run(self: Arc<Self>, drain: Drain) {
        let mut ticker = tokio::time::interval(FORGET_EVERY);
        loop {
            tokio::select! {
                () = drain.cancelled() => return,
                _ = ticker.tick() => self.forget_idle(),
            }
        }
    }
}

/// The key whose budget `client` spends: the address, or its /64 for IPv6.
fn budget_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => {
            let mask = u128::MAX << (128 - u32::from(IPV6_PREFIX_BITS));
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn a_spent_budget_refuses_and_others_are_untouched() {
        let limiter = HandshakeLimiter::new(NonZeroU32::new(1).expect("non-zero"));
        let a: IpAddr = "203.0.113.1".parse().expect("ip");
        let admitted = (0..20).filter(|_| limiter.check(a)).count();
        assert!((5..20).contains(&admitted), "{admitted}");
        assert!(limiter.check("203.0.113.2".parse().expect("ip")));
    }

    #[test]
    fn one_ipv6_slash_64_shares_a_budget() {
        let limiter = HandshakeLimiter::new(NonZeroU32::new(1).expect("non-zero"));
        let admitted = (0..20u16)
            .filter(|i| limiter.check(format!("2001:db8:1:2::{i:x}").parse().expect("ip")))
            .count();
        assert!((5..20).contains(&admitted), "{admitted}");
        assert_eq!(limiter.tracked(), 1);
        assert!(limiter.check("2001:db8:1:3::1".parse().expect("ip")));
    }

    #[tokio::test]
    async fn many_distinct_addresses_are_forgotten_once_idle() {
        let limiter = HandshakeLimiter::new(NonZeroU32::new(1000).expect("non-zero"));
        for i in 0..10_000u32 {
            assert!(limiter.check(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))));
        }
        assert_eq!(limiter.tracked(), 10_000);
        // One handshake each refills in a millisecond at 1,000/s; forget them once it has.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            limiter.forget_idle();
            if limiter.tracked() == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} left",
                limiter.tracked()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A busy address is kept: its burst is not back yet.
        let busy: IpAddr = "198.51.100.1".parse().expect("ip");
        while limiter.check(busy) {}
        limiter.forget_idle();
        assert_eq!(limiter.tracked(), 1);
    }

    #[tokio::test]
    async fn the_periodic_task_stops_with_the_drain() {
        let limiter = Arc::new(HandshakeLimiter::new(NonZeroU32::MIN));
        let drain = Drain::new();
        let task = tokio::spawn(limiter.clone().run(drain.clone()));
        drain.drain_and_wait().await;
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops")
            .expect("no panic");
    }
}
