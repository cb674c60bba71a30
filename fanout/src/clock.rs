//! Wall-clock timestamps in the units the protocol uses.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (post and notification `ts`).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Seconds since `ts` (microseconds since the Unix epoch), for latency metrics; 0 for a
/// timestamp in the future (clocks of different hosts disagree a little).
pub fn age_seconds(ts: u64) -> f64 {
    age_seconds_at(ts, now_micros())
}

/// Seconds from `ts` to `now` (both microseconds since the Unix epoch), for callers timing
/// many items against one reading of the clock; 0 when `ts` is later.
pub fn age_seconds_at(ts: u64, now: u64) -> f64 {
    now.saturating_sub(ts) as f64 / 1e6
}

/// Milliseconds since the Unix epoch (presence `last_seen`).
pub fn now_millis() -> u64 {
    now_micros() / 1000
}
