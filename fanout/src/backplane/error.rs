//! Why a backplane call failed, in terms a caller can act on.

use pushgate_protocol::ErrorCode;

/// A backplane failure. Messages are for logs; clients see only [`BackplaneError::code`].
#[derive(Debug, thiserror::Error)]
pub enum BackplaneError {
    /// The store cannot be reached or refused the call; retry later.
    #[error("backplane unavailable: {0}")]
    Unavailable(String),
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
