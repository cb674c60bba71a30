//! Why an entry went to the dead-letter log, as `pushgate_worker_dead_letters_total` counts it.

/// The `reason` label of `pushgate_worker_dead_letters_total`: the worker gives up on events,
/// the fan-out log on entries that are no event at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeadLetterReason {
    /// The event failed `--max-attempts` times.
    MaxAttempts,
    /// The log entry could not be decoded into an event (a bug or a foreign writer).
    Undecodable,
}

impl DeadLetterReason {
    /// Every reason, to export each series at zero before the first dead letter.
    pub(crate) const ALL: [DeadLetterReason; 2] =
        [DeadLetterReason::MaxAttempts, DeadLetterReason::Undecodable];

    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::MaxAttempts => "max_attempts",
            DeadLetterReason::Undecodable => "undecodable",
        }
    }

    /// Add `n` dead letters of this reason to the counter.
    pub(crate) fn count(self, n: u64) {
        metrics::counter!("pushgate_worker_dead_letters_total", "reason" => self.as_str())
            .increment(n);
    }
}
