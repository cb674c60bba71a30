//! End-to-end runs of `pushgate-loadtest` against a real `pushgate dev` server (gateway,
//! fan-out worker and REST API in one process on the embedded backend).
//!
//! The `pushgate` binary belongs to another crate, so it is looked up beside this test's
//! own target directory (`target/<profile>/pushgate`, either profile) or at `$PUSHGATE_BIN`.
//! Build it first with `cargo build -p pushgate-gateway --bin pushgate`; without it these
//! tests say so on stderr and pass without running.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "loadtest-e2e-secret";
const API_KEY: &str = "loadtest-e2e-key";

fn pushgate_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PUSHGATE_BIN") {
        return Some(PathBuf::from(path));
    }
    // <target>/<profile>/deps/<this test>
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?;
    ["debug", "release"]
        .iter()
        .map(|profile| target.join(profile).join("pushgate"))
        .find(|path| path.is_file())
}

/// A `pushgate dev` process, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Best effort: the process may already be gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.local_addr().expect("address").port()
}

fn start_server(binary: &Path) -> Server {
    let port = free_port();
    let child = Command::new(binary)
        .args(["dev", "--listen", &format!("127.0.0.1:{port}")])
        .env("PUSHGATE_JWT_SECRET", SECRET)
        .env("PUSHGATE_API_KEY", API_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starts pushgate dev");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "pushgate dev did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// Run a scenario against `server` and return the JSON report.
fn run(server: &Server, scenario: &str, extra: &[&str]) -> serde_json::Value {
    let json = std::env::temp_dir().join(format!("lt-{scenario}-{}.json", std::process::id()));
    let pid = server.child.id().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_pushgate-loadtest"))
        .arg(scenario)
        .args(["--target", &server.base, "--gateway-pid", &pid, "--quiet"])
        .args(["--workers", "2", "--ramp", "1000", "--json"])
        .arg(&json)
        .args(extra)
        .env("PUSHGATE_JWT_SECRET", SECRET)
        .env("PUSHGATE_API_KEY", API_KEY)
        .output()
        .expect("runs the load test");
    assert!(
        output.status.success(),
        "{scenario}: exit {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json");
    std::fs::remove_file(json).expect("cleanup");
    report
}

fn assert_no_loss(report: &serde_json::Value) {
    let d = &report["deliveries"];
    assert_eq!(d["publish_errors"], 0, "{d}");
    assert!(d["published"].as_u64() > Some(0), "{d}");
    assert!(d["expected"].as_u64() > Some(0), "{d}");
    assert_eq!(d["received"], d["expected"], "{d}");
    assert_eq!(
        (d["lost"].as_u64(), d["duplicates"].as_u64()),
        (Some(0), Some(0)),
        "{d}"
    );
    assert_eq!(d["unexpected"], 0, "{d}");
}

#[test]
fn idle_fanout_and_churn_against_pushgate_dev() {
    // `cargo test --workspace` builds the gateway's binary before running any test; a missing
    // binary means a broken setup, which must fail rather than pass silently.
    let binary = pushgate_binary()
        .expect("no pushgate binary: run `cargo build -p pushgate-gateway --bin pushgate` or set PUSHGATE_BIN");
    let server = start_server(&binary);

    let idle = run(&server, "idle", &["-n", "200", "--duration", "1"]);
    let c = &idle["connections"];
    assert_eq!(
        (c["planned"].as_u64(), c["connected_at_end"].as_u64()),
        (Some(200), Some(200))
    );
    assert_eq!(c["handshake_errors"], 0);
    assert!(c["gateway_rss_per_socket_bytes"].is_number(), "{c}");

    let fanout = run(
        &server,
        "fanout",
        &[
            "-n",
            "200",
            "--authors",
            "10",
            "--rate",
            "20",
            "--duration",
            "2",
            "--drain",
            "2",
        ],
    );
    assert_no_loss(&fanout);
    assert!(fanout["deliveries"]["follow_edges"].as_u64() > Some(200));
    assert!(fanout["latency_us"]["count"].as_u64() > Some(0));

    let churn = run(
        &server,
        "churn",
        &[
            "-n",
            "200",
            "--authors",
            "10",
            "--rate",
            "20",
            "--duration",
            "3",
            "--drain",
            "2",
            "--churn-fraction",
            "0.3",
            "--churn-interval",
            "0.5",
            "--codec",
            "msgpack",
        ],
    );
    assert_no_loss(&churn);
    let d = &churn["deliveries"];
    assert!(
        d["resumes"].as_u64() > Some(0),
        "churning clients resumed: {d}"
    );
}
