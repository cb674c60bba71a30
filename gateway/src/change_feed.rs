//! Users whose connection count on this node changed: recorded once, taken by each reader.

use dashmap::DashMap;
use pushgate_fanout::backplane::UserId;
use tokio::sync::Notify;

/// Who reads the change feed, each at its own pace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// The node heartbeat, which publishes presence every membership interval.
    Presence,
    /// The relay announcer, which tells other home nodes about sockets held here at once.
    Relay,
}

impl Reader {
    fn bit(self) -> u8 {
        match self {
            Reader::Presence => 1,
            Reader::Relay => 2,
        }
    }
}

/// Every reader's bit.
const EVERY_READER: u8 = 1 | 2;

/// One record per changed user, whatever the connect rate, so it is bounded by the number of
/// users; each user's entry says which readers have not taken its latest change yet.
///
/// One feed rather than a set per reader: a connect or a close is one event, and two sets
/// written side by side (the registry's and the relay's) could only drift apart.
#[derive(Debug, Default)]
pub struct ChangeFeed {
    /// user -> the readers still to take its change (bits of [`Reader`]).
    pending: DashMap<UserId, u8>,
    /// Wakes the relay announcer; the presence heartbeat reads on its own interval.
    relay_wake: Notify,
}

impl ChangeFeed {
    /// `user`'s count changed: every reader is to hear of it.
    pub fn record(&self, user: &str) {
        *self.pending.entry(user.to_owned()).or_insert(0) |= EVERY_READER;
        self.relay_wake.notify_one();
    }

    /// Give `reader` these users again (a publish of them failed, or the store lost them).
    pub fn again(&self, reader: Reader, users: impl IntoIterator<Item = UserId>) {
        for user in users {
            *self.pending.entry(user).or_insert(0) |= reader.bit();
        }
    }

    /// The users changed since `reader` last took them.
    pub fn take(&self, reader: Reader) -> Vec<UserId> {
        let bit = reader.bit();
        let candidates: Vec<UserId> = self
            .pending
            .iter()
            .filter(|entry| entry.value() & bit != 0)
            .map(|entry| entry.key().clone())
            .collect();
        candidates
            .into_iter()
            .filter(|user| {
                let Some(mut readers) = self.pending.get_mut(user) else {
                    return false;
                };
                let taken = *readers & bit != 0;
                *readers &= !bit;
                drop(readers);
                // Checked again under the shard lock: a change recorded meanwhile stays.
                self.pending.remove_if(user, |_, readers| *readers == 0);
                taken
            })
            .collect()
    }

    /// Resolves once a change was recorded since the relay last woke.
    pub async fn relay_notified(&self) {
        self.relay_wake.notified().await;
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
    fn each_reader_takes_every_change_once_at_its_own_pace() {
        let feed = ChangeFeed::default();
        feed.record("a");
        feed.record("b");
        feed.record("a");
        assert_eq!(sorted(feed.take(Reader::Relay)), ["a", "b"]);
        assert!(feed.take(Reader::Relay).is_empty());
        feed.record("c");
        assert_eq!(sorted(feed.take(Reader::Presence)), ["a", "b", "c"]);
        assert_eq!(feed.take(Reader::Relay), ["c"]);
        assert!(
            feed.pending.is_empty(),
            "entries go once every reader took them"
        );
    }

    #[test]
    fn again_gives_one_reader_users_back_without_the_other() {
        let feed = ChangeFeed::default();
        feed.record("a");
        assert_eq!(feed.take(Reader::Presence), ["a"]);
        assert_eq!(feed.take(Reader::Relay), ["a"]);
        feed.again(Reader::Presence, ["a".to_owned()]);
        assert!(feed.take(Reader::Relay).is_empty());
        assert_eq!(feed.take(Reader::Presence), ["a"]);
    }

    #[tokio::test]
    async fn a_record_wakes_the_relay() {
        let feed = ChangeFeed::default();
        feed.record("a");
        tokio::time::timeout(std::time::Duration::from_secs(5), feed.relay_notified())
            .await
            .expect("woken");
    }
}
