//! The apply thread of one log group: takes durable entries in index order, applies them
//! to the store in batches (one redb transaction each) and answers their proposers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::error::GroupError;
use crate::store::{ApplyOutcome, Store};
use crate::wal::Entry;

pub(crate) struct ApplyJob {
    pub entry: Entry,
    /// `None` when the proposer was answered at durability (its outcome cannot depend on state).
    pub reply: Option<oneshot::Sender<Result<ApplyOutcome, GroupError>>>,
}

const MAX_BATCH: usize = 4096;

pub(crate) fn run(
    group: u32,
    store: Arc<Store>,
    rx: Receiver<ApplyJob>,
    applied: watch::Sender<u64>,
    checkpoint_every: Duration,
    checkpointed: Arc<AtomicU64>,
) {
    let mut last_checkpoint = Instant::now();
    let mut dirty = false;
    let mut failed: Option<GroupError> = None;
    loop {
        let first = match rx.recv_timeout(checkpoint_every) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                if dirty && failed.is_none() {
                    match store.checkpoint() {
                        Ok(()) => {
                            dirty = false;
                            checkpointed.store(*applied.borrow(), Ordering::Release);
                        }
                        Err(e) => tracing::error!(group, error = %e, "store checkpoint failed"),
                    }
                    last_checkpoint = Instant::now();
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if let Some(err) = &failed {
            for job in jobs {
                if let Some(reply) = job.reply {
                    let _ = reply.send(Err(err.clone()));
                }
            }
            continue;
        }
        let durable = last_checkpoint.elapsed() >= checkpoint_every;
        let entries: Vec<&Entry> = jobs.iter().map(|j| &j.entry).collect();
        match store.apply_batch(group, &entries, durable) {
            Ok(outcomes) => {
                let last = jobs.last().map_or(0, |j| j.entry.index);
                applied.send_replace(last);
                if durable {
                    last_checkpoint = Instant::now();
                    checkpointed.store(last, Ordering::Release);
                }
                dirty = !durable;
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    if let Some(reply) = job.reply {
                        let _ = reply.send(Ok(outcome));
                    }
                }
            }
            Err(e) => {
                // The entries are durable in the WAL; a restart replays them. Until then
                // this group answers nothing rather than something inconsistent.
                tracing::error!(group, error = %e, "apply failed; group stops serving writes");
                let err = GroupError::Failed(e.to_string());
                for job in jobs {
                    if let Some(reply) = job.reply {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
                failed = Some(err);
            }
        }
    }
    if dirty
        && failed.is_none()
        && let Err(e) = store.checkpoint()
    {
        tracing::error!(group, error = %e, "final store checkpoint failed");
    }
}
