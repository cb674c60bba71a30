//! A point on the process's monotonic clock in eight bytes, for the deadlines every connection
//! keeps, and that clock as the frame rate limiter's.
//!
//! Every idle socket holds its connection future inside a tokio task cell, which tokio sizes in
//! steps of 128 bytes; a `tokio::time::Instant` is 16 bytes (seconds and nanoseconds), and a
//! connection kept four of them plus governor's limiter with its own 16-byte start instant.
//! Held as microseconds since the process's origin instead, the same deadlines took the
//! connection's task cell a 128-byte step down: about 120 bytes less per idle socket (see
//! BENCHMARKS.md).

use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::time::Duration;

use governor::clock::Clock;
use governor::nanos::Nanos;
use tokio::time::Instant;

/// Microseconds since the process's clock origin, plus one (about 580,000 years of range):
/// never zero, so an enum or `Option` holding a moment needs no word of its own for its tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment(NonZeroU64);

/// The instant every [`Moment`] counts from: the first time anyone asked.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Moment {
    fn from_micros(micros: u64) -> Self {
        Self(NonZeroU64::MIN.saturating_add(micros))
    }

    /// Microseconds since the origin.
    fn micros(self) -> u64 {
        self.0.get() - 1
    }

    /// Now.
    pub fn now() -> Self {
        Self::at(Instant::now())
    }

    /// `instant` as a moment (the origin itself for any instant before it).
    pub fn at(instant: Instant) -> Self {
        let since = instant.saturating_duration_since(origin()).as_micros();
        Self::from_micros(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// The moment `duration` after this one (saturating, so a far deadline is just far).
    pub fn after(self, duration: Duration) -> Self {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(micros))
    }

    /// How long after `earlier` this is (zero if it is not later).
    pub fn since(self, earlier: Moment) -> Duration {
        Duration::from_micros(self.0.get().saturating_sub(earlier.0.get()))
    }

    /// This moment as a tokio instant, for timers; a moment past what an `Instant` can
    /// hold is a century ahead, which no timer reaches either way.
    pub fn instant(self) -> Instant {
        const CENTURY_MICROS: u64 = 100 * 365 * 24 * 3600 * 1_000_000;
        origin() + Duration::from_micros(self.micros().min(CENTURY_MICROS))
    }
}

/// The process clock in nanoseconds since the origin, as governor's clock: its limiters then
/// keep an 8-byte start instead of a 16-byte `Instant`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MomentClock;

impl Clock for MomentClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Instant::now().saturating_duration_since(origin()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_keep_the_order_and_distance_of_instants() {
        let now = Instant::now();
        let later = now + Duration::from_millis(1500);
        let (a, b) = (Moment::at(now), Moment::at(later));
        assert!(a < b);
        assert_eq!(a.after(Duration::from_millis(1500)), b);
        let back = b.instant();
        // Microsecond resolution: within one of the instant it came from.
        assert!(back <= later && later - back < Duration::from_micros(1));
    }

    #[test]
    fn a_far_deadline_saturates_instead_of_wrapping() {
        let far = Moment::now().after(Duration::MAX);
        assert!(far > Moment::now().after(Duration::from_secs(1 << 40)));
        assert_eq!(far.after(Duration::from_secs(1)), far);
        assert!(far.instant() > Instant::now() + Duration::from_secs(50 * 365 * 24 * 3600));
    }

    #[test]
    fn the_clock_moves_forward() {
        let clock = MomentClock;
        let first = clock.now();
        let started = std::time::Instant::now();
        while clock.now() == first {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the clock stands still"
            );
        }
        assert!(clock.now() > first);
    }
}
