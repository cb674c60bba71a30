//! Writes the follow graph into the server with `PUT /v1/follows/{author}`.

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::{FollowGraph, LoadtestError, RunNames, TokenMinter, send_checked};

/// Follow calls in flight at once: enough to keep a local server busy without queueing
/// thousands of requests in it.
pub const FOLLOW_CONCURRENCY: usize = 64;

/// Attempts per follow before the run gives up (the server may shed load briefly).
const ATTEMPTS: u32 = 3;

/// Create every edge of `graph` as its follower, spread over `targets`; `progress` is called
/// with the number of edges done so far. Returns the number of edges.
pub async fn load_follows(
    http: &reqwest::Client,
    targets: &[String],
    minter: &TokenMinter,
    names: RunNames<'_>,
    graph: &FollowGraph,
    progress: impl Fn(u64),
) -> Result<u64, LoadtestError> {
    let edges = (0..graph.authors()).flat_map(|author| {
        graph
            .followers(author)
            .iter()
            .map(move |&user| (user, author))
    });
    stream::iter(edges)
        .map(|(user, author)| async move {
            let target = targets[user as usize % targets.len()].trim_end_matches('/');
            let url = format!("{target}/v1/follows/{}", names.author(author));
            let token = minter.token(&names.user(user))?;
            let mut attempt = 1;
            loop {
                let request = http.put(&url).bearer_auth(&token);
                match send_checked(request, || format!("PUT {url}")).await {
                    Ok(_) => return Ok::<_, LoadtestError>(()),
                    Err(error) if attempt >= ATTEMPTS => return Err(error),
                    Err(_) => attempt += 1,
                }
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)))
                    .await;
            }
        })
        .buffer_unordered(FOLLOW_CONCURRENCY)
        .try_fold(0u64, |done, ()| {
            progress(done + 1);
            async move { Ok(done + 1) }
        })
        .await
}
