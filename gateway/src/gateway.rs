//! The state one gateway node shares between its connections and background tasks.

use std::sync::{Arc, OnceLock};

use pushgate_fanout::backplane::Backplane;
use pushgate_fanout::drain::Drain;
use pushgate_fanout::ring::{DEFAULT_VNODES, Ring};
use pushgate_fanout::ring_watcher::RingView;
use pushgate_fanout::timeline::Timeline;
use pushgate_fanout::token::TokenVerifier;
use pushgate_protocol::ErrorCode;

use crate::change_feed::Reader;
use crate::config::NodeConfig;
use crate::follower_cache::FollowerCache;
use crate::handshake_limiter::HandshakeLimiter;
use crate::mailbox::{Mailbox, Push};
use crate::ping_clock::PingClock;
use crate::registry::{Registration, Registry};
use crate::relay::Relay;
use crate::write_coalescer::WriteCoalescer;

/// Shared node state; one per process role `gateway` (or `dev`), behind an `Arc`.
pub struct Gateway {
    /// The validated settings.
    pub config: NodeConfig,
    /// This node's ID (from the config), kept here for frames and logs.
    pub node_id: String,
    /// Where clients reach this node (resolved after binding when the port was 0).
    pub public_url: String,
    /// Stores and inboxes.
    pub backplane: Backplane,
    /// Merged feed reads for welcome heads and resumes.
    pub timeline: Timeline,
    /// Verifies tokens on upgrade and `refresh`.
    pub verifier: TokenVerifier,
    /// Local connections by user.
    pub registry: Registry,
    /// The current ring, for drain redirects.
    pub ring: RingView,
    /// Shutdown for every task of the node.
    pub drain: Drain,
    /// Local followers of celebrity authors, so a broadcast checks the follow graph only
    /// when something changed.
    pub follower_cache: FollowerCache,
    /// Attachments of users homed here but connected elsewhere, and announcements of ours.
    pub relay: Relay,
    /// When each connection pings next, in slots shared by the node.
    pub ping_clock: PingClock,
    /// When a connection with a new push is woken (the write delay); its release task runs
    /// beside the dispatcher.
    pub write_coalescer: Arc<WriteCoalescer>,
    /// Handshake budget per client address; its task forgets idle addresses.
    pub handshake_limiter: Arc<HandshakeLimiter>,
    /// The ring without this node, fixed when draining starts (where clients go next).
    successor: OnceLock<Ring>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Assemble the node state.
    pub fn new(
        config: NodeConfig,
        public_url: String,
        backplane: Backplane,
        ring: RingView,
        verifier: TokenVerifier,
        drain: Drain,
    ) -> Arc<Self> {
        Arc::new(Self {
            node_id: config.node_id.clone(),
            verifier,
            timeline: Timeline::new(backplane.clone()),
            handshake_limiter: Arc::new(HandshakeLimiter::new(config.handshakes_per_sec)),
            ping_clock: PingClock::new(config.heartbeat),
            write_coalescer: WriteCoalescer::new(config.write_delay),
            registry: Registry::default(),
            relay: Relay::default(),
            follower_cache: FollowerCache::default(),
            successor: OnceLock::new(),
            config,
            public_url,
            backplane,
            ring,
            drain,
        })
    }

    /// Register a new connection of `user` with a fresh mailbox, unless the user already
    /// holds `max_connections_per_user` here.
    pub fn register(&self, user: &str) -> Option<Registration> {
        let mailbox = Arc::new(Mailbox::new(
            self.config.mailbox_capacity,
            self.write_coalescer.clone(),
        ));
        let registration =
            self.registry
                .register(user, mailbox, self.config.max_connections_per_user)?;
        self.tell_relay(user);
        Some(registration)
    }

    /// Remove a connection of `user` registered with `register`.
    pub fn unregister(&self, user: &str, id: u64) {
        // Only once per connection, though every connection unregisters twice.
        if self.registry.unregister(user, id) {
            self.tell_relay(user);
        }
    }

    /// Have the relay announcer tell `user`'s home about its sockets here, if its home is
    /// another node. Users homed here (every user of a lone node) cost the relay nothing.
    ///
    /// Called after the registry changed: should the ring move after this look, the
    /// announcer's re-announcement of everyone reads the registry later and so sees `user`.
    fn tell_relay(&self, user: &str) {
        let homed_elsewhere = self
            .ring
            .borrow()
            .home(user)
            .is_some_and(|home| home.id != self.node_id);
        if homed_elsewhere {
            self.registry.changes().record(Reader::Relay, user);
        }
    }

    /// Fix where clients go when this node drains: the ring without this node.
    pub fn prepare_drain(&self) {
        let ring = self.ring.borrow().clone();
        let others = ring
            .nodes()
            .iter()
            .filter(|n| n.id != self.node_id)
            .cloned()
            .collect();
        let _ = self.successor.set(Ring::new(others, DEFAULT_VNODES));
    }

