//! # pushgate-loadtest
//!
//! A native load generator for pushgate (and, in generic mode, any WebSocket pub/sub
//! server): it opens very many sockets across worker processes and client source
//! addresses, publishes at a fixed rate, and reports connect rate, HDR latency percentiles,
//! throughput, loss and duplicates, plus the gateways' memory per socket and CPU per
//! delivery.
//!
//! Data flow: the parent (`load_run`) turns the command line into a [`RunSpec`], writes the
//! [`FollowGraph`] into the server, then re-executes itself as `pushgate-loadtest worker`
//! children ([`WorkerPool`]), each sent a [`WorkerPlan`] on stdin. A worker ramps up its
//! clients ([`run_client`]), which connect from source addresses in [`SourceAddrs`], speak
//! the server's [`ClientDialect`], resume after reconnects and record latencies into
//! [`WorkerStats`]; every second it prints a [`WorkerMessage::Tick`] with counters and that
//! second's [`LatencyHistogram`]. Meanwhile the parent's [`Publisher`] posts and logs what
//! the server accepted. At the end the parent sends that log to the workers, which compare
//! it with what each client received ([`DeliveryTally`]) and report loss; the parent merges
//! everything into a [`Report`] (table, JSON, SVG via [`write_svg`]).
//!
//! Layout:
//! - `cli`, `run_spec`: the command line and the validated run it describes.
//! - `load_run`: the parent's phases: follow, connect, publish, drain, finish, report.
//! - `follow_graph`, `follow_loader`: the Zipf follow graph and writing it to the server.
//! - `publisher`: rate-paced posts or generic publishes.
//! - `worker_pool`, `worker`, `worker_plan`, `worker_message`: the worker processes and
//!   their JSON-lines protocol.
//! - `client_task`, `client_dialect`, `worker_stats`: one simulated client, its protocol,
//!   and what it records; `phase_signal`: when its worker tells it the run moved on.
//! - `counters`, `delivery_tally`, `latency_histogram`, `timeline`: the figures and how they
//!   merge.
//! - `report`, `svg_chart`, `progress_line`: output.
//! - `source_addrs`, `token_minter`, `template`, `timestamp_probe`, `gateway_probe`,
//!   `http_call`, `wire_codec`, `clock`, `error`: small building blocks.

pub mod cli;
mod client_dialect;
mod client_task;
mod clock;
mod counters;
mod delivery_tally;
mod error;
mod follow_graph;
mod follow_loader;
mod gateway_probe;
mod http_call;
mod latency_histogram;
mod load_run;
mod phase_signal;
mod progress_line;
mod publisher;
pub mod report;
mod run_spec;
mod source_addrs;
mod svg_chart;
mod template;
mod timeline;
mod timestamp_probe;
mod token_minter;
mod wire_codec;
mod worker;
mod worker_message;
mod worker_plan;
mod worker_pool;
mod worker_stats;

pub use client_dialect::{ClientDialect, Destination, Event, Socket, ws_url};
pub use client_task::{WorkerContext, run_client};
pub use clock::unix_micros;
pub use counters::Counters;
pub use delivery_tally::{ClientOutcome, DeliveryTally, Published};
pub use error::LoadtestError;
pub use follow_graph::{FollowGraph, GraphParams};
pub use follow_loader::{FOLLOW_CONCURRENCY, load_follows};
pub use gateway_probe::{GatewayProbe, ProcessSample};
pub use http_call::{json_body, send_checked};
pub use latency_histogram::{LatencyHistogram, LatencySummary};
pub use load_run::run_load;
pub use phase_signal::{Phase, PhaseSignal};
pub use progress_line::ProgressLine;
pub use publisher::{PUBLISH_CONCURRENCY, PublishLog, PublishTarget, Publisher};
pub use report::Report;
pub use run_spec::RunSpec;
pub use source_addrs::SourceAddrs;
pub use svg_chart::write_svg;
pub use template::{Template, TemplateValues};
pub use timeline::{Timeline, TimelinePoint};
pub use timestamp_probe::TimestampProbe;
pub use token_minter::TokenMinter;
pub use wire_codec::WireCodec;
pub use worker::run_worker;
pub use worker_message::{ParentCommand, WorkerMessage};
pub use worker_plan::{
    ChurnPlan, GenericPlan, ProtocolPlan, PushgatePlan, RunNames, WorkerPlan, picked,
};
pub use worker_pool::{PoolEvent, WorkerPool};
pub use worker_stats::{Arrival, WorkerStats};
