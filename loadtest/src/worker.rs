//! A worker process: runs its slice of clients and talks JSON lines with its parent.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};

use crate::{
    ClientOutcome, DeliveryTally, LoadtestError, ParentCommand, Phase, PhaseSignal, WorkerContext,
    WorkerMessage, run_client, unix_micros,
};

/// Run a worker on this process's stdin and stdout until the parent says finish (or goes
/// away: stdin closing finishes the run too, so an orphaned worker never lingers).
pub async fn run_worker() -> Result<(), LoadtestError> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let bad = |message: &str| LoadtestError::Worker {
        index: u32::MAX,
        message: message.into(),
    };
    let first = lines
        .next_line()
        .await?
        .ok_or_else(|| bad("stdin closed before the plan"))?;
    let ParentCommand::Start(plan) = serde_json::from_str(&first)? else {
        return Err(bad("the first line must be the plan"));
    };
    let ctx = Arc::new(WorkerContext::new(*plan)?);
    let phase = Arc::new(PhaseSignal::default());
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_lines(out_rx));
    let ticker = tokio::spawn(tick(Arc::clone(&ctx), out_tx.clone()));
    let ramp = tokio::spawn(ramp(Arc::clone(&ctx), Arc::clone(&phase)));

    let published = loop {
        let Some(line) = lines.next_line().await? else {
            break Vec::new();
        };
        match serde_json::from_str(&line)? {
            ParentCommand::Drain => {
                phase.set(Phase::Draining);
            }
            ParentCommand::Finish { published } => break published,
            ParentCommand::Start(_) => return Err(bad("a second plan")),
        }
    };
    phase.set(Phase::Finishing);
    let handles = ramp.await.map_err(|e| bad(&e.to_string()))?;
    let mut outcomes: Vec<ClientOutcome> = Vec::with_capacity(handles.len());
    for handle in handles {
        outcomes.push(handle.await.map_err(|e| bad(&e.to_string()))?);
    }
    ticker.abort();

    let tally = DeliveryTally::new(&published);
    let done = {
        let mut stats = ctx.stats();
        let mut counters = stats.counters;
        // Clients the ramp never started (the run ended first) never connected either.
        counters.never_connected += u64::from(ctx.plan.clients) - outcomes.len() as u64;
        for outcome in &outcomes {
            tally.count(outcome, &mut counters);
        }
        WorkerMessage::Done {
            counters,
            latency: stats.live.take(),
            replay_latency: stats.replay.take(),
            slow_latency: stats.slow.take(),
        }
    };
    // The receiver lives in the writer task, which only ends when every sender is dropped.
    let _ = out_tx.send(done);
    drop(out_tx);
    writer.await.map_err(|e| bad(&e.to_string()))?
}

/// Start the clients at the planned rate; returns their handles.
async fn ramp(ctx: Arc<WorkerContext>, phase: Arc<PhaseSignal>) -> Vec<JoinHandle<ClientOutcome>> {
    let start = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / ctx.plan.ramp_per_sec.max(0.001));
    let mut handles = Vec::with_capacity(ctx.plan.clients as usize);
    for local in 0..ctx.plan.clients {
        if phase.current() == Phase::Finishing {
            break;
        }
        sleep_until(start + gap.mul_f64(f64::from(local))).await;
        let index = ctx.plan.first_client + local;
        handles.push(tokio::spawn(run_client(
            Arc::clone(&ctx),
            index,
            Arc::clone(&phase),
        )));
    }
    handles
}

/// Every second of the run (aligned to the parent's epoch), report counters and that
/// second's live latencies.
async fn tick(ctx: Arc<WorkerContext>, out: mpsc::UnboundedSender<WorkerMessage>) {
    let epoch = ctx.plan.epoch_us;
    loop {
        let now = unix_micros();
        let second = now.saturating_sub(epoch) / 1_000_000;
        sleep(Duration::from_micros(
            epoch + (second + 1) * 1_000_000 - now.max(epoch),
        ))
        .await;
        let (counters, latency) = {
            let mut stats = ctx.stats();
            (stats.counters, stats.live.take())
        };
        if out
            .send(WorkerMessage::Tick {
                second,
                counters,
                latency,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Write messages as JSON lines to stdout, flushing each so the parent sees ticks on time.
async fn write_lines(
    mut messages: mpsc::UnboundedReceiver<WorkerMessage>,
) -> Result<(), LoadtestError> {
    let mut stdout = tokio::io::stdout();
    while let Some(message) = messages.recv().await {
        let mut line = serde_json::to_vec(&message)?;
        line.push(b'\n');
        stdout.write_all(&line).await?;
        stdout.flush().await?;
    }
    Ok(())
}
