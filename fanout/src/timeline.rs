//! A user's merged feed: own feed entries plus followed celebrities' broadcasts.

use pushgate_protocol::{Cursor, FeedItem};

use crate::backplane::{Backplane, BackplaneResult, FeedSlice};
use crate::friend_check::FriendCheck;

/// One item of a merged feed and the cursor right after it.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineItem {
    pub item: FeedItem,
    pub cursor: Cursor,
}

/// What came after a cursor, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct CatchUp {
    /// Items, each with the cursor a client stores after it.
    pub items: Vec<TimelineItem>,
    /// The cursor after the last entry read, hidden friends-only posts included (the asked
    /// cursor when there were none): where the next call starts.
    pub cursor: Cursor,
    /// False when the feed no longer holds everything after the asked cursor.
    pub complete: bool,
    /// Whether more items may follow (the page was full).
    pub more: bool,
}

/// A page of the merged feed, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub items: Vec<FeedItem>,
    /// Pass as `before` for the next older page; `None` when this page reached the end.
    pub next: Option<Cursor>,
}

/// Reads merged feeds for one user, hiding friends-only posts of authors who are not the
/// user's friends at the time of the read.
#[derive(Clone, Debug)]
pub struct Timeline {
    backplane: Backplane,
}

impl Timeline {
    /// Reads over `backplane`.
    pub fn new(backplane: Backplane) -> Self {
        Self { backplane }
    }

    /// The head cursor: where a fresh client starts.
    pub async fn head(&self, user: &str) -> BackplaneResult<Cursor> {
        // Both at once: on Redis, one round trip of every connect instead of two.
        let (feed, broadcast) = futures_util::try_join!(
            self.backplane.feeds.head(user),
            self.backplane.broadcasts.head()
        )?;
        Ok(Cursor::new(feed, broadcast))
    }

    /// Up to `limit` items after `after`, oldest first.
    ///
    /// Both sources are read in their own order and merged by creation time; the cursor after
    /// each item advances only the component of the source it came from, so every returned
    /// cursor is a prefix of both sources and resuming from it can neither skip nor repeat.
    pub async fn since(&self, user: &str, after: Cursor, limit: usize) -> BackplaneResult<CatchUp> {
        let authors = self.backplane.follows.following(user).await?;
        let feed = self.backplane.feeds.since(user, after.feed, limit).await?;
        let broadcasts = self
            .backplane
            .broadcasts
            .since(&authors, after.broadcast, limit)
            .await?;
        let full = feed.entries.len() == limit || broadcasts.entries.len() == limit;
        let own = feed.entries.into_iter().map(|e| (e.seq, e.item));
        let celebrity = broadcasts.entries.into_iter().map(|e| (e.seq, e.item));
        let (merged, leftover) = merge(own, celebrity, limit, |own, celebrity| own <= celebrity);
        let check = self.check(user, &merged).await?;
        let mut cursor = after;
        let mut items = Vec::with_capacity(merged.len());
        for (source, seq, item) in merged {
            match source {
                Source::Own => cursor.feed = seq,
                Source::Celebrity => cursor.broadcast = seq,
            }
            if check.shows(&item) {
                items.push(TimelineItem { item, cursor });
            }
        }
        Ok(CatchUp {
            more: full || leftover,
            items,
            cursor,
            complete: feed.complete && broadcasts.complete,
        })
    }

    /// Up to `limit` items before `before` (`None` = newest), newest first.
    pub async fn before(
        &self,
        user: &str,
        before: Option<Cursor>,
        limit: usize,
    ) -> BackplaneResult<Page> {
        let authors = self.backplane.follows.following(user).await?;
        let own = self
            .backplane
            .feeds
            .before(user, before.map(|c| c.feed), limit)
            .await?;
        // Both backplanes answer an empty author list without a round trip.
        let celebrity = self
            .backplane
            .broadcasts
            .before(&authors, before.map(|c| c.broadcast), limit)
            .await?;
        let own = own.into_iter().map(|e| (e.seq, e.item));
        let celebrity = celebrity.into_iter().map(|e| (e.seq, e.item));
        let (merged, _) = merge(own, celebrity, limit, |own, celebrity| own >= celebrity);
        let check = self.check(user, &merged).await?;
        // A page whose friends-only posts were all hidden still has a next page when full.
        let exhausted = merged.len() < limit;
        let mut next = before.unwrap_or(Cursor::new(u64::MAX, u64::MAX));
        let mut items = Vec::with_capacity(merged.len());
        for (source, seq, item) in merged {
            match source {
                Source::Own => next.feed = seq,
                Source::Celebrity => next.broadcast = seq,
            }
            if check.shows(&item) {
                items.push(item);
            }
        }
        Ok(Page {
            items,
            next: (!exhausted).then_some(next),
        })
    }

    /// Entries of the user's own feed after position `after`, oldest first, at most `limit`
    /// read (fewer returned when friends-only posts are hidden): a connection's gap fill.
    pub async fn own_since(
        &self,
        user: &str,
        after: u64,
        limit: usize,
    ) -> BackplaneResult<FeedSlice> {
        let mut slice = self.backplane.feeds.since(user, after, limit).await?;
        let authors = FriendCheck::authors(slice.entries.iter().map(|e| &e.item));
        let check = FriendCheck::ask(self.backplane.follows.as_ref(), user, authors).await?;
        slice.entries.retain(|e| check.shows(&e.item));
        Ok(slice)
    }

