//! Waiting on observable state: look again until it holds, and fail naming what never came.
//!
//! Tests never sleep for something to happen; they poll the state that shows it happened (a
//! subscription in `PUBSUB NUMSUB`, a presence entry, `/readyz`) through one of these, so a
//! slow machine only makes them slower, never wrong.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// How long a test waits for something that should happen: generous, because test binaries
/// and their `pushgate` and `redis-server` processes share the machine's cores with each
/// other and with builds (a 20 s limit failed once beside a release build).
pub const PATIENCE: Duration = Duration::from_secs(40);

/// Pause between two looks: short next to anything awaited, long enough not to load the
/// servers being asked.
const POLL: Duration = Duration::from_millis(50);

/// What one look saw: the awaited state with its value, or what the look saw instead.
pub trait Look {
    /// What the state yields once it holds.
    type Value;

    /// The value, or a description of what was seen instead (for the failure message).
    fn settled(self) -> Result<Self::Value, String>;
}

impl Look for bool {
    type Value = ();

    fn settled(self) -> Result<(), String> {
        if self { Ok(()) } else { Err("false".into()) }
    }
}

impl<T> Look for Option<T> {
    type Value = T;

    fn settled(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing".into())
    }
}

/// A call that fails until the state holds (say, a backplane until Redis is back).
impl<T, E: Display> Look for Result<T, E> {
    type Value = T;

    fn settled(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Look until the state holds and return its value; fail the test after [`PATIENCE`],
/// naming `what` was awaited and what the last look saw.
pub async fn eventually<L, F, Fut>(what: &str, look: F) -> L::Value
where
    L: Look,
    F: FnMut() -> Fut,
    Fut: Future<Output = L>,
{
    within(PATIENCE, what, look).await
}

async fn within<L, F, Fut>(patience: Duration, what: &str, mut look: F) -> L::Value
where
    L: Look,
    F: FnMut() -> Fut,
    Fut: Future<Output = L>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match look().await.settled() {
            Ok(value) => return value,
            Err(seen) if tokio::time::Instant::now() >= deadline => {
                timed_out(patience, what, &seen)
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// [`eventually`] for code that cannot await: the servers' own start-up, which runs before a
/// test has anything to await on and inside tests that are not async.
pub fn eventually_blocking<L: Look>(what: &str, mut look: impl FnMut() -> L) -> L::Value {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match look().settled() {
            Ok(value) => return value,
            Err(seen) if std::time::Instant::now() >= deadline => timed_out(PATIENCE, what, &seen),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

fn timed_out(patience: Duration, what: &str, seen: &str) -> ! {
    panic!("timed out after {patience:?} waiting for {what}; the last look saw: {seen}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_first_settled_value() {
        let mut looks = 0;
        let value = eventually("the third look", || {
            looks += 1;
            let seen = looks;
            async move { (seen == 3).then_some(seen) }
        })
        .await;
        assert_eq!(value, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for a call that never works; the last look saw: refused")]
    async fn fails_naming_what_and_the_last_look() {
        let never = || async { Err::<(), _>("refused") };
        within(Duration::from_millis(200), "a call that never works", never).await;
    }

    #[test]
    fn blocking_looks_the_same_way() {
        let mut looks = 0;
        eventually_blocking("the second look", || {
            looks += 1;
            looks == 2
        });
        assert_eq!(looks, 2);
    }
}
