//! The synthetic follow graph: which simulated users follow which authors.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index;
use serde::{Deserialize, Serialize};

/// How the graph is drawn; the same parameters always give the same graph, so worker
/// processes regenerate it instead of receiving it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphParams {
    /// Simulated users (the connected clients), indices `0..users`.
    pub users: u32,
    /// Posting authors, indices `0..authors`; authors are not connected.
    pub authors: u32,
    /// The first `celebrities` authors are followed by every user.
    pub celebrities: u32,
    /// Zipf exponent: the author of rank `r` among the others gets `top * r^-exponent`.
    pub zipf_exponent: f64,
    /// Fraction of all users following the top non-celebrity author.
    pub top_fraction: f64,
    /// Seed of the follower sampling.
    pub seed: u64,
}

/// Followers per author, each list sorted and free of repeats.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowGraph {
    followers: Vec<Vec<u32>>,
}

impl FollowGraph {
    /// Draw the graph. Follower counts fall off like Zipf's law, which is what real follow
    /// graphs look like: a few authors reach many users and most reach a few.
    pub fn generate(params: &GraphParams) -> Self {
        let mut rng = StdRng::seed_from_u64(params.seed);
        let users = params.users as usize;
        let followers = (0..params.authors)
            .map(|author| {
                let count = if author < params.celebrities {
                    users
                } else {
                    let rank = f64::from(author - params.celebrities + 1);
                    let share = params.top_fraction * rank.powf(-params.zipf_exponent);
                    // Every author keeps at least one follower so each post is observable.
                    ((users as f64 * share).round() as usize).clamp(users.min(1), users)
                };
                let mut chosen: Vec<u32> = index::sample(&mut rng, users, count)
                    .into_iter()
                    .map(|user| user as u32)
                    .collect();
                chosen.sort_unstable();
                chosen
            })
            .collect();
        Self { followers }
    }

    /// Number of authors.
    pub fn authors(&self) -> u32 {
        self.followers.len() as u32
    }

    /// The sorted followers of `author`.
    pub fn followers(&self, author: u32) -> &[u32] {
        &self.followers[author as usize]
    }

    /// Total follow edges.
    pub fn edges(&self) -> u64 {
        self.followers.iter().map(|f| f.len() as u64).sum()
    }

    /// For each user in `first..first + count`, the authors it follows.
    pub fn followed_by(&self, first: u32, count: u32) -> Vec<Vec<u32>> {
        let mut follows = vec![Vec::new(); count as usize];
        let end = first.saturating_add(count);
        for (author, followers) in self.followers.iter().enumerate() {
            let start = followers.partition_point(|&user| user < first);
            for &user in followers[start..].iter().take_while(|&&user| user < end) {
                follows[(user - first) as usize].push(author as u32);
            }
        }
        follows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> GraphParams {
        GraphParams {
            users: 1000,
            authors: 20,
            celebrities: 2,
            zipf_exponent: 1.0,
            top_fraction: 0.2,
            seed: 7,
        }
    }

    #[test]
    fn same_params_same_graph() {
        assert_eq!(
            FollowGraph::generate(&params()),
            FollowGraph::generate(&params())
        );
        let other = GraphParams {
            seed: 8,
            ..params()
        };
        assert_ne!(
            FollowGraph::generate(&params()),
            FollowGraph::generate(&other)
        );
    }

    #[test]
    fn celebrities_reach_everyone_and_the_rest_falls_off() {
        let graph = FollowGraph::generate(&params());
        assert_eq!(graph.followers(0).len(), 1000);
        assert_eq!(graph.followers(1).len(), 1000);
        assert_eq!(graph.followers(2).len(), 200);
        assert_eq!(graph.followers(3).len(), 100);
        assert_eq!(graph.followers(6).len(), 40);
        for author in 3..graph.authors() {
            let (before, now) = (graph.followers(author - 1), graph.followers(author));
            assert!(now.len() <= before.len() && !now.is_empty());
            assert!(now.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
            assert!(now.iter().all(|&user| user < 1000));
        }
    }

    #[test]
    fn flat_exponent_gives_equal_counts() {
        let flat = GraphParams {
            zipf_exponent: 0.0,
            celebrities: 0,
            ..params()
        };
        let graph = FollowGraph::generate(&flat);
        assert!((0..20).all(|author| graph.followers(author).len() == 200));
        assert_eq!(graph.edges(), 4000);
    }

    #[test]
    fn followed_by_inverts_the_graph() {
        let graph = FollowGraph::generate(&params());
        let follows = graph.followed_by(300, 200);
        assert_eq!(follows.len(), 200);
        for (offset, authors) in follows.iter().enumerate() {
            let user = 300 + offset as u32;
            for author in 0..graph.authors() {
                let follows_it = graph.followers(author).binary_search(&user).is_ok();
                assert_eq!(authors.contains(&author), follows_it);
            }
        }
        let total: usize = graph.followed_by(0, 1000).iter().map(Vec::len).sum();
        assert_eq!(total as u64, graph.edges());
    }
}
