//! `--config FILE` and `pushgate config check`, run as the real binary.

use std::path::PathBuf;
use std::process::{Command, Output};

use pushgate_fanout::token::TokenVerifier;
use pushgate_protocol::{Codec, ServerFrame};

use crate::support::{Process, WsClient};

const SECRET: &str = "config-test-jwt-secret-0123456789";
const KEY: &str = "config-test-api-key-0123456789";

/// The production roles' credentials, as a deployment gives them (env vars).
const CREDENTIALS: [(&str, &str); 2] = [("PUSHGATE_JWT_SECRET", SECRET), ("PUSHGATE_API_KEY", KEY)];

/// `pushgate <args>` with exactly `env` (nothing inherited, so no PUSHGATE_* of the caller's
/// shell leaks in), to completion.
fn pushgate(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run pushgate")
}

/// A config file of `text`, unique to `name`, in the temp dir.
fn file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "pushgate-config-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).expect("write the config file");
    path
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The line `config check` printed for `key`.
fn line<'o>(checked: &'o str, key: &str) -> &'o str {
    checked
        .lines()
        .find(|line| line.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no line for {key} in:\n{checked}"))
}

#[test]
fn every_example_file_passes_config_check_for_its_role() {
    for role in ["dev", "gateway", "worker", "api"] {
        let path = format!("{}/../deploy/{role}.toml", env!("CARGO_MANIFEST_DIR"));
        let env: &[(&str, &str)] = if role == "dev" { &[] } else { &CREDENTIALS };
        let output = pushgate(&["config", "check", "--config", &path, role], env);
        assert!(
            output.status.success(),
            "{role}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        assert!(stdout(&output).ends_with("# valid\n"), "{role}");
        // Each example sets something of its own, so the file was really read.
        assert!(stdout(&output).contains("# config file"), "{role}");
    }
}

#[test]
fn a_flag_beats_its_env_var_which_beats_the_file_which_beats_the_default() {
    let path = file(
        "precedence",
        "heartbeat-ms = 20000\nidle-timeout-ms = 70000\nresume-window-ms = 300\n\
         log-format = \"json\"\n",
    );
    let path = path.to_str().expect("utf-8 path");
    let env = [
        ("PUSHGATE_HEARTBEAT_MS", "21000"),
        ("PUSHGATE_IDLE_TIMEOUT_MS", "71000"),
    ];
    let output = pushgate(
        &[
            "config",
            "check",
            "dev",
            "--config",
            path,
            "--heartbeat-ms",
            "22000",
        ],
        &env,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let checked = stdout(&output);
    assert_eq!(
        line(&checked, "heartbeat-ms"),
        "heartbeat-ms = 22000  # flag"
    );
    assert_eq!(
        line(&checked, "idle-timeout-ms"),
        "idle-timeout-ms = 71000  # env"
    );
    assert_eq!(
        line(&checked, "resume-window-ms"),
        "resume-window-ms = 300  # config file"
    );
    assert_eq!(
        line(&checked, "write-timeout-ms"),
        "write-timeout-ms = 10000  # default"
    );
    // A global flag's key works in a role's file too.
    assert_eq!(
        line(&checked, "log-format"),
        "log-format = \"json\"  # config file"
    );

    // PUSHGATE_CONFIG names the file as --config does.
    let output = pushgate(&["config", "check", "dev"], &[("PUSHGATE_CONFIG", path)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        line(&stdout(&output), "heartbeat-ms"),
        "heartbeat-ms = 20000  # config file"
    );
}

#[tokio::test]
async fn a_running_node_uses_the_file() {
    let path = file(
        "running",
        &format!("jwt-secret = \"{SECRET}\"\nheartbeat-ms = 12345\nlisten = \"127.0.0.1:0\"\n"),
    );
    let args = ["dev", "--config", path.to_str().expect("utf-8 path")].map(String::from);
    let node = Process::spawn(&args, &[]);
    let token = TokenVerifier::new(SECRET, KEY).mint("alice", 3600);
    let client = WsClient::connect(node.addr, &token, Codec::Json, None)
        .await
        .expect("the file's secret verifies the token");
    match client.welcome {
        ServerFrame::Welcome { heartbeat_ms, .. } => assert_eq!(heartbeat_ms, 12345),
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[test]
fn unknown_keys_are_an_error_naming_them() {
    // `celebrity-threshold` is a worker's key: unknown to a gateway.
    let path = file(
        "unknown",
        "redis = \"redis://127.0.0.1:6379\"\nhartbeat-ms = 1\ncelebrity-threshold = 5\n",
    );
    let path = path.to_str().expect("utf-8 path");
    for args in [
        vec!["config", "check", "--config", path, "gateway"],
        vec!["gateway", "--config", path],
    ] {
        let output = pushgate(&args, &CREDENTIALS);
        assert!(!output.status.success(), "{args:?}");
        let error = stderr(&output);
        assert!(
            error.contains("unknown keys for `pushgate gateway`: celebrity-threshold, hartbeat-ms"),
            "{error}"
        );
    }
}

#[test]
fn a_bad_value_is_an_error_naming_the_setting() {
    let cases = [
        // Refused by the flag's parser: the error names the file's key.
        ("heartbeat-ms = \"fast\"\n", "key `heartbeat-ms`"),
        ("redis-bus = \"pigeon\"\n", "key `redis-bus`"),
        (
            "listen = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n",
            "key `listen`",
        ),
        // Refused by the library's validation: the error names the flag and env var.
        (
            "heartbeat-ms = 0\n",
            "--heartbeat-ms (PUSHGATE_HEARTBEAT_MS) must be positive",
        ),
        (
            "feed-cap = 0\n",
            "--feed-cap (PUSHGATE_FEED_CAP) must be positive",
        ),
        (
            "heartbeat-ms = 30000\nidle-timeout-ms = 30000\n",
            "--idle-timeout-ms (PUSHGATE_IDLE_TIMEOUT_MS) must be longer than --heartbeat-ms",
        ),
        (
            "allowed-origins = [\"https://app.example\", \"https://app.example/\"]\n",
            "--allowed-origins (PUSHGATE_ALLOWED_ORIGINS): \"https://app.example/\" is not an origin",
        ),
    ];
    for (i, (text, named)) in cases.into_iter().enumerate() {
        let path = file(
            &format!("bad-{i}"),
            &format!("redis = \"redis://h:1\"\n{text}"),
        );
        let path = path.to_str().expect("utf-8 path");
        let output = pushgate(
            &["config", "check", "--config", path, "gateway"],
            &CREDENTIALS,
        );
        assert!(!output.status.success(), "{text}");
        assert!(
            stderr(&output).contains(named),
            "{text}: {}",
            stderr(&output)
        );
    }
    // A missing required setting is named too (clap's usage error).
    let output = pushgate(&["config", "check", "gateway"], &CREDENTIALS);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--redis"), "{}", stderr(&output));
    // And a production role on the development secret.
    let output = pushgate(
        &["config", "check", "worker", "--redis", "redis://h:1"],
        &[("PUSHGATE_API_KEY", KEY)],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("PUSHGATE_JWT_SECRET (--jwt-secret) is not set"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn config_check_redacts_secrets_from_file_and_env() {
    let file_secret = "file-jwt-secret-never-shown-0123";
    let password = "redis-password-never-shown";
    let path = file(
        "redaction",
        &format!(
            "jwt-secret = \"{file_secret}\"\nredis = \"rediss://app:{password}@redis.example:6380/0\"\n"
        ),
    );
    let output = pushgate(
        &[
            "config",
            "check",
            "--config",
            path.to_str().expect("utf-8 path"),
            "api",
        ],
        &[("PUSHGATE_API_KEY", KEY)],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = format!("{}{}", stdout(&output), stderr(&output));
    for secret in [file_secret, password, KEY] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    let checked = stdout(&output);
    assert_eq!(
        line(&checked, "jwt-secret"),
        "jwt-secret = \"<redacted>\"  # config file"
    );
    assert_eq!(line(&checked, "api-key"), "api-key = \"<redacted>\"  # env");
    assert_eq!(
        line(&checked, "redis"),
        "redis = \"rediss://app:***@redis.example:6380/0\"  # config file"
    );
}
