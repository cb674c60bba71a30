//! The range of client source addresses: one address has only ~28k ephemeral ports, so
//! sockets are spread over many loopback addresses, each client on a port of its own.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::LoadtestError;

/// Source ports start here, above the well-known and registered services a test machine runs.
const FIRST_PORT: u32 = 10_000;
/// Source ports per address (10,000-64,999).
const PORTS: u32 = 55_000;

/// An inclusive IPv4 range such as `127.0.0.2-127.0.0.254`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceAddrs {
    first: Ipv4Addr,
    last: Ipv4Addr,
}

impl SourceAddrs {
    /// How many addresses the range holds.
    pub fn len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// Never true: a parsed range holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The address and port client `index` binds to: round robin over the addresses, then the
    /// next port, so no two clients of a run share a source.
    ///
    /// The port is chosen here rather than by the kernel because the kernel's search for a free
    /// ephemeral port grows with the sockets already open: at ~320,000 sockets it was 18 % of
    /// the machine's CPU (`__inet_hash_connect`), 3-6 % with fixed ports (BENCHMARKS.md).
    pub fn for_client(&self, index: u32) -> SocketAddrV4 {
        let port = FIRST_PORT + (index / self.len()) % PORTS;
        SocketAddrV4::new(self.address(index), port as u16)
    }

    /// The address of worker `index`'s HTTP connections, round robin like clients'.
    ///
    /// Those connections take kernel-chosen ports, and the kernel's search for a free one
    /// walks past every port of that address already talking to the same server. With all
    /// workers on one address, lookups abandoned by timeouts piled up there until each
    /// `connect()` took hundreds of microseconds and the ramp stalled (BENCHMARKS.md, toward
    /// 1,000,000); one address per worker divides that pile by the number of workers.
    pub fn for_worker(&self, index: u32) -> Ipv4Addr {
        self.address(index)
    }

    /// The `index`-th address of the range, wrapping around.
    fn address(&self, index: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.first) + index % self.len())
    }
}

impl FromStr for SourceAddrs {
    type Err = LoadtestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || LoadtestError::InvalidArgument(format!("source address range {text:?}"));
        let (first, last) = text.split_once('-').unwrap_or((text, text));
        let first: Ipv4Addr = first.trim().parse().map_err(|_| bad())?;
        let last: Ipv4Addr = last.trim().parse().map_err(|_| bad())?;
        if first > last {
            return Err(bad());
        }
        Ok(Self { first, last })
    }
}

impl fmt::Display for SourceAddrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_round_robins() {
        let range: SourceAddrs = "127.0.0.2-127.0.0.254".parse().expect("range");
        assert_eq!(range.len(), 253);
        let source = |a, port| SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, a), port);
        assert_eq!(range.for_client(0), source(2, 10_000));
        assert_eq!(range.for_client(252), source(254, 10_000));
        assert_eq!(range.for_client(253), source(2, 10_001));
        let all: std::collections::HashSet<_> =
            (0..1_000_000).map(|i| range.for_client(i)).collect();
        assert_eq!(all.len(), 1_000_000, "a million clients, a million sources");
        assert_eq!(
            range.to_string().parse::<SourceAddrs>().expect("again"),
            range
        );
        let single: SourceAddrs = "127.0.0.9".parse().expect("single");
        assert_eq!(single.len(), 1);
        assert_eq!(range.for_worker(3), Ipv4Addr::new(127, 0, 0, 5));
        assert_eq!(
            range.for_worker(253),
            Ipv4Addr::new(127, 0, 0, 2),
            "wraps around"
        );
    }

    #[test]
    fn rejects_reversed_or_garbage() {
        assert!("127.0.0.9-127.0.0.2".parse::<SourceAddrs>().is_err());
        assert!("localhost".parse::<SourceAddrs>().is_err());
    }
}
