//! The live demo page at `GET /`: two browser tabs, the JavaScript SDK, pushes arriving live.
//!
//! Both files are built into the binary, so `cargo build` needs no Node: the SDK bundle is
//! the committed `clients/js/dist/index.js`, which the JavaScript tests hold equal to a fresh
//! `npm run build`.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

/// The page: pick a user, follow, post, watch pushes, toggle the connection.
pub const PAGE: &str = include_str!("../../clients/js/demo/index.html");
/// The SDK as one ES module, loaded by the page.
pub const SDK: &str = include_str!("../../clients/js/dist/index.js");
/// Where the page loads the SDK from.
pub const SDK_PATH: &str = "/demo/pushgate-client.js";

/// `GET /` and the SDK bundle beside it.
pub fn router() -> Router {
    Router::new()
        .route("/", get(page))
        .route(SDK_PATH, get(sdk))
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

async fn sdk() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SDK,
    )
}
