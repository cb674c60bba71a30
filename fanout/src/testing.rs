//! Real servers for integration tests (feature `testing`): `redis-server` processes (one
//! server, or a 3-master Cluster) here, an identity provider in [`identity_provider`], the
//! one way tests wait for observable state ([`eventually`]), sample backplane values in
//! [`samples`], and the Redis fan-out log as a foreign writer sees it in [`raw_log`].
//!
//! Servers listen on free loopback ports (never 6379), keep nothing on disk unless asked to,
//! and die with their guard; [`ServerOptions`] adds TLS (certificates from a [`TestCa`] made
//! with openssl), passwords, an ACL user and AOF persistence. Without `redis-server` a test
//! fails at once with a message naming the package.

mod eventually;
pub mod identity_provider;
pub mod raw_log;
pub mod samples;

pub use eventually::{Look, PATIENCE, eventually, eventually_blocking};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::redis::RedisTarget;

/// Cluster bus port = client port + this (Redis's convention).
const BUS_OFFSET: u16 = 10_000;

/// How long a server may take to answer PING, or a cluster to report `cluster_state:ok`.
const STARTUP: Duration = Duration::from_secs(20);

/// Fails the test at once, naming the package, when `redis-server` is not installed: a
/// backplane test that skipped would pass without testing anything.
fn require_redis_server() {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .output()
        .is_ok();
    assert!(
        found,
        "redis-server is not installed: install the Debian package redis-server \
         (./scripts/test.sh does it as root)"
    );
}

/// A loopback port nobody listens on right now (and, for cluster nodes, its bus port too).
fn free_port(with_bus: bool) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local addr").port();
        if !with_bus {
            return port;
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + BUS_OFFSET)).is_ok() {
            return port;
        }
    }
}

/// The `blocked_clients:` figure of an `INFO clients` reply.
fn blocked_clients(info: &str) -> u64 {
    info.lines()
        .find_map(|line| line.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no blocked_clients in INFO clients: {info:?}"))
}

/// Certificates generated with `openssl` for one test: a CA and a server certificate for
/// `127.0.0.1` and `localhost` signed by it (also good as a client certificate, which cluster
/// nodes present to each other on the TLS bus). The files go when the last holder drops it.
#[derive(Debug)]
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// A fresh CA (P-256) and a server key and certificate signed by it.
    pub fn generate() -> Arc<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pushgate-ca-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the CA's directory");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl runs (Debian package openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl(
            &[
                &["req", "-x509", "-nodes", "-days", "2"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-subj",
                    "/CN=pushgate test CA",
                ],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req", "-nodes"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .expect("write the extensions");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ]);
        Arc::new(Self { dir })
    }

    /// The CA certificate (PEM) clients trust.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An ACL user clients log in as.
#[derive(Clone, Debug)]
pub struct AclUser {
    /// The user name.
    pub name: String,
    /// Its password.
    pub password: String,
    /// Its ACL rules after `on >password`, e.g. `~pg:* &pg:* +@all -@dangerous`.
    pub rules: String,
}

impl AclUser {
    /// A user limited to the keys and channels under `prefix` (pushgate's `--redis-prefix`)
    /// and to commands outside `@dangerous`: what a deployment should give pushgate.
    pub fn confined_to(prefix: &str) -> Self {
        Self {
            name: format!("{prefix}-user"),
            password: format!("{prefix}-user-password"),
            rules: format!("~{prefix}:* &{prefix}:* +@all -@dangerous"),
        }
    }
}

/// How a test server is secured and kept; the default is plain TCP, no password, no disk.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Serve TLS only (`port 0`), with certificates from this CA (Cluster: also on the bus).
    pub tls: Option<Arc<TestCa>>,
    /// The default user's password (`requirepass`).
    pub requirepass: Option<String>,
    /// A user clients log in as; the default user is then turned off.
    pub acl_user: Option<AclUser>,
    /// `appendonly yes` with `appendfsync always`: every acknowledged write survives
    /// [`RedisServer::restart`], even after a kill -9.
    pub durable: bool,
}

