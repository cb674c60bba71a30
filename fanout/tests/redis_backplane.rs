//! What only the Redis backplane has, against real `redis-server`s: how it stores dead
//! letters (also of entries a foreign writer put in the log) and trims the log, recovery across a server restart, certificate checks, passwords
//! and an ACL user confined to the key prefix. What every backplane
//! promises is in `backplane_contract.rs`; the throughput benchmarks are the
//! `backplane_throughput` example.

use std::time::Duration;

use pushgate_fanout::backplane::{Backplane, BackplaneError, FanoutEvent};
use pushgate_fanout::redis::{RedisConfig, RedisTarget};
use pushgate_fanout::testing::raw_log::{RawLog, undecodable_entries};
use pushgate_fanout::testing::samples::{delivery, notification, post, users};
use pushgate_fanout::testing::{
    AclUser, Login, PATIENCE, RedisCluster, RedisServer, ServerOptions, TestCa, eventually,
};

/// A server and a backplane on it.
async fn standalone(tune: impl FnOnce(&mut RedisConfig)) -> (RedisServer, Backplane) {
    let server = RedisServer::start();
    let mut config = RedisConfig::new(server.target());
    tune(&mut config);
    let backplane = Backplane::redis(&config).await.expect("connect");
    (server, backplane)
}

#[tokio::test]
async fn dead_letters_keep_their_reason_in_a_stream_and_acks_trim_the_log() {
    let (server, bp) = standalone(|_| {}).await;
    bp.events
        .append(notification(1), None)
        .await
        .expect("append");
    let done = bp.events.read("a", 1, Duration::ZERO).await.expect("read");
    bp.events.ack(&[done[0].id.clone()]).await.expect("ack");
    bp.events
        .append(notification(2), None)
        .await
        .expect("append");
    let poison = bp.events.read("a", 1, Duration::ZERO).await.expect("read");
    bp.events
        .dead_letter(&poison[0], "poison")
        .await
        .expect("dead letter");
    let client = redis::Client::open(server.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let dead: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("pg:{fo}:dead")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("xrange");
    assert_eq!(dead.ids.len(), 1);
    assert_eq!(
        dead.ids[0].get::<String>("reason").as_deref(),
        Some("poison")
    );
    // Acked entries are trimmed, so the stream holds only the backlog.
    let len: u64 = redis::cmd("XLEN")
        .arg("pg:{fo}:events")
        .query_async(&mut conn)
        .await
        .expect("xlen");
    assert_eq!(len, 0);
}

#[tokio::test]
async fn an_undecodable_entry_is_dead_lettered_with_its_cause_and_the_next_event_still_flows() {
    let (server, bp) = standalone(|_| {}).await;
    let raw = RawLog::open(&server).await;
    bp.events
        .append(notification(1), None)
        .await
        .expect("append");
    let mut garbage = Vec::new();
    for entry in undecodable_entries() {
        garbage.push((raw.append(&entry.fields).await, entry.cause));
    }
    bp.events
        .append(notification(2), None)
        .await
        .expect("append");

    let read = bp.events.read("a", 10, Duration::ZERO).await.expect("read");
    let events: Vec<&FanoutEvent> = read.iter().map(|e| &e.event).collect();
    assert_eq!(
        events,
        [
            &FanoutEvent::Notify(notification(1)),
            &FanoutEvent::Notify(notification(2))
        ]
    );
    assert_eq!(raw.pending().await, 2, "the undecodable entries are acked");
    let dead = raw.dead_letters().await;
    let got: Vec<(Option<String>, Option<String>)> =
        dead.iter().map(|d| (d.get("id"), d.get("cause"))).collect();
    let want: Vec<(Option<String>, Option<String>)> = garbage
        .iter()
        .map(|(id, cause)| (Some(id.clone()), Some((*cause).to_owned())))
        .collect();
    assert_eq!(got, want);
    assert_eq!(dead[0].get("raw:vis").as_deref(), Some("sideways"));
    assert!(
        dead[0]
            .get("reason")
            .is_some_and(|r| r.contains("audience"))
    );
    assert_eq!(
        dead[1].fields.last().map(|(_, v)| v.as_slice()),
        Some(&b"\x00garbage"[..])
    );

    let ids: Vec<_> = read.iter().map(|e| e.id.clone()).collect();
    bp.events.ack(&ids).await.expect("ack");
    assert_eq!(bp.events.pending().await.expect("pending"), 0);
    assert!(
        bp.events
            .read("b", 10, Duration::ZERO)
            .await
            .expect("read")
            .is_empty(),
        "a dead-lettered entry is never handed out again"
    );
}

#[tokio::test]
async fn calls_fail_unavailable_while_redis_is_down_and_recover_after() {
    let (mut server, bp) = standalone(|_| {}).await;
    let x = users(&["x"]);
    bp.feeds.append(&x, &post(1)).await.expect("append");
    let mut inbox = bp.bus.subscribe("n1").await.expect("subscribe");
    bp.events
        .append(notification(1), None)
        .await
        .expect("append");

    server.stop();
    let down = bp.feeds.append(&x, &post(2)).await;
    assert!(
        matches!(down, Err(BackplaneError::Unavailable(_))),
        "{down:?}"
    );
    let down = bp.events.read("w", 1, Duration::ZERO).await;
    assert!(
        matches!(down, Err(BackplaneError::Unavailable(_))),
        "{down:?}"
    );

    // Back, but empty (nothing is persisted): the same backplane works again.
    server.restart();
    let second = post(2);
    let positions = eventually("feed appends to work again", || {
        bp.feeds.append(&x, &second)
    })
    .await;
    assert_eq!(positions, vec![1]);
    eventually("event appends to work again", || {
        bp.events.append(notification(2), None)
    })
    .await;
    let events = eventually("event reads to work again", || {
        bp.events.read("w", 10, Duration::ZERO)
    })
    .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, FanoutEvent::Notify(notification(2)));
    // The inbox pump resubscribes by itself; sends fail only until it has.
    eventually("the inbox to be subscribed again", || {
        bp.bus.send("n1", delivery(9))
    })
    .await;
    let resent = tokio::time::timeout(PATIENCE, inbox.recv())
        .await
        .expect("a message arrives")
        .expect("inbox open");
    assert_eq!(resent, delivery(9));
}

