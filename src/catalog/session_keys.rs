//! The session-token HMAC keys, held in the meta group so that a token signed in any region
//! verifies in every other, and rotated through it.
//!
//! The record holds the signing key and the two before it (which keep verifying, so tokens
//! issued before a rotation stay valid through the next two). The first time, the meta
//! group's leader creates it from `[session] key_file` if the topology names one, else from
//! a random key. Key material lives only in the meta group's log and store (replicated over
//! mutual TLS, archived encrypted); it never appears in a response, a log line or a metric.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CATALOG_COLLECTION, Catalog, CatalogError, into_group};
use crate::group::GroupError;
use crate::node::session_key;
use crate::session::SessionKeys;

const KEY: &str = "session-keys";

/// Keys kept: the signing one and the ones that still verify.
const KEEP: usize = 3;

const FOLLOW_TICK: Duration = Duration::from_millis(500);

#[derive(Serialize, Deserialize)]
struct KeyRecord {
    /// (id, 64 hex characters), the signing key first.
    keys: Vec<(u8, String)>,
}

impl KeyRecord {
    fn ring(&self) -> Option<SessionKeys> {
        let mut keys = self
            .keys
            .iter()
            .map(|(id, hex)| Some((*id, session_key::parse(hex)?)));
        let current = keys.next()??;
        let previous = keys.collect::<Option<Vec<_>>>()?;
        Some(SessionKeys::with_previous(current, previous))
    }
}

impl Catalog {
    fn key_record(&self) -> Result<Option<(KeyRecord, u64)>, CatalogError> {
        match self.meta.get(CATALOG_COLLECTION, KEY)? {
            None => Ok(None),
            Some(doc) => serde_json::from_slice(&doc.value)
                .map(|r| Some((r, doc.version)))
                .map_err(|e| CatalogError::Corrupt {
                    key: KEY.into(),
                    reason: e.to_string(),
                }),
        }
    }

    /// The session keys this region's replica of the meta group holds (None: not created
    /// yet).
    pub fn session_keys(&self) -> Result<Option<SessionKeys>, CatalogError> {
        let Some((record, _)) = self.key_record()? else {
            return Ok(None);
        };
        record
            .ring()
            .map(Some)
            .ok_or_else(|| CatalogError::Corrupt {
                key: KEY.into(),
                reason: "a key is not 64 hex characters".into(),
            })
    }

    /// Makes a new random signing key; the previous ones keep verifying (up to [`KEEP`]
    /// in all). Returns the new ring.
    pub async fn rotate_session_key(&self) -> Result<SessionKeys, GroupError> {
        let deadline = tokio::time::Instant::now() + super::META_TIMEOUT;
        loop {
            self.barrier().await.map_err(into_group)?;
            let (old, version) = match self.key_record().map_err(into_group)? {
                Some((r, v)) => (r.keys, Some(v)),
                None => (Vec::new(), None),
            };
            let id = old.first().map_or(1, |(id, _)| id % 255 + 1);
            let mut keys = vec![(id, session_key::to_hex(&session_key::generate()))];
            keys.extend(old.into_iter().filter(|(i, _)| *i != id).take(KEEP - 1));
            let record = KeyRecord { keys };
            let value = serde_json::to_vec(&record).expect("key record serializes");
            match self.put(KEY.into(), version, value).await {
                Ok(_) => {
                    tracing::info!(key_id = id, "session key rotated");
                    return Ok(record.ring().expect("made from valid keys"));
                }
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(into_group(e)),
                Err(CatalogError::Conflict { .. } | CatalogError::Meta(_)) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(into_group(e)),
            }
        }
    }
}

/// Runs on every region until the node stops: installs the meta group's keys in `keys`
/// as they change. The meta group's leader creates the record from `seed` if there is none.
pub async fn follow(catalog: Arc<Catalog>, keys: Arc<RwLock<SessionKeys>>, seed: [u8; 32]) {
    let mut installed: Option<Vec<u8>> = None;
    let mut last_error = String::new();
    loop {
        let outcome = match catalog.session_keys() {
            Ok(Some(ring)) => {
                if installed.as_ref() != Some(&ring.ids()) {
                    tracing::info!(current = ring.current_id(), verifying = ?ring.ids(), "session keys from the meta group");
                    installed = Some(ring.ids());
                    *keys.write().expect("session keys") = ring;
                }
                Ok(())
            }
            Ok(None) if catalog.meta.is_leader() => {
                let record = KeyRecord {
                    keys: vec![(1, session_key::to_hex(&seed))],
                };
                let value = serde_json::to_vec(&record).expect("key record serializes");
                match catalog.put(KEY.into(), None, value).await {
                    Ok(_) | Err(CatalogError::Conflict { .. }) => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = outcome
            && e != last_error
        {
            tracing::warn!(error = %e, "session keys");
            last_error = e;
        }
        tokio::time::sleep(FOLLOW_TICK).await;
    }
}
