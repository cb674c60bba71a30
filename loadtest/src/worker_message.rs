//! The JSON lines a worker and its parent exchange over the worker's stdin and stdout.

use serde::{Deserialize, Serialize};

use crate::{Counters, LatencyHistogram, Published, WorkerPlan};

/// Parent to worker, one JSON object per line on the worker's stdin.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParentCommand {
    /// The first line: what to run.
    Start(Box<WorkerPlan>),
    /// Publishing is over: slow clients read again, churning clients settle.
    Drain,
    /// Close every socket and report, given everything the run published.
    Finish { published: Vec<Published> },
}

/// Worker to parent, one JSON object per line on the worker's stdout.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMessage {
    /// Once a second: cumulative counters and the live latencies of second `second` of the run.
    Tick {
        second: u64,
        counters: Counters,
        latency: LatencyHistogram,
    },
    /// The last line: final counters with loss, and the latencies not in ticks.
    Done {
        counters: Counters,
        /// Live latencies recorded since the last tick.
        latency: LatencyHistogram,
        /// Latencies of items received during a resume replay.
        replay_latency: LatencyHistogram,
        /// Latencies seen by slow clients once they read again.
        slow_latency: LatencyHistogram,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_single_json_lines() {
        let mut latency = LatencyHistogram::default();
        latency.record(1500);
        let tick = WorkerMessage::Tick {
            second: 3,
            counters: Counters::default(),
            latency,
        };
        let line = serde_json::to_string(&tick).expect("serializes");
        assert!(
            !line.contains('\n') && line.starts_with(r#"{"type":"tick""#),
            "{line}"
        );
        let WorkerMessage::Tick {
            second, latency, ..
        } = serde_json::from_str(&line).expect("parses")
        else {
            panic!("wrong variant");
        };
        assert_eq!((second, latency.len()), (3, 1));
        let finish = ParentCommand::Finish {
            published: vec![Published(9, 2)],
        };
        assert_eq!(
            serde_json::to_string(&finish).expect("serializes"),
            r#"{"type":"finish","published":[[9,2]]}"#
        );
    }
}
