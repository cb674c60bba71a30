//! Scale-out over Redis with real processes: 3 gateways, 2 workers and an API sharing one
//! Redis (or a 3-master Cluster); node and worker kills; a Redis restart under live clients.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use pushgate_fanout::testing::{RedisCluster, RedisServer};
use pushgate_fanout::token::TokenVerifier;
use pushgate_protocol::{Codec, Cursor, ServerFrame};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Process as Proc, WsClient, metrics_text, rest_call};

const SECRET: &str = "cluster-test-secret-0123456789";
const API_KEY: &str = "cluster-test-api-key-0123456789";
/// Short membership beats so a dead node leaves the ring within a second.
const MEMBERSHIP_MS: &str = "200";

/// What every process of the deployment is started with.
const CREDENTIALS: &[(&str, &str)] = &[
    ("PUSHGATE_JWT_SECRET", SECRET),
    ("PUSHGATE_API_KEY", API_KEY),
];

/// A REST client of the deployment's API process; cheap to clone into client tasks.
#[derive(Clone)]
struct ApiClient {
    base: String,
    http: reqwest::Client,
    verifier: TokenVerifier,
}

impl ApiClient {
    fn token(&self, user: &str) -> String {
        self.verifier.mint(user, 3600)
    }

    /// A call that reports status 0 when the API cannot be reached at all.
    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        rest_call(
            &self.http,
            method,
            &format!("{}{path}", self.base),
            bearer,
            body,
        )
        .await
    }

    /// The WebSocket URL and node ID of `user`'s home, as `/v1/connect` says.
    async fn home(&self, user: &str) -> (String, String) {
        let (status, info) = self
            .call(Method::GET, "/v1/connect", &self.token(user), None)
            .await;
        assert_eq!(status, 200, "{info}");
        (
            info["url"].as_str().expect("url").to_owned(),
            info["node"].as_str().expect("node").to_owned(),
        )
    }
}

/// A running deployment.
struct Deployment {
    redis_url: String,
    prefix: String,
    gateways: Vec<Proc>,
    workers: Vec<Proc>,
    /// Kept for its lifetime: the process dies with the deployment.
    _api: Proc,
    api: ApiClient,
}

