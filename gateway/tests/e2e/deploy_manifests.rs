//! deploy/systemd and deploy/kubernetes use only flags and env vars the binary has, their
//! config files pass `pushgate config check`, and stopping waits out the drain window.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;

/// The roles a deployment runs.
const ROLES: [&str; 3] = ["gateway", "worker", "api"];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The flags (`--name`) and env vars (`PUSHGATE_*`) `pushgate <role> --help` lists: what the
/// binary's clap Command really has.
struct RoleFlags {
    /// `--listen`, `--redis`, …: what a unit's ExecStart or a container's args may pass.
    flags: BTreeSet<String>,
    /// `PUSHGATE_LISTEN`, …: what an Environment= line or a container's env may set.
    env: BTreeSet<String>,
}

fn role_flags(role: &str) -> RoleFlags {
    let output = pushgate(&[role, "--help"], &[]);
    assert!(output.status.success(), "{role} --help");
    let help = String::from_utf8_lossy(&output.stdout).into_owned();
    let words = |prefix: &str, allowed: fn(char) -> bool| {
        help.match_indices(prefix)
            .map(|(at, _)| {
                let rest = &help[at + prefix.len()..];
                let word: String = rest.chars().take_while(|c| allowed(*c)).collect();
                format!("{prefix}{word}")
            })
            .collect::<BTreeSet<_>>()
    };
    RoleFlags {
        flags: words("--", |c| c.is_ascii_lowercase() || c == '-'),
        env: words("PUSHGATE_", |c| c.is_ascii_uppercase() || c == '_'),
    }
}

fn pushgate(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run pushgate")
}

