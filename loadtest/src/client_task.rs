//! One simulated client: connect, read pushes, reconnect and resume, until the run ends.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use pushgate_protocol::Cursor;
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, sleep_until, timeout};

use crate::worker_plan::ProtocolPlan;
use crate::{
    Arrival, ClientDialect, ClientOutcome, Destination, Event, FollowGraph, LoadtestError, Phase,
    PhaseSignal, Socket, WorkerPlan, WorkerStats, unix_micros,
};

/// What a worker's clients share.
#[derive(Debug)]
pub struct WorkerContext {
    pub plan: WorkerPlan,
    pub dialect: ClientDialect,
    pub http: reqwest::Client,
    /// Turns for connection attempts (`WorkerPlan::pending_connects`); `None`: no cap.
    pub connect_turns: Option<Semaphore>,
    pub stats: Mutex<WorkerStats>,
    /// Topics (followed authors or the one channel) per client of this worker.
    pub topics: Vec<Vec<u32>>,
}

impl WorkerContext {
    /// The context of `plan`, regenerating the follow graph for its clients' topics.
    pub fn new(plan: WorkerPlan) -> Result<Self, LoadtestError> {
        let dialect = ClientDialect::new(&plan.protocol);
        let topics = match dialect.graph() {
            Some(params) => {
                FollowGraph::generate(params).followed_by(plan.first_client, plan.clients)
            }
            None => (plan.first_client..plan.first_client + plan.clients)
                .map(|index| dialect.channel_of(index).into_iter().collect())
                .collect(),
        };
        let http = reqwest::Client::builder()
            .local_address(http_source(&plan).map(IpAddr::V4))
            .build()
            .map_err(|source| LoadtestError::Http {
                what: "the worker's HTTP client".to_owned(),
                source,
            })?;
        Ok(Self {
            stats: Mutex::new(WorkerStats::new(plan.clients)),
            connect_turns: (plan.pending_connects > 0)
                .then(|| Semaphore::new(plan.pending_connects as usize)),
            http,
            dialect,
            topics,
            plan,
        })
    }

    /// The stats, even if a client task panicked while holding them.
    pub fn stats(&self) -> MutexGuard<'_, WorkerStats> {
        self.stats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where the worker's HTTP calls leave from: its own source address when every gateway is on
/// loopback (see [`crate::SourceAddrs::for_worker`]); the kernel's choice otherwise, since a loopback
/// source cannot reach another host.
fn http_source(plan: &WorkerPlan) -> Option<Ipv4Addr> {
    let range = plan.source_addrs?;
    let ProtocolPlan::Pushgate(pushgate) = &plan.protocol else {
        return None;
    };
    let loopback = |target: &String| {
        let url = reqwest::Url::parse(target).ok();
        let host = url.as_ref().and_then(|url| url.host_str());
        host.is_some_and(|host| {
            host == "localhost" || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        })
    };
    pushgate
        .targets
        .iter()
        .all(loopback)
        .then(|| range.for_worker(plan.index))
}

/// First retry delay after a failed attempt; doubled per failure up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why a session ended.
enum SessionEnd {
    Finish,
    Churn,
    Lost,
    Redirect { after_ms: u64 },
}

/// One client's state across its connections.
struct Client {
    ctx: Arc<WorkerContext>,
    index: u32,
    slow: bool,
    churns: bool,
    cursor: Option<Cursor>,
    destination: Destination,
    outcome: ClientOutcome,
}

/// Run client number `index` (global) until the phase is [`Phase::Finishing`]; it hears
/// `Draining` from `phase` only if it is slow or churns, the clients that act on it.
pub async fn run_client(
    ctx: Arc<WorkerContext>,
    index: u32,
    phase: Arc<PhaseSignal>,
) -> ClientOutcome {
    let local = (index - ctx.plan.first_client) as usize;
    let slow = ctx.plan.is_slow(index);
    let churns = ctx.plan.churns(index);
    let mut phase = phase.subscribe(slow || churns);
    let mut client = Client {
        slow,
        churns,
        outcome: ClientOutcome {
            topics: ctx.topics[local].clone(),
            slow,
            ..ClientOutcome::default()
        },
        cursor: None,
        destination: Destination::default(),
        index,
        ctx,
    };
    client.run(&mut phase).await;
    client.outcome
}

impl Client {
    async fn run(&mut self, phase: &mut watch::Receiver<Phase>) {
        let ctx = Arc::clone(&self.ctx);
        let connect_timeout = Duration::from_millis(ctx.plan.connect_timeout_ms);
        let mut backoff = BACKOFF_MIN;
        while *phase.borrow() != Phase::Finishing {
            // A saturated server answers late; attempts beyond what it can take would only
            // time out and come back, so they queue here instead (congestion control).
            let turn = match &ctx.connect_turns {
                Some(turns) => tokio::select! {
                    turn = turns.acquire() => turn.ok(),
                    _ = phase.wait_for(|p| *p == Phase::Finishing) => break,
                },
                None => None,
            };
            ctx.stats().counters.attempts += 1;
            // Boxed: the connect future (HTTP lookup, TCP, handshake) is several KiB, and
            // inline it would stay part of every idle client's task for the whole run.
            let opened = timeout(
                connect_timeout,
                Box::pin(ctx.dialect.open(
                    &ctx.http,
                    self.index,
                    ctx.plan.source_addrs,
                    &mut self.destination,
                    self.cursor,
                )),
            )
            .await;
            drop(turn);
            let Ok(Ok(socket)) = opened else {
                ctx.stats().counters.handshake_errors += 1;
                self.destination.target_offset += 1;
                pause(jittered(backoff), phase).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            };
            backoff = BACKOFF_MIN;
            {
                let mut stats = ctx.stats();
                stats.opened();
                if self.outcome.ever_connected {
                    stats.counters.reconnects += 1;
                }
                if self.cursor.is_some() && ctx.dialect.resumes() {
                    stats.counters.resumes += 1;
                }
            }
            self.outcome.ever_connected = true;
            let end = self.session(socket, phase).await;
            ctx.stats().closed();
            match end {
                SessionEnd::Finish => break,
                SessionEnd::Churn => {}
                SessionEnd::Lost => {
                    ctx.stats().counters.disconnects += 1;
                    // Spread the reconnects of a dropped node instead of a herd.
                    pause(jittered(BACKOFF_MIN * 2), phase).await;
                }
                SessionEnd::Redirect { after_ms } => {
                    pause(Duration::from_millis(after_ms), phase).await;
                }
            }
        }
    }

