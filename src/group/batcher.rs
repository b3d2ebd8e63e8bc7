//! Group commit above Raft: concurrent writes on the leader become one log entry.
//!
//! openraft 0.9 waits for each append's fsync inside its core before taking the next
//! client write, so one write per entry means one fsync per write (measured: ~3k writes/s
//! where the WAL alone does ~40k). The batcher gathers whatever writes are waiting while
//! the previous entry is being made durable into one `Batch` entry: one fsync and one
//! replication round for all of them. A batch never holds two writes to the same document,
//! so each write's version is still the entry's log index; writes to the group's own
//! settings go alone. At most two batches are in flight: one being fsynced, one waiting.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::GroupError;
use super::types::{NodeId, Raft, Request};
use crate::clock::{Hlc, Timestamp};
use crate::store::{ApplyOutcome, EncodedCommand, GROUP_COLLECTION, encode_batch};

const MAX_BATCH: usize = 1024;
const IN_FLIGHT: usize = 2;

pub(crate) type Reply = Result<(u64, Timestamp, ApplyOutcome), GroupError>;

pub(crate) struct Proposal {
    pub origin: String,
    pub command: EncodedCommand,
    pub reply: oneshot::Sender<Reply>,
}

pub(crate) struct Batcher {
    /// The group's current Raft instance (replaced on promotion).
    pub raft: tokio::sync::watch::Receiver<Raft>,
    pub clock: Arc<Hlc>,
    /// Stamps handed out and not yet in the log (archive coverage waits for them).
    pub inflight: Arc<super::inflight::InFlight>,
    pub region: Arc<str>,
    pub regions: HashMap<NodeId, String>,
    pub commit_timeout: Duration,
    /// A batch stops growing here, so an entry stays well inside one WAL segment (a single
    /// write larger than this still goes, alone).
    pub max_bytes: usize,
}

/// Settings writes (the ack policy) go alone: the spec cache counts them one entry each.
fn is_settings(command: &EncodedCommand) -> bool {
    command.writes_to(GROUP_COLLECTION)
}

impl Batcher {
    pub(crate) fn spawn(self) -> mpsc::UnboundedSender<Proposal> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(self.run(rx));
        tx
    }

    async fn run(self, mut rx: mpsc::UnboundedReceiver<Proposal>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut carry: Option<Proposal> = None;
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let first = match carry.take() {
                Some(p) => p,
                None => match rx.recv().await {
                    Some(p) => p,
                    None => return,
                },
            };
            let mut bytes = first.command.len();
            let alone = is_settings(&first.command);
            let mut seen: HashSet<Vec<u8>> = HashSet::new();
            if let Some(d) = first.command.doc_ref() {
                seen.insert(d.to_vec());
            }
            let mut batch = vec![first];
            while !alone && batch.len() < MAX_BATCH {
                let Ok(p) = rx.try_recv() else { break };
                if bytes + p.command.len() > this.max_bytes {
                    carry = Some(p);
                    break;
                }
                let doc = p.command.doc_ref().map(<[u8]>::to_vec);
                if is_settings(&p.command) || doc.as_ref().is_some_and(|d| seen.contains(d)) {
                    carry = Some(p);
                    break;
                }
                if let Some(d) = doc {
                    seen.insert(d);
                }
                bytes += p.command.len();
                batch.push(p);
            }
            let this = this.clone();
            tokio::spawn(async move {
                this.commit(batch).await;
                drop(permit);
            });
        }
    }

    async fn commit(&self, batch: Vec<Proposal>) {
        let (origin, command) = if batch.len() == 1 {
            (
                Arc::from(batch[0].origin.as_str()),
                batch[0].command.bytes().clone(),
            )
        } else {
            (
                self.region.clone(),
                encode_batch(
                    batch
                        .iter()
                        .map(|p| (p.origin.as_str(), &p.command.bytes()[..])),
                ),
            )
        };
        let stamp = self.inflight.stamp(&self.clock);
        let request = Request {
            hlc: stamp,
            origin,
            command,
        };
        let raft = self.raft.borrow().clone();
        let result = tokio::time::timeout(self.commit_timeout, raft.client_write(request)).await;
        // refused as not leader: never appended; anything else but success may yet commit
        let refused = matches!(
            result,
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(
                _
            ))))
        );
        self.inflight
            .done(stamp, matches!(result, Ok(Ok(_))) || refused);
        let err = match result {
            Ok(Ok(r)) => {
                let resp = r.data;
                match resp.outcome {
                    ApplyOutcome::Batch(outcomes) if batch.len() > 1 => {
                        for (p, o) in batch.into_iter().zip(outcomes) {
                            let _ = p.reply.send(Ok((resp.index, resp.hlc, o)));
                        }
                    }
                    outcome => {
                        for p in batch {
                            let _ = p.reply.send(Ok((resp.index, resp.hlc, outcome.clone())));
                        }
                    }
                }
                return;
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                GroupError::NotLeader {
                    leader: f.leader_id.and_then(|id| self.regions.get(&id).cloned()),
                }
            }
            Ok(Err(e)) => GroupError::raft("client_write", e),
            Err(_) => GroupError::CommitTimeout {
                waited_ms: self.commit_timeout.as_millis() as u64,
            },
        };
        for p in batch {
            let _ = p.reply.send(Err(err.clone()));
        }
    }
}
