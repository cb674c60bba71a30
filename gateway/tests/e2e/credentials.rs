//! Production roles refuse the development credentials; `pushgate dev` keeps them, warned.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "credentials-test-secret-0123456789";
const KEY: &str = "credentials-test-key-0123456789";

/// `pushgate <role>` with exactly the credentials given (none inherited from the test's
/// environment), pointed at a Redis nobody listens on: a refusal must come before Redis.
fn pushgate(role: &str, credentials: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pushgate"));
    command
        .args([role, "--listen", "127.0.0.1:0"])
        .env_remove("PUSHGATE_JWT_SECRET")
        .env_remove("PUSHGATE_API_KEY")
        .env("PUSHGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if role != "dev" {
        command.args(["--redis", "redis://127.0.0.1:1"]);
    }
    command.envs(credentials.iter().copied());
    command
}

/// Wait for a process that should exit by itself; kill it (and fail) if it does not.
fn exited(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn production_roles_refuse_to_start_without_their_own_secret_and_key() {
    let cases = [
        (vec![], "PUSHGATE_JWT_SECRET"),
        (vec![("PUSHGATE_API_KEY", KEY)], "PUSHGATE_JWT_SECRET"),
        (
            vec![
                ("PUSHGATE_JWT_SECRET", pushgate_gateway::DEV_JWT_SECRET),
                ("PUSHGATE_API_KEY", KEY),
            ],
            "PUSHGATE_JWT_SECRET",
        ),
        (vec![("PUSHGATE_JWT_SECRET", SECRET)], "PUSHGATE_API_KEY"),
        (
            vec![
                ("PUSHGATE_JWT_SECRET", SECRET),
                ("PUSHGATE_API_KEY", pushgate_gateway::DEV_API_KEY),
            ],
            "PUSHGATE_API_KEY",
        ),
    ];
    for role in ["gateway", "worker", "api"] {
        for (credentials, named) in &cases {
            let output = exited(pushgate(role, credentials).spawn().expect("starts"));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !output.status.success(),
                "{role} with {credentials:?} started"
            );
            assert!(
                stderr.contains(named),
                "{role} with {credentials:?}: stderr does not name {named}:\n{stderr}"
            );
        }
    }
}

#[test]
fn production_roles_with_real_credentials_get_past_validation() {
    // With both set the gateway goes on to wait for Redis (it would start once Redis is up).
    let mut child = pushgate(
        "gateway",
        &[("PUSHGATE_JWT_SECRET", SECRET), ("PUSHGATE_API_KEY", KEY)],
    )
    .spawn()
    .expect("starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("a log line");
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("Redis not reachable yet"), "{line}");
}

#[test]
fn dev_keeps_its_defaults_and_warns() {
    let mut child = pushgate("dev", &[]).spawn().expect("starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(line.contains("pushgate listening on"), "{line}");
    assert!(stderr.contains("PUSHGATE_JWT_SECRET"), "{stderr}");
    assert!(stderr.contains("PUSHGATE_API_KEY"), "{stderr}");
}
