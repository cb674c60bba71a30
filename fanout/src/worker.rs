//! The fan-out worker: turns logged events into feed writes and one batch per home node.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use pushgate_protocol::{Audience, FeedItem, NodeMessage, Recipient, TraceParent};
use rand::Rng;
use tokio::sync::mpsc;
use tracing::Instrument;
use tracing::field::Empty;

use crate::backplane::{
    Backplane, BackplaneError, DeadLetterReason, FanoutEvent, LoggedEvent, PostEvent, UserId,
};
use crate::clock::age_seconds;
use crate::drain::Drain;
use crate::invalid_setting::{InvalidSetting, Rule};
use crate::ring_watcher::RingView;
use crate::trace;

/// Tuning of one worker.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Consumer name in the fan-out log (unique per worker process).
    pub consumer: String,
    /// Authors with at least this many followers are fanned out on read (broadcast).
    pub celebrity_threshold: u64,
    /// Followers loaded and written per step, bounding memory for huge follower sets.
    pub chunk: usize,
    /// Events taken from the log per read.
    pub batch: usize,
    /// Events fanned out at once. One at a time, a 2,000-follower post held every event read
    /// after it (at 300 posts/s, one in ten waited over 25 ms to be picked up); events of one
    /// author (or, for notifications, one first recipient) share a lane, so their order holds.
    pub lanes: usize,
    /// Attempts before an event goes to the dead-letter log.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `backoff_max`, with full jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            consumer: "worker-1".into(),
            celebrity_threshold: 10_000,
            chunk: 1000,
            batch: 64,
            lanes: 8,
            max_attempts: 5,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
        }
    }
}

impl WorkerConfig {
    /// Refuse settings a worker cannot run with; call before starting one.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        InvalidSetting::unless(self.chunk > 0, "fanout-chunk", Rule::Positive)?;
        InvalidSetting::unless(self.lanes > 0, "fanout-lanes", Rule::Positive)?;
        InvalidSetting::unless(self.max_attempts > 0, "max-attempts", Rule::Positive)
    }
}

/// The lane of `event`: by author for posts, by first recipient for notifications.
fn lane_of(event: &FanoutEvent, lanes: usize) -> usize {
    let key = match event {
        FanoutEvent::Post(post) => Some(&post.author),
        FanoutEvent::Notify(notify) => notify.users.first(),
    };
    // SipHash with fixed keys: the same author gets the same lane in every run.
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

/// A fan-out worker.
#[derive(Debug)]
pub struct Worker {
    backplane: Backplane,
    ring: RingView,
    config: WorkerConfig,
}

/// Why one attempt at an event failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Backplane(#[from] BackplaneError),
    #[error("no live gateway node to route to")]
    NoNodes,
}

impl Worker {
    /// A worker over `backplane`, routing with `ring`.
    pub fn new(backplane: Backplane, ring: RingView, config: WorkerConfig) -> Self {
        Self {
            backplane,
            ring,
            config,
        }
    }

    /// Consume the fan-out log until `drain` fires. Never returns early: backplane outages
    /// are retried with backoff so the worker heals when the backplane does.
    ///
    /// One reader hands events to `lanes` queues, each worked through in order; on drain the
    /// reader stops and the lanes finish what they hold. The queues share one read batch of
    /// room, so a crash leaves at most two batches to be claimed by another worker.
    pub async fn run(self, drain: Drain) {
        // At zero from the start, so rates and alerts have a series before the first failure.
        for reason in DeadLetterReason::ALL {
            reason.count(0);
        }
        for failure in [
            "pushgate_worker_retries_total",
            "pushgate_worker_read_errors_total",
        ] {
            metrics::counter!(failure).increment(0);
        }
        let lanes = self.config.lanes.max(1);
        let room = self.config.batch.div_ceil(lanes).max(1);
        let (queues, lanes): (Vec<_>, Vec<_>) = (0..lanes)
            .map(|_| mpsc::channel::<LoggedEvent>(room))
            .unzip();
        let workers = join_all(lanes.into_iter().map(|lane| self.work(lane, &drain)));
        tokio::join!(self.read(queues, &drain), workers);
    }

    /// Read the log and queue each event on its lane until `drain` fires.
    async fn read(&self, queues: Vec<mpsc::Sender<LoggedEvent>>, drain: &Drain) {
        let mut outage = 0u32;
        while !drain.is_draining() {
            let read = tokio::select! {
                _ = drain.cancelled() => break,
                read = self.backplane.events.read(&self.config.consumer, self.config.batch, Duration::from_secs(1)) => read,
            };
            match read {
                Ok(events) => {
                    outage = 0;
                    for event in events {
                        let lane = &queues[lane_of(&event.event, queues.len())];
                        // A full lane holds the reader: backpressure, not a growing queue.
                        if lane.send(event).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "fan-out log read failed");
                    metrics::counter!("pushgate_worker_read_errors_total").increment(1);
                    tokio::select! {
                        _ = drain.cancelled() => break,
                        _ = tokio::time::sleep(self.backoff(outage)) => {}
                    }
                    outage = outage.saturating_add(1);
                }
            }
        }
    }

