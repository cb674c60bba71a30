//! Publishes items at a fixed rate (pushgate posts or generic publishes) and logs what the
//! server accepted, which is what clients are then expected to receive.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep_until};

use crate::{
    LoadtestError, Published, RunNames, Template, TemplateValues, json_body, send_checked,
    unix_micros,
};

/// Publish requests in flight at once; past this the publisher falls behind its rate
/// instead of piling up requests (the report shows the achieved rate).
pub const PUBLISH_CONCURRENCY: usize = 64;

/// Where items are published.
#[derive(Clone, Debug)]
pub enum PublishTarget {
    /// `POST /v1/posts` with the service key, authors round robin.
    Pushgate {
        targets: Vec<String>,
        api_key: String,
        run_id: String,
        authors: u32,
    },
    /// An HTTP POST built from templates, channels round robin.
    Generic {
        url: Template,
        body: Template,
        content_type: String,
        channels: u32,
        channel_prefix: String,
    },
}

/// What a publisher did.
#[derive(Clone, Debug, Default)]
pub struct PublishLog {
    /// Items the server accepted.
    pub published: Vec<Published>,
    /// Publishes that failed.
    pub errors: u64,
    /// The first failure, to show the user.
    pub first_error: Option<String>,
    /// Accepted items per second of the run.
    pub per_second: BTreeMap<u64, u64>,
}

#[derive(Deserialize)]
struct CreatedPost {
    id: u64,
}

/// A rate-paced publisher.
#[derive(Debug)]
pub struct Publisher {
    http: reqwest::Client,
    target: PublishTarget,
}

impl Publisher {
    /// A publisher to `target`.
    pub fn new(http: reqwest::Client, target: PublishTarget) -> Self {
        Self { http, target }
    }

    /// Publish `rate` items per second for `duration`; seconds are counted from `epoch_us`.
    pub async fn run(self: Arc<Self>, rate: f64, duration: Duration, epoch_us: u64) -> PublishLog {
        let log = Arc::new(Mutex::new(PublishLog::default()));
        let slots = Arc::new(Semaphore::new(PUBLISH_CONCURRENCY));
        let start = Instant::now();
        let gap = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let mut last_ts = 0;
        for seq in 0u64.. {
            let due = start + gap.mul_f64(seq as f64);
            if due >= start + duration {
                break;
            }
            sleep_until(due).await;
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            // Strictly increasing, so a generic publish's timestamp is also its unique id.
            let ts_us = unix_micros().max(last_ts + 1);
            last_ts = ts_us;
            let (this, log) = (Arc::clone(&self), Arc::clone(&log));
            tokio::spawn(async move {
                let result = this.publish(seq, ts_us).await;
                let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                match result {
                    Ok(item) => {
                        log.published.push(item);
                        *log.per_second
                            .entry(ts_us.saturating_sub(epoch_us) / 1_000_000)
                            .or_default() += 1;
                    }
                    Err(error) => {
                        log.errors += 1;
                        log.first_error.get_or_insert_with(|| error.to_string());
                    }
                }
                drop(slot);
            });
        }
        // Every slot back means every publish finished.
        let _ = slots.acquire_many(PUBLISH_CONCURRENCY as u32).await;
        let log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        log.clone()
    }

    /// Publish item `seq`; pushgate posts fall over to the next target if one fails.
    async fn publish(&self, seq: u64, ts_us: u64) -> Result<Published, LoadtestError> {
        match &self.target {
            PublishTarget::Pushgate {
                targets,
                api_key,
                run_id,
                authors,
            } => {
                let author = (seq % u64::from(*authors)) as u32;
                let body = json!({
                    "content": format!("loadtest post {seq}"),
                    "visibility": "public",
                    "author": RunNames { run_id }.author(author),
                });
                let mut last_error = None;
                for step in 0..targets.len() {
                    let target = &targets[(seq as usize + step) % targets.len()];
                    let url = format!("{}/v1/posts", target.trim_end_matches('/'));
                    let what = || format!("POST {url}");
                    let request = self
                        .http
                        .post(&url)
                        .bearer_auth(api_key)
                        .header("Idempotency-Key", format!("{run_id}-{seq}"))
                        .json(&body);
                    match send_checked(request, what).await {
                        Ok(response) => {
                            let created: CreatedPost = json_body(response, what).await?;
                            return Ok(Published(created.id, author));
                        }
                        Err(error) => last_error = Some(error),
                    }
                }
                Err(last_error
                    .unwrap_or_else(|| LoadtestError::InvalidArgument("no target".into())))
            }
            PublishTarget::Generic {
                url,
                body,
                content_type,
                channels,
                channel_prefix,
            } => {
                let index = (seq % u64::from((*channels).max(1))) as u32;
                let channel = format!("{channel_prefix}{index}");
                let values = TemplateValues {
                    channel: &channel,
                    seq,
                    ts_us,
                    ..Default::default()
                };
                let url = url.render(&values);
                let request = self
                    .http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body.render(&values));
                send_checked(request, || format!("POST {url}")).await?;
                Ok(Published(ts_us, index))
            }
        }
    }
}
