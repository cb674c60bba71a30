//! The Redis key schema: every key carries the hash tag of the slot its calls share.
//!
//! Tags: `{fo}` posts and the fan-out log (one atomic create), `{u:<user>}` a feed,
//! `{f:<author>}` followers, `{g:<user>}` following, `{b}` the broadcast log, `{m}` membership,
//! `{p:<user>}` presence, `{n:<node>}` a node's lease and inbox stream. IDs are escaped so a
//! user ID can never close a tag early or make two different keys collide.

use std::borrow::Cow;

use pushgate_protocol::PostId;

/// Percent-escape the characters that carry meaning in a key: tag braces, the `:` separator,
/// and `%` itself.
fn escape(id: &str) -> Cow<'_, str> {
    if !id.contains(['{', '}', ':', '%']) {
        return Cow::Borrowed(id);
    }
    let mut out = String::with_capacity(id.len() + 8);
    for c in id.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Builds every key under one prefix, so several deployments (or test runs) can share a Redis.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (escaped like an ID, so it cannot open a hash tag).
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: escape(prefix).into_owned(),
        }
    }

    /// Counter handing out post IDs.
    pub(crate) fn post_seq(&self) -> String {
        format!("{}:{{fo}}:postseq", self.prefix)
    }

    /// What every post key starts with (the create script appends the new ID).
    pub(crate) fn post_prefix(&self) -> String {
        format!("{}:{{fo}}:post:", self.prefix)
    }

    /// One post body.
    pub(crate) fn post(&self, id: PostId) -> String {
        format!("{}{id}", self.post_prefix())
    }

    /// An author's idempotency key.
    pub(crate) fn idempotency(&self, author: &str, key: &str) -> String {
        format!(
            "{}:{{fo}}:idem:{}:{}",
            self.prefix,
            escape(author),
            escape(key)
        )
    }

    /// A notification idempotency key (service callers share one scope).
    pub(crate) fn notify_idempotency(&self, key: &str) -> String {
        format!("{}:{{fo}}:nidem:{}", self.prefix, escape(key))
    }

    /// The revocation list.
    pub(crate) fn revocations(&self) -> String {
        format!("{}:revocations", self.prefix)
    }

    /// The fan-out log stream.
    pub(crate) fn events(&self) -> String {
        format!("{}:{{fo}}:events", self.prefix)
    }

    /// The dead-letter stream.
    pub(crate) fn dead(&self) -> String {
        format!("{}:{{fo}}:dead", self.prefix)
    }

    fn user_tagged(&self, tag: &str, id: &str, suffix: &str) -> String {
        format!("{}:{{{tag}:{}}}{suffix}", self.prefix, escape(id))
    }

    /// A user's feed entries.
    pub(crate) fn feed(&self, user: &str) -> String {
        self.user_tagged("u", user, ":feed")
    }

    /// A user's feed head position.
    pub(crate) fn feed_seq(&self, user: &str) -> String {
        self.user_tagged("u", user, ":feedseq")
    }

    /// A user's item -> position index, for idempotent appends.
    pub(crate) fn feed_index(&self, user: &str) -> String {
        self.user_tagged("u", user, ":feedidx")
    }

    /// An author's followers.
    pub(crate) fn followers(&self, author: &str) -> String {
        self.user_tagged("f", author, ":followers")
    }

    /// A random value replaced on every change of an author's followers (in their slot).
    pub(crate) fn followers_revision(&self, author: &str) -> String {
        self.user_tagged("f", author, ":followers:rev")
    }

    /// The authors a user follows.
    pub(crate) fn following(&self, user: &str) -> String {
        self.user_tagged("g", user, ":following")
    }

    /// The global broadcast position counter.
    pub(crate) fn broadcast_seq(&self) -> String {
        format!("{}:{{b}}:seq", self.prefix)
    }

    /// Every author's broadcasts by global position (for gateways filling gaps).
    pub(crate) fn broadcast_all(&self) -> String {
        format!("{}:{{b}}:all", self.prefix)
    }

    /// A celebrity's timeline.
    pub(crate) fn timeline(&self, author: &str) -> String {
        format!("{}:{{b}}:tl:{}", self.prefix, escape(author))
    }

    /// A celebrity's post ID -> position index, for idempotent appends.
    pub(crate) fn timeline_index(&self, author: &str) -> String {
        format!("{}:{{b}}:tlidx:{}", self.prefix, escape(author))
    }

    /// The highest position trimmed from a celebrity's timeline.
    pub(crate) fn timeline_trimmed(&self, author: &str) -> String {
        format!("{}:{{b}}:tltrim:{}", self.prefix, escape(author))
    }

    /// A node's pub/sub channel.
    pub(crate) fn node_channel(&self, node: &str) -> String {
        format!("{}:node:{}", self.prefix, escape(node))
    }

    /// The pub/sub channel every node listens to.
    pub(crate) fn all_nodes_channel(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// A node's inbox stream (the stream bus).
    pub(crate) fn node_inbox(&self, node: &str) -> String {
        self.user_tagged("n", node, ":inbox")
    }

    /// A node's presence lease.
    pub(crate) fn lease(&self, node: &str) -> String {
        self.user_tagged("n", node, ":lease")
    }

    /// Live nodes scored by lease expiry.
    pub(crate) fn nodes(&self) -> String {
        format!("{}:{{m}}:nodes", self.prefix)
    }

    /// Node ID -> announced info.
    pub(crate) fn node_info(&self) -> String {
        format!("{}:{{m}}:info", self.prefix)
    }

    /// A user's presence hash.
    pub(crate) fn presence(&self, user: &str) -> String {
        self.user_tagged("p", user, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_break_out_of_their_tag() {
        let keys = Keys::new("pg");
        assert_eq!(keys.feed("alice"), "pg:{u:alice}:feed");
        assert_eq!(keys.feed("a}b"), "pg:{u:a%7Db}:feed");
        assert_ne!(
            keys.idempotency("a:b", "c"),
            keys.idempotency("a", "b:c"),
            "author and key must not run into each other"
        );
    }
}
