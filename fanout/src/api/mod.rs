//! The REST sidecar (axum): posts, feeds, follows, notifications, routing and operations.

mod caller;
mod caller_trace;
mod connect;
mod dev_token;
mod disconnect;
mod feed;
mod follows;
mod health;
mod idempotency_key;
mod json_body;
mod notify;
mod params;
mod posts;

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa::OpenApi;

pub use caller::Authed;
pub use caller_trace::CallerTrace;
pub use idempotency_key::IdempotencyKey;
pub use json_body::JsonBody;
pub use params::Params;

use crate::backplane::Backplane;
use crate::drain::Drain;
use crate::http::{Problem, ProblemBody, bearer, unauthorized};
use crate::ring_watcher::RingView;
use crate::timeline::Timeline;
use crate::token::TokenVerifier;

/// Largest request body; posts are capped at 10,000 characters, notifications at 16 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Authors one user may follow unless configured. Every feed read and resume merges the
/// timelines of everyone followed, so the list's length is the price of each.
pub const DEFAULT_MAX_FOLLOWING: NonZeroUsize = NonZeroUsize::new(5_000).expect("non-zero");

/// Limits of the API.
#[derive(Clone, Debug)]
pub struct ApiLimits {
    /// Sustained requests per second per user (bursts up to twice that).
    pub user_rps: NonZeroU32,
    /// Sustained requests per second for all service-key callers together.
    pub service_rps: NonZeroU32,
    /// Authors one user may follow; past it `PUT /v1/follows` answers 409 `limit_reached`.
    pub max_following: NonZeroUsize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            user_rps: NonZeroU32::new(50).expect("non-zero"),
            service_rps: NonZeroU32::new(20_000).expect("non-zero"),
            max_following: DEFAULT_MAX_FOLLOWING,
        }
    }
}

/// Everything a handler needs; cloned per request (all fields are shared handles).
#[derive(Clone)]
pub struct ApiState {
    pub backplane: Backplane,
    pub timeline: Timeline,
    pub verifier: TokenVerifier,
    pub ring: RingView,
    pub metrics: PrometheusHandle,
    pub drain: Drain,
    /// Per-user request budget.
    user_limiter: Arc<DefaultKeyedRateLimiter<String>>,
    /// One shared budget for service-key callers.
    service_limiter: Arc<DefaultKeyedRateLimiter<String>>,
    /// Last notification ID handed out, so IDs are unique within the process.
    notify_ids: Arc<AtomicU64>,
    /// Authors one user may follow.
    max_following: NonZeroUsize,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").finish_non_exhaustive()
    }
}

impl ApiState {
    /// State over the given parts.
    pub fn new(
        backplane: Backplane,
        verifier: TokenVerifier,
        ring: RingView,
        metrics: PrometheusHandle,
        limits: &ApiLimits,
        drain: Drain,
    ) -> Self {
        let burst = |rps: NonZeroU32| {
            Quota::per_second(rps)
                .allow_burst(rps.saturating_mul(NonZeroU32::MIN.saturating_add(1)))
        };
        let state = Self {
            timeline: Timeline::new(backplane.clone()),
            backplane,
            verifier,
            ring,
            metrics,
            user_limiter: Arc::new(RateLimiter::keyed(burst(limits.user_rps))),
            service_limiter: Arc::new(RateLimiter::keyed(burst(limits.service_rps))),
            notify_ids: Arc::new(AtomicU64::new(0)),
            max_following: limits.max_following,
            drain: drain.clone(),
        };
        // Keyed limiters remember every key they saw; forget idle ones so memory stays bounded.
        let limiters = (state.user_limiter.clone(), state.service_limiter.clone());
        let task_drain = drain.clone();
        drain.spawn(async move {
            let drain = task_drain;
            let mut ticker = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = drain.cancelled() => break,
                    _ = ticker.tick() => {
                        limiters.0.retain_recent();
                        limiters.1.retain_recent();
                    }
                }
            }
        });
        state
    }
}

/// The `/v1` REST routes plus operations endpoints; `dev` adds `POST /v1/dev/token`.
pub fn router(state: ApiState, dev: bool) -> Router {
    let mut router = Router::new()
        .route("/v1/posts", post(posts::create).get(posts::get_many))
        .route("/v1/posts/{id}", get(posts::get_one).delete(posts::delete))
        .route("/v1/feed", get(feed::feed))
        .route(
            "/v1/follows/{author}",
            put(follows::follow)
                .delete(follows::unfollow)
                .post(follows::batch)
                .layer(DefaultBodyLimit::max(follows::MAX_BATCH_BODY_BYTES)),
        )
        .route(
            "/v1/users/{user}/follows/{author}",
            put(follows::follow_for).delete(follows::unfollow_for),
        )
        .route("/v1/users/{user}/disconnect", post(disconnect::disconnect))
        .route("/v1/users/{user}/follows", get(follows::list_following))
        .route("/v1/users/{user}/followers", get(follows::list_followers))
        .route("/v1/notify", post(notify::notify))
        .route("/v1/connect", get(connect::connect))
        .route("/v1/presence", get(connect::presence))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(health::openapi));
    if dev {
        router = router.route("/v1/dev/token", post(dev_token::mint));
    }
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The OpenAPI description served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "pushgate",
        description = "REST sidecar of the pushgate WebSocket push gateway"
    ),
    paths(
        posts::create,
        posts::get_one,
        posts::get_many,
        posts::delete,
        feed::feed,
        follows::follow,
        follows::unfollow,
        follows::follow_for,
        follows::unfollow_for,
        follows::batch,
        follows::list_following,
        follows::list_followers,
        disconnect::disconnect,
        notify::notify,
        connect::connect,
        connect::presence,
        health::healthz,
        health::readyz,
        dev_token::mint
    ),
    components(schemas(ProblemBody))
)]
#[derive(Debug)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    #[test]
    fn the_spec_offers_friends_posts_and_says_what_each_visibility_protects() {
        let spec = serde_json::to_value(super::ApiDoc::openapi()).expect("spec");
        let visibility = &spec["components"]["schemas"]["Visibility"];
        assert_eq!(
            visibility["enum"],
            serde_json::json!(["public", "followers", "friends", "private"])
        );
        let description = visibility["description"].as_str().expect("described");
        assert!(description.contains("mutual"), "{description}");
        assert!(description.contains("not consent"), "{description}");
        let feed_item = spec["components"]["schemas"]["FeedItemView"]["description"].to_string();
        assert!(feed_item.contains("audience"), "{feed_item}");
    }
}