/// `pushgate config check --config <config> <role>` with `env`, which must pass; its output.
fn checked(role: &str, config: &Path, env: &[(String, String)]) -> String {
    let config = config.to_str().expect("utf-8 path");
    let output = pushgate(&["config", "check", "--config", config, role], env);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{role} with {config}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The value `config check` printed for `key`.
fn setting(checked: &str, key: &str) -> String {
    let line = checked
        .lines()
        .find(|line| line.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{checked}"));
    let value = line[key.len() + 3..].split("  #").next().expect("value");
    value.trim_matches('"').to_owned()
}

/// What the production roles need in the environment, as the deployments give it.
fn credentials() -> Vec<(String, String)> {
    [
        ("PUSHGATE_JWT_SECRET", "deploy-test-jwt-secret-0123456789"),
        ("PUSHGATE_API_KEY", "deploy-test-api-key-0123456789"),
        ("PUSHGATE_REDIS", "redis://redis:6379"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

/// Milliseconds of a systemd time span such as `30s`, `2min` or `500ms`.
fn systemd_millis(span: &str) -> u64 {
    let digits: String = span.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().expect("a number");
    match &span[digits.len()..] {
        "ms" => n,
        "" | "s" => n * 1000,
        "min" => n * 60_000,
        unit => panic!("unit {unit} in {span}"),
    }
}

/// A systemd unit's `[Service]` settings, each key with its values in order.
fn service_section(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut section = "";
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]" {
            let (key, value) = line.split_once('=').expect("key=value");
            settings.entry(key.into()).or_default().push(value.into());
        }
    }
    settings
}

#[test]
fn systemd_units_are_hardened_and_use_only_what_the_binary_has() {
    let hardening = [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallFilter", "@system-service"),
        ("SystemCallArchitectures", "native"),
        ("LockPersonality", "yes"),
        ("RestrictNamespaces", "yes"),
        ("DynamicUser", "yes"),
    ];
    let gateway_drain = setting(
        &checked(
            "gateway",
            &deploy_dir().join("gateway.toml"),
            &credentials(),
        ),
        "drain-window-ms",
    );
    let verify_dir = std::env::temp_dir().join(format!("pushgate-units-{}", std::process::id()));
    std::fs::create_dir_all(&verify_dir).expect("temp dir");
    for role in ROLES {
        let unit = if role == "worker" {
            "pushgate-worker@.service".to_owned()
        } else {
            format!("pushgate-{role}.service")
        };
        let text = std::fs::read_to_string(deploy_dir().join("systemd").join(&unit))
            .unwrap_or_else(|e| panic!("{unit}: {e}"));
        let service = service_section(&text);
        for (key, value) in hardening {
            assert!(
                service
                    .get(key)
                    .is_some_and(|v| v.iter().any(|v| v == value)),
                "{unit}: {key}={value}"
            );
        }
        let nofile: u64 = service["LimitNOFILE"][0].parse().expect("LimitNOFILE");
        assert!(nofile >= 65536, "{unit}");

        let known = role_flags(role);
        let exec: Vec<&str> = service["ExecStart"][0].split_whitespace().collect();
        assert_eq!(exec[..2], ["/usr/local/bin/pushgate", role], "{unit}");
        for flag in exec.iter().filter(|w| w.starts_with("--")) {
            let name = flag.split('=').next().expect("flag");
            assert!(
                known.flags.contains(name),
                "{unit}: {name} is no flag of {role}"
            );
        }
        let mut env = credentials();
        for assignment in &service["Environment"] {
            let (name, value) = assignment.split_once('=').expect("NAME=value");
            assert!(
                known.env.contains(name),
                "{unit}: {name} is no env var of {role}"
            );
            env.push((name.into(), value.into()));
        }
        // The config file it names is the example of its role in deploy/.
        let config = env
            .iter()
            .find(|(name, _)| name == "PUSHGATE_CONFIG")
            .map(|(_, path)| path.clone())
            .expect("PUSHGATE_CONFIG");
        assert_eq!(config, format!("/etc/pushgate/{role}.toml"), "{unit}");
        checked(
            role,
            &deploy_dir().join(format!("{role}.toml")),
            &credentials(),
        );
        if role == "gateway" {
            let stop = systemd_millis(&service["TimeoutStopSec"][0]);
            let drain: u64 = gateway_drain.parse().expect("drain window");
            assert!(
                stop > drain,
                "{unit}: TimeoutStopSec {stop} ms <= drain window {drain} ms"
            );
        }
        // systemd's own checker, on a copy that starts the binary just built.
        let copy = text.replace("/usr/local/bin/pushgate", env!("CARGO_BIN_EXE_pushgate"));
        std::fs::write(verify_dir.join(&unit), copy).expect("write the copy");
    }
    match Command::new("systemd-analyze")
        .arg("verify")
        .args(ROLES.iter().map(|r| match *r {
            "worker" => verify_dir.join("pushgate-worker@.service"),
            role => verify_dir.join(format!("pushgate-{role}.service")),
        }))
        .output()
    {
        Ok(output) => assert!(
            output.status.success(),
            "systemd-analyze verify: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        // Checked where systemd is installed; the checks above hold everywhere.
        Err(e) => eprintln!("systemd-analyze not run: {e}"),
    }
}

/// Every document of every YAML file in deploy/kubernetes, as JSON values.
fn manifests() -> Vec<Value> {
    let dir = deploy_dir().join("kubernetes");
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/kubernetes") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for document in serde_norway::Deserializer::from_str(&text) {
            let value =
                Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            documents.push(value);
        }
    }
    documents
}

/// A container's env as the kubelet would set it: secrets and pod fields by stand-ins,
/// `$(NAME)` expanded from earlier entries.
fn container_env(container: &Value) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let secrets: BTreeMap<&str, &str> = [
        ("jwt-secret", "deploy-test-jwt-secret-0123456789"),
        ("api-key", "deploy-test-api-key-0123456789"),
        ("redis-url", "redis://redis:6379"),
    ]
    .into();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().expect("name").to_owned();
        let value = if let Some(value) = var["value"].as_str() {
            let mut expanded = value.to_owned();
            for (earlier, v) in &env {
                expanded = expanded.replace(&format!("$({earlier})"), v);
            }
            expanded
        } else if let Some(key) = var["valueFrom"]["secretKeyRef"]["key"].as_str() {
            secrets
                .get(key)
                .unwrap_or_else(|| panic!("secret key {key}"))
                .to_string()
        } else if let Some(field) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match field {
                "metadata.name" => "pushgate-pod-0".to_owned(),
                "status.podIP" => "10.1.2.3".to_owned(),
                other => panic!("field {other}"),
            }
        } else {
            panic!("env {name} has no value");
        };
        env.push((name, value));
    }
    env
}

