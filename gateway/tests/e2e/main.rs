//! End-to-end tests of `pushgate dev` over real sockets: one binary, one module per behaviour.

mod support;

mod auth;
mod backpressure;
mod bad_input;
mod cluster;
mod delivery;
mod drain;
mod heartbeat;
mod hybrid;
mod identity;
mod limits;
mod rest;
mod resume;
mod upgrade;
mod write_delay;