    /// Tell every connection of `user` where to reconnect, after a delay spread over the drain
    /// window so clients do not return as a herd, and close them.
    ///
    /// Drain reaches connections through their mailboxes rather than a cancellation future
    /// in each connection: every idle socket's task would otherwise carry a waiter node.
    pub fn send_away(&self, user: &str) {
        let window = self.config.drain_window.as_millis() as u64;
        let after_ms = if window == 0 {
            0
        } else {
            rand::random_range(0..window)
        };
        let reconnect = Push::Reconnect {
            url: self.successor_url(user),
            after_ms,
            reason: "node draining".to_owned(),
        };
        self.registry.push(user, &reconnect);
        self.registry.push(user, &Push::Close(ErrorCode::Draining));
    }

    /// Once drain begins, send every connected user away (see [`Gateway::send_away`]).
    /// Connections registered after this sweep see the drain flag themselves.
    pub async fn send_everyone_away_on_drain(self: Arc<Self>) {
        self.drain.cancelled().await;
        for user in self.registry.users() {
            self.send_away(&user);
        }
    }

    /// The URL `user` should reconnect to after this node drains (this node's own URL when it
    /// is the last one, as in `pushgate dev`: it is expected back after a restart).
    pub fn successor_url(&self, user: &str) -> String {
        self.successor
            .get()
            .and_then(|ring| ring.home(user))
            .map_or_else(|| self.public_url.clone(), |node| node.url.clone())
    }
}

/// A node of the unit tests: `config`'s tokens, the in-memory backplane, on `ring`.
#[cfg(test)]
pub(crate) fn in_memory(config: crate::config::NodeConfig, ring: Ring) -> Arc<Gateway> {
    let (_, ring) = tokio::sync::watch::channel(Arc::new(ring));
    let verifier = TokenVerifier::new(&config.tokens.secret, &config.api_key);
    let memory = pushgate_fanout::memory::MemoryConfig::default();
    Gateway::new(
        config,
        "ws://dev/v1/ws".into(),
        Backplane::memory(&memory),
        ring,
        verifier,
        Drain::new(),
    )
}

#[cfg(test)]
mod tests {
    use pushgate_fanout::backplane::NodeInfo;

    use super::*;

    fn node(id: &str) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            url: format!("ws://{id}/v1/ws"),
            connections: 0,
            capacity: 0,
        }
    }

    /// A `dev` node on a ring of `nodes`.
    fn gateway_on(nodes: &[&str]) -> Arc<Gateway> {
        let config = NodeConfig::dev("127.0.0.1:0".parse().expect("addr"));
        in_memory(
            config,
            Ring::new(nodes.iter().map(|id| node(id)).collect(), DEFAULT_VNODES),
        )
    }

    #[test]
    fn the_relay_hears_of_users_homed_elsewhere_only() {
        let gateway = gateway_on(&["dev", "other"]);
        let ring = gateway.ring.borrow().clone();
        let users: Vec<String> = (0..40).map(|i| format!("user-{i}")).collect();
        let (here, elsewhere): (Vec<&String>, Vec<&String>) = users
            .iter()
            .partition(|user| ring.home(user).is_some_and(|home| home.id == "dev"));
        assert!(
            !here.is_empty() && !elsewhere.is_empty(),
            "both kinds among 40"
        );
        let registrations: Vec<_> = users
            .iter()
            .map(|user| (user, gateway.register(user).expect("room")))
            .collect();
        let mut told = gateway.registry.changes().take(Reader::Relay);
        told.sort();
        let mut expected: Vec<String> = elsewhere.iter().map(|user| (*user).clone()).collect();
        expected.sort();
        assert_eq!(told, expected, "connects");
        for (user, registration) in registrations {
            gateway.unregister(user, registration.id);
        }
        let mut told = gateway.registry.changes().take(Reader::Relay);
        told.sort();
        assert_eq!(told, expected, "and closes");
        // A connection unregisters again when it drops: the relay hears nothing more.
        let user = elsewhere[0];
        let again = gateway.register(user).expect("room");
        assert!(
            gateway
                .registry
                .changes()
                .take(Reader::Relay)
                .contains(user)
        );
        gateway.unregister(user, again.id);
        assert_eq!(
            gateway.registry.changes().take(Reader::Relay),
            [(*user).clone()]
        );
        gateway.unregister(user, again.id);
        assert!(gateway.registry.changes().take(Reader::Relay).is_empty());
        // Presence hears of every user either way.
        assert_eq!(gateway.registry.take_changes().len(), users.len());
    }

    #[test]
    fn a_lone_node_never_tells_the_relay() {
        let gateway = gateway_on(&["dev"]);
        let registration = gateway.register("alice").expect("room");
        gateway.unregister("alice", registration.id);
        assert!(gateway.registry.changes().take(Reader::Relay).is_empty());
        assert_eq!(gateway.registry.take_changes().len(), 1);
    }
}
