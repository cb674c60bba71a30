//! The consistent-hash ring that maps each user to a home gateway node.

use std::sync::Arc;

use pushgate_protocol::Recipient;
use xxhash_rust::xxh3::xxh3_64;

use crate::backplane::NodeInfo;

/// Virtual points per node. 128 keeps every node's share within a few percent of fair at
/// 10-60 nodes while a lookup stays a binary search over a few thousand points.
pub const DEFAULT_VNODES: usize = 128;

/// A ring over live nodes: every process that builds it from the same node list agrees on
/// every user's home, so routing needs no lookup per delivery.
///
/// Virtual nodes rather than rendezvous hashing: a lookup is O(log points) instead of O(nodes),
/// which matters when a worker groups a million followers over ~50 nodes. The movement
/// measurement is in `tests::join_and_leave_move_only_their_share`.
#[derive(Clone, Debug, Default)]
pub struct Ring {
    /// (point hash, index into `nodes`), sorted by hash. Shared, so a ring renewed for new
    /// load figures keeps its points (see [`Ring::renewed`]).
    points: Arc<[(u64, usize)]>,
    /// The nodes, sorted by ID.
    nodes: Vec<NodeInfo>,
}

impl Ring {
    /// A ring over `nodes` with `vnodes` points each.
    pub fn new(nodes: Vec<NodeInfo>, vnodes: usize) -> Ring {
        Ring::build(by_id(nodes), vnodes)
    }

    /// The ring over `nodes` with `vnodes` points each, sharing this ring's points when they
    /// are the same: when only the nodes' load figures moved, as they do every membership
    /// interval. Formatting, hashing and sorting every point again cost about 100,000
    /// instructions per node each interval.
    pub fn renewed(&self, nodes: Vec<NodeInfo>, vnodes: usize) -> Ring {
        let nodes = by_id(nodes);
        if self.points.len() == nodes.len() * vnodes.max(1) && self.has_ids_of(&nodes) {
            Ring {
                points: self.points.clone(),
                nodes,
            }
        } else {
            Ring::build(nodes, vnodes)
        }
    }

    /// The ring over `nodes`, already sorted by ID without duplicates.
    fn build(nodes: Vec<NodeInfo>, vnodes: usize) -> Ring {
        let mut points: Vec<(u64, usize)> = nodes
            .iter()
            .enumerate()
            .flat_map(|(index, node)| {
                (0..vnodes.max(1))
                    .map(move |v| (xxh3_64(format!("{}#{v}", node.id).as_bytes()), index))
            })
            .collect();
        points.sort_unstable();
        Ring {
            points: points.into(),
            nodes,
        }
    }

    /// The home node of `user`, or `None` when no node is live.
    pub fn home(&self, user: &str) -> Option<&NodeInfo> {
        self.nodes.get(self.home_index(user)?)
    }

    /// Where `user` should connect: its home, or when the home is full the next node
    /// clockwise on the ring that has room (deterministic, so a user's devices agree; the
    /// relay reaches it there). `None` when no node is live; the home when all are full.
    pub fn connect_target(&self, user: &str) -> Option<&NodeInfo> {
        let home = self.home(user)?;
        if !home.is_full() {
            return Some(home);
        }
        let hash = xxh3_64(user.as_bytes());
        let start = self.points.partition_point(|(point, _)| *point < hash);
        let clockwise = self.points[start..].iter().chain(&self.points[..start]);
        clockwise
            .map(|(_, index)| &self.nodes[*index])
            .find(|node| !node.is_full())
            .or(Some(home))
    }

    /// Index into `nodes` of the first point clockwise from the user's hash.
    fn home_index(&self, user: &str) -> Option<usize> {
        // A lone node (every `pushgate dev`) is everyone's home: no hash to look up.
        if self.nodes.len() == 1 {
            return Some(0);
        }
        let hash = xxh3_64(user.as_bytes());
        let at = self.points.partition_point(|(point, _)| *point < hash);
        self.points
            .get(at)
            .or_else(|| self.points.first())
            .map(|(_, index)| *index)
    }

    /// The live nodes, sorted by ID.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// Whether the two rings route identically (same node IDs), ignoring load figures.
    pub fn same_nodes(&self, other: &Ring) -> bool {
        self.has_ids_of(&other.nodes)
    }

    /// Whether `nodes` (sorted by ID) are this ring's nodes, by ID.
    fn has_ids_of(&self, nodes: &[NodeInfo]) -> bool {
        self.nodes.len() == nodes.len() && self.nodes.iter().zip(nodes).all(|(a, b)| a.id == b.id)
    }

    /// Split recipients into one batch per home node, for one inbox message per node.
    pub fn group(&self, recipients: Vec<Recipient>) -> Vec<(String, Vec<Recipient>)> {
        let mut batches: Vec<Vec<Recipient>> = vec![Vec::new(); self.nodes.len()];
        for recipient in recipients {
            if let Some(index) = self.home_index(&recipient.user) {
                batches[index].push(recipient);
            }
        }
        self.nodes
            .iter()
            .zip(batches)
            .filter(|(_, batch)| !batch.is_empty())
            .map(|(node, batch)| (node.id.clone(), batch))
            .collect()
    }
}

