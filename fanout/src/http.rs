//! What every HTTP surface of a node shares (the REST sidecar and the socket upgrades): problem JSON and bearer credentials.

mod credentials;
mod problem;
mod request_headers;

pub use credentials::{bearer, unauthorized};
pub use problem::{Problem, ProblemBody};
pub use request_headers::{RequestHeaders, equals_lowercase, is_visible_ascii, visible_ascii};
