//! Finds the publish timestamp embedded in a generic server's message text.

use serde::{Deserialize, Serialize};

/// Looks for `"<key>": <digits>` (the digits may be quoted) anywhere in a message, so it
/// works whatever envelope the server wraps the published body in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampProbe {
    needle: String,
}

impl TimestampProbe {
    /// A probe for the JSON key `key`.
    pub fn new(key: &str) -> Self {
        Self {
            needle: format!("\"{key}\""),
        }
    }

    /// The first timestamp found, in microseconds.
    pub fn find(&self, text: &str) -> Option<u64> {
        text.match_indices(&self.needle).find_map(|(at, needle)| {
            let rest = text[at + needle.len()..].trim_start();
            let rest = rest.strip_prefix(':')?.trim_start();
            let rest = rest.strip_prefix('"').unwrap_or(rest);
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..digits].parse().ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_plain_nested_and_quoted_timestamps() {
        let probe = TimestampProbe::new("ts");
        assert_eq!(
            probe.find(r#"{"data":{"ts":1700000000000001}}"#),
            Some(1_700_000_000_000_001)
        );
        assert_eq!(
            probe.find(r#"{"push":{"pub":{"data":{"ts" : "42"}}}}"#),
            Some(42)
        );
        assert_eq!(probe.find(r#"{"tsx":1,"ts":7}"#), Some(7));
        assert_eq!(probe.find(r#"{"ts":"soon","ts":8}"#), Some(8));
        assert_eq!(probe.find(r#"{"other":1}"#), None);
    }
}
