//! Wall-clock timestamps in the units the protocol uses.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (post and notification `ts`).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Milliseconds since the Unix epoch (presence `last_seen`).
pub fn now_millis() -> u64 {
    now_micros() / 1000
}
