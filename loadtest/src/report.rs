//! The run's figures: JSON for machines (`--json`), a table for people.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Counters, LatencySummary, LoadtestError, TimelinePoint};

/// Everything a run measured, with the exact parameters it ran with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub started_at_unix_s: u64,
    /// The command line's values (secrets left out).
    pub parameters: serde_json::Value,
    pub connections: ConnectionFigures,
    pub deliveries: DeliveryFigures,
    /// Live deliveries to reading clients.
    pub latency_us: LatencySummary,
    /// Items replayed after a resume.
    pub replay_latency_us: LatencySummary,
    pub slow: Option<SlowFigures>,
    pub gateways: Vec<GatewayFigures>,
    pub failover: Option<FailoverFigures>,
    /// The merged raw counters of all workers.
    pub counters: Counters,
    pub timeline: Vec<TimelinePoint>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConnectionFigures {
    pub planned: u64,
    pub workers: u64,
    /// Sockets open when publishing (or holding) ended.
    pub connected_at_end: u64,
    pub peak_connected: u64,
    /// Seconds from the first attempt until every client was connected, if that happened.
    pub connect_seconds: Option<f64>,
    pub connect_rate_per_s: Option<f64>,
    pub attempts: u64,
    pub handshake_errors: u64,
    pub disconnects: u64,
    pub reconnects: u64,
    /// Growth of all watched gateways' RSS from before connecting to all connected, divided
    /// by the sockets open then.
    pub gateway_rss_per_socket_bytes: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DeliveryFigures {
    pub follow_edges: u64,
    pub published: u64,
    pub publish_errors: u64,
    pub first_publish_error: Option<String>,
    pub publish_seconds: f64,
    pub publish_rate_per_s: f64,
    /// Deliveries reading clients should have had (per client, per published item).
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub unexpected: u64,
    pub replayed: u64,
    pub folded: u64,
    pub never_connected: u64,
    /// All first-copy deliveries, slow clients included.
    pub deliveries: u64,
    /// Deliveries per second over the publishing window plus drain.
    pub throughput_per_s: f64,
    pub resumes: u64,
    pub incomplete_resumes: u64,
    pub error_frames: u64,
    pub reconnect_frames: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SlowFigures {
    pub fraction: f64,
    pub expected: u64,
    pub received: u64,
    pub latency_us: LatencySummary,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GatewayFigures {
    pub pid: u32,
    pub rss_before_bytes: u64,
    pub rss_connected_bytes: u64,
    /// CPU seconds used while the clients connected (before to connected), so the cost of a
    /// connect can be compared between servers.
    #[serde(default)]
    pub connect_cpu_seconds: f64,
    /// The kernel's part of `connect_cpu_seconds`; the rest ran in the server's own code.
    #[serde(default)]
    pub connect_system_cpu_seconds: f64,
    /// CPU seconds used while holding or publishing, and draining.
    pub cpu_seconds: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FailoverFigures {
    pub killed_pid: u32,
    /// When the kill happened, seconds after publishing started.
    pub killed_after_s: f64,
    pub kill_error: Option<String>,
    /// Seconds from the kill until every client was connected again, if that happened.
    pub recovery_seconds: Option<f64>,
}

impl Report {
    /// Deliveries per CPU second over all watched gateways, if any CPU was measured.
    pub fn deliveries_per_cpu_second(&self) -> Option<f64> {
        let cpu: f64 = self.gateways.iter().map(|g| g.cpu_seconds).sum();
        (cpu > 0.0 && self.deliveries.deliveries > 0)
            .then(|| self.deliveries.deliveries as f64 / cpu)
    }

    /// Write the report as pretty JSON.
    pub fn write_json(&self, path: &Path) -> Result<(), LoadtestError> {
        let mut value = serde_json::to_value(self)?;
        value["deliveries_per_gateway_cpu_second"] =
            serde_json::json!(self.deliveries_per_cpu_second());
        std::fs::write(path, serde_json::to_vec_pretty(&value)?)?;
        Ok(())
    }
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn opt(value: Option<f64>, unit: &str) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}{unit}"))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.connections;
        let d = &self.deliveries;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, value: String| {
            writeln!(f, "  {name:<28} {value}")
        };
        writeln!(f, "scenario {}", self.scenario)?;
        writeln!(f, "connections")?;
        row(
            f,
            "planned / workers",
            format!("{} / {}", c.planned, c.workers),
        )?;
        row(
            f,
            "connected at end / peak",
            format!("{} / {}", c.connected_at_end, c.peak_connected),
        )?;
        row(f, "time to all connected", opt(c.connect_seconds, " s"))?;
        row(f, "connect rate", opt(c.connect_rate_per_s, " /s"))?;
        row(
            f,
            "attempts / handshake errors",
            format!("{} / {}", c.attempts, c.handshake_errors),
        )?;
        row(
            f,
            "disconnects / reconnects",
            format!("{} / {}", c.disconnects, c.reconnects),
        )?;
        if let Some(bytes) = c.gateway_rss_per_socket_bytes {
            row(f, "gateway RSS per socket", format!("{bytes:.0} B"))?;
        }
        if d.published > 0 || d.publish_errors > 0 {
            writeln!(f, "deliveries")?;
            row(f, "follow edges", d.follow_edges.to_string())?;
            row(
                f,
                "published / errors",
                format!("{} / {}", d.published, d.publish_errors),
            )?;
            row(
                f,
                "publish rate",
                format!(
                    "{:.1} /s over {:.1} s",
                    d.publish_rate_per_s, d.publish_seconds
                ),
            )?;
            row(
                f,
                "expected / received",
                format!("{} / {}", d.expected, d.received),
            )?;
            row(f, "LOST", d.lost.to_string())?;
            row(
                f,
                "duplicates / unexpected",
                format!("{} / {}", d.duplicates, d.unexpected),
            )?;
            row(
                f,
                "replayed / folded",
                format!("{} / {}", d.replayed, d.folded),
            )?;
            row(
                f,
                "resumes / incomplete",
                format!("{} / {}", d.resumes, d.incomplete_resumes),
            )?;
            row(f, "never connected", d.never_connected.to_string())?;
            row(
                f,
                "throughput",
                format!("{:.0} deliveries/s", d.throughput_per_s),
            )?;
            let l = &self.latency_us;
            row(
                f,
                "latency p50 / p90",
                format!("{} / {}", ms(l.p50_us), ms(l.p90_us)),
            )?;
            row(
                f,
                "latency p99 / p99.9 / max",
                format!("{} / {} / {}", ms(l.p99_us), ms(l.p999_us), ms(l.max_us)),
            )?;
            if self.replay_latency_us.count > 0 {
                let r = &self.replay_latency_us;
                row(
                    f,
                    "replay latency p50 / p99",
                    format!("{} / {}", ms(r.p50_us), ms(r.p99_us)),
                )?;
            }
        }
        if let Some(slow) = &self.slow {
            writeln!(f, "slow clients ({:.0}%)", slow.fraction * 100.0)?;
            row(
                f,
                "expected / received",
                format!("{} / {}", slow.expected, slow.received),
            )?;
            row(
                f,
                "latency p50 / p99",
                format!(
                    "{} / {}",
                    ms(slow.latency_us.p50_us),
                    ms(slow.latency_us.p99_us)
                ),
            )?;
        }
        for g in &self.gateways {
            writeln!(f, "gateway pid {}", g.pid)?;
            row(
                f,
                "rss before / connected",
                format!(
                    "{} KiB / {} KiB",
                    g.rss_before_bytes / 1024,
                    g.rss_connected_bytes / 1024
                ),
            )?;
            row(
                f,
                "cpu while connecting",
                format!(
                    "{:.2} s (system {:.2} s)",
                    g.connect_cpu_seconds, g.connect_system_cpu_seconds
                ),
            )?;
            row(f, "cpu while measuring", format!("{:.2} s", g.cpu_seconds))?;
        }
        if let Some(rate) = self.deliveries_per_cpu_second() {
            row(f, "deliveries per gateway cpu-s", format!("{rate:.0}"))?;
        }
        if let Some(fo) = &self.failover {
            writeln!(
                f,
                "failover (kill -9 {} at {:.1} s)",
                fo.killed_pid, fo.killed_after_s
            )?;
            if let Some(error) = &fo.kill_error {
                row(f, "kill failed", error.clone())?;
            }
            row(f, "all clients back after", opt(fo.recovery_seconds, " s"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_figure_and_the_table_reads() {
        let report = Report {
            scenario: "fanout".into(),
            parameters: serde_json::json!({"connections": 10}),
            deliveries: DeliveryFigures {
                published: 4,
                expected: 40,
                received: 39,
                lost: 1,
                deliveries: 39,
                ..Default::default()
            },
            latency_us: LatencySummary {
                count: 39,
                p99_us: 2_500,
                ..Default::default()
            },
            gateways: vec![GatewayFigures {
                pid: 1,
                connect_cpu_seconds: 0.2,
                connect_system_cpu_seconds: 0.15,
                cpu_seconds: 0.5,
                ..Default::default()
            }],
            ..Default::default()
        };
        let dir = std::env::temp_dir().join(format!("lt-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("report.json");
        report.write_json(&path).expect("writes");
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("json");
        assert_eq!(value["deliveries"]["lost"], 1);
        assert_eq!(value["latency_us"]["p99_us"], 2_500);
        assert_eq!(value["parameters"]["connections"], 10);
        assert_eq!(value["deliveries_per_gateway_cpu_second"], 78.0);
        assert_eq!(value["gateways"][0]["connect_cpu_seconds"], 0.2);
        assert_eq!(value["gateways"][0]["connect_system_cpu_seconds"], 0.15);
        let back: Report = serde_json::from_value(value).expect("round trips");
        assert_eq!(back.deliveries.received, 39);
        let table = report.to_string();
        assert!(
            table.contains("LOST")
                && table.contains("2.50 ms")
                && table.contains("cpu while connecting"),
            "{table}"
        );
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
}
