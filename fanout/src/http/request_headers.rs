//! A request's headers as the checks read them: from hyper's `HeaderMap`, or straight from
//! the slots the early upgrade path parsed them into, without building a map per connect.

use axum::http::HeaderMap;

/// A request's headers, looked up by name.
pub trait RequestHeaders {
    /// Every value of the header `name` (given in lower case), in the order the request sent
    /// them.
    fn values_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a;

    /// The first value of the header `name` (lower case), if the request has one.
    fn value_of<'a>(&'a self, name: &'a str) -> Option<&'a [u8]> {
        self.values_of(name).next()
    }
}

impl RequestHeaders for HeaderMap {
    fn values_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get_all(name).into_iter().map(|value| value.as_bytes())
    }
}

/// Whether `sent` is `lower` (given in lower case) in any ASCII case: for header names and
/// tokens. A byte loop after the length check: on names this short it measured about a
/// fifth cheaper than std's chunked `eq_ignore_ascii_case`, and a connect makes dozens of
/// these comparisons, most of them of names that differ in length.
pub fn equals_lowercase(sent: &[u8], lower: &str) -> bool {
    debug_assert!(!lower.bytes().any(|b| b.is_ascii_uppercase()), "{lower}");
    sent.len() == lower.len()
        && sent
            .iter()
            .zip(lower.bytes())
            .all(|(s, l)| s.to_ascii_lowercase() == l)
}

/// `value` as text if it is visible ASCII (tabs allowed), as `HeaderValue::to_str` decides:
/// anything else in a header is read as no text at all.
pub fn visible_ascii(value: &[u8]) -> Option<&str> {
    is_visible_ascii(value)
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// Whether `value` is visible ASCII (tabs allowed): [`visible_ascii`] without the text, for
/// callers that compare bytes.
pub fn is_visible_ascii(value: &[u8]) -> bool {
    // Folded without short-circuits, so the check runs many bytes at a time: every connect
    // reads a token header of some hundred bytes this way.
    value.iter().fold(true, |visible, &b| {
        visible & ((b == b'\t') | (0x20..0x7F).contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn a_header_map_gives_every_value_in_order_whatever_the_case() {
        let mut headers = HeaderMap::new();
        headers.append("X-Hop", HeaderValue::from_static("a"));
        headers.append("x-hop", HeaderValue::from_static("b"));
        let values: Vec<_> = headers.values_of("x-hop").collect();
        assert_eq!(values, [b"a".as_slice(), b"b"]);
        assert_eq!(headers.value_of("x-hop"), Some(b"a".as_slice()));
        assert_eq!(headers.value_of("x-none"), None);
    }

    #[test]
    fn equals_lowercase_ignores_only_the_case_of_ascii_letters() {
        assert!(equals_lowercase(b"Sec-WebSocket-Key", "sec-websocket-key"));
        assert!(equals_lowercase(b"", ""));
        assert!(!equals_lowercase(b"upgrades", "upgrade"));
        assert!(!equals_lowercase(b"upgrad", "upgrade"));
        for byte in 0..=u8::MAX {
            let sent = [b'a', byte];
            for lower in ["a-", "ab", "a0", "a~"] {
                assert_eq!(
                    equals_lowercase(&sent, lower),
                    sent.eq_ignore_ascii_case(lower.as_bytes()),
                    "{byte:#x} against {lower}"
                );
            }
        }
    }

    #[test]
    fn visible_ascii_is_what_header_value_to_str_accepts() {
        for byte in 0..=u8::MAX {
            let raw = [b'a', byte];
            let Ok(value) = HeaderValue::from_bytes(&raw) else {
                continue;
            };
            assert_eq!(visible_ascii(&raw), value.to_str().ok(), "byte {byte:#x}");
            assert_eq!(
                is_visible_ascii(&raw),
                value.to_str().is_ok(),
                "byte {byte:#x}"
            );
        }
    }
}
