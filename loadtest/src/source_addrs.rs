//! The range of client source addresses: one address has only ~28k ephemeral ports, so
//! sockets are spread over many loopback addresses.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::LoadtestError;

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

    /// The address client `index` binds to, round robin over the range.
    pub fn for_client(&self, index: u32) -> Ipv4Addr {
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
        assert_eq!(range.for_client(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(range.for_client(252), Ipv4Addr::new(127, 0, 0, 254));
        assert_eq!(range.for_client(253), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(
            range.to_string().parse::<SourceAddrs>().expect("again"),
            range
        );
        let single: SourceAddrs = "127.0.0.9".parse().expect("single");
        assert_eq!(single.len(), 1);
    }

    #[test]
    fn rejects_reversed_or_garbage() {
        assert!("127.0.0.9-127.0.0.2".parse::<SourceAddrs>().is_err());
        assert!("localhost".parse::<SourceAddrs>().is_err());
    }
}
