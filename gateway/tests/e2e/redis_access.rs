//! Redis as managed services run it: TLS (a private CA), AUTH with a password, an ACL user
//! confined to the key prefix, on one server and on a 3-master Cluster; and the password of
//! the Redis URL never shown in logs, `/metrics`, errors or `--help`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pushgate_fanout::testing::{AclUser, RedisCluster, RedisServer, ServerOptions, TestCa};
use pushgate_protocol::Codec;

use crate::cluster::{Backend, CREDENTIALS, delivery_across_nodes};
use crate::support::{Process, WsClient, metrics_text};

/// The prefix the ACL user is confined to (pushgate's default).
const PREFIX: &str = "pg";

/// TLS only, an ACL user confined to [`PREFIX`], the default user off.
fn managed() -> ServerOptions {
    ServerOptions {
        tls: Some(TestCa::generate()),
        acl_user: Some(AclUser::confined_to(PREFIX)),
        ..ServerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_works_through_a_tls_cluster_as_an_acl_user() {
    let cluster = RedisCluster::start_with(managed());
    assert!(cluster.url().starts_with("rediss+cluster://pg-user:"));
    delivery_across_nodes(Backend::new(
        &cluster.url(),
        cluster.ca_cert().as_deref(),
        PREFIX,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_works_with_the_default_users_password() {
    let password = "requirepass-0123456789";
    let server = RedisServer::start_with(ServerOptions {
        requirepass: Some(password.into()),
        ..ServerOptions::default()
    });
    assert!(server.url().contains(password));
    delivery_across_nodes(Backend::at(&server.url())).await;
}

/// Read `child`'s stderr until a line contains `wanted` (or it ends); returns what was read.
fn stderr_until(child: &mut std::process::Child, wanted: &str) -> String {
    let stderr = child.stderr.take().expect("piped stderr");
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(wanted) {
            break;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_password_shows_in_no_log_metric_error_or_help() {
    let server = RedisServer::start_with(managed());
    let password = AclUser::confined_to(PREFIX).password;
    assert!(server.url().contains(&password) && server.url().starts_with("rediss://"));
    let backend = Backend::new(&server.url(), server.ca_cert().as_deref(), PREFIX);
    // The whole delivery test over TLS as the ACL user, then one more node logging at debug.
    let deployment = delivery_across_nodes(backend).await;
    let log_path = std::env::temp_dir().join(format!("pushgate-redis-log-{}", std::process::id()));
    let log = std::fs::File::create(&log_path).expect("log file");
    let args = [
        vec![
            "gateway".to_owned(),
            "--node-id=gw-debug".into(),
            "--log=debug".into(),
        ],
        deployment.backend.common(),
    ]
    .concat();
    let mut logged = Process::spawn_logging_to(&args, CREDENTIALS, Stdio::from(log));
    deployment.wait_for_nodes(4).await;
    let token = deployment.token("user00");
    let url = format!("ws://{}/v1/ws", logged.addr);
    let mut client = WsClient::connect_url(&url, &token, Codec::Json, None)
        .await
        .expect("connects");
    // Let the away user's attachment reach its home, then post until the relayed push arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = deployment.post("alice", "through the debug node").await;
    assert_eq!(client.posts(1).await[0].0, id);
    let metrics = metrics_text(logged.addr).await;
    assert!(metrics.contains("pushgate_"), "{metrics}");
    assert!(!metrics.contains(&password), "password in /metrics");
    // A closed connection is logged at debug: once that line is there, the logs are complete.
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(20);
    let logs = loop {
        let logs = std::fs::read_to_string(&log_path).expect("read logs");
        if logs.contains("connection closed") {
            break logs;
        }
        assert!(Instant::now() < deadline, "no debug line logged: {logs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    logged.kill9();
    let _ = std::fs::remove_file(&log_path);
    assert!(!logs.contains(&password), "password in the debug logs");

    // A process refused by Redis says why, without the password it tried.
    let wrong = server.url().replace(&password, "not-the-password-42");
    let mut refused = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(["api", "--listen", "127.0.0.1:0", "--redis", &wrong])
        .args([
            "--redis-ca-cert".as_ref(),
            server.ca_cert().expect("ca").as_os_str(),
        ])
        .envs(CREDENTIALS.iter().copied())
        .env("PUSHGATE_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pushgate");
    let started = Instant::now();
    let seen = stderr_until(&mut refused, "Redis not reachable yet");
    let _ = refused.kill();
    let _ = refused.wait();
    eprintln!("refusal logged after {:?}", started.elapsed());
    assert!(seen.contains("Redis not reachable yet"), "{seen}");
    assert!(seen.contains("authentication failed"), "{seen}");
    assert!(
        !seen.contains("not-the-password-42"),
        "password in the error: {seen}"
    );

    // Settings refused at start name the URL without its password.
    let out = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args([
            "api",
            "--redis",
            "rediss+cluster://pg-user:not-the-password-42@",
        ])
        .envs(CREDENTIALS.iter().copied())
        .output()
        .expect("run pushgate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("invalid settings"), "{stderr}");
    assert!(stderr.contains("pg-user:***@"), "{stderr}");
    assert!(!stderr.contains("not-the-password-42"), "{stderr}");

    // --help shows where the URL comes from, not its value.
    for role in ["gateway", "worker", "api"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pushgate"))
            .args([role, "--help"])
            .env("PUSHGATE_REDIS", server.url())
            .output()
            .expect("run pushgate");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("PUSHGATE_REDIS") && help.contains("--redis-ca-cert"),
            "{help}"
        );
        assert!(
            !help.contains(&password),
            "password in {role} --help: {help}"
        );
    }
}
