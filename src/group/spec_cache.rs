//! The replica's view of its group's spec: the placement's voters and learners (set as the
//! catalog says), with the ack policy last written through the group's log in place of the
//! topology's. The stored policy is re-read only after a settings write was applied.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::spec::{AckPolicy, GroupSpec};
use crate::store::{ACK_POLICY_KEY, GROUP_COLLECTION, Store};

pub(super) struct SpecCache {
    spec: Mutex<GroupSpec>,
    /// Settings writes applied so far (the state machine counts them), and how many of them
    /// `spec` reflects (+1: 0 means "never loaded").
    config_applied: Arc<AtomicU64>,
    config_loaded: AtomicU64,
}

impl SpecCache {
    pub(super) fn new(spec: GroupSpec, config_applied: Arc<AtomicU64>) -> SpecCache {
        SpecCache {
            spec: Mutex::new(spec),
            config_applied,
            config_loaded: AtomicU64::new(0),
        }
    }

    pub(super) fn current(&self, store: &Store) -> GroupSpec {
        let applied = self.config_applied.load(Ordering::Acquire) + 1;
        if self.config_loaded.load(Ordering::Acquire) != applied {
            self.reload_ack(store);
            self.config_loaded.store(applied, Ordering::Release);
        }
        self.spec.lock().expect("spec").clone()
    }

    fn reload_ack(&self, store: &Store) {
        let id = self.spec.lock().expect("spec").id;
        match store.get(id.0, GROUP_COLLECTION, ACK_POLICY_KEY) {
            Ok(Some(doc)) => match serde_json::from_slice::<AckPolicy>(&doc.value) {
                Ok(ack) => {
                    let mut spec = self.spec.lock().expect("spec");
                    if spec.ack != ack {
                        tracing::info!(group = %id, ?ack, "ack policy changed");
                    }
                    spec.ack = ack;
                }
                Err(e) => {
                    tracing::error!(group = %id, error = %e, "stored ack policy unreadable; keeping the current one")
                }
            },
            Ok(None) => {}
            Err(e) => tracing::error!(group = %id, error = %e, "reading the ack policy"),
        }
    }

    /// Sets the voters and learners; true if they changed.
    pub(super) fn set_replicas(&self, voters: Vec<String>, learners: Vec<String>) -> bool {
        let mut spec = self.spec.lock().expect("spec");
        if spec.voters == voters && spec.learners == learners {
            return false;
        }
        spec.voters = voters;
        spec.learners = learners;
        true
    }
}
