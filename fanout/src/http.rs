//! What every HTTP surface of a node shares (the REST sidecar and the socket upgrades): problem JSON and bearer credentials.

mod credentials;
mod problem;

pub use credentials::{bearer, unauthorized};
pub use problem::{Problem, ProblemBody};
