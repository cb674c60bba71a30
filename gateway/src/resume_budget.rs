//! How many `resume` replays one connection may ask for: a few at once, then one per interval.

use std::sync::LazyLock;
use std::time::Instant;

/// Replays a connection may ask for at once (a `?after=` on the URL counts as one).
pub const RESUME_BURST: u32 = 3;
/// After the burst, one more replay per this many seconds: [`RESUME_BURST`] a minute.
pub const RESUME_INTERVAL_SECS: u32 = 60 / RESUME_BURST;

/// The process's clock origin: budgets count whole seconds from it.
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// A GCRA budget of replays, kept in four bytes.
///
/// Every replay reads the whole gap from the backplane and writes it to the socket, so an
/// unbounded number of them would let one socket multiply its feed (the 40 resumes
/// brought back 12,040 frames for a 300-entry feed). governor's limiter does the same job
/// in 40 bytes; every idle socket holds one of these, and whole seconds are fine enough.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResumeBudget {
    /// When the budget is full again, in seconds since [`ORIGIN`].
    full_at: u32,
}

impl ResumeBudget {
    /// Take one replay from the budget; false when it is spent.
    pub fn take(&mut self) -> bool {
        let now = u32::try_from(ORIGIN.elapsed().as_secs()).unwrap_or(u32::MAX);
        self.take_at(now)
    }

    fn take_at(&mut self, now: u32) -> bool {
        let next = self.full_at.max(now).saturating_add(RESUME_INTERVAL_SECS);
        if next - now > RESUME_INTERVAL_SECS * RESUME_BURST {
            return false;
        }
        self.full_at = next;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval() {
        let mut budget = ResumeBudget::default();
        let start = 1_000;
        assert!((0..RESUME_BURST).all(|_| budget.take_at(start)));
        assert!(!budget.take_at(start));
        assert!(!budget.take_at(start + RESUME_INTERVAL_SECS - 1));
        assert!(budget.take_at(start + RESUME_INTERVAL_SECS));
        assert!(!budget.take_at(start + RESUME_INTERVAL_SECS));
        // Quiet for a minute: the whole burst is back, and no more.
        let later = start + 10 * 60;
        assert!((0..RESUME_BURST).all(|_| budget.take_at(later)));
        assert!(!budget.take_at(later));
    }

    #[test]
    fn at_most_the_burst_plus_one_per_interval_in_any_window() {
        let mut budget = ResumeBudget::default();
        // Asking every second for ten minutes.
        let granted = (0..600).filter(|s| budget.take_at(5 + s)).count() as u32;
        assert_eq!(granted, RESUME_BURST + 600 / RESUME_INTERVAL_SECS - 1);
    }
}
