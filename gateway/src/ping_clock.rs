//! When each connection's next server ping is due, rounded to shared slots.

use std::time::Duration;

use crate::moment::Moment;

/// The node's ping schedule: every connection pings once per `interval`, at a slot boundary.
///
/// Each deadline firing on its own millisecond costs the runtime a park and an unpark (an
/// `epoll_wait` timeout and, in a VM, an inter-processor kick) per ping: on idle sockets that
/// was about 45 % of the gateway's CPU. Rounding deadlines up to slots shared by the whole node
/// lets one wake-up send a whole slot's pings in a row. tokio's timer wheel has no slack
/// setting, so the rounding is done here.
#[derive(Clone, Debug)]
pub struct PingClock {
    /// The node's start, so slot boundaries are the same for every connection.
    origin: Moment,
    /// Time between two pings of one connection.
    interval: Duration,
    /// Slot width: at most 1 % of the interval late, and never wider than 250 ms, so pings
    /// stay spread over about a hundred slots per interval rather than bunched.
    slot: Duration,
}

impl PingClock {
    /// A schedule of one ping per `interval`, with slots starting now.
    pub fn new(interval: Duration) -> Self {
        let slot = (interval / 100).clamp(Duration::from_millis(1), Duration::from_millis(250));
        Self {
            origin: Moment::now(),
            interval,
            slot,
        }
    }

    /// The ping deadline of a connection that last pinged (or opened) at `now`: one interval
    /// later, rounded up to the next slot boundary.
    pub fn next_after(&self, now: Moment) -> Moment {
        let due = now.after(self.interval);
        let since_origin = due.since(self.origin).as_nanos();
        let slot = self.slot.as_nanos();
        let slots = since_origin.div_ceil(slot);
        // Slots fit in u64 nanoseconds for 580 years of uptime; saturate rather than panic.
        let offset = u64::try_from(slots * slot).unwrap_or(u64::MAX);
        self.origin.after(Duration::from_nanos(offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_shared_slots_at_most_one_slot_late() {
        let clock = PingClock::new(Duration::from_secs(25));
        assert_eq!(clock.slot, Duration::from_millis(250));
        let a = clock.origin.after(Duration::from_millis(10));
        let b = clock.origin.after(Duration::from_millis(240));
        let (next_a, next_b) = (clock.next_after(a), clock.next_after(b));
        assert_eq!(next_a, next_b, "pings within one slot share a deadline");
        assert_eq!(next_a, clock.origin.after(Duration::from_millis(25_250)));
        assert!(next_b >= b.after(clock.interval) && next_b < b.after(clock.interval + clock.slot));
        // A deadline already on a boundary stays there.
        let on_boundary = clock.origin.after(Duration::from_millis(500));
        assert_eq!(
            clock.next_after(on_boundary),
            on_boundary.after(clock.interval),
            "no extra slot when already aligned"
        );
    }

    #[test]
    fn short_intervals_get_millisecond_slots() {
        let clock = PingClock::new(Duration::from_millis(20));
        assert_eq!(clock.slot, Duration::from_millis(1));
        let now = clock.origin.after(Duration::from_micros(2_500));
        assert_eq!(
            clock.next_after(now),
            clock.origin.after(Duration::from_millis(23))
        );
    }
}
