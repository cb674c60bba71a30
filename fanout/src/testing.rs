//! Real servers for integration tests (feature `testing`): `redis-server` processes (one
//! server, or a 3-master Cluster) here, an identity provider in [`identity_provider`], the
//! one way tests wait for observable state ([`eventually`]), and sample backplane values in
//! [`samples`].
//!
//! Servers listen on free loopback ports (never 6379), keep nothing on disk, and die with
//! their guard. Without `redis-server` a test fails at once with a message naming the package.

mod eventually;
pub mod identity_provider;
pub mod samples;

pub use eventually::{Look, PATIENCE, eventually, eventually_blocking};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Send one inline command and return the raw reply, or `None` if nothing answers.
fn ask(port: u16, command: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Clients blocked in a command (`XREADGROUP ... BLOCK` and the like) on the server at `port`.
fn blocked_clients(port: u16) -> u64 {
    let info = ask(port, "INFO clients").unwrap_or_default();
    info.lines()
        .find_map(|line| line.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no blocked_clients in INFO clients: {info:?}"))
}

/// One `redis-server` process, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    cluster: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// A standalone server on a free port.
    pub fn start() -> Self {
        Self::spawn(free_port(false), false)
    }

    fn spawn(port: u16, cluster: bool) -> Self {
        require_redis_server();
        let dir =
            std::env::temp_dir().join(format!("pushgate-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let mut server = Self {
            port,
            dir,
            cluster,
            child: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--daemonize")
            .arg("no")
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            cmd.arg("--cluster-enabled")
                .arg("yes")
                .arg("--cluster-config-file")
                .arg(format!("nodes-{}.conf", self.port))
                .arg("--cluster-node-timeout")
                .arg("5000");
        }
        self.child = Some(cmd.spawn().expect("start redis-server"));
        let port = self.port;
        eventually_blocking("redis-server to answer PING", || {
            ask(port, "PING").is_some_and(|r| r.starts_with("+PONG"))
        });
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kill the server (its data is gone: nothing is persisted).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Clients blocked in a command right now (a blocking read waiting for an append), so
    /// a test can act once a reader is waiting instead of guessing how long that takes.
    pub fn blocked_clients(&self) -> u64 {
        blocked_clients(self.port)
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
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::spawn(free_port(true), true))
            .collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .arg("--cluster-replicas")
            .arg("0")
            .arg("--cluster-yes")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run redis-cli --cluster create");
        assert!(status.success(), "redis-cli --cluster create failed");
        for node in &nodes {
            eventually_blocking("cluster_state:ok", || {
                ask(node.port, "CLUSTER INFO").is_some_and(|r| r.contains("cluster_state:ok"))
            });
        }
        Self { nodes }
    }

    /// `redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// Clients blocked in a command right now, over all masters.
    pub fn blocked_clients(&self) -> u64 {
        self.nodes.iter().map(RedisServer::blocked_clients).sum()
    }
}
