//! In-memory fan-out log with pending tracking, reclaim and a dead-letter list.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pushgate_protocol::TraceParent;
use tokio::sync::Notify;

use super::post_store::IDEMPOTENCY_CAP;
use crate::backplane::{
    AppendOutcome, BackplaneError, BackplaneResult, EventId, EventLog, FanoutEvent, Idempotency,
    LoggedEvent, NotifyEvent,
};
use crate::trace;

/// Dead letters kept for inspection; older ones are dropped (they are also logged).
const DEAD_LETTER_CAP: usize = 10_000;

#[derive(Debug)]
struct Pending {
    event: FanoutEvent,
    /// The appending request's span, handed out again with the event.
    trace: Option<TraceParent>,
    attempts: u32,
    handed_out: Instant,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// Events nobody holds, oldest first, with their earlier attempt count and the
    /// appending request's span.
    ready: VecDeque<(u64, FanoutEvent, u32, Option<TraceParent>)>,
    /// Events handed out and not acknowledged yet.
    pending: HashMap<u64, Pending>,
    dead: VecDeque<(FanoutEvent, String)>,
    /// Idempotency key -> (the notification it appended, the request's fingerprint).
    idempotency: HashMap<String, (u64, String)>,
    /// Keys oldest first, forgotten past `IDEMPOTENCY_CAP` so memory stays bounded.
    idempotency_order: VecDeque<String>,
}

/// The embedded fan-out log.
#[derive(Debug)]
pub struct MemoryEventLog {
    state: Mutex<State>,
    /// Wakes a blocked `read` when an event is appended.
    appended: Notify,
    /// Total events (ready + pending) held before appends are refused.
    capacity: usize,
    /// A pending event older than this goes back to `ready` (its consumer is presumed dead).
    claim_after: Duration,
}

impl MemoryEventLog {
    pub(crate) fn new(capacity: usize, claim_after: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            appended: Notify::new(),
            capacity,
            claim_after,
        }
    }

    /// Synchronous append, so the post store can append under its own lock (atomic create).
    pub(crate) fn push(&self, event: FanoutEvent) -> BackplaneResult<EventId> {
        let mut state = self.state.lock().expect("event log lock");
        let id = Self::push_locked(&mut state, event, self.capacity)?;
        drop(state);
        self.appended.notify_one();
        Ok(id.to_string())
    }

    /// Append under a held lock, unless the log holds `capacity` events; wake readers after.
    fn push_locked(state: &mut State, event: FanoutEvent, capacity: usize) -> BackplaneResult<u64> {
        if state.ready.len() + state.pending.len() >= capacity {
            return Err(BackplaneError::Full("fan-out log"));
        }
        state.next_id += 1;
        state
            .ready
            .push_back((state.next_id, event, 0, trace::current()));
        Ok(state.next_id)
    }

    /// Dead-lettered events with their reasons, oldest first.
    pub fn dead_letters(&self) -> Vec<(FanoutEvent, String)> {
        self.state
            .lock()
            .expect("event log lock")
            .dead
            .iter()
            .cloned()
            .collect()
    }

    fn take(&self, max: usize) -> Vec<LoggedEvent> {
        let mut state = self.state.lock().expect("event log lock");
        let now = Instant::now();
        let expired: Vec<u64> = state
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.handed_out) >= self.claim_after)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(p) = state.pending.remove(&id) {
                state
                    .ready
                    .push_front((id, p.event, p.attempts + 1, p.trace));
            }
        }
        let mut out = Vec::new();
        while out.len() < max {
            let Some((id, event, attempts, trace)) = state.ready.pop_front() else {
                break;
            };
            state.pending.insert(
                id,
                Pending {
                    event: event.clone(),
                    trace: trace.clone(),
                    attempts,
                    handed_out: now,
                },
            );
            out.push(LoggedEvent {
                id: id.to_string(),
                event,
                attempts,
                trace,
            });
        }
        out
    }
}

fn parse_id(id: &str) -> BackplaneResult<u64> {
    id.parse()
        .map_err(|_| BackplaneError::Corrupt(format!("event id {id:?}")))
}

#[async_trait]
impl EventLog for MemoryEventLog {
    async fn append(
        &self,
        event: NotifyEvent,
        idempotency: Option<Idempotency<'_>>,
    ) -> BackplaneResult<AppendOutcome> {
        let Some(Idempotency { key, fingerprint }) = idempotency else {
            self.push(FanoutEvent::Notify(event))?;
            return Ok(AppendOutcome::Appended);
        };
        // Held across the check and the append, so two racing retries append once.
        let mut state = self.state.lock().expect("event log lock");
        if let Some((notification, seen)) = state.idempotency.get(key) {
            return if seen == fingerprint {
                Ok(AppendOutcome::Replayed {
                    notification: *notification,
                })
            } else {
                Err(BackplaneError::Conflict(
                    "idempotency key reused with another body".into(),
                ))
            };
        }
        let notification = event.id;
        Self::push_locked(&mut state, FanoutEvent::Notify(event), self.capacity)?;
        if state.idempotency_order.len() == IDEMPOTENCY_CAP {
            if let Some(oldest) = state.idempotency_order.pop_front() {
                state.idempotency.remove(&oldest);
            }
        }
        state.idempotency_order.push_back(key.to_owned());
        state
            .idempotency
            .insert(key.to_owned(), (notification, fingerprint.to_owned()));
        drop(state);
        self.appended.notify_one();
        Ok(AppendOutcome::Appended)
    }

    async fn read(
        &self,
        _consumer: &str,
        max: usize,
        block: Duration,
    ) -> BackplaneResult<Vec<LoggedEvent>> {
        let deadline = tokio::time::Instant::now() + block;
        loop {
            // Register interest before looking, so an append between the look and the wait
            // still wakes us.
            let appended = self.appended.notified();
            let events = self.take(max);
            if !events.is_empty() {
                return Ok(events);
            }
            if tokio::time::timeout_at(deadline, appended).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn ack(&self, ids: &[EventId]) -> BackplaneResult<()> {
        let mut state = self.state.lock().expect("event log lock");
        for id in ids {
            state.pending.remove(&parse_id(id)?);
        }
        Ok(())
    }

    async fn dead_letter(&self, event: &LoggedEvent, reason: &str) -> BackplaneResult<()> {
        let mut state = self.state.lock().expect("event log lock");
        state.pending.remove(&parse_id(&event.id)?);
        if state.dead.len() == DEAD_LETTER_CAP {
            state.dead.pop_front();
        }
        state
            .dead
            .push_back((event.event.clone(), reason.to_owned()));
        Ok(())
    }

    async fn pending(&self) -> BackplaneResult<u64> {
        let state = self.state.lock().expect("event log lock");
        Ok((state.ready.len() + state.pending.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> NotifyEvent {
        NotifyEvent {
            id: n,
            kind: "k".into(),
            data: serde_json::Value::Null,
            ts: n,
            users: vec!["u".into()],
        }
    }

    /// How this log keeps dead letters is its own (Redis keeps them in a stream): the
    /// backplane contract checks only that a dead letter is acknowledged.
    #[tokio::test]
    async fn dead_letters_keep_the_reason() {
        let log = MemoryEventLog::new(10, Duration::from_secs(30));
        log.append(event(1), None).await.expect("append");
        let got = log.read("a", 1, Duration::ZERO).await.expect("read");
        log.dead_letter(&got[0], "poison")
            .await
            .expect("dead letter");
        assert_eq!(log.pending().await.expect("pending"), 0);
        assert_eq!(log.dead_letters()[0].1, "poison");
    }
}
