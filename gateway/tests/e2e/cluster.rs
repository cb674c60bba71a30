//! Scale-out over Redis with real processes: 3 gateways, 2 workers and an API sharing one
//! Redis (or a 3-master Cluster); node and worker kills; a Redis restart under live clients.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pushgate_fanout::backplane::{Backplane, Inbox};
use pushgate_fanout::redis::{RedisConfig, RedisTarget};
use pushgate_fanout::ring::{DEFAULT_VNODES, Ring};
use pushgate_fanout::testing::{PATIENCE, RedisCluster, RedisServer, eventually};
use pushgate_fanout::token::TokenVerifier;
use pushgate_protocol::{Codec, Cursor, NodeMessage, ServerFrame};
use reqwest::Method;
use serde_json::{Value, json};

use crate::friends::{Api, friends_posts_reach_friends_only};
use crate::support::{Process as Proc, WsClient, metrics_text, rest_call};

pub(crate) const SECRET: &str = "cluster-test-secret-0123456789";
pub(crate) const API_KEY: &str = "cluster-test-api-key-0123456789";
/// Short membership beats so a dead node leaves the ring within a second.
const MEMBERSHIP_MS: &str = "200";

/// What every process of the deployment is started with.
pub(crate) const CREDENTIALS: &[(&str, &str)] = &[
    ("PUSHGATE_JWT_SECRET", SECRET),
    ("PUSHGATE_API_KEY", API_KEY),
];

/// A REST client of the deployment's API process; cheap to clone into client tasks.
#[derive(Clone)]
pub(crate) struct ApiClient {
    base: String,
    http: reqwest::Client,
    verifier: TokenVerifier,
}

impl ApiClient {
    pub(crate) fn token(&self, user: &str) -> String {
        self.verifier.mint(user, 3600)
    }

