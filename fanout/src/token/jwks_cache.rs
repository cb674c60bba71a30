//! Public keys from an identity provider's JWKS document, refreshed in the background.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::verifying_key::VerifyingKey;
use super::{JwksSettings, TokenSetupError};
use crate::drain::Drain;

/// How long one fetch of the document may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document accepted; real ones hold a few keys in a few KiB.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Why a fetch of the JWKS document failed.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("JWKS request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("JWKS endpoint answered HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("JWKS document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("JWKS document is not a JWK set: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// The keys of one JWKS URL.
#[derive(Debug)]
pub(super) struct JwksCache {
    settings: JwksSettings,
    client: reqwest::Client,
    /// The keys of the last good fetch; swapped whole, so a reader never sees half a set.
    keys: RwLock<Arc<Vec<VerifyingKey>>>,
    /// When the last fetch began. Locked across a fetch, so concurrent tokens with an unknown
    /// `kid` share one request.
    last_fetch: Mutex<Instant>,
}

impl JwksCache {
    /// Fetch the document once; the gateway does not start on keys it could not read.
    pub async fn start(
        settings: JwksSettings,
        drain: &Drain,
    ) -> Result<Arc<Self>, TokenSetupError> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| TokenSetupError::Jwks(JwksError::Request(e)))?;
        let keys = fetch(&client, &settings.url).await?;
        let cache = Arc::new(Self {
            settings,
            client,
            keys: RwLock::new(Arc::new(keys)),
            last_fetch: Mutex::new(Instant::now()),
        });
        drain.spawn(cache.clone().refresh_periodically(drain.clone()));
        Ok(cache)
    }

    /// The keys as last fetched.
    pub fn keys(&self) -> Arc<Vec<VerifyingKey>> {
        self.keys.read().expect("JWKS lock poisoned").clone()
    }

    /// A token named a `kid` we do not hold: fetch again unless a fetch began less than
    /// `refetch_min` ago, then return the keys.
    pub async fn refetch_for_unknown_kid(&self) -> Arc<Vec<VerifyingKey>> {
        let mut last = self.last_fetch.lock().await;
        if last.elapsed() >= self.settings.refetch_min {
            *last = Instant::now();
            self.fetch_and_swap().await;
        }
        self.keys()
    }

    async fn fetch_and_swap(&self) {
        match fetch(&self.client, &self.settings.url).await {
            Ok(keys) => {
                metrics::counter!("pushgate_jwks_fetches_total", "result" => "ok").increment(1);
                *self.keys.write().expect("JWKS lock poisoned") = Arc::new(keys);
            }
            // Keep the keys we have: an identity provider's hiccup must not log everyone out.
            Err(error) => {
                metrics::counter!("pushgate_jwks_fetches_total", "result" => "error").increment(1);
                tracing::warn!(%error, url = %self.settings.url, "JWKS fetch failed; keeping the previous keys");
            }
        }
    }

    async fn refresh_periodically(self: Arc<Self>, drain: Drain) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.settings.refresh) => {}
                () = drain.cancelled() => return,
            }
            *self.last_fetch.lock().await = Instant::now();
            self.fetch_and_swap().await;
        }
    }
}

/// Fetch and parse the document, keeping the keys we can verify with.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<VerifyingKey>, JwksError> {
    let mut response = client.get(url).send().await?;
    if !response.status().is_success() {
        return Err(JwksError::Status(response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(JwksError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let set: JwkSet = serde_json::from_slice(&body)?;
    Ok(set.keys.iter().filter_map(VerifyingKey::from_jwk).collect())
}
