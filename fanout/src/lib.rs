//! # pushgate-fanout
//!
//! The publish side of pushgate and the backplane every process shares: the REST sidecar,
//! the stores (posts, follow graph, per-user feeds, celebrity broadcasts, presence,
//! membership), the fan-out worker, the consistent-hash ring, and two backplane
//! implementations behind one set of traits: in-memory (`pushgate dev`) and Redis
//! (standalone or Cluster).
//!
//! Data flow: [`api`] authenticates a request ([`token`]) and calls the [`backplane`]:
//! creating a post stores it and appends a fan-out event in one step. A [`worker::Worker`]
//! consumes those events, writes each follower's feed (positions assigned at write), groups
//! followers by home node with the [`ring::Ring`] kept fresh by [`ring_watcher`], and sends one
//! batch per node to its inbox; celebrity posts go once to the broadcast log and once to every
//! node. Reads merge a user's feed with followed celebrities' posts ([`timeline::Timeline`]).
//! Every long-lived task gets a [`drain::Drain`].
//!
//! Layout:
//! - `backplane`: the traits (one concept per file) and the [`backplane::Backplane`] bundle.
//! - `memory`, `redis`: their implementations.
//! - `api`: the axum REST routes and their extractors.
//! - `http`: what REST and the socket upgrades share: problem responses, bearer credentials.
//! - `worker`: the fan-out worker with retries, backoff and dead letters.
//! - `ring`, `ring_watcher`: consistent hashing over live gateway nodes.
//! - `timeline`: merged feed reads for REST paging and gateway resumes; `friend_check`: the
//!   friends-only rule those reads and `GET /v1/posts` apply.
//! - `token`: user tokens (shared secret, PEM public keys, a JWKS kept fresh) and the
//!   service key.
//! - `trace`: a post's trace context across processes (spans only when traces are exported).
//! - `drain`: the shutdown handle; `clock`: timestamps in protocol units.
//! - `invalid_setting`: the typed error every settings type's `validate` returns.
//! - `testing` (feature `testing`): real `redis-server` processes, an identity provider
//!   (keys, signed tokens, a JWKS over HTTP) and raw access to the Redis fan-out log for
//!   integration tests.

pub mod api;
pub mod backplane;
pub mod clock;
pub mod drain;
pub mod friend_check;
pub mod http;
pub mod invalid_setting;
pub mod memory;
pub mod redis;
pub mod ring;
pub mod ring_watcher;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timeline;
pub mod token;
pub mod trace;
pub mod worker;