    /// What `user` may see of `merged`, asked once for all its friends-only posts' authors.
    async fn check(
        &self,
        user: &str,
        merged: &[(Source, u64, FeedItem)],
    ) -> BackplaneResult<FriendCheck> {
        let authors = FriendCheck::authors(merged.iter().map(|(_, _, item)| item));
        FriendCheck::ask(self.backplane.follows.as_ref(), user, authors).await
    }
}

/// Which source a merged item came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Own,
    Celebrity,
}

/// Merge two (position, item) sequences by item time, keeping each one's own order, up to
/// `limit` items; `own_first(own_ts, celebrity_ts)` picks the direction. Also says whether
/// anything was left over.
fn merge(
    own: impl Iterator<Item = (u64, FeedItem)>,
    celebrity: impl Iterator<Item = (u64, FeedItem)>,
    limit: usize,
    own_first: impl Fn(u64, u64) -> bool,
) -> (Vec<(Source, u64, FeedItem)>, bool) {
    let (mut own, mut celebrity) = (own.peekable(), celebrity.peekable());
    let mut merged = Vec::new();
    while merged.len() < limit {
        let source = match (own.peek(), celebrity.peek()) {
            (Some((_, o)), Some((_, c))) if own_first(o.ts(), c.ts()) => Source::Own,
            (Some(_), Some(_)) | (None, Some(_)) => Source::Celebrity,
            (Some(_), None) => Source::Own,
            (None, None) => break,
        };
        let next = match source {
            Source::Own => own.next(),
            Source::Celebrity => celebrity.next(),
        };
        if let Some((seq, item)) = next {
            merged.push((source, seq, item));
        }
    }
    let leftover = own.peek().is_some() || celebrity.peek().is_some();
    (merged, leftover)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryConfig;
    use pushgate_protocol::Audience;

    fn post(id: u64, author: &str, ts: u64) -> FeedItem {
        FeedItem::Post {
            id,
            author: author.into(),
            ts,
            audience: Audience::Followers,
        }
    }

    #[tokio::test]
    async fn merges_own_feed_and_celebrities_with_resumable_cursors() {
        let bp = Backplane::memory(&MemoryConfig::default());
        bp.follows
            .follow("reader", "star", 10)
            .await
            .expect("follow");
        let reader = vec!["reader".to_owned()];
        bp.feeds
            .append(&reader, &post(1, "friend", 10))
            .await
            .expect("append");
        bp.broadcasts
            .append("star", 2, 20)
            .await
            .expect("broadcast");
        bp.feeds
            .append(&reader, &post(3, "friend", 30))
            .await
            .expect("append");
        bp.broadcasts
            .append("stranger", 4, 40)
            .await
            .expect("unfollowed broadcast");
        let timeline = Timeline::new(bp);

        let all = timeline
            .since("reader", Cursor::default(), 10)
            .await
            .expect("since");
        let ids: Vec<u64> = all
            .items
            .iter()
            .map(|i| match i.item {
                FeedItem::Post { id, .. } => id,
                _ => 0,
            })
            .collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(all.cursor, Cursor::new(2, 1));
        assert!(all.complete && !all.more);

        // Resuming from the middle cursor yields exactly the rest.
        let rest = timeline
            .since("reader", all.items[1].cursor, 10)
            .await
            .expect("since");
        assert_eq!(rest.items.len(), 1);
        assert_eq!(rest.items[0].item, post(3, "friend", 30));

        let page = timeline.before("reader", None, 2).await.expect("before");
        assert_eq!(page.items, vec![post(3, "friend", 30), post(2, "star", 20)]);
        let older = timeline
            .before("reader", page.next, 2)
            .await
            .expect("before");
        assert_eq!(older.items, vec![post(1, "friend", 10)]);
        assert_eq!(older.next, None);
    }

    #[tokio::test]
    async fn hidden_friends_posts_still_move_cursors_and_pages_on() {
        let bp = Backplane::memory(&MemoryConfig::default());
        let reader = vec!["reader".to_owned()];
        let hidden = |id| FeedItem::Post {
            id,
            author: "former".into(),
            ts: id,
            audience: Audience::Friends,
        };
        bp.feeds
            .append(&reader, &post(1, "friend", 1))
            .await
            .expect("append");
        for id in 2..=3 {
            bp.feeds.append(&reader, &hidden(id)).await.expect("append");
        }
        let timeline = Timeline::new(bp);

        let caught = timeline
            .since("reader", Cursor::default(), 10)
            .await
            .expect("since");
        assert_eq!(caught.items.len(), 1);
        assert_eq!(caught.cursor, Cursor::new(3, 0), "past the hidden posts");
        let full = timeline
            .since("reader", Cursor::new(1, 0), 2)
            .await
            .expect("since");
        assert!(full.items.is_empty() && full.more && full.cursor == Cursor::new(3, 0));

        let newest = timeline.before("reader", None, 2).await.expect("before");
        assert!(newest.items.is_empty(), "{newest:?}");
        let older = timeline
            .before("reader", newest.next, 2)
            .await
            .expect("a full page of hidden posts has a next page");
        assert_eq!(older.items, vec![post(1, "friend", 1)]);
        assert_eq!(older.next, None);
    }
}