    /// A call that reports status 0 when the API cannot be reached at all.
    pub(crate) async fn call(
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
    pub(crate) async fn home(&self, user: &str) -> (String, String) {
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

/// How every process of a deployment reaches Redis.
#[derive(Clone, Debug)]
pub(crate) struct Backend {
    /// `--redis`, which the test's own backplane connects to as well.
    url: String,
    /// `--redis-ca-cert`, when the server's certificate chains to a test CA.
    ca_cert: Option<PathBuf>,
    /// Any other flags every process gets.
    flags: Vec<String>,
    /// The key prefix, so tests can share a server (or match an ACL user's key patterns).
    prefix: String,
}

impl Backend {
    /// `url` without TLS trust of its own, under a random prefix.
    pub(crate) fn at(url: &str) -> Self {
        Self::new(url, None, &format!("t{}", rand::random::<u32>()))
    }

    /// `url`, trusting `ca_cert` for TLS, under `prefix`.
    pub(crate) fn new(url: &str, ca_cert: Option<&Path>, prefix: &str) -> Self {
        Self {
            url: url.to_owned(),
            ca_cert: ca_cert.map(Path::to_path_buf),
            flags: Vec::new(),
            prefix: prefix.to_owned(),
        }
    }

    /// The same, with `flag` for every process too.
    pub(crate) fn flag(mut self, flag: &str) -> Self {
        self.flags.push(flag.to_owned());
        self
    }

    /// The flags every process of the deployment starts with.
    pub(crate) fn common(&self) -> Vec<String> {
        let mut args: Vec<String> = ["--listen", "127.0.0.1:0", "--redis-prefix"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(self.prefix.clone());
        args.extend([
            "--membership-interval-ms".to_owned(),
            MEMBERSHIP_MS.to_owned(),
        ]);
        args.extend(["--redis".to_owned(), self.url.clone()]);
        if let Some(ca) = &self.ca_cert {
            args.extend(["--redis-ca-cert".to_owned(), ca.display().to_string()]);
        }
        args.extend(self.flags.iter().cloned());
        args
    }
}

/// A running deployment.
pub(crate) struct Deployment {
    pub(crate) backend: Backend,
    pub(crate) gateways: Vec<Proc>,
    pub(crate) workers: Vec<Proc>,
    /// Kept for its lifetime: the process dies with the deployment.
    _api: Proc,
    pub(crate) api: ApiClient,
}

impl Deployment {
    async fn start(redis_url: &str, gateways: usize, workers: usize) -> Deployment {
        Self::start_on(Backend::at(redis_url), gateways, workers).await
    }

    /// A deployment on `backend`.
    pub(crate) async fn start_on(backend: Backend, gateways: usize, workers: usize) -> Deployment {
        let api = Proc::spawn(
            &[vec!["api".into()], backend.common()].concat(),
            CREDENTIALS,
        );
        let client = ApiClient {
            base: format!("http://{}", api.addr),
            http: reqwest::Client::new(),
            verifier: TokenVerifier::new(SECRET, API_KEY),
        };
        let mut deployment = Deployment {
            backend,
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
            self.backend.common(),
            extra.to_vec(),
        ]
        .concat();
        self.gateways.push(Proc::spawn(&args, CREDENTIALS));
    }

    fn add_worker(&mut self, extra: &[String]) {
        let args = [vec!["worker".into()], self.backend.common(), extra.to_vec()].concat();
        self.workers.push(Proc::spawn(&args, CREDENTIALS));
    }

    pub(crate) fn token(&self, user: &str) -> String {
        self.api.token(user)
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.api.call(method, path, bearer, body).await
    }

    pub(crate) async fn home(&self, user: &str) -> (String, String) {
        self.api.home(user).await
    }

    /// Wait until the API sees exactly `n` live gateway nodes.
    pub(crate) async fn wait_for_nodes(&self, n: usize) {
        eventually("the ring to settle", || async {
            let (status, ready) = self.call(Method::GET, "/readyz", "", None).await;
            status == 200 && ready["nodes"] == n
        })
        .await;
    }

    pub(crate) async fn follow(&self, user: &str, author: &str) {
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

    pub(crate) async fn post(&self, author: &str, content: &str) -> u64 {
        let body = json!({ "content": content, "author": author });
        let (status, post) = self
            .call(Method::POST, "/v1/posts", API_KEY, Some(body))
            .await;
        assert_eq!(status, 201, "{post}");
        post["id"].as_u64().expect("id")
    }

    pub(crate) fn gateway_url(&self, i: usize) -> String {
        format!("ws://{}/v1/ws", self.gateways[i].addr)
    }

    /// A backplane on the deployment's Redis and key prefix, seeing what its processes see.
    async fn backplane(&self) -> Backplane {
        let target = RedisTarget::new(&self.backend.url, self.backend.ca_cert.as_deref())
            .expect("the deployment's Redis URL parses");
        let mut config = RedisConfig::new(target);
        config.key_prefix = self.backend.prefix.clone();
        Backplane::redis(&config)
            .await
            .expect("connect to the deployment's Redis")
    }

    /// Start hearing every gateway's inbox, before the users whose attachments it is to see
    /// connect.
    async fn watch_attachments(&self) -> AttachmentWatch {
        let backplane = self.backplane().await;
        let mut inboxes = Vec::new();
        for i in 0..self.gateways.len() {
            let node = format!("gw{i}");
            let inbox = backplane.bus.subscribe(&node).await.expect("subscribe");
            inboxes.push((node, inbox));
        }
        AttachmentWatch {
            backplane,
            inboxes,
            seen: HashSet::new(),
        }
    }
}

/// Hears gateway inboxes as their nodes do, to tell when a socket away from its user's home
/// has been attached there. A home applies its inbox in order, so once the `Attach` is in the
/// home's inbox every later delivery to it reaches the away socket through the relay.
struct AttachmentWatch {
    /// Where the listening inboxes and the live node list come from.
    backplane: Backplane,
    /// (node, what that node hears).
    inboxes: Vec<(String, Inbox)>,
    /// (home, node holding the socket, user) for every attachment heard so far.
    seen: HashSet<(String, String, String)>,
}

impl AttachmentWatch {
    /// Wait until every `(user, node)` socket held away from the user's home (as the live
    /// nodes' ring says) is attached at that home.
    async fn wait_for_homes(&mut self, sockets: &[(String, String)]) {
        let live = self.backplane.membership.live().await.expect("live nodes");
        let ring = Ring::new(live, DEFAULT_VNODES);
        let expected: Vec<(String, String, String)> = sockets
            .iter()
            .filter_map(|(user, node)| {
                let home = &ring.home(user).expect("a live home").id;
                (home != node).then(|| (home.clone(), node.clone(), user.clone()))
            })
            .collect();
        assert!(!expected.is_empty(), "some sockets are away from home");
        eventually("away sockets to be attached at their homes", || {
            for (home, inbox) in &mut self.inboxes {
                while let Ok(message) = inbox.try_recv() {
                    if let NodeMessage::Attach { node, users } = message {
                        for user in users {
                            self.seen.insert((home.clone(), node.clone(), user));
                        }
                    }
                }
            }
            let missing: Vec<&(String, String, String)> = expected
                .iter()
                .filter(|attachment| !self.seen.contains(*attachment))
                .collect();
            let settled = missing.is_empty().then_some(());
            let seen = format!("missing (home, node, user) {missing:?}");
            async move { settled.ok_or(seen) }
        })
        .await;
    }
}

/// `redis-cli` against `url`; its output.
fn redis_cli(url: &str, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-u", url])
        .args(args)
        .output()
        .expect("redis-cli");
    assert!(output.status.success(), "redis-cli {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The pub/sub subscribers connected to the Redis at `url` (only gateways subscribe), as
/// (client ID, subscribed channels).
fn subscribers(url: &str) -> Vec<(String, String)> {
    redis_cli(url, &["CLIENT", "LIST"])
        .lines()
        .filter_map(|line| {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(name))
                    .map(str::to_owned)
            };
            let subs = field("sub=").filter(|n| n != "0")?;
            Some((field("id=")?, subs))
        })
        .collect()
}

/// A client that keeps collecting post IDs from `client` until it has `want`, reconnecting to
/// wherever `/v1/connect` points and resuming after its last cursor whenever its socket dies.
/// Returns the IDs and the still-open client.
async fn collect(
    api: ApiClient,
    user: String,
    mut client: WsClient,
    want: usize,
) -> (Vec<u64>, WsClient) {
    let user = user.as_str();
    let token = api.token(user);
    let mut cursor = client.welcome_cursor();
    let mut ids = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{user} got only {} of {want}: {ids:?}",
            ids.len()
        );
        match client.try_next(Duration::from_secs(30)).await {
            Some(ServerFrame::Post { id, cursor: at, .. }) => {
                ids.push(id);
                cursor = at;
                if ids.len() >= want {
                    return (ids, client);
                }
            }
            Some(_) => {}
            // The node died under us: go where `/v1/connect` points now, which names the dead
            // node until the ring lets go of it.
            None => {
                client = eventually(&format!("{user} to reconnect"), || async {
                    let url = api.home(user).await.0;
                    WsClient::connect_url(&url, &token, Codec::Json, Some(cursor))
                        .await
                        .ok()
                })
                .await;
            }
        }
    }
}

pub(crate) fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i:02}")).collect()
}

/// Everyone follows alice and the celebrity star (fanned out by broadcast); some users
/// connect to a node that is not their home. Returns the deployment, still running.
pub(crate) async fn delivery_across_nodes(backend: Backend) -> Deployment {
    let deployment = Deployment::start_on(backend, 3, 2).await;
    let users = users(36);
    for user in &users {
        deployment.follow(user, "alice").await;
        deployment.follow(user, "star").await;
    }
    let mut attachments = deployment.watch_attachments().await;
    let mut tasks = Vec::new();
    let mut sockets = Vec::new();
    let mut homes: HashMap<String, usize> = HashMap::new();
    for (i, user) in users.iter().enumerate() {
        let (home_url, _) = deployment.home(user).await;
        let home = (0..3)
            .find(|&g| deployment.gateway_url(g) == home_url)
            .expect("home is one of ours");
        *homes.entry(home_url.clone()).or_default() += 1;
        // Every sixth user deliberately connects away from home and relies on the relay.
        let at = if i % 6 == 0 { (home + 1) % 3 } else { home };
        let client = WsClient::connect_url(
            &deployment.gateway_url(at),
            &deployment.token(user),
            Codec::Json,
            None,
        )
        .await
        .expect("connects");
        tasks.push((user.clone(), client));
        sockets.push((user.clone(), format!("gw{at}")));
    }
    assert!(homes.len() > 1, "users spread over the nodes: {homes:?}");
    attachments.wait_for_homes(&sockets).await;
    drop(attachments);

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
    deployment
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_two_workers_deliver_every_post_exactly_once() {
    let redis = RedisServer::start();
    delivery_across_nodes(Backend::at(&redis.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_works_on_a_three_master_redis_cluster() {
    let cluster = RedisCluster::start();
    delivery_across_nodes(Backend::at(&cluster.url())).await;
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
        // Welcomed means registered for deliveries: every post below reaches it.
        let client = WsClient::connect_url(&url, &deployment.token(user), Codec::Json, None)
            .await
            .expect("connects");
        let (api, user) = (deployment.api.clone(), user.clone());
        collectors.push(tokio::spawn(async move {
            (user.clone(), collect(api, user, client, total).await)
        }));
    }
    assert!(!victims.is_empty(), "some users live on the victim");
    // The loner's connect must be published before the crash, or there is no presence for
    // the lease to end.
    eventually("the victim to publish the loner's presence", || async {
        let (_, presence) = deployment
            .call(Method::GET, "/v1/presence?users=loner", API_KEY, None)
            .await;
        presence["users"][0]["online"] == true
    })
    .await;

    // A third of the posts before the crash, a third while the ring may still name the dead
    // node, a third once it no longer does.
    let mut posted = Vec::new();
    for i in 0..total {
        if i == total / 3 {
            deployment.gateways[1].kill9();
        }
        if i == 2 * total / 3 {
            deployment.wait_for_nodes(2).await;
        }
        posted.push(deployment.post("alice", &format!("post {i}")).await);
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
    let events = format!("{}:{{fo}}:events", deployment.backend.prefix);
    eventually(
        "the doomed worker to hold every event unacknowledged",
        || {
            // XPENDING's summary: the count, the lowest and highest IDs, then (consumer, count).
            let pending = redis_cli(&redis.url(), &["XPENDING", &events, "fanout"]);
            let lines: Vec<&str> = pending.lines().collect();
            let settled = lines.first() == Some(&"5") && lines.get(3..) == Some(&["doomed", "5"]);
            async move { settled.then_some(()).ok_or(pending) }
        },
    )
    .await;
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
    // Nothing was persisted: membership and presence come back from heartbeats, the inbox
    // subscription from the gateway's pump; the follow graph is the application's to restore.
    deployment.wait_for_nodes(1).await;
    eventually("the gateway to subscribe to its inbox again", || async {
        !subscribers(&redis.url()).is_empty()
    })
    .await;
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
        let online = presence["users"][0]["online"] == true;
        online.then_some(()).ok_or(presence)
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
    let cut = subscribers(&redis.url());
    assert!(!cut.is_empty(), "the gateway subscribes to its inbox");
    for (id, _) in &cut {
        redis_cli(&redis.url(), &["CLIENT", "KILL", "ID", id]);
    }
    for i in 0..3 {
        posted.push(deployment.post("alice", &format!("during {i}")).await);
    }
    // The same channels again, on new connections.
    let mut channels: Vec<&String> = cut.iter().map(|(_, subs)| subs).collect();
    channels.sort();
    eventually("the gateway to subscribe to its inbox again", || {
        let now = subscribers(&redis.url());
        let mut again: Vec<&String> = now
            .iter()
            .filter(|(id, _)| cut.iter().all(|(old, _)| old != id))
            .map(|(_, subs)| subs)
            .collect();
        again.sort();
        let settled = again == channels;
        async move { settled }
    })
    .await;
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
    const SMALL: usize = 2;
    let redis = RedisServer::start();
    let mut deployment = Deployment::start(&redis.url(), 0, 1).await;
    deployment.add_gateway_with(0, &[format!("--max-connections={SMALL}")]);
    deployment.add_gateway(1);
    deployment.wait_for_nodes(2).await;
    let users = users(12);
    for user in &users {
        deployment.follow(user, "alice").await;
    }
    let mut attachments = deployment.watch_attachments().await;
    // Connect everyone where /v1/connect says, one at a time. Once gw0 is full, its
    // heartbeat must reach the API before the next user asks.
    let mut clients = Vec::new();
    let mut sockets = Vec::new();
    let mut on_small = 0;
    for user in &users {
        let (url, node) = deployment.home(user).await;
        let client = WsClient::connect_url(&url, &deployment.token(user), Codec::Json, None)
            .await
            .unwrap_or_else(|e| panic!("{user} refused at {node}: {e}"));
        clients.push(client);
        if node == "gw0" {
            on_small += 1;
            if on_small == SMALL {
                eventually("the API to send gw0's users elsewhere", || async {
                    deployment.home(user).await.1 != "gw0"
                })
                .await;
            }
        }
        sockets.push((user.clone(), node));
    }
    assert!(
        on_small <= SMALL,
        "gw0 holds at most its capacity, got {on_small}"
    );
    attachments.wait_for_homes(&sockets).await;
    drop(attachments);
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
        &[vec!["api".into()], deployment.backend.common()].concat(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_posts_reach_friends_only_on_redis() {
    let redis = RedisServer::start();
    let deployment = Deployment::start(&redis.url(), 1, 1).await;
    let api = Api {
        base: deployment.api.base.clone(),
        verifier: &deployment.api.verifier,
        http: deployment.api.http.clone(),
    };
    friends_posts_reach_friends_only(&api).await;
}
