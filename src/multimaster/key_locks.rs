//! Serializes a region's CRDT operations on one document: an operation reads this region's
//! merged view, applies itself as this region, and proposes the result as its origin's new
//! head. Two at once on the same document would both start from the same view and the
//! second would erase the first (a lost increment), so each waits for the one before it to
//! be applied. Different documents share a stripe only by hash, never an order.

use std::hash::{Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 256;

pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl KeyLocks {
    pub async fn lock(&self, collection: &str, key: &str) -> MutexGuard<'_, ()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (collection, key).hash(&mut h);
        self.stripes[(h.finish() as usize) % STRIPES].lock().await
    }
}