/// Who a `redis-cli` of the harness logs in as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Login {
    /// Full rights (the default user, or a harness admin beside an ACL user): for setting up
    /// and inspecting the server.
    Admin,
    /// The credentials of [`RedisServer::url`], as pushgate logs in.
    Client,
}

/// The admin beside an ACL user, for the harness itself (cluster creation, probes).
const ADMIN: (&str, &str) = ("harness-admin", "harness-admin-password");

impl ServerOptions {
    /// `user:password@` (or `:password@`) of the client URL.
    fn userinfo(&self) -> String {
        match (&self.acl_user, &self.requirepass) {
            (Some(user), _) => format!("{}:{}@", user.name, user.password),
            (None, Some(password)) => format!(":{password}@"),
            (None, None) => String::new(),
        }
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        }
    }

    /// `redis-cli` at `port`, logged in as `login`.
    fn cli(&self, port: u16, login: Login) -> Command {
        let mut cmd = Command::new("redis-cli");
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--no-auth-warning",
        ]);
        if let Some(ca) = &self.tls {
            cmd.arg("--tls").arg("--cacert").arg(ca.ca_cert());
        }
        match (login, &self.acl_user, &self.requirepass) {
            (Login::Admin, Some(_), _) => {
                cmd.args(["--user", ADMIN.0, "--pass", ADMIN.1]);
            }
            (Login::Client, Some(user), _) => {
                cmd.args(["--user", &user.name, "--pass", &user.password]);
            }
            (_, None, Some(password)) => {
                cmd.args(["-a", password]);
            }
            (_, None, None) => {}
        }
        cmd
    }

    /// The configuration file's lines for a server on `port`.
    fn config(&self, port: u16, dir: &Path, cluster: bool) -> String {
        let mut lines = vec![
            "bind 127.0.0.1".to_owned(),
            "daemonize no".to_owned(),
            format!("dir {}", dir.display()),
            "save \"\"".to_owned(),
        ];
        if self.durable {
            lines.push("appendonly yes".into());
            lines.push("appendfsync always".into());
        } else {
            lines.push("appendonly no".into());
        }
        match &self.tls {
            Some(ca) => {
                lines.push("port 0".into());
                lines.push(format!("tls-port {port}"));
                lines.push(format!("tls-cert-file {}", ca.file("server.crt").display()));
                lines.push(format!("tls-key-file {}", ca.file("server.key").display()));
                lines.push(format!("tls-ca-cert-file {}", ca.ca_cert().display()));
                lines.push("tls-auth-clients no".into());
                if cluster {
                    lines.push("tls-cluster yes".into());
                }
            }
            None => lines.push(format!("port {port}")),
        }
        if cluster {
            lines.push("cluster-enabled yes".into());
            lines.push(format!("cluster-config-file nodes-{port}.conf"));
            lines.push("cluster-node-timeout 5000".into());
            lines.push(format!("cluster-port {}", port + BUS_OFFSET));
        }
        if let Some(password) = &self.requirepass {
            lines.push(format!("requirepass {password}"));
        }
        if let Some(user) = &self.acl_user {
            lines.push("user default off".into());
            lines.push(format!("user {} on >{} ~* &* +@all", ADMIN.0, ADMIN.1));
            lines.push(format!(
                "user {} on >{} {}",
                user.name, user.password, user.rules
            ));
        }
        lines.join("\n") + "\n"
    }
}

