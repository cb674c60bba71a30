//! This process's copy of the revocation list, so checking a token never waits for Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::backplane::{RevocationList, UserHasher, UserId};
use crate::clock::now_micros;
use crate::drain::Drain;

/// How often the list is read again. A node also hears of a revocation at once in the
/// `disconnect` message that closes the user's sockets; this bounds how long another
/// process (a REST sidecar) may still accept a revoked token.
pub const REVOCATION_POLL: Duration = Duration::from_secs(1);

/// User -> the second at or before which the user's tokens are refused.
#[derive(Debug, Default)]
pub struct RevokedUsers {
    before: DashMap<UserId, u64, UserHasher>,
    /// How many users `before` holds, changed under the shard lock of the entry: every
    /// connect asks, almost always of an empty list, and a lookup takes a shard's lock.
    held: AtomicUsize,
}

impl RevokedUsers {
    /// Refuse `user`'s tokens issued at or before `before` (keeps the later of two).
    pub fn note(&self, user: &str, before: u64) {
        match self.before.entry(user.to_owned()) {
            Entry::Occupied(mut entry) => *entry.get_mut() = (*entry.get()).max(before),
            Entry::Vacant(entry) => {
                // Counted before the entry appears, so a check after this returns finds it.
                self.held.fetch_add(1, Ordering::SeqCst);
                entry.insert(before);
            }
        }
    }

    /// Whether a token of `user` issued at `issued_at` is refused; a token without `iat`
    /// cannot show it came after a revocation, so it is refused too.
    pub fn refuses(&self, user: &str, issued_at: Option<u64>) -> bool {
        self.held.load(Ordering::SeqCst) > 0
            && self
                .before
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
            self.forget_before((now_micros() / 1_000_000).saturating_sub(keep.as_secs()));
        }
    }

    /// Drop the revocations older than `oldest_kept` (a second).
    fn forget_before(&self, oldest_kept: u64) {
        self.before.retain(|_, before| {
            let kept = *before >= oldest_kept;
            if !kept {
                self.held.fetch_sub(1, Ordering::SeqCst);
            }
            kept
        });
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

    #[test]
    fn forgotten_revocations_refuse_nothing_and_new_ones_still_count() {
        let revoked = RevokedUsers::default();
        revoked.note("ann", 100);
        revoked.note("bob", 200);
        revoked.forget_before(150);
        assert!(!revoked.refuses("ann", Some(90)), "forgotten");
        assert!(revoked.refuses("bob", Some(190)), "kept");
        revoked.forget_before(250);
        assert!(!revoked.refuses("bob", Some(190)));
        revoked.note("cat", 300);
        assert!(
            revoked.refuses("cat", Some(290)),
            "noted after the list emptied"
        );
    }
}