fn common(redis: &str, prefix: &str) -> Vec<String> {
    [
        "--listen",
        "127.0.0.1:0",
        "--redis",
        redis,
        "--redis-prefix",
        prefix,
        "--membership-interval-ms",
        MEMBERSHIP_MS,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Deployment {
    async fn start(redis_url: &str, gateways: usize, workers: usize) -> Deployment {
        let prefix = format!("t{}", rand::random::<u32>());
        let api = Proc::spawn(
            &[vec!["api".into()], common(redis_url, &prefix)].concat(),
            CREDENTIALS,
        );
        let client = ApiClient {
            base: format!("http://{}", api.addr),
            http: reqwest::Client::new(),
            verifier: TokenVerifier::new(SECRET, API_KEY),
        };
        let mut deployment = Deployment {
            redis_url: redis_url.to_owned(),
            prefix,
            gateways: Vec::new(),
            workers: Vec::new(),
            _api: api,
            api: client,
        };
        for i in 0..gateways {
            deployment.add_gateway(i);
        }
        for i in 0..workers {
            // "star" (followed by everyone in the delivery tests) is a celebrity.
            deployment.add_worker(&[
                format!("--worker-name=w{i}"),
                "--celebrity-threshold=30".into(),
            ]);
        }
        if gateways > 0 {
            deployment.wait_for_nodes(gateways).await;
        }
        deployment
    }

    fn add_gateway(&mut self, i: usize) {
        self.add_gateway_with(i, &[]);
    }

    fn add_gateway_with(&mut self, i: usize, extra: &[String]) {
        let args = [
            vec![
                "gateway".into(),
                format!("--node-id=gw{i}"),
                "--resume-window-ms=100".into(),
            ],
            common(&self.redis_url, &self.prefix),
            extra.to_vec(),
        ]
        .concat();
        self.gateways.push(Proc::spawn(&args, CREDENTIALS));
    }

    fn add_worker(&mut self, extra: &[String]) {
        let args = [
            vec!["worker".into()],
            common(&self.redis_url, &self.prefix),
            extra.to_vec(),
        ]
        .concat();
        self.workers.push(Proc::spawn(&args, CREDENTIALS));
    }

    fn token(&self, user: &str) -> String {
        self.api.token(user)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.api.call(method, path, bearer, body).await
    }

    async fn home(&self, user: &str) -> (String, String) {
        self.api.home(user).await
    }

    /// Wait until the API sees exactly `n` live gateway nodes.
    async fn wait_for_nodes(&self, n: usize) {
        eventually("the ring to settle", || async {
            let (status, ready) = self.call(Method::GET, "/readyz", "", None).await;
            status == 200 && ready["nodes"] == n
        })
        .await;
    }

    async fn follow(&self, user: &str, author: &str) {
        let (status, body) = self
            .call(
                Method::PUT,
                &format!("/v1/follows/{author}"),
                &self.token(user),
                None,
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }

    async fn post(&self, author: &str, content: &str) -> u64 {
        let body = json!({ "content": content, "author": author });
        let (status, post) = self
            .call(Method::POST, "/v1/posts", API_KEY, Some(body))
            .await;
        assert_eq!(status, 201, "{post}");
        post["id"].as_u64().expect("id")
    }

    fn gateway_url(&self, i: usize) -> String {
        format!("ws://{}/v1/ws", self.gateways[i].addr)
    }
}

/// Poll `check` until it holds, failing the test after 40 s: generous, because these
/// processes share the CI machine's cores with every other test binary (a 20 s limit failed
/// once beside a release build).
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client that keeps collecting post IDs until it has `want`, reconnecting to wherever
/// `/v1/connect` points and resuming after its last cursor whenever its socket dies. Returns
/// the IDs and the still-open client.
async fn collect(
    api: ApiClient,
    user: String,
    first_url: String,
    want: usize,
) -> (Vec<u64>, WsClient) {
    let user = user.as_str();
    let token = api.token(user);
    let mut url = first_url;
    let mut cursor: Option<Cursor> = None;
    let mut ids = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{user} got only {} of {want}: {ids:?}",
            ids.len()
        );
        let Ok(mut client) = WsClient::connect_url(&url, &token, Codec::Json, cursor).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            url = api.home(user).await.0;
            continue;
        };
        if cursor.is_none() {
            cursor = Some(client.welcome_cursor());
        }
        loop {
            match client.try_next(Duration::from_secs(30)).await {
                Some(ServerFrame::Post { id, cursor: at, .. }) => {
                    ids.push(id);
                    cursor = Some(at);
                    if ids.len() >= want {
                        return (ids, client);
                    }
                }
                Some(_) => {}
                // The node died under us: ask where to go now.
                None => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    url = api.home(user).await.0;
                    break;
                }
            }
        }
    }
}

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i:02}")).collect()
}