/// Run a harness `redis-cli` command; its stdout, or `None` if it could not talk to the server.
fn run(mut cmd: Command) -> Option<String> {
    let out = cmd.stdin(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One `redis-server` process, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    options: ServerOptions,
    child: Option<Child>,
}

impl RedisServer {
    /// A standalone server on a free port.
    pub fn start() -> Self {
        Self::start_with(ServerOptions::default())
    }

    /// A standalone server on a free port, secured and kept as `options` say.
    pub fn start_with(options: ServerOptions) -> Self {
        Self::spawn(free_port(false), false, options)
    }

    fn spawn(port: u16, cluster: bool, options: ServerOptions) -> Self {
        require_redis_server();
        let dir =
            std::env::temp_dir().join(format!("pushgate-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        std::fs::write(dir.join("redis.conf"), options.config(port, &dir, cluster))
            .expect("write redis.conf");
        let mut server = Self {
            port,
            dir,
            options,
            child: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .arg(self.dir.join("redis.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        // PONG only once the data set is loaded (a durable server replays its AOF first).
        eventually_blocking("redis-server to answer PING", || {
            let mut ping = self.cli(Login::Admin);
            ping.arg("PING");
            run(ping).is_some_and(|r| r.starts_with("PONG"))
        });
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` with TLS, with the client's credentials.
    pub fn url(&self) -> String {
        format!(
            "{}://{}127.0.0.1:{}",
            self.options.scheme(),
            self.options.userinfo(),
            self.port
        )
    }

    /// The CA certificate clients must trust, with TLS.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.options.tls.as_ref().map(|ca| ca.ca_cert())
    }

    /// [`Self::url`] and [`Self::ca_cert`] as the backplane takes them.
    pub fn target(&self) -> RedisTarget {
        RedisTarget::new(&self.url(), self.ca_cert().as_deref()).expect("a valid test target")
    }

    /// `redis-cli` on this server (TLS as needed), logged in as `login`; add the command.
    pub fn cli(&self, login: Login) -> Command {
        self.options.cli(self.port, login)
    }

    /// Kill the server (SIGKILL: no shutdown save). Unless durable, its data is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port and directory: empty, or (durable) with every write
    /// it acknowledged.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Clients blocked in a command right now (a blocking read waiting for an append), so
    /// a test can act once a reader is waiting instead of guessing how long that takes.
    pub fn blocked_clients(&self) -> u64 {
        let mut info = self.cli(Login::Admin);
        info.args(["INFO", "clients"]);
        blocked_clients(&run(info).unwrap_or_default())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three masters forming a Redis Cluster, no replicas.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Start three cluster-enabled servers and join them into one cluster.
    pub fn start() -> Self {
        Self::start_with(ServerOptions::default())
    }

    /// Start three cluster-enabled servers secured as `options` say (TLS also on the cluster
    /// bus) and join them into one cluster.
    pub fn start_with(options: ServerOptions) -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::spawn(free_port(true), true, options.clone()))
            .collect();
        let mut create = nodes[0].cli(Login::Admin);
        create
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .arg("--cluster-replicas")
            .arg("0")
            .arg("--cluster-yes")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut create = create.spawn().expect("run redis-cli --cluster create");
        // It waits for the nodes to meet for as long as it takes: bound it.
        let deadline = Instant::now() + STARTUP;
        let status = loop {
            if let Some(status) = create.try_wait().expect("redis-cli status") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = create.kill();
                let _ = create.wait();
                panic!("redis-cli --cluster create: the nodes never joined");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "redis-cli --cluster create failed");
        for node in &nodes {
            eventually_blocking("cluster_state:ok", || {
                let mut info = node.cli(Login::Admin);
                info.args(["CLUSTER", "INFO"]);
                run(info).is_some_and(|r| r.contains("cluster_state:ok"))
            });
        }
        Self { nodes }
    }

    /// `redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>` (`rediss+cluster://`
    /// with TLS), with the client's credentials.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let options = &self.nodes[0].options;
        format!(
            "{}+cluster://{}{}",
            options.scheme(),
            options.userinfo(),
            hosts.join(",")
        )
    }

    /// The CA certificate clients must trust, with TLS.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.nodes[0].ca_cert()
    }

    /// [`Self::url`] and [`Self::ca_cert`] as the backplane takes them.
    pub fn target(&self) -> RedisTarget {
        RedisTarget::new(&self.url(), self.ca_cert().as_deref()).expect("a valid test target")
    }

    /// The cluster's nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Clients blocked in a command right now, over all masters.
    pub fn blocked_clients(&self) -> u64 {
        self.nodes.iter().map(RedisServer::blocked_clients).sum()
    }
}
