//! The parent's side of its worker processes: spawn them, send commands, collect messages.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::{LoadtestError, ParentCommand, WorkerMessage, WorkerPlan};

/// What the pool's reader tasks deliver: a worker's message, or the end of its output.
#[derive(Debug)]
pub enum PoolEvent {
    Message {
        worker: u32,
        message: Box<WorkerMessage>,
    },
    Exited {
        worker: u32,
        error: Option<String>,
    },
}

/// Running worker processes (`<exe> worker`), killed if the pool is dropped.
#[derive(Debug)]
pub struct WorkerPool {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
}

impl WorkerPool {
    /// Start one worker per plan, re-executing `exe`.
    pub async fn spawn(
        exe: &Path,
        plans: Vec<WorkerPlan>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<PoolEvent>), LoadtestError> {
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut pool = WorkerPool {
            children: Vec::new(),
            stdins: Vec::new(),
        };
        for plan in plans {
            let worker = plan.index;
            let mut child = Command::new(exe)
                .arg("worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()?;
            let lost = |what: &str| LoadtestError::Worker {
                index: worker,
                message: what.into(),
            };
            let stdout = child.stdout.take().ok_or_else(|| lost("no stdout"))?;
            let stdin = child.stdin.take().ok_or_else(|| lost("no stdin"))?;
            let events_tx = events_tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                let error = loop {
                    match lines.next_line().await {
                        Ok(Some(line)) => match serde_json::from_str(&line) {
                            Ok(message) => {
                                let message = Box::new(message);
                                let _ = events_tx.send(PoolEvent::Message { worker, message });
                            }
                            Err(e) => break Some(format!("bad line {line:?}: {e}")),
                        },
                        Ok(None) => break None,
                        Err(e) => break Some(e.to_string()),
                    }
                };
                let _ = events_tx.send(PoolEvent::Exited { worker, error });
            });
            pool.children.push(child);
            pool.stdins.push(stdin);
            pool.send(worker, &ParentCommand::Start(Box::new(plan)))
                .await?;
        }
        Ok((pool, events))
    }

    /// How many workers the pool runs.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// Whether the pool runs no worker.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    async fn send(&mut self, worker: u32, command: &ParentCommand) -> Result<(), LoadtestError> {
        let mut line = serde_json::to_vec(command)?;
        line.push(b'\n');
        let stdin = &mut self.stdins[worker as usize];
        stdin.write_all(&line).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// Send `command` to every worker.
    pub async fn broadcast(&mut self, command: &ParentCommand) -> Result<(), LoadtestError> {
        for worker in 0..self.stdins.len() {
            self.send(worker as u32, command).await?;
        }
        Ok(())
    }

    /// Wait for every worker process to exit.
    pub async fn wait(mut self) -> Result<(), LoadtestError> {
        self.stdins.clear();
        for (index, child) in self.children.iter_mut().enumerate() {
            let status = child.wait().await?;
            if !status.success() {
                return Err(LoadtestError::Worker {
                    index: index as u32,
                    message: format!("exited with {status}"),
                });
            }
        }
        Ok(())
    }
}
