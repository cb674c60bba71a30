//! One simulated client: connect, read pushes, reconnect and resume, until the run ends.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use pushgate_protocol::Cursor;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};

use crate::{
    Arrival, ClientDialect, ClientOutcome, Destination, Event, FollowGraph, Phase, PhaseSignal,
    Socket, WorkerPlan, WorkerStats, unix_micros,
};

/// What a worker's clients share.
#[derive(Debug)]
pub struct WorkerContext {
    pub plan: WorkerPlan,
    pub dialect: ClientDialect,
    pub http: reqwest::Client,
    pub stats: Mutex<WorkerStats>,
    /// Topics (followed authors or the one channel) per client of this worker.
    pub topics: Vec<Vec<u32>>,
}

impl WorkerContext {
    /// The context of `plan`, regenerating the follow graph for its clients' topics.
    pub fn new(plan: WorkerPlan) -> Self {
        let dialect = ClientDialect::new(&plan.protocol);
        let topics = match dialect.graph() {
            Some(params) => {
                FollowGraph::generate(params).followed_by(plan.first_client, plan.clients)
            }
            None => (plan.first_client..plan.first_client + plan.clients)
                .map(|index| dialect.channel_of(index).into_iter().collect())
                .collect(),
        };
        Self {
            stats: Mutex::new(WorkerStats::new(plan.clients)),
            http: reqwest::Client::new(),
            dialect,
            topics,
            plan,
        }
    }

    /// The stats, even if a client task panicked while holding them.
    pub fn stats(&self) -> MutexGuard<'_, WorkerStats> {
        self.stats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
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

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let d = jittered(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(500) && d <= Duration::from_millis(1500));
        }
    }
}
