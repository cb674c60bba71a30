//! The backplane contract (`contract/`, one check per trait) run against every
//! implementation: the memory backplane, Redis on one server, and a 3-master Redis Cluster,
//! each of those also over TLS as an ACL user confined to the key prefix (as managed Redis
//! services run it); the node bus also over Redis streams. Each test gets a fresh backplane on a fresh server.

mod contract;

use pushgate_fanout::backplane::Backplane;
use pushgate_fanout::memory::MemoryConfig;
use pushgate_fanout::redis::{BusKind, RedisConfig, RedisTarget};
use pushgate_fanout::testing::{
    AclUser, RedisCluster, RedisServer, ServerOptions, TestCa, eventually,
};

use contract::node_bus::Unheard;
use contract::{BROADCAST_CAP, CLAIM_AFTER, EVENT_LOG_CAP, FEED_CAP};

/// The Redis a subject runs on, kept alive for the test.
enum Redis {
    Server(RedisServer),
    Cluster(RedisCluster),
}

impl Redis {
    fn blocked_clients(&self) -> u64 {
        match self {
            Redis::Server(server) => server.blocked_clients(),
            Redis::Cluster(cluster) => cluster.blocked_clients(),
        }
    }
}

/// One implementation under contract: a backplane built with the contract's sizes, and what
/// the checks need to know of it beyond the traits.
struct Subject {
    backplane: Backplane,
    /// `None` for the memory backplane.
    redis: Option<Redis>,
    /// What a send to a node without an inbox does here.
    unheard: Unheard,
}

impl Subject {
    fn memory() -> Subject {
        let config = MemoryConfig {
            feed_cap: FEED_CAP,
            broadcast_cap: BROADCAST_CAP,
            event_log_cap: EVENT_LOG_CAP,
            claim_after: CLAIM_AFTER,
            ..MemoryConfig::default()
        };
        Subject {
            backplane: Backplane::memory(&config),
            redis: None,
            unheard: Unheard::Refused,
        }
    }

    async fn redis(bus: BusKind) -> Subject {
        Subject::redis_with(bus, ServerOptions::default()).await
    }

    async fn redis_with(bus: BusKind, options: ServerOptions) -> Subject {
        let server = RedisServer::start_with(options);
        let backplane = connect(server.target(), bus).await;
        Subject {
            backplane,
            redis: Some(Redis::Server(server)),
            unheard: match bus {
                BusKind::PubSub => Unheard::Refused,
                BusKind::Stream => Unheard::Dropped,
            },
        }
    }

    async fn cluster() -> Subject {
        Subject::cluster_with(ServerOptions::default()).await
    }

    async fn cluster_with(options: ServerOptions) -> Subject {
        let cluster = RedisCluster::start_with(options);
        let backplane = connect(cluster.target(), BusKind::PubSub).await;
        Subject {
            backplane,
            redis: Some(Redis::Cluster(cluster)),
            unheard: Unheard::Dropped,
        }
    }

    /// Resolves once a read is blocked in the store. Redis lists blocked clients. The memory
    /// log shows nothing of its waiters, but its read blocks the first time its task runs,
    /// and on the test's single-threaded runtime one yield runs it.
    async fn read_blocked(&self) {
        match &self.redis {
            Some(redis) => {
                eventually("a read blocked in Redis", || async {
                    redis.blocked_clients() > 0
                })
                .await
            }
            None => tokio::task::yield_now().await,
        }
    }
}

/// TLS with a test CA, and an ACL user limited to the default prefix's keys and channels.
fn secured() -> ServerOptions {
    ServerOptions {
        tls: Some(TestCa::generate()),
        acl_user: Some(AclUser::confined_to("pg")),
        ..ServerOptions::default()
    }
}

async fn connect(target: RedisTarget, bus: BusKind) -> Backplane {
    let mut config = RedisConfig::new(target);
    config.feed_cap = FEED_CAP;
    config.broadcast_cap = BROADCAST_CAP;
    config.event_log_cap = EVENT_LOG_CAP;
    config.claim_after = CLAIM_AFTER;
    config.bus = bus;
    Backplane::redis(&config).await.expect("connect")
}

/// One test per trait for the subject `$make` builds, in a module named after it.
macro_rules! contract_for {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn feed_store() {
                let subject = $make;
                contract::feed_store::check(&subject.backplane).await;
            }

            #[tokio::test]
            async fn follow_graph() {
                let subject = $make;
                contract::follow_graph::check(&subject.backplane).await;
            }

            #[tokio::test]
            async fn post_store() {
                let subject = $make;
                contract::post_store::check(&subject.backplane).await;
            }

            #[tokio::test]
            async fn event_log() {
                let subject = $make;
                contract::event_log::check(&subject.backplane, subject.read_blocked()).await;
            }

            #[tokio::test]
            async fn broadcast_log() {
                let subject = $make;
                contract::broadcast_log::check(&subject.backplane).await;
            }

            #[tokio::test]
            async fn node_bus() {
                let subject = $make;
                contract::node_bus::check(&subject.backplane, subject.unheard).await;
            }

            #[tokio::test]
            async fn membership() {
                let subject = $make;
                contract::membership::check(&subject.backplane).await;
            }

            #[tokio::test]
            async fn presence_store() {
                let subject = $make;
                contract::presence_store::check(&subject.backplane).await;
            }

            #[tokio::test]
            async fn revocation_list() {
                let subject = $make;
                contract::revocation_list::check(&subject.backplane).await;
            }
        }
    };
}

contract_for!(memory, Subject::memory());
contract_for!(redis, Subject::redis(BusKind::PubSub).await);
contract_for!(redis_cluster, Subject::cluster().await);
contract_for!(
    redis_tls_acl,
    Subject::redis_with(BusKind::PubSub, secured()).await
);
contract_for!(
    redis_cluster_tls_acl,
    Subject::cluster_with(secured()).await
);

/// The stream node bus differs from pub/sub only in the bus.
mod redis_stream_bus {
    use super::*;

    #[tokio::test]
    async fn node_bus() {
        let subject = Subject::redis(BusKind::Stream).await;
        contract::node_bus::check(&subject.backplane, subject.unheard).await;
    }
}
