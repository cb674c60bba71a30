//! The parent's run: follow graph, worker processes, phases, publishing, and the report.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

use crate::report::{
    ConnectionFigures, DeliveryFigures, FailoverFigures, GatewayFigures, SlowFigures,
};
use crate::{
    Counters, FOLLOW_CONCURRENCY, FollowGraph, GatewayProbe, LatencyHistogram, LoadtestError,
    ParentCommand, PoolEvent, ProcessSample, ProgressLine, PublishLog, Publisher, Report, RunNames,
    RunSpec, Timeline, TokenMinter, WorkerMessage, WorkerPool, load_follows, unix_micros,
};

/// How long workers get to report after `finish`: closing their sockets and tallying. The
/// servers see every socket close at once, so the time grows with the run: a million
/// sockets on 2 cores took longer than a flat minute.
fn finish_timeout(connections: u32) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(u64::from(connections) / 10)
}

/// Everything workers reported so far.
#[derive(Debug)]
struct Collector {
    counters: Vec<Counters>,
    done: Vec<bool>,
    timeline: Timeline,
    live: LatencyHistogram,
    replay: LatencyHistogram,
    slow: LatencyHistogram,
    last_second: LatencyHistogram,
}

impl Collector {
    fn new(workers: usize) -> Self {
        Self {
            counters: vec![Counters::default(); workers],
            done: vec![false; workers],
            timeline: Timeline::default(),
            live: LatencyHistogram::default(),
            replay: LatencyHistogram::default(),
            slow: LatencyHistogram::default(),
            last_second: LatencyHistogram::default(),
        }
    }

    fn total(&self) -> Counters {
        Counters::total(&self.counters)
    }

    fn all_done(&self) -> bool {
        self.done.iter().all(|&done| done)
    }

    fn handle(&mut self, event: PoolEvent) -> Result<(), LoadtestError> {
        match event {
            PoolEvent::Message { worker, message } => match *message {
                WorkerMessage::Tick {
                    second,
                    counters,
                    latency,
                } => {
                    self.counters[worker as usize] = counters;
                    self.timeline
                        .add_tick(worker, second, counters.connected, &latency)?;
                    self.live.merge(&latency)?;
                    self.last_second = latency;
                }
                WorkerMessage::Done {
                    counters,
                    latency,
                    replay_latency,
                    slow_latency,
                } => {
                    self.counters[worker as usize] = counters;
                    self.done[worker as usize] = true;
                    self.live.merge(&latency)?;
                    self.replay.merge(&replay_latency)?;
                    self.slow.merge(&slow_latency)?;
                }
            },
            PoolEvent::Exited { worker, error } => {
                if !self.done[worker as usize] {
                    let message = error.unwrap_or_else(|| "exited before reporting".into());
                    return Err(LoadtestError::Worker {
                        index: worker,
                        message,
                    });
                }
            }
        }
        Ok(())
    }

    /// Take worker events until `deadline` or until `enough` holds.
    async fn pump(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<PoolEvent>,
        deadline: Instant,
        progress: (&ProgressLine, &str),
        enough: impl Fn(&Self) -> bool,
    ) -> Result<(), LoadtestError> {
        while !enough(self) {
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else {
                        return Err(LoadtestError::Worker { index: u32::MAX, message: "all workers gone".into() });
                    };
                    self.handle(event)?;
                    progress.0.update(progress.1, &self.total(), &self.last_second.summary());
                }
                () = sleep_until(deadline) => break,
            }
        }
        Ok(())
    }
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

/// Send SIGKILL to `pid`; `kill(1)` keeps this crate free of unsafe code.
async fn kill_hard(pid: u32) -> Result<(), String> {
    let status = tokio::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .await
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -9 {pid}: {status}"))
    }
}