/// `nodes` sorted by ID, each ID once: the order every process builds its ring in.
fn by_id(mut nodes: Vec<NodeInfo>) -> Vec<NodeInfo> {
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    nodes.dedup_by(|a, b| a.id == b.id);
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<NodeInfo> {
        (0..n)
            .map(|i| NodeInfo {
                id: format!("node-{i}"),
                url: String::new(),
                connections: 0,
                capacity: 0,
            })
            .collect()
    }

    fn moved(a: &Ring, b: &Ring, users: usize) -> f64 {
        let moved = (0..users)
            .filter(|u| {
                let user = format!("user-{u}");
                a.home(&user).map(|n| &n.id) != b.home(&user).map(|n| &n.id)
            })
            .count();
        moved as f64 / users as f64
    }

    #[test]
    fn join_and_leave_move_only_their_share() {
        let ten = Ring::new(nodes(10), DEFAULT_VNODES);
        let eleven = Ring::new(nodes(11), DEFAULT_VNODES);
        let nine = Ring::new(nodes(9), DEFAULT_VNODES);
        let join = moved(&ten, &eleven, 100_000);
        let leave = moved(&ten, &nine, 100_000);
        // The ideal is 1/11 = 0.091 on join and 1/10 = 0.1 on leave; modulo hashing would move ~0.9.
        // `cargo test -p pushgate-fanout ring -- --nocapture` prints the measured figures.
        eprintln!("10 -> 11 nodes moves {join:.4} of users; 10 -> 9 moves {leave:.4}");
        assert!((0.05..0.14).contains(&join), "join moved {join}");
        assert!((0.05..0.15).contains(&leave), "leave moved {leave}");
    }

    #[test]
    fn shares_are_balanced() {
        let ring = Ring::new(nodes(10), DEFAULT_VNODES);
        let mut counts = std::collections::HashMap::new();
        for u in 0..100_000 {
            *counts
                .entry(ring.home(&format!("user-{u}")).map(|n| n.id.clone()))
                .or_insert(0) += 1;
        }
        for (node, count) in counts {
            assert!((6_000..14_000).contains(&count), "{node:?} got {count}");
        }
    }

    #[test]
    fn group_agrees_with_home_and_order_of_input_does_not_matter() {
        let ring = Ring::new(nodes(5), DEFAULT_VNODES);
        let recipients: Vec<Recipient> = (0..1000)
            .map(|u| Recipient {
                user: format!("user-{u}"),
                seq: u,
            })
            .collect();
        let batches = ring.group(recipients);
        assert_eq!(batches.iter().map(|(_, b)| b.len()).sum::<usize>(), 1000);
        for (node, batch) in batches {
            assert!(
                batch
                    .iter()
                    .all(|r| ring.home(&r.user).map(|n| &n.id) == Some(&node))
            );
        }
        let shuffled = Ring::new(nodes(5).into_iter().rev().collect(), DEFAULT_VNODES);
        assert_eq!(
            ring.home("someone").map(|n| &n.id),
            shuffled.home("someone").map(|n| &n.id)
        );
    }

    #[test]
    fn users_of_a_full_home_go_to_the_next_node_with_room() {
        let mut all = nodes(4);
        let ring = Ring::new(all.clone(), DEFAULT_VNODES);
        let user = "someone";
        let home = ring.home(user).map(|n| n.id.clone()).expect("home");
        assert_eq!(ring.connect_target(user).map(|n| &n.id), Some(&home));
        for node in &mut all {
            node.capacity = 10;
            node.connections = if node.id == home { 10 } else { 3 };
        }
        let ring = Ring::new(all.clone(), DEFAULT_VNODES);
        let target = ring.connect_target(user).expect("target");
        assert_ne!(target.id, home);
        assert!(!target.is_full());
        // Routing of deliveries does not move: the home relays to wherever the user is.
        assert_eq!(ring.home(user).map(|n| &n.id), Some(&home));
        for node in &mut all {
            node.connections = 10;
        }
        let ring = Ring::new(all, DEFAULT_VNODES);
        assert_eq!(
            ring.connect_target(user).map(|n| &n.id),
            Some(&home),
            "all full: home"
        );
    }

    #[test]
    fn empty_ring_has_no_home() {
        assert!(Ring::default().home("u").is_none());
    }

    #[test]
    fn a_ring_renewed_for_new_loads_keeps_its_points_and_routes_alike() {
        let ring = Ring::new(nodes(5), DEFAULT_VNODES);
        let mut loaded = nodes(5);
        loaded.reverse();
        for (i, node) in loaded.iter_mut().enumerate() {
            node.connections = i as u64 * 10;
        }
        let renewed = ring.renewed(loaded.clone(), DEFAULT_VNODES);
        assert!(Arc::ptr_eq(&ring.points, &renewed.points));
        let fresh = Ring::new(loaded, DEFAULT_VNODES);
        assert_eq!(renewed.points, fresh.points);
        assert_eq!(renewed.nodes(), fresh.nodes());
        for u in 0..200 {
            let user = format!("user-{u}");
            assert_eq!(renewed.home(&user), fresh.home(&user));
        }
        let six = ring.renewed(nodes(6), DEFAULT_VNODES);
        assert!(!Arc::ptr_eq(&ring.points, &six.points));
        assert_eq!(six.points, Ring::new(nodes(6), DEFAULT_VNODES).points);
        assert_eq!(
            ring.renewed(nodes(5), 4).points,
            Ring::new(nodes(5), 4).points
        );
    }
}
