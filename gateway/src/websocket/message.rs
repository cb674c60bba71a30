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

/// A close frame's status code and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}
