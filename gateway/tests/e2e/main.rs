//! End-to-end tests of `pushgate dev` over real sockets: one binary, one module per behaviour.

mod support;

mod auth;
mod backpressure;
mod bad_input;
mod browser_origins;
mod client_address;
mod cluster;
mod config_file;
mod credentials;
mod dashboards;
mod delivery;
mod demo;
mod deploy_manifests;
mod disconnect;
mod drain;
mod durability;
mod friends;
mod heartbeat;
mod hybrid;
mod identity;
mod input_rules;
mod limits;
mod per_user;
mod ping_flood;
mod redis_access;
mod rest;
mod resume;
mod rfc6455;
mod service_follows;
mod sse;
mod traces;
mod upgrade;
mod write_delay;
