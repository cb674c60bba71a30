//! The messages a WebSocket carries once frames are reassembled.

/// One WebSocket message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A UTF-8 text message (JSON connections).
    Text(String),
    /// A binary message (MessagePack connections).
    Binary(Vec<u8>),
    /// A ping; the socket answers it by itself.
    Ping(Vec<u8>),
    /// A pong answering our ping.
    Pong(Vec<u8>),
    /// The closing handshake, with the status code and reason if one was given.
    Close(Option<CloseFrame>),
}

/// Which data message a [`SendData`] write makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Text: the parts must be UTF-8 together (a JSON encoder's output is).
    Text,
    /// Binary.
    Binary,
}

/// A message sink that also takes a data message as borrowed slices, written straight into
/// its buffer. The push path uses it for frames shared by many sockets: no owned copy per
/// socket, and no second UTF-8 check of what the JSON encoder made, which
/// [`Message::Text`]'s `String` would need.
pub trait SendData {
    /// Queue one data message made of `parts`, one after the other (flushed like any message).
    fn start_send_data(
        self: std::pin::Pin<&mut Self>,
        kind: DataKind,
        parts: &[&[u8]],
    ) -> Result<(), super::WebSocketError>;
}

/// A close frame's status code and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

/// Whether `code` may appear in a close frame on the wire (RFC 6455 7.4, IANA registry).
///
/// 1000-1003 and 1007-1014 are the defined codes; 1004 is reserved, and 1005, 1006 and 1015
/// only report locally that no code came, that the connection dropped, or that TLS failed.
/// 3000-3999 are registered for libraries and 4000-4999 private; everything else is not a
/// close code. A received close with any other code fails the connection (1002), and a close
/// sent with one goes out without a code.
pub fn close_code_is_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_follow_the_registry() {
        for valid in [
            1000, 1001, 1002, 1003, 1007, 1008, 1011, 1014, 3000, 3999, 4000, 4999,
        ] {
            assert!(close_code_is_valid(valid), "{valid}");
        }
        for invalid in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!close_code_is_valid(invalid), "{invalid}");
        }
    }
}