/// Run `spec` with workers re-executing `exe`, and report.
pub async fn run_load(spec: &RunSpec, exe: &Path) -> Result<Report, LoadtestError> {
    spec.validate()?;
    let run = &spec.run;
    let epoch_us = unix_micros();
    let progress = ProgressLine::new(run.quiet);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(FOLLOW_CONCURRENCY)
        .build()
        .map_err(|source| LoadtestError::Http {
            what: "http client".into(),
            source,
        })?;
    let run_id = spec
        .gateway
        .as_ref()
        .and_then(|g| g.run_id.clone())
        .unwrap_or_else(|| format!("lt{}", epoch_us / 1000));
    let names = RunNames { run_id: &run_id };

    let mut follow_edges = 0;
    if let (Some(params), Some(gateway)) = (spec.graph_params(), &spec.gateway) {
        let graph = FollowGraph::generate(&params);
        let minter = TokenMinter::new(&gateway.jwt_secret, Duration::from_secs(3600));
        let edges = graph.edges();
        progress.stage("following", format!("0/{edges}"));
        follow_edges = load_follows(&http, &gateway.targets, &minter, names, &graph, |done| {
            progress.stage("following", format!("{done}/{edges}"));
        })
        .await?;
    }

    let mut probe = GatewayProbe::new(&run.gateway_pids)?;
    let rss_before = probe.refresh();
    let protocol = spec.protocol(&run_id);
    let (mut pool, mut events) =
        WorkerPool::spawn(exe, spec.worker_plans(epoch_us, &protocol)?).await?;
    let mut collector = Collector::new(pool.len());

    let connect_start = unix_micros();
    let connect_deadline = Instant::now() + secs(run.connect_timeout);
    collector
        .pump(
            &mut events,
            connect_deadline,
            (&progress, "connecting"),
            |c| c.total().first_full_us.is_some(),
        )
        .await?;
    let connected = collector.total();
    let rss_connected = probe.refresh();

    let cpu_start = probe.refresh();
    let measure_start = Instant::now();
    let measure_start_us = unix_micros();
    let publisher = spec.publish_target(&run_id).map(|(target, rate)| {
        let publisher = Arc::new(Publisher::new(http.clone(), target));
        tokio::spawn(publisher.run(rate, secs(run.duration), epoch_us))
    });
    let killer = spec.kill.clone().map(|kill| {
        tokio::spawn(async move {
            sleep(secs(kill.kill_at)).await;
            (unix_micros(), kill_hard(kill.kill_pid).await)
        })
    });
    let stage = if publisher.is_some() {
        "publishing"
    } else {
        "holding"
    };
    collector
        .pump(
            &mut events,
            measure_start + secs(run.duration),
            (&progress, stage),
            |_| false,
        )
        .await?;
    let log = match publisher {
        Some(task) => task
            .await
            .map_err(|e| LoadtestError::InvalidArgument(e.to_string()))?,
        None => PublishLog::default(),
    };
    let publish_seconds = measure_start.elapsed().as_secs_f64();
    let at_end = collector.total();

    pool.broadcast(&ParentCommand::Drain).await?;
    collector
        .pump(
            &mut events,
            Instant::now() + secs(run.drain),
            (&progress, "draining"),
            |_| false,
        )
        .await?;
    let cpu_end = probe.refresh();
    let kill = match killer {
        Some(task) => Some(
            task.await
                .map_err(|e| LoadtestError::InvalidArgument(e.to_string()))?,
        ),
        None => None,
    };

    pool.broadcast(&ParentCommand::Finish {
        published: log.published.clone(),
    })
    .await?;
    collector
        .pump(
            &mut events,
            Instant::now() + finish_timeout(run.connections),
            (&progress, "finishing"),
            Collector::all_done,
        )
        .await?;
    if !collector.all_done() {
        return Err(LoadtestError::Worker {
            index: u32::MAX,
            message: "no final report in time".into(),
        });
    }
    pool.wait().await?;
    progress.finish();
    collector.timeline.add_published(&log.per_second);

    let total = collector.total();
    let points = collector.timeline.points();
    let rss_growth: i64 = rss_connected
        .iter()
        .map(|(pid, after)| {
            after.rss_bytes as i64 - rss_before.get(pid).map_or(0, |b| b.rss_bytes as i64)
        })
        .sum();
    let connect_seconds = connected
        .first_full_us
        .map(|full| full.saturating_sub(connect_start) as f64 / 1e6);
    let gateways = gateway_figures(&rss_before, &rss_connected, &cpu_start, &cpu_end);
    Ok(Report {
        scenario: spec.scenario.to_owned(),
        started_at_unix_s: epoch_us / 1_000_000,
        parameters: spec.parameters()?,
        connections: ConnectionFigures {
            planned: u64::from(run.connections),
            workers: collector.counters.len() as u64,
            connected_at_end: at_end.connected,
            peak_connected: points.iter().map(|p| p.connected).max().unwrap_or(0),
            connect_seconds,
            connect_rate_per_s: connect_seconds.map(|s| f64::from(run.connections) / s.max(1e-6)),
            attempts: total.attempts,
            handshake_errors: total.handshake_errors,
            disconnects: total.disconnects,
            reconnects: total.reconnects,
            gateway_rss_per_socket_bytes: (!rss_connected.is_empty() && connected.connected > 0)
                .then(|| rss_growth as f64 / connected.connected as f64),
        },
        deliveries: DeliveryFigures {
            follow_edges,
            published: log.published.len() as u64,
            publish_errors: log.errors,
            first_publish_error: log.first_error.clone(),
            publish_seconds,
            publish_rate_per_s: log.published.len() as f64 / publish_seconds.max(1e-6),
            expected: total.expected,
            received: total.received,
            lost: total.lost,
            duplicates: total.duplicates,
            unexpected: total.unexpected,
            replayed: total.replayed,
            folded: total.folded,
            never_connected: total.never_connected,
            deliveries: total.deliveries,
            throughput_per_s: total.deliveries as f64 / publish_seconds.max(1e-6),
            resumes: total.resumes,
            incomplete_resumes: total.incomplete_resumes,
            error_frames: total.error_frames,
            reconnect_frames: total.reconnect_frames,
        },
        latency_us: collector.live.summary(),
        replay_latency_us: collector.replay.summary(),
        slow: spec.slow.as_ref().map(|slow| SlowFigures {
            fraction: slow.slow_fraction,
            expected: total.slow_expected,
            received: total.slow_received,
            latency_us: collector.slow.summary(),
        }),
        gateways,
        failover: spec
            .kill
            .as_ref()
            .zip(kill)
            .map(|(args, (killed_us, result))| FailoverFigures {
                killed_pid: args.kill_pid,
                killed_after_s: killed_us.saturating_sub(measure_start_us) as f64 / 1e6,
                kill_error: result.err(),
                // Back to full strength after the kill, and still full when publishing ended.
                recovery_seconds: (at_end.connected == at_end.clients)
                    .then(|| {
                        at_end
                            .last_full_us
                            .map(|full| full.saturating_sub(killed_us) as f64 / 1e6)
                    })
                    .flatten(),
            }),
        counters: total,
        timeline: points,
    })
}

fn gateway_figures(
    before: &BTreeMap<u32, ProcessSample>,
    connected: &BTreeMap<u32, ProcessSample>,
    cpu_start: &BTreeMap<u32, ProcessSample>,
    cpu_end: &BTreeMap<u32, ProcessSample>,
) -> Vec<GatewayFigures> {
    before
        .iter()
        .map(|(&pid, sample)| GatewayFigures {
            pid,
            rss_before_bytes: sample.rss_bytes,
            rss_connected_bytes: connected.get(&pid).map_or(0, |s| s.rss_bytes),
            connect_cpu_seconds: connected
                .get(&pid)
                .map_or(0.0, |s| s.cpu_seconds - sample.cpu_seconds),
            connect_system_cpu_seconds: connected
                .get(&pid)
                .map_or(0.0, |s| s.system_cpu_seconds - sample.system_cpu_seconds),
            cpu_seconds: cpu_end.get(&pid).map_or(0.0, |s| s.cpu_seconds)
                - cpu_start.get(&pid).map_or(0.0, |s| s.cpu_seconds),
        })
        .collect()
}