#[tokio::test]
async fn an_acl_user_is_confined_to_the_prefix_on_a_tls_server_and_cluster() {
    let server = RedisServer::start_with(secured());
    let bp = Backplane::redis(&RedisConfig::new(server.target()))
        .await
        .expect("connects as the ACL user over TLS");
    bp.feeds
        .append(&users(&["x"]), &post(1))
        .await
        .expect("append");
    assert_confined(&server);
    let cluster = RedisCluster::start_with(secured());
    for node in cluster.nodes() {
        assert_confined(node);
    }
}

#[tokio::test]
async fn tls_certificates_are_verified_against_the_system_roots_or_the_given_ca() {
    let server = RedisServer::start_with(ServerOptions {
        tls: Some(TestCa::generate()),
        ..ServerOptions::default()
    });
    let stranger = TestCa::generate();
    for ca in [None, Some(stranger.ca_cert())] {
        let target = RedisTarget::new(&server.url(), ca.as_deref()).expect("parses");
        let refused = Backplane::redis(&RedisConfig::new(target)).await;
        let Err(e) = refused else {
            panic!("connected to a server whose certificate chains to no trusted CA ({ca:?})");
        };
        assert!(e.to_string().contains("certificate"), "{e}");
    }
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_no_error_shows_a_password() {
    let server = RedisServer::start_with(ServerOptions {
        requirepass: Some("right-password".into()),
        ..ServerOptions::default()
    });
    let ok = Backplane::redis(&RedisConfig::new(server.target()))
        .await
        .expect("connects with the password");
    ok.feeds
        .append(&users(&["x"]), &post(1))
        .await
        .expect("append");
    let wrong = server.url().replace("right-password", "wrong-password");
    let target = RedisTarget::new(&wrong, None).expect("parses");
    assert_eq!(
        target.to_string(),
        server.url().replace("right-password", "***")
    );
    let Err(e) = Backplane::redis(&RedisConfig::new(target)).await else {
        panic!("connected with a wrong password");
    };
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("authentication failed"), "{shown}");
    assert!(!shown.contains("wrong-password"), "{shown}");
}

/// TLS with a test CA and an ACL user limited to the default prefix's keys and channels
/// (the contract suite runs every trait through such a server and cluster).
fn secured() -> ServerOptions {
    ServerOptions {
        tls: Some(TestCa::generate()),
        acl_user: Some(AclUser::confined_to("pg")),
        ..ServerOptions::default()
    }
}

/// The ACL really applies: the client user cannot touch a key or channel outside the prefix.
fn assert_confined(server: &RedisServer) {
    for command in [&["SET", "other:x", "1"][..], &["PUBLISH", "other", "1"]] {
        let mut cli = server.cli(Login::Client);
        let out = cli.args(command).output().expect("redis-cli");
        let reply = String::from_utf8_lossy(&out.stdout);
        assert!(
            reply.contains("NOPERM"),
            "{command:?} outside the prefix: {reply}"
        );
    }
}
