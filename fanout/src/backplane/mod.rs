//! The shared state and message paths every process role talks to, as async batch traits.
//!
//! Each trait is one concept; [`Backplane`] bundles one implementation of each. The in-memory
//! implementation (`crate::memory`) serves `pushgate dev` and tests; the Redis one serves
//! scale-out. The traits are shaped for Redis from the start: every call takes many users at
//! once, so a delivery never costs a round trip of its own.

mod broadcast_log;
mod dead_letter_reason;
mod error;
mod event_log;
mod feed_store;
mod follow_graph;
mod membership;
mod node_bus;
mod post_store;
mod presence_store;
mod revocation_list;

use std::sync::Arc;

pub use broadcast_log::{BroadcastEntry, BroadcastLog, BroadcastSlice};
pub(crate) use dead_letter_reason::DeadLetterReason;
pub use error::{BackplaneError, Unavailable};
pub use event_log::{
    AppendOutcome, DEFAULT_CLAIM_AFTER, EventId, EventLog, FanoutEvent, Idempotency, LoggedEvent,
    NotifyEvent, PostEvent,
};
pub use feed_store::{DEFAULT_FEED_CAP, FeedSlice, FeedStore};
pub use follow_graph::{BatchOutcome, Edge, FollowGraph, Followed, FollowerPage};
pub use membership::{Membership, NodeInfo};
pub use node_bus::{Inbox, NodeBus};
pub use post_store::{CreateOutcome, NewPost, Post, PostStore, Visibility};
pub use presence_store::{LeaseRenewal, Presence, PresenceChange, PresenceStore};
pub use revocation_list::RevocationList;

/// User IDs are the `sub` of a user's token.
pub type UserId = String;

/// The hasher of the maps a connect reads or writes by user ID (the gateway's registry and
/// change feed, the revoked users, the in-memory stores).
///
/// foldhash rather than std's SipHash, which cost a connect about 2 us in all (perf, on the
/// benchmark machine). The keys are user IDs from tokens the issuer signed, not bytes a
/// client picks, and the seed is still random per process.
pub type UserHasher = foldhash::fast::RandomState;

/// Result of a backplane call.
pub type BackplaneResult<T> = Result<T, BackplaneError>;

/// One implementation of every backplane concept, cheap to clone into each task.
#[derive(Clone)]
pub struct Backplane {
    /// Post bodies, idempotency keys, and the atomic append of each post's fan-out event.
    pub posts: Arc<dyn PostStore>,
    /// The fan-out log workers consume (posts and notifications).
    pub events: Arc<dyn EventLog>,
    /// Who follows whom.
    pub follows: Arc<dyn FollowGraph>,
    /// Per-user capped feeds: the source of truth every push is a hint of.
    pub feeds: Arc<dyn FeedStore>,
    /// Celebrity posts, fanned out on read instead of written per follower.
    pub broadcasts: Arc<dyn BroadcastLog>,
    /// Node inboxes: how workers reach gateways.
    pub bus: Arc<dyn NodeBus>,
    /// Which gateway nodes are alive, for the hash ring.
    pub membership: Arc<dyn Membership>,
    /// Which users are online where.
    pub presence: Arc<dyn PresenceStore>,
    /// Users whose older tokens are refused.
    pub revocations: Arc<dyn RevocationList>,
}

impl std::fmt::Debug for Backplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backplane").finish_non_exhaustive()
    }
}
