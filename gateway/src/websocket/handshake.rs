//! The HTTP/1.1 upgrade request that opens a WebSocket, checked and answered (RFC 6455 4.2).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, Version, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pushgate_fanout::http::{RequestHeaders, equals_lowercase, is_visible_ascii};
use sha1::{Digest, Sha1};

/// What RFC 6455 appends to the client's key before hashing it into `Sec-WebSocket-Accept`.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The length of `Sec-WebSocket-Accept`: a SHA-1 digest (20 bytes) in padded base64.
const ACCEPT_LEN: usize = 28;

/// Why an upgrade request was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error(
        "not a WebSocket upgrade: send HTTP/1.1 with `Connection: upgrade` and `Upgrade: websocket`"
    )]
    NotUpgrade,
    #[error("unsupported WebSocket version: send `Sec-WebSocket-Version: 13`")]
    Version,
    #[error("`Sec-WebSocket-Key` must be 16 random bytes in base64")]
    Key,
}

/// A valid upgrade request, ready to be answered with `101 Switching Protocols`.
#[derive(Debug)]
pub struct Handshake {
    /// `Sec-WebSocket-Accept`: proves to the client that we understood its key. Base64, so
    /// ASCII; held as bytes so a connect allocates nothing for it.
    accept: [u8; ACCEPT_LEN],
    /// The subprotocol chosen, if the client offered one we speak.
    protocol: Option<&'static str>,
}

/// The comma-separated items of one header value, trimmed. A value that is not visible
/// ASCII gives none, as `HeaderValue::to_str` would refuse it; within one that is, only
/// spaces and tabs can surround an item, so trimming ASCII is enough.
fn items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    is_visible_ascii(value)
        .then(|| value.split(|&b| b == b',').map(<[u8]>::trim_ascii))
        .into_iter()
        .flatten()
}

/// Whether any item of `name` is `token` (given in lower case), whatever the case sent.
fn has_token<H: RequestHeaders + ?Sized>(headers: &H, name: &str, token: &str) -> bool {
    // A value that is the token alone, as nearly every client sends `Upgrade`, is one item
    // equal to it: known by one compare, without the visibility pass and the split.
    headers.values_of(name).any(|value| {
        equals_lowercase(value, token) || items(value).any(|item| equals_lowercase(item, token))
    })
}

/// The first of `protocols` (lower case, preferred first) that the client offers, from one
/// pass over its `Sec-WebSocket-Protocol` items rather than one per protocol we speak.
fn chosen_protocol<H: RequestHeaders + ?Sized>(
    headers: &H,
    protocols: &[&'static str],
) -> Option<&'static str> {
    let position = |item: &[u8]| {
        protocols
            .iter()
            .position(|ours| equals_lowercase(item, ours))
    };
    headers
        .values_of("sec-websocket-protocol")
        // A value that is one of ours alone (the usual offer: one protocol) is that one item.
        .filter_map(|value| position(value).or_else(|| items(value).filter_map(position).min()))
        .min()
        .map(|preferred| protocols[preferred])
}

impl Handshake {
    /// Check an upgrade request; `protocols` are the subprotocols we speak (in lower case),
    /// preferred first.
    pub fn check<H: RequestHeaders + ?Sized>(
        version: Version,
        headers: &H,
        protocols: &[&'static str],
    ) -> Result<Self, HandshakeError> {
        if version != Version::HTTP_11
            || !has_token(headers, "connection", "upgrade")
            || !has_token(headers, "upgrade", "websocket")
        {
            return Err(HandshakeError::NotUpgrade);
        }
        if headers.value_of("sec-websocket-version") != Some(b"13".as_slice()) {
            return Err(HandshakeError::Version);
        }
        let key = headers
            .value_of("sec-websocket-key")
            .ok_or(HandshakeError::Key)?;
        // Room for what 24 base64 characters could hold; a longer key cannot be 16 bytes.
        let mut nonce = [0u8; 18];
        if STANDARD.decode_slice(key, &mut nonce) != Ok(16) {
            return Err(HandshakeError::Key);
        }
        let digest = Sha1::new()
            .chain_update(key)
            .chain_update(ACCEPT_GUID)
            .finalize();
        let mut accept = [0u8; ACCEPT_LEN];
        if STANDARD.encode_slice(digest, &mut accept) != Ok(ACCEPT_LEN) {
            return Err(HandshakeError::Key);
        }
        let protocol = chosen_protocol(headers, protocols);
        Ok(Self { accept, protocol })
    }

    /// The subprotocol chosen, if any.
    pub fn protocol(&self) -> Option<&'static str> {
        self.protocol
    }