    async fn session(
        &mut self,
        mut socket: Socket,
        phase: &mut watch::Receiver<Phase>,
    ) -> SessionEnd {
        let ctx = Arc::clone(&self.ctx);
        // A resume was sent as the first frame iff a cursor was held.
        let mut replaying = self.cursor.is_some() && ctx.dialect.resumes();
        let churn_at = self.churns.then(|| {
            let interval = ctx.plan.churn.map_or(0, |churn| churn.interval_ms);
            Instant::now() + jittered(Duration::from_millis(interval))
        });
        loop {
            let current = *phase.borrow();
            if current == Phase::Finishing {
                // Best effort: the run is over either way.
                let _ = timeout(Duration::from_secs(1), socket.close(None)).await;
                return SessionEnd::Finish;
            }
            let reading = !(self.slow && current == Phase::Running);
            let churning = current == Phase::Running && churn_at.is_some();
            let churn_deadline = churn_at.unwrap_or_else(Instant::now);
            tokio::select! {
                changed = phase.changed() => {
                    if changed.is_err() {
                        return SessionEnd::Finish;
                    }
                }
                () = sleep_until(churn_deadline), if churning => {
                    let _ = timeout(Duration::from_secs(1), socket.close(None)).await;
                    return SessionEnd::Churn;
                }
                next = socket.next(), if reading => {
                    let Some(Ok(message)) = next else {
                        return SessionEnd::Lost;
                    };
                    match ctx.dialect.interpret(&message) {
                        Event::Item { id, ts_us, cursor } => {
                            self.cursor = cursor.or(self.cursor);
                            let arrival = match (self.slow, replaying) {
                                (true, _) => Arrival::Slow,
                                (false, true) => Arrival::Replay,
                                (false, false) => Arrival::Live,
                            };
                            let latency = unix_micros() as i64 - ts_us as i64;
                            let mut stats = ctx.stats();
                            if self.outcome.received.insert(id) {
                                stats.delivered(latency, arrival);
                            } else {
                                stats.counters.duplicates += 1;
                            }
                        }
                        // A fresh client keeps the head it was welcomed at, so posts made
                        // while it is away are replayed after a reconnect.
                        Event::Welcome { cursor } => {
                            self.cursor.get_or_insert(cursor);
                        }
                        Event::Folded { count, cursor } => {
                            self.cursor = Some(cursor);
                            ctx.stats().counters.folded += count;
                        }
                        Event::Resumed { complete } => {
                            replaying = false;
                            if !complete {
                                ctx.stats().counters.incomplete_resumes += 1;
                            }
                        }
                        Event::Reconnect { url, after_ms } => {
                            ctx.stats().counters.reconnect_frames += 1;
                            self.destination.redirect = Some(url);
                            return SessionEnd::Redirect { after_ms };
                        }
                        Event::Advanced { cursor } => self.cursor = Some(cursor),
                        Event::Error => ctx.stats().counters.error_frames += 1,
                        Event::Ignored => {}
                    }
                }
            }
        }
    }
}

/// `base` scaled by a random factor in 0.5..1.5, so clients never move in lockstep.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(rand::random_range(0.5..1.5))
}

/// Sleep, cut short when the run finishes.
async fn pause(duration: Duration, phase: &mut watch::Receiver<Phase>) {
    let _ = timeout(duration, phase.wait_for(|p| *p == Phase::Finishing)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(targets: &[&str], source_addrs: Option<&str>) -> WorkerPlan {
        WorkerPlan {
            index: 3,
            first_client: 0,
            clients: 1,
            epoch_us: 0,
            ramp_per_sec: 1.0,
            connect_timeout_ms: 1_000,
            pending_connects: 0,
            source_addrs: source_addrs.map(|range| range.parse().expect("range")),
            churn: None,
            slow_fraction: 0.0,
            protocol: ProtocolPlan::Pushgate(crate::worker_plan::PushgatePlan {
                targets: targets.iter().map(|t| (*t).to_owned()).collect(),
                run_id: "t".into(),
                codec: crate::WireCodec::Json,
                jwt_secret: "x".repeat(16),
                token_ttl_s: 60,
                follow_connect: true,
                graph: None,
            }),
        }
    }

    #[test]
    fn http_calls_leave_from_the_workers_own_address_only_on_loopback() {
        let range = Some("127.0.0.2-127.0.0.254");
        let loopback = ["http://127.0.0.1:8480", "http://localhost:8481"];
        assert_eq!(
            http_source(&plan(&loopback, range)),
            Some(Ipv4Addr::new(127, 0, 0, 5))
        );
        assert_eq!(
            http_source(&plan(&loopback, None)),
            None,
            "no range: kernel's choice"
        );
        let remote = ["http://127.0.0.1:8480", "http://10.0.0.7:8480"];
        assert_eq!(http_source(&plan(&remote, range)), None, "a remote target");
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let d = jittered(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(500) && d <= Duration::from_millis(1500));
        }
    }
}
