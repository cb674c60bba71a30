//! End-to-end tests of `pushgate dev` over real sockets: one binary, one module per behaviour.

mod support;

mod auth;
mod backpressure;
mod bad_input;
mod client_address;
mod cluster;
mod credentials;
mod delivery;
mod disconnect;
mod drain;
mod heartbeat;
mod hybrid;
mod identity;
mod input_rules;
mod limits;
mod per_user;
mod ping_flood;
mod rest;
mod resume;
mod rfc6455;
mod service_follows;
mod traces;
mod upgrade;
mod write_delay;