#[test]
fn kubernetes_manifests_use_only_what_the_binary_has_and_outlast_the_drain() {
    let documents = manifests();
    let config_map = documents
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "pushgate-config")
        .expect("the pushgate-config ConfigMap");
    let deployments: BTreeMap<String, &Value> = documents
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .map(|d| {
            let args = &d["spec"]["template"]["spec"]["containers"][0]["args"];
            (args[0].as_str().expect("a role").to_owned(), d)
        })
        .collect();
    assert_eq!(
        deployments.keys().map(String::as_str).collect::<Vec<_>>(),
        ["api", "gateway", "worker"]
    );
    let files = std::env::temp_dir().join(format!("pushgate-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&files).expect("temp dir");

    for (role, deployment) in &deployments {
        let pod = &deployment["spec"]["template"];
        let container = &pod["spec"]["containers"][0];
        let known = role_flags(role);
        for arg in container["args"].as_array().expect("args").iter().skip(1) {
            let flag = arg.as_str().expect("arg").split('=').next().expect("flag");
            assert!(known.flags.contains(flag), "{role}: {flag} is no flag");
        }
        let env = container_env(container);
        for (name, _) in env.iter().filter(|(n, _)| n.starts_with("PUSHGATE_")) {
            assert!(known.env.contains(name), "{role}: {name} is no env var");
        }
        // PUSHGATE_CONFIG points into the mounted ConfigMap, at this role's file.
        let (_, config) = env
            .iter()
            .find(|(n, _)| n == "PUSHGATE_CONFIG")
            .expect("PUSHGATE_CONFIG");
        let mount = container["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| config.starts_with(m["mountPath"].as_str().expect("path")))
            .expect("the config file is on a mount");
        let volume = pod["spec"]["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("the mount's volume");
        assert_eq!(volume["configMap"]["name"], "pushgate-config");
        let key = config.rsplit('/').next().expect("file name");
        let text = config_map["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{role}: no {key} in the ConfigMap"));
        let file = files.join(key);
        std::fs::write(&file, text).expect("write");
        // The role's effective settings with exactly the pod's env are valid.
        let effective = checked(role, &file, &env);

        // Probes ask the port the process listens on; readiness is /readyz.
        let port = setting(&effective, "listen")
            .rsplit(':')
            .next()
            .expect("port")
            .to_owned();
        let ports = container["ports"].as_array().expect("ports");
        let probe = &container["readinessProbe"]["httpGet"];
        assert_eq!(probe["path"], "/readyz", "{role}");
        let probed = ports
            .iter()
            .find(|p| p["name"] == probe["port"])
            .expect("the probe's port");
        assert_eq!(probed["containerPort"].to_string(), port, "{role}");

        if role == "gateway" {
            let drain_ms: u64 = setting(&effective, "drain-window-ms").parse().expect("ms");
            let pause_s = container["lifecycle"]["preStop"]["sleep"]["seconds"]
                .as_u64()
                .unwrap_or(0);
            let grace_s = pod["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .expect("terminationGracePeriodSeconds");
            assert!(
                grace_s * 1000 > pause_s * 1000 + drain_ms,
                "grace {grace_s} s <= preStop {pause_s} s + drain {drain_ms} ms"
            );
        }
    }

    // The API Service selects the API pods, on their port.
    let service = documents
        .iter()
        .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "pushgate-api")
        .expect("the API Service");
    let api_pod = &deployments["api"]["spec"]["template"];
    for (label, value) in service["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(
            &api_pod["metadata"]["labels"][label], value,
            "selector {label}"
        );
    }
    let target = &service["spec"]["ports"][0]["targetPort"];
    let ports = api_pod["spec"]["containers"][0]["ports"]
        .as_array()
        .expect("ports");
    assert!(
        ports.iter().any(|p| &p["name"] == target),
        "targetPort {target}"
    );
}
