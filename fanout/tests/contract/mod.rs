//! The backplane contract: one check per trait, each taking a [`Backplane`] built with the
//! sizes below, run against every implementation by `backplane_contract.rs`.
//!
//! A check holds everything the trait promises callers, so an implementation that passes can
//! replace another. Where implementations differ by design, the check takes what differs as a
//! parameter and says why; what only one implementation has (how Redis stores dead letters,
//! recovering from a Redis restart) is tested beside it, not here.

pub mod broadcast_log;
pub mod event_log;
pub mod feed_store;
pub mod follow_graph;
pub mod membership;
pub mod node_bus;
pub mod post_store;
pub mod presence_store;
pub mod revocation_list;

use std::time::Duration;

use pushgate_fanout::backplane::Inbox;
use pushgate_protocol::NodeMessage;

/// Entries kept per user feed: small, so a check reaches trimming in a few appends.
pub const FEED_CAP: usize = 3;
/// Entries kept per celebrity timeline, for the same reason.
pub const BROADCAST_CAP: usize = 2;
/// Unacknowledged events the log holds before appends and creates are refused.
pub const EVENT_LOG_CAP: usize = 3;
/// Unacknowledged events may be claimed at once, so a second consumer's read shows a
/// reclaim without waiting for a timeout.
pub const CLAIM_AFTER: Duration = Duration::ZERO;

/// The next message in `inbox`, failing the check if none comes within a generous wait.
pub async fn recv(inbox: &mut Inbox) -> NodeMessage {
    tokio::time::timeout(pushgate_fanout::testing::PATIENCE, inbox.recv())
        .await
        .expect("a message arrives")
        .expect("inbox open")
}
