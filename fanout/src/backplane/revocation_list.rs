//! Users whose older tokens are refused: what `POST /v1/users/{user}/disconnect` with
//! `revoke_tokens` records, and what every process reads to refuse those tokens.

use std::time::Duration;

use async_trait::async_trait;

use super::{BackplaneResult, UserId};

/// The revocation list.
#[async_trait]
pub trait RevocationList: Send + Sync {
    /// Refuse `user`'s tokens issued at or before `before` (seconds since the Unix epoch), for
    /// `keep`: after that every such token has expired anyway. A later `before` replaces an
    /// earlier one, never the other way round.
    async fn revoke(&self, user: &str, before: u64, keep: Duration) -> BackplaneResult<()>;

    /// Every revocation still kept whose `before` is at least `since`, as `(user, before)`:
    /// a process reads all of them at start, then what is new since its last look.
    async fn since(&self, since: u64) -> BackplaneResult<Vec<(UserId, u64)>>;
}
