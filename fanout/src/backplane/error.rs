//! Why a backplane call failed, in terms a caller can act on.

use pushgate_protocol::ErrorCode;

/// A backplane failure. Messages are for logs; clients see only [`BackplaneError::code`].
#[derive(Debug, thiserror::Error)]
pub enum BackplaneError {
    /// The store cannot be reached or refused the call; retry later.
    #[error("backplane unavailable: {0}")]
    Unavailable(#[from] Unavailable),
    /// A bounded queue is full; the caller sheds load rather than growing memory.
    #[error("backplane queue full: {0}")]
    Full(&'static str),
    /// The call conflicts with stored state (e.g. an idempotency key reused with another body).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be decoded: a bug or a foreign writer.
    #[error("corrupt backplane data: {0}")]
    Corrupt(String),
}

/// Why the store could not serve a call: typed, so a caller that handles one cause (a lost
/// consumer group, a node without an inbox) matches on it instead of on a message.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// Redis failed the call: unreachable, timed out, or an error reply (see its `code()`).
    #[error(transparent)]
    Redis(::redis::RedisError),
    /// No server took the pub/sub subscription.
    #[error("no redis node to subscribe on")]
    NoSubscriber,
    /// Nobody listens on the node's inbox: the node is gone or not yet up.
    #[error("node {0} has no inbox")]
    NoInbox(String),
    /// The node's inbox was dropped while a message was on its way.
    #[error("node {0} inbox closed")]
    InboxClosed(String),
    /// A thread panicked holding the node bus's lock.
    #[error("node bus lock poisoned")]
    Poisoned,
}

impl BackplaneError {
    /// The client-facing error this failure maps to.
    pub fn code(&self) -> ErrorCode {
        match self {
            BackplaneError::Unavailable(_) | BackplaneError::Full(_) => ErrorCode::Unavailable,
            BackplaneError::Conflict(_) => ErrorCode::Conflict,
            BackplaneError::Corrupt(_) => ErrorCode::Internal,
        }
    }
}
