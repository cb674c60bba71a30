//! Helpers shared by the fan-out integration tests.

pub mod redis_server;
