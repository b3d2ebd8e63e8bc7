//! The replica's Raft instance, in a slot: replaced, never mutated. A promotion or a
//! step-aside stops the instance and starts a new one over the same log and state machine
//! (see `reseat.rs`); whoever holds the slot's lock is the only one doing so.

use std::sync::Arc;

use tokio::sync::watch;

use super::GroupError;
use super::log_store::LogStore;
use super::network::Network;
use super::state_machine::StateMachine;
use super::types::{NodeId, Raft};

/// The fixed inputs of a Raft instance, so the group can start a new one over the same
/// log and state machine.
pub(super) struct RaftParts {
    pub config: Arc<openraft::Config>,
    pub network: Network,
    pub sm: StateMachine,
}

impl RaftParts {
    async fn start(&self, node: NodeId, log: &LogStore) -> Result<Raft, GroupError> {
        let raft = Raft::new(
            node,
            self.config.clone(),
            self.network.clone(),
            log.clone(),
            self.sm.clone(),
        )
        .await
        .map_err(|e| GroupError::raft("start", e))?;
        self.sm.serve_snapshot_data();
        Ok(raft)
    }
}

pub(super) struct RaftSlot {
    current: watch::Sender<Raft>,
    parts: RaftParts,
    node: NodeId,
    /// Held while the instance is replaced.
    replacing: tokio::sync::Mutex<()>,
}

impl RaftSlot {
    /// Starts the first instance.
    pub(super) async fn start(
        parts: RaftParts,
        node: NodeId,
        log: &LogStore,
    ) -> Result<RaftSlot, GroupError> {
        let raft = parts.start(node, log).await?;
        Ok(RaftSlot {
            current: watch::channel(raft).0,
            parts,
            node,
            replacing: tokio::sync::Mutex::new(()),
        })
    }

    /// The current instance (a cheap handle).
    pub(super) fn get(&self) -> Raft {
        self.current.borrow().clone()
    }

    /// Follows the slot: sees each replacement (the batcher writes to the current one).
    pub(super) fn subscribe(&self) -> watch::Receiver<Raft> {
        self.current.subscribe()
    }

    pub(super) fn sm(&self) -> &StateMachine {
        &self.parts.sm
    }

    /// Exclusive right to replace the instance, until dropped.
    pub(super) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.replacing.lock().await
    }

    /// Starts a new instance over `log` in place of the current one (call with the lock).
    pub(super) async fn restart(&self, log: &LogStore) -> Result<(), GroupError> {
        let raft = self.parts.start(self.node, log).await?;
        self.current.send_replace(raft);
        Ok(())
    }
}
