//! The resume position a client holds: how far its merged feed has been delivered.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A position in a user's merged feed.
///
/// A user's feed merges two sources, so a position needs two numbers (a tiny vector clock):
/// entries written into the user's own feed (fan-out on write) are numbered densely per user,
/// and posts of celebrity authors (fan-out on read) are numbered by one global broadcast log.
/// Both numbers are assigned when the entry is written, never derived from timestamps, so an
/// entry written late can never hide behind a cursor that already passed its creation time.
///
/// On the wire a cursor is the opaque string `"<feed>:<broadcast>"`; clients store and echo it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// Highest per-user feed sequence number delivered (0 = nothing yet).
    pub feed: u64,
    /// Highest global broadcast sequence number delivered (0 = nothing yet).
    pub broadcast: u64,
}

impl Cursor {
    /// A cursor at the given positions.
    pub const fn new(feed: u64, broadcast: u64) -> Self {
        Self { feed, broadcast }
    }

    /// Whether either component is past `head`'s: a cursor the feed cannot have handed out,
    /// so the store was reset (or the cursor made up). Comparisons only, so any pair of u64
    /// values is handled alike, up to `u64::MAX`.
    pub fn is_beyond(self, head: Cursor) -> bool {
        self.feed > head.feed || self.broadcast > head.broadcast
    }

    /// The component-wise maximum: the position after having seen both.
    pub fn max(self, other: Cursor) -> Cursor {
        Cursor::new(
            self.feed.max(other.feed),
            self.broadcast.max(other.broadcast),
        )
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(CursorText::of(*self).as_str())
    }
}

/// The longest cursor text: two 20-digit numbers and the colon.
const MAX_TEXT_LEN: usize = 2 * 20 + 1;

/// A cursor's wire text on the stack. Written with `itoa` rather than through `fmt` (two
/// integers padded by `Formatter`), which was about 600 instructions of every frame that
/// carries a cursor: each `welcome` and each push.
struct CursorText {
    /// `<feed>:<broadcast>` in ASCII digits, then unused room.
    bytes: [u8; MAX_TEXT_LEN],
    /// How much of `bytes` is the text.
    len: usize,
}

impl CursorText {
    fn of(cursor: Cursor) -> Self {
        let mut text = Self {
            bytes: [0; MAX_TEXT_LEN],
            len: 0,
        };
        let mut digits = itoa::Buffer::new();
        text.push(digits.format(cursor.feed));
        text.push(":");
        text.push(digits.format(cursor.broadcast));
        text
    }

    fn push(&mut self, part: &str) {
        let end = self.len + part.len();
        self.bytes[self.len..end].copy_from_slice(part.as_bytes());
        self.len = end;
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).expect("digits and a colon are ASCII")
    }
}

/// Why a string is not a cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor must look like \"<feed>:<broadcast>\" with two unsigned integers")]
pub struct CursorParseError;

impl FromStr for Cursor {
    type Err = CursorParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (feed, broadcast) = s.split_once(':').ok_or(CursorParseError)?;
        Ok(Cursor::new(
            feed.parse().map_err(|_| CursorParseError)?,
            broadcast.parse().map_err(|_| CursorParseError)?,
        ))
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(CursorText::of(*self).as_str())
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_prints() {
        let cursor = Cursor::new(42, 7);
        assert_eq!(cursor.to_string(), "42:7");
        assert_eq!("42:7".parse::<Cursor>(), Ok(cursor));
    }

    #[test]
    fn the_longest_cursor_fits_its_text() {
        let cursor = Cursor::new(u64::MAX, u64::MAX);
        assert_eq!(cursor.to_string(), format!("{}:{}", u64::MAX, u64::MAX));
        assert_eq!(cursor.to_string().parse::<Cursor>(), Ok(cursor));
        assert_eq!(
            serde_json::to_string(&Cursor::new(0, 7)).expect("encodes"),
            "\"0:7\""
        );
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in ["", "42", "42:", ":7", "a:b", "-1:2", "1:2:3"] {
            assert_eq!(bad.parse::<Cursor>(), Err(CursorParseError), "{bad:?}");
        }
    }

    #[test]
    fn beyond_means_either_component_past_the_head() {
        let head = Cursor::new(5, 3);
        assert!(!Cursor::new(5, 3).is_beyond(head));
        assert!(!Cursor::new(0, 0).is_beyond(head));
        assert!(Cursor::new(6, 0).is_beyond(head));
        assert!(Cursor::new(0, 4).is_beyond(head));
        assert!(Cursor::new(u64::MAX, u64::MAX).is_beyond(head));
        assert_eq!(
            "18446744073709551615:0".parse::<Cursor>(),
            Ok(Cursor::new(u64::MAX, 0))
        );
        assert_eq!(
            "18446744073709551616:0".parse::<Cursor>(),
            Err(CursorParseError)
        );
    }

    #[test]
    fn max_is_component_wise() {
        assert_eq!(Cursor::new(5, 1).max(Cursor::new(2, 9)), Cursor::new(5, 9));
    }
}
