//! The live progress line on stderr, hidden when stderr is not a terminal or with --quiet.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::{Counters, LatencySummary};

/// A one-line spinner with the run's current figures.
#[derive(Debug)]
pub struct ProgressLine {
    bar: ProgressBar,
}

impl ProgressLine {
    /// A visible line unless `quiet` or stderr is not a terminal.
    pub fn new(quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar }
    }

    /// Show a stage name with a detail.
    pub fn stage(&self, stage: &str, detail: String) {
        self.bar.set_message(format!("{stage}: {detail}"));
    }

    /// Show the merged counters and the last second's latency.
    pub fn update(&self, stage: &str, total: &Counters, last: &LatencySummary) {
        self.stage(
            stage,
            format!(
                "connected {}/{}  errors {}  delivered {}  dup {}  last second: {} deliveries, p99 {:.1} ms",
                total.connected,
                total.clients,
                total.handshake_errors,
                total.deliveries,
                total.duplicates,
                last.count,
                last.p99_us as f64 / 1000.0
            ),
        );
    }

    /// Remove the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
