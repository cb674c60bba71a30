//! Which local users follow a celebrity, kept while neither the follows nor the node change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pushgate_fanout::backplane::UserId;

/// Celebrity authors whose local followers are remembered at once. Broadcast authors are few
/// by design (only those above the celebrity threshold); past this the least recently used
/// entry goes, so memory stays bounded by this many lists of local users.
const CAPACITY: usize = 64;

/// The result of the last follower check per celebrity author.
///
/// Without it every broadcast sent all of the node's user IDs to the follow graph and parsed a
/// reply per user, whoever followed: with 500 local users and 400 broadcasts a second that was
/// a fifth of the gateway's CPU. An entry is valid for one pair of stamps: the author's
/// followers revision (changed by every follow and unfollow) and the registry generation
/// (changed by every connect and disconnect), both read before the check it caches.
#[derive(Debug, Default)]
pub struct FollowerCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_author: HashMap<UserId, Entry>,
    /// A logical clock for least-recently-used eviction.
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    /// The author's followers revision when the check ran.
    revision: u64,
    /// The registry generation when the check ran.
    generation: u64,
    /// Local users who followed the author then.
    followers: Arc<[UserId]>,
    /// When this entry was last used, on `Entries::clock`.
    used: u64,
}

impl FollowerCache {
    /// The local followers of `author` if they were checked at exactly these stamps.
    pub fn get(&self, author: &str, revision: u64, generation: u64) -> Option<Arc<[UserId]>> {
        let mut entries = self.entries.lock().expect("follower cache lock");
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.by_author.get_mut(author)?;
        if entry.revision != revision || entry.generation != generation {
            return None;
        }
        entry.used = now;
        Some(entry.followers.clone())
    }

    /// Remember the local followers of `author` checked at these stamps.
    pub fn put(&self, author: &str, revision: u64, generation: u64, followers: Arc<[UserId]>) {
        let mut entries = self.entries.lock().expect("follower cache lock");
        entries.clock += 1;
        let used = entries.clock;
        if entries.by_author.len() >= CAPACITY && !entries.by_author.contains_key(author) {
            let oldest = entries
                .by_author
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(author, _)| author.clone());
            if let Some(oldest) = oldest {
                entries.by_author.remove(&oldest);
            }
        }
        entries.by_author.insert(
            author.to_owned(),
            Entry {
                revision,
                generation,
                followers,
                used,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(users: &[&str]) -> Arc<[UserId]> {
        users.iter().map(|u| (*u).to_owned()).collect()
    }

    #[test]
    fn hits_only_at_the_same_revision_and_generation() {
        let cache = FollowerCache::default();
        cache.put("star", 7, 3, list(&["a", "b"]));
        assert_eq!(
            cache.get("star", 7, 3).as_deref(),
            Some(&list(&["a", "b"])[..])
        );
        assert!(
            cache.get("star", 8, 3).is_none(),
            "a follow changed the revision"
        );
        assert!(
            cache.get("star", 7, 4).is_none(),
            "a connection came or went"
        );
        assert!(cache.get("other", 7, 3).is_none());
    }

    #[test]
    fn stays_bounded_and_evicts_the_least_recently_used() {
        let cache = FollowerCache::default();
        for i in 0..CAPACITY {
            cache.put(&format!("author{i}"), 1, 1, list(&["u"]));
        }
        assert!(
            cache.get("author0", 1, 1).is_some(),
            "author0 is now the most recent"
        );
        cache.put("newcomer", 1, 1, list(&["u"]));
        let entries = cache.entries.lock().expect("lock");
        assert_eq!(entries.by_author.len(), CAPACITY);
        assert!(entries.by_author.contains_key("author0"));
        assert!(
            !entries.by_author.contains_key("author1"),
            "the oldest went"
        );
    }
}
