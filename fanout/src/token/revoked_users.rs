//! This process's copy of the revocation list, so checking a token never waits for Redis.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use crate::backplane::{RevocationList, UserId};
use crate::clock::now_micros;
use crate::drain::Drain;

/// How often the list is read again. A node also hears of a revocation at once in the
/// `disconnect` message that closes the user's sockets; this bounds how long another
/// process (a REST sidecar) may still accept a revoked token.
pub const REVOCATION_POLL: Duration = Duration::from_secs(1);

/// User -> the second at or before which the user's tokens are refused.
#[derive(Debug, Default)]
pub struct RevokedUsers {
    before: DashMap<UserId, u64>,
}

impl RevokedUsers {
    /// Refuse `user`'s tokens issued at or before `before` (keeps the later of two).
    pub fn note(&self, user: &str, before: u64) {
        let mut entry = self.before.entry(user.to_owned()).or_insert(before);
        *entry = (*entry).max(before);
    }

    /// Whether a token of `user` issued at `issued_at` is refused; a token without `iat`
    /// cannot show it came after a revocation, so it is refused too.
    pub fn refuses(&self, user: &str, issued_at: Option<u64>) -> bool {
        self.before
            .get(user)
            .is_some_and(|before| issued_at.is_none_or(|iat| iat <= *before))
    }

    /// Read what is new in the list since `since` (0: all of it); returns where the next
    /// read starts. A failed read is logged and retried from the same place next time.
    pub async fn catch_up(&self, list: &dyn RevocationList, since: u64) -> u64 {
        match list.since(since).await {
            // Inclusive: a revocation in the same second as the last one is read again,
            // which is harmless, rather than missed.
            Ok(entries) => entries.into_iter().fold(since, |since, (user, before)| {
                self.note(&user, before);
                since.max(before)
            }),
            Err(error) => {
                tracing::warn!(%error, "revocation list read failed; retrying");
                since
            }
        }
    }

    /// Read what is new every [`REVOCATION_POLL`] after `since`, until drain; entries older
    /// than `keep` are dropped here as the list drops them.
    pub async fn follow(
        self: Arc<Self>,
        list: Arc<dyn RevocationList>,
        mut since: u64,
        keep: Duration,
        drain: Drain,
    ) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(REVOCATION_POLL) => {}
                () = drain.cancelled() => return,
            }
            since = self.catch_up(list.as_ref(), since).await;
            let oldest_kept = (now_micros() / 1_000_000).saturating_sub(keep.as_secs());
            self.before.retain(|_, before| *before >= oldest_kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_at_or_before_the_revocation_are_refused() {
        let revoked = RevokedUsers::default();
        assert!(!revoked.refuses("ann", Some(10)));
        revoked.note("ann", 100);
        revoked.note("ann", 50);
        assert!(
            revoked.refuses("ann", Some(100)),
            "the same second is refused"
        );
        assert!(
            revoked.refuses("ann", Some(60)),
            "the later revocation stands"
        );
        assert!(revoked.refuses("ann", None), "no iat, no proof");
        assert!(!revoked.refuses("ann", Some(101)));
        assert!(!revoked.refuses("bob", None));
    }
}