    /// Handle one lane's events in order until the reader is gone.
    async fn work(&self, mut lane: mpsc::Receiver<LoggedEvent>, drain: &Drain) {
        while let Some(event) = lane.recv().await {
            self.handle(event, drain).await;
        }
    }

    /// Process one event with retries; ack it, or dead-letter it after `max_attempts`.
    async fn handle(&self, event: LoggedEvent, drain: &Drain) {
        metrics::histogram!("pushgate_worker_event_age_seconds")
            .record(age_seconds(event.event.ts()));
        let (kind, id) = match &event.event {
            FanoutEvent::Post(post) => ("post", post.id),
            FanoutEvent::Notify(notify) => ("notify", notify.id),
        };
        let span = trace::child_of(event.trace.as_ref(), || {
            tracing::info_span!(target: trace::TARGET, "fanout",
                otel.kind = "consumer",
                pushgate.item.kind = kind,
                pushgate.item.id = trace::int(id),
                pushgate.recipients = Empty,
                pushgate.nodes = Empty,
                pushgate.attempts = Empty,
                pushgate.broadcast = Empty,
            )
        });
        let handed_on = trace::handed_on(&span, event.trace.as_ref());
        // The nodes reached, gathered only for the span.
        let mut nodes = (!span.is_disabled()).then(HashSet::new);
        let started = Instant::now();
        let mut attempt = event.attempts;
        loop {
            if attempt >= self.config.max_attempts {
                let reason = format!("gave up after {attempt} attempts");
                tracing::error!(event = %event.id, %reason, "fan-out event dead-lettered");
                DeadLetterReason::MaxAttempts.count(1);
                if let Err(e) = self.backplane.events.dead_letter(&event, &reason).await {
                    tracing::warn!(error = %e, "dead-letter write failed; the log will hand the event out again");
                }
                return;
            }
            let outcome = self
                .fan_out(&event.event, handed_on.as_ref(), &mut nodes)
                .instrument(span.clone())
                .await;
            span.record("pushgate.attempts", i64::from(attempt) + 1);
            match outcome {
                Ok(deliveries) => {
                    span.record("pushgate.recipients", trace::int(deliveries));
                    if let Some(nodes) = &nodes {
                        span.record("pushgate.nodes", trace::int(nodes.len()));
                    }
                    metrics::histogram!("pushgate_worker_fanout_seconds")
                        .record(started.elapsed().as_secs_f64());
                    metrics::counter!("pushgate_worker_events_total").increment(1);
                    metrics::counter!("pushgate_worker_recipients_total").increment(deliveries);
                    if let Err(e) = self
                        .backplane
                        .events
                        .ack(std::slice::from_ref(&event.id))
                        .await
                    {
                        // Not acked means handed out again later; feed appends are idempotent
                        // and gateways dedupe by cursor, so clients still see it once.
                        tracing::warn!(error = %e, "ack failed");
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(event = %event.id, attempt, error = %e, "fan-out attempt failed");
                    metrics::counter!("pushgate_worker_retries_total").increment(1);
                    attempt += 1;
                    tokio::select! {
                        // Unacked: the log hands it to a worker again after the claim timeout.
                        _ = drain.cancelled() => return,
                        _ = tokio::time::sleep(self.backoff(attempt)) => {}
                    }
                }
            }
        }
    }

    /// Exponential backoff with full jitter, so retrying workers do not move in lockstep.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .config
            .backoff_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.config.backoff_max);
        ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// One attempt at an event; returns how many recipients it reached.
    /// `trace` goes with every node batch; `nodes` (when the span is recorded) gathers the
    /// nodes reached.
    async fn fan_out(
        &self,
        event: &FanoutEvent,
        trace: Option<&TraceParent>,
        nodes: &mut Option<HashSet<String>>,
    ) -> Result<u64, AttemptError> {
        match event {
            FanoutEvent::Post(post) => match post.audience {
                Audience::Followers => self.fan_out_to_followers(post, trace, nodes).await,
                Audience::Friends => self.fan_out_to_friends(post, trace, nodes).await,
            },
            FanoutEvent::Notify(notify) => {
                let item = notify.item();
                let mut total = 0;
                for chunk in notify.users.chunks(self.config.chunk.max(1)) {
                    total += self.deliver(chunk, &item, trace, nodes).await?;
                }
                Ok(total)
            }
        }
    }

