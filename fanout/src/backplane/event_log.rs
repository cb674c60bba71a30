//! The fan-out log: durable events that workers consume at least once.

use std::time::Duration;

use async_trait::async_trait;
use pushgate_protocol::{Audience, FeedItem, PostId, TraceParent};

use super::{BackplaneResult, UserId};

/// How long an event may stay unacknowledged before another worker takes it, unless
/// configured: far above one fan-out's time, so only a dead worker's events move.
pub const DEFAULT_CLAIM_AFTER: Duration = Duration::from_secs(30);

/// Opaque ID of a logged event (a Redis stream ID, or a counter in memory).
pub type EventId = String;

/// What a worker fans out.
#[derive(Clone, Debug, PartialEq)]
pub enum FanoutEvent {
    /// A post was created: deliver it to its audience among the author's followers.
    Post(PostEvent),
    /// A service sent a personal notification to some users.
    Notify(NotifyEvent),
}

/// A post to fan out: what a feed entry and a push name, never the body.
#[derive(Clone, Debug, PartialEq)]
pub struct PostEvent {
    /// The post's ID, which feed entries and pushes carry.
    pub id: PostId,
    /// Whose followers receive it.
    pub author: UserId,
    /// Creation time in microseconds since the Unix epoch (feeds merge by it).
    pub ts: u64,
    /// Which followers receive it, from [`super::Visibility::audience`].
    pub audience: Audience,
}

impl PostEvent {
    /// The feed item every recipient's feed gets.
    pub fn item(&self) -> FeedItem {
        FeedItem::Post {
            id: self.id,
            author: self.author.clone(),
            ts: self.ts,
            audience: self.audience,
        }
    }
}

/// A notification to fan out to the users named.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifyEvent {
    /// Unique per cluster; the idempotency record remembers it.
    pub id: u64,
    /// The sender's category.
    pub kind: String,
    /// The sender's payload, passed through.
    pub data: serde_json::Value,
    /// Creation time in microseconds since the Unix epoch.
    pub ts: u64,
    /// Who receives it.
    pub users: Vec<UserId>,
}

impl NotifyEvent {
    /// The feed item every recipient's feed gets.
    pub fn item(&self) -> FeedItem {
        FeedItem::Notify {
            id: self.id,
            kind: self.kind.clone(),
            data: self.data.clone(),
            ts: self.ts,
        }
    }
}

impl FanoutEvent {
    /// Creation time of the post or notification, in microseconds since the Unix epoch.
    pub fn ts(&self) -> u64 {
        match self {
            FanoutEvent::Post(post) => post.ts,
            FanoutEvent::Notify(notify) => notify.ts,
        }
    }
}

/// A retry-safe append: a later append with the same key and fingerprint is a retry and
/// appends nothing.
#[derive(Clone, Copy, Debug)]
pub struct Idempotency<'a> {
    /// The caller's `Idempotency-Key`.
    pub key: &'a str,
    /// A digest of the request: the same key with another request is a conflict.
    pub fingerprint: &'a str,
}

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The event was appended.
    Appended,
    /// The key was seen before with the same fingerprint: nothing was appended; this is the
    /// ID of the notification the first append carried.
    Replayed { notification: u64 },
}

/// An event as read from the log.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    /// What to acknowledge once done.
    pub id: EventId,
    /// The event.
    pub event: FanoutEvent,
    /// How many times this event was handed out before (0 on first delivery).
    pub attempts: u32,
    /// The appending request's span, when the post is traced: appends take it from the
    /// current span (`trace::current`), so no caller passes it along.
    pub trace: Option<TraceParent>,
}

/// The consumer side of the fan-out log (the post store appends post events).
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Append a notification event (posts are appended by the post store). With an
    /// `idempotency` key seen in the last day: the same fingerprint replays, another one is a
    /// `Conflict`; the key is recorded in the same atomic step as the append.
    async fn append(
        &self,
        event: NotifyEvent,
        idempotency: Option<Idempotency<'_>>,
    ) -> BackplaneResult<AppendOutcome>;

    /// Up to `max` events for `consumer`: first its own unacknowledged ones that are due for
    /// retry, then pending events of consumers idle longer than the claim timeout, then new ones.
    /// Waits up to `block` when there is nothing. An entry that holds no event (possible
    /// only where foreign writers reach the log, as in Redis) is never handed out: the read
    /// dead-letters and acks it itself, and returns the rest of its batch in order.
    async fn read(
        &self,
        consumer: &str,
        max: usize,
        block: std::time::Duration,
    ) -> BackplaneResult<Vec<LoggedEvent>>;

    /// Mark events done; they are never handed out again.
    async fn ack(&self, ids: &[EventId]) -> BackplaneResult<()>;

    /// Give up on an event: record it with `reason` in the dead-letter log and ack it.
    async fn dead_letter(&self, event: &LoggedEvent, reason: &str) -> BackplaneResult<()>;

    /// Events not acknowledged yet (the backlog), for `/readyz` and metrics.
    async fn pending(&self) -> BackplaneResult<u64>;
}
