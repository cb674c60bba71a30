//! Every error a client can see, with its WebSocket close code and HTTP status.

use serde::{Deserialize, Serialize};

/// The one list of errors the outside world sees.
///
/// Error frames, close frames and HTTP problem responses all come from this enum, so a code
/// means the same thing on every surface, and internal details never reach a client: only the
/// code and a short human message do. PROTOCOL.md lists every code with what a client does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Bytes that are not JSON / MessagePack, or not an object with a string `type`.
    BadFrame,
    /// A frame whose `type` this protocol version does not define.
    UnknownType,
    /// A known frame or request body with a missing or wrongly typed field.
    InvalidField,
    /// A frame or body over the size limit.
    TooLarge,
    /// Too many frames or requests in a short time.
    RateLimited,
    /// The connection sent too many bad frames and is closed.
    TooManyErrors,
    /// The user already holds as many sockets on this node as it may; retrying does not help
    /// until one of them closes.
    TooManyConnections,
    /// A documented per-user bound is reached (e.g. the follow list is full); the request
    /// succeeds only after the user removes something.
    LimitReached,
    /// No token, a token that does not verify, or a token for another user on `refresh`.
    Unauthorized,
    /// The token expired and no valid `refresh` arrived in time.
    TokenExpired,
    /// The caller is known but may not do this.
    Forbidden,
    /// The resource does not exist, or the caller may not know that it exists.
    NotFound,
    /// The request conflicts with current state (e.g. idempotency key reused with another body).
    Conflict,
    /// The client stopped reading and its queue stayed full past the grace period.
    SlowConsumer,
    /// No frame arrived within the idle timeout.
    HeartbeatTimeout,
    /// The node is draining; the client should reconnect where `reconnect` says.
    Draining,
    /// A dependency (e.g. the backplane) is down; retry with backoff.
    Unavailable,
    /// A WebSocket upgrade or frame that breaks RFC 6455: missing upgrade headers, an
    /// unmasked or malformed frame, an invalid close code.
    ProtocolError,
    /// A WebSocket text message or close reason that is not UTF-8 (RFC 6455 8.1).
    InvalidUtf8,
    /// A bug or unexpected failure on the server; details are only in server logs.
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::BadFrame,
        ErrorCode::UnknownType,
        ErrorCode::InvalidField,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::TooManyErrors,
        ErrorCode::TooManyConnections,
        ErrorCode::LimitReached,
        ErrorCode::Unauthorized,
        ErrorCode::TokenExpired,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::SlowConsumer,
        ErrorCode::HeartbeatTimeout,
        ErrorCode::Draining,
        ErrorCode::Unavailable,
        ErrorCode::ProtocolError,
        ErrorCode::InvalidUtf8,
        ErrorCode::Internal,
    ];

    /// The snake_case name used in error frames and problem JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManyErrors => "too_many_errors",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::LimitReached => "limit_reached",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::SlowConsumer => "slow_consumer",
            ErrorCode::HeartbeatTimeout => "heartbeat_timeout",
            ErrorCode::Draining => "draining",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::ProtocolError => "protocol_error",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status of a problem response carrying this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadFrame
            | ErrorCode::UnknownType
            | ErrorCode::InvalidField
            | ErrorCode::ProtocolError
            | ErrorCode::InvalidUtf8 => 400,
            ErrorCode::Unauthorized | ErrorCode::TokenExpired => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict | ErrorCode::LimitReached => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::RateLimited | ErrorCode::TooManyErrors | ErrorCode::TooManyConnections => {
                429
            }
            ErrorCode::SlowConsumer | ErrorCode::HeartbeatTimeout => 408,
            ErrorCode::Draining | ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The WebSocket close code used when this error ends a connection.
    ///
    /// Standard codes where one fits (1007 not UTF-8, 1009 too big, 1011 internal, 1012
    /// restart), the 4000 range (application-defined by RFC 6455) for the rest.
    pub fn close_code(self) -> u16 {
        match self {
            ErrorCode::ProtocolError => 1002,
            ErrorCode::InvalidUtf8 => 1007,
            ErrorCode::TooLarge => 1009,
            ErrorCode::Internal => 1011,
            ErrorCode::Draining => 1012,
            ErrorCode::Unavailable => 1013,
            ErrorCode::Unauthorized => 4001,
            ErrorCode::TokenExpired => 4002,
            ErrorCode::TooManyErrors => 4003,
            ErrorCode::SlowConsumer => 4004,
            ErrorCode::HeartbeatTimeout => 4005,
            ErrorCode::RateLimited => 4006,
            ErrorCode::BadFrame
            | ErrorCode::UnknownType
            | ErrorCode::InvalidField
            | ErrorCode::Forbidden
            | ErrorCode::NotFound
            | ErrorCode::Conflict
            | ErrorCode::TooManyConnections
            | ErrorCode::LimitReached => 1008,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_name_matches_as_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).expect("serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn close_codes_are_valid_and_distinct_outside_policy() {
        let mut seen = std::collections::HashMap::new();
        for code in ErrorCode::ALL {
            let close = code.close_code();
            assert!(
                close == 1008
                    || close == 1002
                    || close == 1007
                    || (1009..=1013).contains(&close)
                    || (4000..5000).contains(&close)
            );
            if close != 1008 {
                assert!(seen.insert(close, code).is_none(), "{close} used twice");
            }
        }
    }
}
