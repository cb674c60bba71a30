//! The run's phase, told to each client only when it has to act on it.

use tokio::sync::watch;

/// Where the run is, as every client of a worker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connecting, holding, publishing: slow clients do not read, churning clients churn.
    Running,
    /// Publishing is over: everyone reads and stays.
    Draining,
    /// Close and report.
    Finishing,
}

/// A worker's phase, on two channels.
///
/// Most clients only act on `Finishing`. Waking all of them for `Draining` too made the end
/// of publishing a thundering herd (100,000 task wake-ups at once) that delayed the very
/// pushes being measured: the last second of every run read 100-180 ms late. So only the
/// clients that change behaviour when publishing ends (slow and churning ones) hear it.
#[derive(Debug)]
pub struct PhaseSignal {
    /// Every change; for clients that act on `Draining`.
    every: watch::Sender<Phase>,
    /// `Running` then `Finishing`; for everyone else.
    finish: watch::Sender<Phase>,
}

impl Default for PhaseSignal {
    fn default() -> Self {
        Self {
            every: watch::Sender::new(Phase::Running),
            finish: watch::Sender::new(Phase::Running),
        }
    }
}

impl PhaseSignal {
    /// Move the run to `phase`.
    pub fn set(&self, phase: Phase) {
        self.every.send_replace(phase);
        if phase == Phase::Finishing {
            self.finish.send_replace(phase);
        }
    }

    /// The phase as seen by every client: `Draining` included.
    pub fn current(&self) -> Phase {
        *self.every.borrow()
    }

    /// A receiver for a client; `draining` when it acts on the end of publishing.
    pub fn subscribe(&self, draining: bool) -> watch::Receiver<Phase> {
        if draining {
            self.every.subscribe()
        } else {
            self.finish.subscribe()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_clients_that_act_on_draining_are_woken_by_it() {
        let signal = PhaseSignal::default();
        let mut draining = signal.subscribe(true);
        let mut plain = signal.subscribe(false);
        signal.set(Phase::Draining);
        assert!(draining.has_changed().expect("sender alive"));
        assert!(!plain.has_changed().expect("sender alive"));
        assert_eq!(*draining.borrow_and_update(), Phase::Draining);
        signal.set(Phase::Finishing);
        assert_eq!(*plain.borrow_and_update(), Phase::Finishing);
        assert_eq!(*draining.borrow_and_update(), Phase::Finishing);
        assert_eq!(signal.current(), Phase::Finishing);
    }
}