/// Everyone follows alice and the celebrity star (fanned out by broadcast); some users
/// connect to a node that is not their home.
async fn delivery_across_nodes(redis_url: &str) {
    let deployment = Deployment::start(redis_url, 3, 2).await;
    let users = users(36);
    for user in &users {
        deployment.follow(user, "alice").await;
        deployment.follow(user, "star").await;
    }
    let mut tasks = Vec::new();
    let mut homes: HashMap<String, usize> = HashMap::new();
    for (i, user) in users.iter().enumerate() {
        let (home_url, _) = deployment.home(user).await;
        let home = (0..3)
            .find(|&g| deployment.gateway_url(g) == home_url)
            .expect("home is one of ours");
        *homes.entry(home_url.clone()).or_default() += 1;
        // Every sixth user deliberately connects away from home and relies on the relay.
        let url = if i % 6 == 0 {
            deployment.gateway_url((home + 1) % 3)
        } else {
            home_url
        };
        let client = WsClient::connect_url(&url, &deployment.token(user), Codec::Json, None)
            .await
            .expect("connects");
        tasks.push((user.clone(), client));
    }
    assert!(homes.len() > 1, "users spread over the nodes: {homes:?}");
    // Let the away users' attachments reach their homes.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut posted = Vec::new();
    // Interleaved, so both workers race on broadcasts and per-follower deliveries alike.
    for i in 0..20 {
        let author = if i % 2 == 0 { "alice" } else { "star" };
        posted.push(deployment.post(author, &format!("post {i}")).await);
    }
    for (user, mut client) in tasks {
        let mut got: Vec<u64> = client
            .posts(20)
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        client.silent_for(Duration::from_millis(200)).await;
        got.sort_unstable();
        assert_eq!(got, posted, "{user} got every post exactly once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_two_workers_deliver_every_post_exactly_once() {
    let redis = RedisServer::start();
    delivery_across_nodes(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_works_on_a_three_master_redis_cluster() {
    let cluster = RedisCluster::start();
    delivery_across_nodes(&cluster.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_gateway_loses_nothing_and_the_ring_and_presence_heal() {
    let redis = RedisServer::start();
    let mut deployment = Deployment::start(&redis.url(), 3, 2).await;
    let users = users(30);
    for user in &users {
        deployment.follow(user, "alice").await;
    }
    let victim = deployment.gateway_url(1);
    let victim_node = "gw1";
    let mut victims = Vec::new();
    let total = 30;
    // A user who never comes back after the crash: presence must let go of it by itself.
    let loner = WsClient::connect_url(&victim, &deployment.token("loner"), Codec::Json, None)
        .await
        .expect("connects");
    let mut collectors = Vec::new();
    for user in &users {
        let (url, node) = deployment.home(user).await;
        if node == victim_node {
            victims.push(user.clone());
        }
        let (api, user) = (deployment.api.clone(), user.clone());
        collectors.push(tokio::spawn(async move {
            (user.clone(), collect(api, user, url, total).await)
        }));
    }
    assert!(!victims.is_empty(), "some users live on the victim");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut posted = Vec::new();
    for i in 0..total {
        if i == 10 {
            deployment.gateways[1].kill9();
        }
        posted.push(deployment.post("alice", &format!("post {i}")).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut clients = Vec::new();
    for collector in collectors {
        let (user, (mut got, client)) = collector.await.expect("collector");
        got.sort_unstable();
        assert_eq!(got, posted, "{user} got every post exactly once");
        clients.push(client);
    }
    // The ring no longer names the dead node, and its users are online elsewhere.
    deployment.wait_for_nodes(2).await;
    drop(loner);
    eventually(
        "the crashed node's lease to take its users offline",
        || async {
            let (_, presence) = deployment
                .call(Method::GET, "/v1/presence?users=loner", API_KEY, None)
                .await;
            presence["users"][0]["online"] == false && presence["users"][0]["last_seen"].is_u64()
        },
    )
    .await;
    for user in &victims {
        assert_ne!(deployment.home(user).await.0, victim);
    }
    let list = victims.join(",");
    eventually("presence to follow the moved users", || async {
        let (_, presence) = deployment
            .call(
                Method::GET,
                &format!("/v1/presence?users={list}"),
                API_KEY,
                None,
            )
            .await;
        presence["users"]
            .as_array()
            .is_some_and(|all| all.iter().all(|p| p["online"] == true))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_unacknowledged_events_are_finished_by_another() {
    let redis = RedisServer::start();
    // No gateway yet: the first worker can read events but not route them, so they stay
    // pending in its name while it retries.
    let mut deployment = Deployment::start(&redis.url(), 0, 0).await;
    deployment.add_worker(&["--worker-name=doomed".into(), "--max-attempts=1000".into()]);
    for user in users(5) {
        deployment.follow(&user, "alice").await;
    }
    let mut posted = Vec::new();
    for i in 0..5 {
        posted.push(deployment.post("alice", &format!("post {i}")).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    deployment.workers[0].kill9();

    deployment.add_gateway(0);
    deployment.wait_for_nodes(1).await;
    deployment.add_worker(&[
        "--worker-name=rescuer".into(),
        "--claim-after-ms=500".into(),
    ]);
    let rescuer = deployment.workers[1].addr;
    eventually(
        "the rescuer to finish the doomed worker's events",
        || async {
            let (status, ready) = deployment.call(Method::GET, "/readyz", "", None).await;
            status == 200 && ready["backlog"] == 0
        },
    )
    .await;
    let metrics = metrics_text(rescuer).await;
    assert!(
        metrics.contains("pushgate_worker_events_total 5"),
        "{metrics}"
    );
    for user in users(5) {
        let url = deployment.home(&user).await.0;
        let mut client = WsClient::connect_url(
            &url,
            &deployment.token(&user),
            Codec::Json,
            Some(Cursor::default()),
        )
        .await
        .expect("connects");
        let got: Vec<u64> = client
            .posts(5)
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(got, posted, "{user}");
        assert_eq!(
            client.next().await,
            ServerFrame::Resumed {
                replayed: 5,
                complete: true
            }
        );
        client.silent_for(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_recover_from_a_redis_restart_without_restarting() {
    let mut redis = RedisServer::start();
    let deployment = Deployment::start(&redis.url(), 1, 1).await;
    deployment.follow("bob", "alice").await;
    let (url, _) = deployment.home("bob").await;
    let mut bob = WsClient::connect_url(&url, &deployment.token("bob"), Codec::Json, None)
        .await
        .expect("connects");
    let first = deployment.post("alice", "before").await;
    assert_eq!(
        bob.posts(1).await[0].0,
        first,
        "delivered before the restart"
    );

    redis.stop();
    eventually("the API to report the outage", || async {
        let (status, problem) = deployment.call(Method::GET, "/readyz", "", None).await;
        status == 503 && problem["code"] == "unavailable"
    })
    .await;
    let (status, problem) = deployment
        .call(
            Method::POST,
            "/v1/posts",
            API_KEY,
            Some(json!({ "content": "lost?", "author": "alice" })),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("unavailable")),
        "{problem}"
    );

    redis.restart();
    // Nothing was persisted: membership and presence come back from heartbeats; the follow
    // graph is the application's to restore.
    deployment.wait_for_nodes(1).await;
    deployment.follow("bob", "alice").await;
    let after = deployment.post("alice", "after").await;
    assert_eq!(
        bob.posts(1).await[0].0,
        after,
        "the same socket keeps receiving"
    );
    eventually("presence to be re-announced", || async {
        let (_, presence) = deployment
            .call(Method::GET, "/v1/presence?users=bob", API_KEY, None)
            .await;
        presence["users"][0]["online"] == true
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutting_a_gateways_inbox_subscription_loses_no_post() {
    let redis = RedisServer::start();
    let deployment = Deployment::start(&redis.url(), 1, 1).await;
    deployment.follow("bob", "alice").await;
    let (url, _) = deployment.home("bob").await;
    let mut bob = WsClient::connect_url(&url, &deployment.token("bob"), Codec::Json, None)
        .await
        .expect("connects");
    let first = deployment.post("alice", "before").await;
    assert_eq!(bob.posts(1).await[0].0, first);

    // Cut the gateway's inbox subscription: whatever is published before it resubscribes is
    // lost on the bus, but not for bob (a later push reveals the gap and the feed fills it).
    let mut posted = Vec::new();
    let clients = Command::new("redis-cli")
        .args(["-u", &redis.url(), "CLIENT", "LIST"])
        .output()
        .expect("redis-cli");
    let subscribers: Vec<String> = String::from_utf8_lossy(&clients.stdout)
        .lines()
        .filter(|line| {
            line.split(' ')
                .any(|f| f.starts_with("sub=") && f != "sub=0")
        })
        .filter_map(|line| {
            line.split(' ')
                .find_map(|f| f.strip_prefix("id="))
                .map(str::to_owned)
        })
        .collect();
    assert!(
        !subscribers.is_empty(),
        "the gateway subscribes to its inbox"
    );
    for id in subscribers {
        let killed = Command::new("redis-cli")
            .args(["-u", &redis.url(), "CLIENT", "KILL", "ID", &id])
            .output()
            .expect("redis-cli");
        assert!(killed.status.success());
    }
    for i in 0..3 {
        posted.push(deployment.post("alice", &format!("during {i}")).await);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    posted.push(deployment.post("alice", "after").await);
    let got: Vec<u64> = bob
        .posts(posted.len())
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(got, posted, "every post once, in order");
    bob.silent_for(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_whose_home_is_full_are_sent_to_a_node_with_room_and_still_get_pushes() {
    let redis = RedisServer::start();
    let mut deployment = Deployment::start(&redis.url(), 0, 1).await;
    deployment.add_gateway_with(0, &["--max-connections=2".into()]);
    deployment.add_gateway(1);
    deployment.wait_for_nodes(2).await;
    let users = users(12);
    for user in &users {
        deployment.follow(user, "alice").await;
    }
    // Connect everyone where /v1/connect says, one at a time, letting the full node's
    // heartbeat report its count before the next user asks.
    let mut clients = Vec::new();
    let mut on_small = 0;
    for user in &users {
        let (url, node) = deployment.home(user).await;
        on_small += usize::from(node == "gw0");
        let client = WsClient::connect_url(&url, &deployment.token(user), Codec::Json, None)
            .await
            .unwrap_or_else(|e| panic!("{user} refused at {node}: {e}"));
        clients.push(client);
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
    assert!(
        on_small <= 2,
        "gw0 holds at most its capacity, got {on_small}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = deployment.post("alice", "reaches everyone").await;
    for client in &mut clients {
        assert_eq!(client.posts(1).await[0].0, id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_runs_on_the_worker_threads_it_is_given() {
    let redis = RedisServer::start();
    let mut deployment = Deployment::start(&redis.url(), 0, 0).await;
    deployment.add_gateway_with(0, &["--worker-threads=1".into()]);
    deployment.wait_for_nodes(1).await;
    let metrics = metrics_text(deployment.gateways[0].addr).await;
    let workers = metrics
        .lines()
        .find_map(|line| line.strip_prefix("pushgate_runtime_worker_threads "))
        .unwrap_or_else(|| panic!("no worker-thread gauge in {metrics}"));
    assert_eq!(workers.trim(), "1", "one runtime worker thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_and_revoke_reach_every_node_of_a_cluster() {
    let redis = RedisServer::start();
    let deployment = Deployment::start(&redis.url(), 3, 0).await;
    let old = deployment.token("alice");
    let mut sockets = Vec::new();
    for i in [0, 2] {
        let url = deployment.gateway_url(i);
        sockets.push(
            WsClient::connect_url(&url, &old, Codec::Json, None)
                .await
                .expect("connects"),
        );
    }
    let started = std::time::Instant::now();
    let (status, body) = deployment
        .call(
            Method::POST,
            "/v1/users/alice/disconnect",
            API_KEY,
            Some(json!({ "revoke_tokens": true })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    for socket in &mut sockets {
        let close = socket.closed().await.expect("a close frame");
        assert_eq!(u16::from(close.code), 4001);
    }
    eprintln!("both sockets closed {:?} after the call", started.elapsed());
    // Refused on a node that held none of alice's sockets, and by the API process.
    let other = WsClient::connect_url(&deployment.gateway_url(1), &old, Codec::Json, None).await;
    assert!(other.is_err(), "the revoked token connects nowhere");
    let (status, _) = deployment.call(Method::GET, "/v1/feed", &old, None).await;
    assert_eq!(status, 401);
    // A process started after the revocation reads it at start.
    let late = Proc::spawn(
        &[vec!["api".into()], common(&redis.url(), &deployment.prefix)].concat(),
        CREDENTIALS,
    );
    let (status, _) = rest_call(
        &reqwest::Client::new(),
        Method::GET,
        &format!("http://{}/v1/feed", late.addr),
        &old,
        None,
    )
    .await;
    assert_eq!(status, 401);
}
