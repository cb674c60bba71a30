//! Small backplane values for tests, each built from a number or a name, so a test reads as
//! what it does rather than how the values are spelled.

use pushgate_protocol::{Audience, FeedItem, NodeMessage, PostId, Recipient, TraceParent};

use crate::backplane::{NewPost, NotifyEvent, PresenceChange, UserId, Visibility};

/// Post `id` by author `a`, written at `ts = id`.
pub fn post(id: PostId) -> FeedItem {
    FeedItem::Post {
        id,
        author: "a".into(),
        ts: id,
        audience: Audience::Followers,
    }
}

/// Notification `n` (kind `k`, data `{"n": n}`) for user `u`.
pub fn notification(n: u64) -> NotifyEvent {
    NotifyEvent {
        id: n,
        kind: "k".into(),
        data: serde_json::json!({ "n": n }),
        ts: n,
        users: vec!["u".into()],
    }
}

/// A node batch delivering [`post`] `n` to user `u` at feed position `n`, traced for odd
/// `n`: the optional trace context crosses every bus, and so does its absence.
pub fn delivery(n: u64) -> NodeMessage {
    NodeMessage::Deliver {
        item: post(n),
        recipients: vec![Recipient {
            user: "u".into(),
            seq: n,
        }],
        trace: (n % 2 == 1)
            .then(|| TraceParent::new(format!("00-{:032x}-{n:016x}-01", u128::from(n) + 1))),
    }
}

/// A post to create, without media.
pub fn new_post(author: &str, content: &str, visibility: Visibility) -> NewPost {
    NewPost {
        author: author.into(),
        content: content.into(),
        media_url: None,
        visibility,
    }
}

/// `user` holds `connections` sockets on the reporting node, as of `epoch`.
pub fn change(user: &str, connections: u32, epoch: u64) -> PresenceChange {
    PresenceChange {
        user: user.into(),
        connections,
        epoch,
    }
}

/// User IDs from names.
pub fn users(names: &[&str]) -> Vec<UserId> {
    names.iter().map(|s| (*s).to_owned()).collect()
}