    /// The `101 Switching Protocols` answer.
    pub fn response(&self) -> Response<Body> {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_bytes(&self.accept).expect("base64 is a valid header value"),
        );
        if let Some(protocol) = self.protocol {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol),
            );
        }
        response
    }

    /// The same answer as [`Handshake::response`], as the bytes hyper writes for it (header
    /// names in lower case, `date` last), for the early path to send in one write with the
    /// first frames.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\
              sec-websocket-accept: ",
        );
        out.extend_from_slice(&self.accept);
        if let Some(protocol) = self.protocol {
            out.extend_from_slice(b"\r\nsec-websocket-protocol: ");
            out.extend_from_slice(protocol.as_bytes());
        }
        out.extend_from_slice(b"\r\ndate: ");
        write_date(out);
        out.extend_from_slice(b"\r\n\r\n");
    }
}

/// Append the current HTTP date, formatted once per second and thread, as hyper caches its
/// own: formatting it afresh was about a microsecond of every connect.
fn write_date(out: &mut Vec<u8>) {
    thread_local! {
        /// The second last formatted (Unix time) and its text.
        static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    DATE.with_borrow_mut(|(formatted_at, text)| {
        if *formatted_at != second || text.is_empty() {
            text.clear();
            // Writing to a `String` cannot fail.
            let _ = write!(text, "{}", httpdate::HttpDate::from(now));
            *formatted_at = second;
        }
        out.extend_from_slice(text.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn request(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name, HeaderValue::from_static(value));
        }
        headers
    }

    fn valid() -> Vec<(header::HeaderName, &'static str)> {
        vec![
            (header::CONNECTION, "keep-alive, Upgrade"),
            (header::UPGRADE, "WebSocket"),
            (header::SEC_WEBSOCKET_VERSION, "13"),
            (header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ=="),
        ]
    }

    #[test]
    fn answers_the_rfc_example() {
        let handshake = Handshake::check(Version::HTTP_11, &request(&valid()), &[]).unwrap();
        let response = handshake.response();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn the_written_answer_is_the_response_as_hyper_writes_it() {
        let mut pairs = valid();
        pairs.push((header::SEC_WEBSOCKET_PROTOCOL, "a.v1"));
        let handshake = Handshake::check(Version::HTTP_11, &request(&pairs), &["a.v1"]).unwrap();
        let mut written = Vec::new();
        handshake.write_response(&mut written);
        let written = String::from_utf8(written).expect("ASCII");
        let (head, date) = written.split_once("date: ").expect("has a date");
        assert!(httpdate::parse_http_date(date.trim_end()).is_ok(), "{date}");
        assert!(date.ends_with("GMT\r\n\r\n"), "{date}");
        let response = handshake.response();
        let mut expected = String::from("HTTP/1.1 101 Switching Protocols\r\n");
        for (name, value) in response.headers() {
            expected += &format!("{name}: {}\r\n", value.to_str().expect("ASCII"));
        }
        assert_eq!(head, expected);
    }

    proptest::proptest! {
        /// The accept value is tungstenite's for every key, and a key is taken exactly when it
        /// decodes to 16 bytes.
        #[test]
        fn accepts_keys_as_a_full_decode_would_and_answers_as_tungstenite(
            nonce in proptest::collection::vec(proptest::num::u8::ANY, 0..24),
            noise in "[A-Za-z0-9+/=]{0,40}",
        ) {
            for key in [STANDARD.encode(&nonce), noise] {
                let mut headers = request(&valid());
                headers.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_str(&key).unwrap());
                let checked = Handshake::check(Version::HTTP_11, &headers, &[]);
                let sixteen = STANDARD.decode(&key).is_ok_and(|bytes| bytes.len() == 16);
                proptest::prop_assert_eq!(checked.is_ok(), sixteen, "{}", key);
                if let Ok(handshake) = checked {
                    let expected =
                        tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
                    proptest::prop_assert_eq!(&handshake.accept[..], expected.as_bytes());
                }
            }
        }
    }

    #[test]
    fn picks_our_preferred_protocol_among_those_offered() {
        let pick = |pairs: &[(header::HeaderName, &'static str)], ours: &[&'static str]| {
            Handshake::check(Version::HTTP_11, &request(pairs), ours)
                .unwrap()
                .protocol()
        };
        let mut pairs = valid();
        pairs.push((header::SEC_WEBSOCKET_PROTOCOL, "b.v1, a.v1"));
        assert_eq!(pick(&pairs, &["a.v1", "b.v1"]), Some("a.v1"));
        assert_eq!(pick(&pairs, &["b.v1", "a.v1"]), Some("b.v1"));
        assert_eq!(pick(&pairs, &["c.v1"]), None);
        pairs.push((header::SEC_WEBSOCKET_PROTOCOL, "C.V1"));
        assert_eq!(
            pick(&pairs, &["c.v1", "a.v1"]),
            Some("c.v1"),
            "from a second header line, in any case"
        );
        assert_eq!(pick(&pairs, &["d.v1", "b.v1", "c.v1"]), Some("b.v1"));
    }

    #[test]
    fn finds_a_token_in_comma_lists_as_rfc_9110_writes_them() {
        let has = |values: &[&[u8]]| {
            let mut headers = HeaderMap::new();
            for value in values {
                let value = HeaderValue::from_bytes(value).expect("a value hyper takes");
                headers.append(header::CONNECTION, value);
            }
            has_token(&headers, "connection", "upgrade")
        };
        assert!(has(&[b"Upgrade"]));
        assert!(
            has(&[b"keep-alive,\tUPGRADE ,close"]),
            "tabs, spaces, any case"
        );
        assert!(
            has(&[b"keep-alive", b" upgrade"]),
            "in a second header line"
        );
        assert!(has(&[b",,upgrade,"]), "empty items");
        assert!(!has(&[b"upgrades, keep-alive"]), "a longer word");
        assert!(!has(&[b"up grade"]));
        assert!(!has(&[b"upgrade\xE9"]), "not a word of ours");
        assert!(
            !has(&[b"upgrade, caf\xE9"]),
            "a value that is not visible ASCII counts for nothing"
        );
        assert!(
            has(&[b"caf\xE9", b"upgrade"]),
            "the next value still counts"
        );
    }

    #[test]
    fn refuses_what_is_not_a_websocket_upgrade() {
        let without = |name: header::HeaderName| {
            let pairs: Vec<_> = valid().into_iter().filter(|(n, _)| *n != name).collect();
            Handshake::check(Version::HTTP_11, &request(&pairs), &[]).unwrap_err()
        };
        assert_eq!(without(header::CONNECTION), HandshakeError::NotUpgrade);
        assert_eq!(without(header::UPGRADE), HandshakeError::NotUpgrade);
        assert_eq!(
            without(header::SEC_WEBSOCKET_VERSION),
            HandshakeError::Version
        );
        assert_eq!(without(header::SEC_WEBSOCKET_KEY), HandshakeError::Key);
        let mut short_key = valid();
        short_key[3].1 = "c2hvcnQ=";
        let refused = Handshake::check(Version::HTTP_11, &request(&short_key), &[]);
        assert_eq!(refused.unwrap_err(), HandshakeError::Key);
        let http10 = Handshake::check(Version::HTTP_10, &request(&valid()), &[]);
        assert_eq!(http10.unwrap_err(), HandshakeError::NotUpgrade);
    }
}
