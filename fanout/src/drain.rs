//! The one shutdown handle every long-lived task gets.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Cancellation plus task tracking: `drain` stops new work and `wait` returns once every
/// task spawned through this handle has finished its cleanup.
#[derive(Clone, Debug, Default)]
pub struct Drain {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Drain {
    /// A fresh handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawn a long-lived task that is waited for on shutdown.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Resolves when shutdown begins; select on it in every loop.
    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Begin shutdown.
    pub fn drain(&self) {
        self.token.cancel();
    }

    /// Begin shutdown and wait for every tracked task to finish.
    pub async fn drain_and_wait(&self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}
