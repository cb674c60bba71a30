//! In-memory revocation list.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::backplane::{BackplaneResult, RevocationList, UserId};
use crate::clock::now_micros;

/// The embedded revocation list: user -> `before`, trimmed on every write like Redis's.
#[derive(Debug, Default)]
pub struct MemoryRevocationList {
    before: Mutex<HashMap<UserId, u64>>,
}

#[async_trait]
impl RevocationList for MemoryRevocationList {
    async fn revoke(&self, user: &str, before: u64, keep: Duration) -> BackplaneResult<()> {
        let oldest_kept = (now_micros() / 1_000_000).saturating_sub(keep.as_secs());
        let mut entries = self.before.lock().expect("revocation lock");
        let entry = entries.entry(user.to_owned()).or_insert(before);
        *entry = (*entry).max(before);
        entries.retain(|_, before| *before >= oldest_kept);
        Ok(())
    }

    async fn since(&self, since: u64) -> BackplaneResult<Vec<(UserId, u64)>> {
        let entries = self.before.lock().expect("revocation lock");
        Ok(entries
            .iter()
            .filter(|(_, before)| **before >= since)
            .map(|(user, before)| (user.clone(), *before))
            .collect())
    }
}
