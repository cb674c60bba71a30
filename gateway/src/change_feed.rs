//! Users whose connection count on this node changed: recorded once per reader, taken by each
//! reader at its own pace.

use std::sync::{Mutex, MutexGuard};

use hashbrown::HashSet;

use pushgate_fanout::backplane::{UserHasher, UserId};
use tokio::sync::Notify;

/// Who reads the change feed, each at its own pace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// The node heartbeat, which publishes presence every membership interval.
    Presence,
    /// The relay announcer, which tells other home nodes about sockets held here at once.
    Relay,
}

/// The changed users each reader has still to take; each set is bounded by the number of
/// users, whatever the connect rate.
///
/// A set per reader rather than one map with a bit per reader: the relay takes every few
/// milliseconds during a connect storm and the heartbeat every few seconds, and with one map
/// each relay take walked every entry the heartbeat had not taken yet, a cost per connect
/// that grew with the storm. Taking a set is one swap under its lock.
///
/// hashbrown's set rather than std's for `get_or_insert_with`: a user new to the set (every
/// first connect) is hashed and looked up once, where `contains` then `insert` did it twice.
#[derive(Debug, Default)]
pub struct ChangeFeed {
    /// Users whose presence the heartbeat has to publish.
    presence: Mutex<HashSet<UserId, UserHasher>>,
    /// Users homed on another node whose home the relay announcer has to tell.
    relay: Mutex<HashSet<UserId, UserHasher>>,
    /// Wakes the relay announcer; the presence heartbeat reads on its own interval.
    relay_wake: Notify,
}

impl ChangeFeed {
    /// `user`'s count changed: `reader` is to hear of it.
    pub fn record(&self, reader: Reader, user: &str) {
        self.pending(reader).get_or_insert_with(user, str::to_owned);
        if reader == Reader::Relay {
            self.relay_wake.notify_one();
        }
    }

    /// Give `reader` these users again (a publish of them failed, or the store lost them).
    pub fn again(&self, reader: Reader, users: impl IntoIterator<Item = UserId>) {
        self.pending(reader).extend(users);
    }

    /// The users changed since `reader` last took them.
    pub fn take(&self, reader: Reader) -> Vec<UserId> {
        // The next set starts as large as this one: an empty one grew by doubling through
        // every connect storm, and each growth hashed every user again, a read of each ID's
        // string from memory (about one per connect). Made outside the lock, which `record`
        // waits for.
        let expected = self.pending(reader).len();
        let next = HashSet::with_capacity_and_hasher(expected, UserHasher::default());
        let taken = std::mem::replace(&mut *self.pending(reader), next);
        taken.into_iter().collect()
    }

    /// Resolves once a change was recorded for the relay since it last woke.
    pub async fn relay_notified(&self) {
        self.relay_wake.notified().await;
    }

    /// `reader`'s set, locked.
    fn pending(&self, reader: Reader) -> MutexGuard<'_, HashSet<UserId, UserHasher>> {
        match reader {
            Reader::Presence => &self.presence,
            Reader::Relay => &self.relay,
        }
        .lock()
        .expect("change feed lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut users: Vec<UserId>) -> Vec<UserId> {
        users.sort();
        users
    }

    #[test]
    fn each_reader_takes_its_changes_once_at_its_own_pace() {
        let feed = ChangeFeed::default();
        feed.record(Reader::Presence, "a");
        feed.record(Reader::Relay, "a");
        feed.record(Reader::Presence, "b");
        feed.record(Reader::Presence, "a");
        assert_eq!(feed.take(Reader::Relay), ["a"]);
        assert!(feed.take(Reader::Relay).is_empty());
        feed.record(Reader::Presence, "c");
        assert_eq!(sorted(feed.take(Reader::Presence)), ["a", "b", "c"]);
        assert!(feed.take(Reader::Presence).is_empty());
    }

    #[test]
    fn again_gives_one_reader_users_back_without_the_other() {
        let feed = ChangeFeed::default();
        feed.record(Reader::Presence, "a");
        assert_eq!(feed.take(Reader::Presence), ["a"]);
        feed.again(Reader::Presence, ["a".to_owned()]);
        assert!(feed.take(Reader::Relay).is_empty());
        assert_eq!(feed.take(Reader::Presence), ["a"]);
    }

    #[test]
    fn a_taken_set_is_followed_by_one_as_large_and_a_quiet_one_by_none() {
        let feed = ChangeFeed::default();
        let capacity = |feed: &ChangeFeed| feed.pending(Reader::Presence).capacity();
        for user in 0..1000 {
            feed.record(Reader::Presence, &user.to_string());
        }
        assert_eq!(feed.take(Reader::Presence).len(), 1000);
        assert!(capacity(&feed) >= 1000, "{}", capacity(&feed));
        // Nothing changed in the next interval: the one after holds no room for anyone.
        assert!(feed.take(Reader::Presence).is_empty());
        assert_eq!(capacity(&feed), 0);
    }

    #[tokio::test]
    async fn a_relay_record_wakes_the_relay() {
        let feed = ChangeFeed::default();
        feed.record(Reader::Relay, "a");
        tokio::time::timeout(std::time::Duration::from_secs(5), feed.relay_notified())
            .await
            .expect("woken");
    }
}