    /// Every follower's feed, or once to the broadcast log for a celebrity author.
    async fn fan_out_to_followers(
        &self,
        post: &PostEvent,
        trace: Option<&TraceParent>,
        nodes: &mut Option<HashSet<String>>,
    ) -> Result<u64, AttemptError> {
        let author = &post.author;
        let followers = self.backplane.follows.follower_count(author).await?;
        if followers >= self.config.celebrity_threshold {
            let seq = self
                .backplane
                .broadcasts
                .append(author, post.id, post.ts)
                .await?;
            let message = NodeMessage::Broadcast {
                id: post.id,
                author: author.clone(),
                ts: post.ts,
                seq,
                trace: trace.cloned(),
            };
            self.backplane.bus.broadcast(message).await?;
            tracing::Span::current().record("pushgate.broadcast", true);
            if let Some(nodes) = nodes {
                nodes.extend(self.ring.borrow().nodes().iter().map(|n| n.id.clone()));
            }
            return Ok(followers);
        }
        let item = post.item();
        let mut from: Option<String> = None;
        let mut total = 0;
        loop {
            let page = self
                .backplane
                .follows
                .followers(author, from.as_deref(), self.config.chunk)
                .await?;
            total += self.deliver(&page.users, &item, trace, nodes).await?;
            match page.next {
                Some(next) => from = Some(next),
                None => return Ok(total),
            }
        }
    }

    /// The feeds of the author's friends as they are now: the users the author follows
    /// (bounded by the follow limit, so never the celebrity path) who follow it back.
    async fn fan_out_to_friends(
        &self,
        post: &PostEvent,
        trace: Option<&TraceParent>,
        nodes: &mut Option<HashSet<String>>,
    ) -> Result<u64, AttemptError> {
        let followed = self.backplane.follows.following(&post.author).await?;
        let item = post.item();
        let mut total = 0;
        for chunk in followed.chunks(self.config.chunk.max(1)) {
            let back = self
                .backplane
                .follows
                .filter_followers(&post.author, chunk)
                .await?;
            let friends: Vec<UserId> = chunk
                .iter()
                .zip(back)
                .filter(|(_, back)| *back)
                .map(|(user, _)| user.clone())
                .collect();
            total += self.deliver(&friends, &item, trace, nodes).await?;
        }
        Ok(total)
    }

    /// Write `item` into each user's feed, then send one batch per home node.
    async fn deliver(
        &self,
        users: &[UserId],
        item: &FeedItem,
        trace: Option<&TraceParent>,
        nodes: &mut Option<HashSet<String>>,
    ) -> Result<u64, AttemptError> {
        if users.is_empty() {
            return Ok(0);
        }
        let positions = self.backplane.feeds.append(users, item).await?;
        let recipients: Vec<Recipient> = users
            .iter()
            .zip(positions)
            .map(|(user, seq)| Recipient {
                user: user.clone(),
                seq,
            })
            .collect();
        let ring = self.ring.borrow().clone();
        if ring.nodes().is_empty() {
            return Err(AttemptError::NoNodes);
        }
        let count = recipients.len() as u64;
        for (node, batch) in ring.group(recipients) {
            let message = NodeMessage::Deliver {
                item: item.clone(),
                recipients: batch,
                trace: trace.cloned(),
            };
            self.backplane.bus.send(&node, message).await?;
            if let Some(nodes) = nodes {
                nodes.insert(node);
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backplane::NotifyEvent;

    fn post_by(author: &str, id: u64) -> FanoutEvent {
        FanoutEvent::Post(PostEvent {
            id,
            author: author.into(),
            ts: id,
            audience: Audience::Followers,
        })
    }

    fn notify(users: &[&str]) -> FanoutEvent {
        FanoutEvent::Notify(NotifyEvent {
            id: 1,
            kind: "k".into(),
            data: serde_json::Value::Null,
            ts: 1,
            users: users.iter().map(|u| (*u).to_owned()).collect(),
        })
    }

    #[test]
    fn an_authors_events_share_a_lane_and_authors_spread_over_lanes() {
        assert_eq!(
            lane_of(&post_by("ann", 1), 8),
            lane_of(&post_by("ann", 2), 8)
        );
        assert_eq!(
            lane_of(&notify(&["u", "v"]), 8),
            lane_of(&notify(&["u"]), 8)
        );
        let used: std::collections::HashSet<usize> = (0..100)
            .map(|i| lane_of(&post_by(&format!("author{i}"), 1), 8))
            .collect();
        assert_eq!(used.len(), 8, "100 authors use every lane");
        assert_eq!(lane_of(&post_by("ann", 1), 1), 0);
    }
}

#[cfg(test)]
mod validation_tests {
    use super::*;

    /// A change that breaks one rule.
    type Change = fn(&mut WorkerConfig);

    #[test]
    fn zero_chunk_lanes_or_attempts_are_refused_by_name() {
        assert!(WorkerConfig::default().validate().is_ok());
        let cases: [(Change, &str); 3] = [
            (|c| c.chunk = 0, "fanout-chunk"),
            (|c| c.lanes = 0, "fanout-lanes"),
            (|c| c.max_attempts = 0, "max-attempts"),
        ];
        for (change, setting) in cases {
            let mut config = WorkerConfig::default();
            change(&mut config);
            let error = config.validate().unwrap_err();
            assert_eq!((error.setting, error.rule), (setting, Rule::Positive));
        }
    }
}
