//! The one error type of the load generator library.

/// Everything that can stop a load test run or a worker.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    /// A flag or template the run cannot work with.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An HTTP call could not be made or read.
    #[error("{what}: {source}")]
    Http {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    /// An HTTP call was answered with an unexpected status.
    #[error("{what} answered {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    /// A worker process misbehaved or died.
    #[error("worker {index}: {message}")]
    Worker { index: u32, message: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("token: {0}")]
    Token(#[from] jsonwebtoken::errors::Error),
    /// A histogram could not be merged or (de)serialized.
    #[error("histogram: {0}")]
    Histogram(String),
    /// The SVG chart could not be drawn.
    #[error("chart: {0}")]
    Chart(String),
}
