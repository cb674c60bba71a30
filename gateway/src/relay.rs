//! The one-hop relay for users connected to a node other than their home.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use pushgate_fanout::backplane::UserId;
use pushgate_fanout::ring::Ring;
use pushgate_protocol::{NodeMessage, Recipient};

use tokio::sync::mpsc;

use crate::change_feed::Reader;
use crate::gateway::Gateway;

/// How long the announcer waits to gather changes into one message per home node.
const BATCH_DELAY: Duration = Duration::from_millis(10);

/// Both halves of the relay on one node.
///
/// As a home: which other nodes hold sockets of users homed here, so deliveries reach them
/// with one extra hop and no Redis lookup. As a visitor host, the announcer reads the
/// registry's change feed, so their homes hear about it. Workers never need to know: they
/// route by the ring alone.
#[derive(Debug, Default)]
pub struct Relay {
    /// user (homed here) -> nodes holding its sockets elsewhere.
    attached: DashMap<UserId, Vec<String>>,
}

impl Relay {
    /// Record that `users` hold sockets at `node`.
    pub fn attach(&self, node: &str, users: Vec<UserId>) {
        for user in users {
            let mut nodes = self.attached.entry(user).or_default();
            if !nodes.iter().any(|n| n == node) {
                nodes.push(node.to_owned());
            }
        }
    }

    /// Record that `users` left `node`.
    pub fn detach(&self, node: &str, users: Vec<UserId>) {
        for user in users {
            if let Some(mut nodes) = self.attached.get_mut(&user) {
                nodes.retain(|n| n != node);
            }
            self.attached.remove_if(&user, |_, nodes| nodes.is_empty());
        }
    }

    /// Forget attachments at nodes that left the ring.
    pub fn purge(&self, ring: &Ring) {
        let live: HashSet<&str> = ring.nodes().iter().map(|n| n.id.as_str()).collect();
        self.attached.retain(|_, nodes| {
            nodes.retain(|n| live.contains(n.as_str()));
            !nodes.is_empty()
        });
    }

    /// The recipients held elsewhere, grouped by the node holding them.
    pub fn route(&self, recipients: &[Recipient]) -> Vec<(String, Vec<Recipient>)> {
        if self.attached.is_empty() {
            return Vec::new();
        }
        let mut by_node: Vec<(String, Vec<Recipient>)> = Vec::new();
        for recipient in recipients {
            let Some(nodes) = self.attached.get(&recipient.user) else {
                continue;
            };
            for node in nodes.iter() {
                match by_node.iter_mut().find(|(n, _)| n == node) {
                    Some((_, batch)) => batch.push(recipient.clone()),
                    None => by_node.push((node.clone(), vec![recipient.clone()])),
                }
            }
        }
        by_node
    }
}

/// Tell home nodes about local users homed elsewhere: on every change, and all of them again
/// whenever the ring changes (homes move, and a restarted home has forgotten everything).
pub async fn announce(gateway: Arc<Gateway>) {
    let mut ring_view = gateway.ring.clone();
    loop {
        let everyone = tokio::select! {
            _ = gateway.drain.cancelled() => return,
            _ = gateway.registry.changes().relay_notified() => false,
            changed = ring_view.changed() => {
                if changed.is_err() {
                    return;
                }
                true
            }
        };
        tokio::time::sleep(BATCH_DELAY).await;
        let ring = gateway.ring.borrow().clone();
        gateway.relay.purge(&ring);
        let users = if everyone {
            gateway.registry.users()
        } else {
            gateway.registry.changes().take(Reader::Relay)
        };
        let mut messages: Vec<(String, Vec<UserId>, Vec<UserId>)> = Vec::new();
        for user in users {
            let Some(home) = ring.home(&user) else {
                continue;
            };
            if home.id == gateway.node_id {
                continue;
            }
            let index = match messages.iter().position(|(node, _, _)| *node == home.id) {
                Some(index) => index,
                None => {
                    messages.push((home.id.clone(), Vec::new(), Vec::new()));
                    messages.len() - 1
                }
            };
            if gateway.registry.is_connected(&user) {
                messages[index].1.push(user);
            } else {
                messages[index].2.push(user);
            }
        }
        let node = gateway.node_id.clone();
        for (home, attach, detach) in messages {
            for message in [
                (!attach.is_empty()).then(|| NodeMessage::Attach {
                    node: node.clone(),
                    users: attach,
                }),
                (!detach.is_empty()).then(|| NodeMessage::Detach {
                    node: node.clone(),
                    users: detach,
                }),
            ]
            .into_iter()
            .flatten()
            {
                if let Err(e) = gateway.backplane.bus.send(&home, message).await {
                    // The next ring change re-announces everyone; until then these users get
                    // their pushes through gap fill and resume.
                    tracing::warn!(error = %e, %home, "relay announcement failed");
                }
            }
        }
    }
}

/// Send relayed batches to the nodes holding the sockets, in the order the dispatcher handed
/// them over, off its loop: a slow Redis delays only the relayed pushes.
pub async fn forward(gateway: Arc<Gateway>, mut queue: mpsc::Receiver<(String, NodeMessage)>) {
    loop {
        let handed = tokio::select! {
            _ = gateway.drain.cancelled() => return,
            handed = queue.recv() => handed,
        };
        let Some((node, message)) = handed else {
            return; // Closed: the dispatcher has stopped.
        };
        if let Err(e) = gateway.backplane.bus.send(&node, message).await {
            // Those sockets catch up through gap fill or resume.
            tracing::warn!(error = %e, %node, "relay failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(user: &str) -> Recipient {
        Recipient {
            user: user.into(),
            seq: 1,
        }
    }

    #[test]
    fn routes_only_attached_users_to_their_nodes() {
        let relay = Relay::default();
        relay.attach("n2", vec!["a".into(), "b".into()]);
        relay.attach("n3", vec!["b".into()]);
        let routes = relay.route(&[recipient("a"), recipient("b"), recipient("c")]);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].0, "n2");
        assert_eq!(routes[0].1.len(), 2);
        assert_eq!(routes[1], ("n3".to_owned(), vec![recipient("b")]));
        relay.detach("n2", vec!["a".into(), "b".into()]);
        relay.purge(&Ring::default());
        assert!(relay.route(&[recipient("b")]).is_empty());
    }
}
