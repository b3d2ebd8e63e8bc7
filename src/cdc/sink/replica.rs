//! The filtered-replica target (`[[replicas]]`, `config/replicas.rs`): a sink whose system
//! is a read-only collection of this cluster, held by the replica's own log group. The
//! replica's slot delivers every change of the source; the replica's filter is applied
//! here, to the documents as the source stored them (bytes and content type, from the
//! batch's `images`), so that a change moving a document out of the filter deletes the copy
//! instead of leaving it stale, and the copy is byte for byte the source's.
//!
//! Per key, the last change of the batch decides (the slot delivers a key's changes in
//! order): a document that matches is put; one that does not (or was deleted) is deleted
//! from the replica if the replica can hold it (some image of it in the batch matched).
//! The writes, at most one per key, are proposed together, so the group's batcher commits
//! them in few entries; they complete before the runner acknowledges the batch. Applying a
//! batch again after a crash writes the same documents: idempotent. They are the runner
//! region's writes (a peer's claims are bound to its certificate, so a region cannot write
//! in another's name): the replica's own change rows name the runner as their origin.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::cdc::Op;
use crate::cdc::reader::{Batch, Images};
use crate::group::{GroupError, LogGroup};
use crate::predicate::Predicate;
use crate::store::{Command, Document, Precondition};

/// The slot a replica is applied from: every change of its source, from an initial
/// snapshot on; no predicate, since the replica applies its filter to both images itself.
pub fn slot_spec(r: &crate::config::Replica) -> crate::cdc::SlotSpec {
    crate::cdc::SlotSpec {
        name: r.slot(),
        collections: vec![r.source.clone()],
        exclude: Vec::new(),
        ops: Vec::new(),
        filter: None,
        format: "json".into(),
        initial_snapshot: true,
        ddl: false,
        project: Vec::new(),
    }
}

/// Writes proposed at once; the batcher gathers them into entries.
const CONCURRENT: usize = 256;

/// What the replica does with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Put {
        value: Bytes,
        content_type: Option<String>,
    },
    Delete,
}

/// One write to the replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub key: String,
    pub action: Action,
}

fn matches(predicate: Option<&Predicate>, doc: &Document) -> bool {
    predicate.is_none_or(|p| p.matches_bytes(&doc.value))
}

/// The writes that bring the replica up to the end of the batch.
pub fn plan(predicate: Option<&Predicate>, batch: &Batch) -> Vec<Write> {
    // per key: the index of its last change, and whether any image of it matched
    let mut keys: HashMap<&str, (usize, bool)> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (i, (event, images)) in batch.events.iter().zip(&batch.images).enumerate() {
        if event.op == Op::Ddl {
            continue;
        }
        let Images { before, after } = images;
        let matched = [before, after]
            .into_iter()
            .flatten()
            .any(|d| matches(predicate, d));
        match keys.get_mut(event.key.as_str()) {
            Some(k) => *k = (i, k.1 || matched),
            None => {
                keys.insert(&event.key, (i, matched));
                order.push(&event.key);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|key| {
            let (last, ever_matched) = keys[key];
            let action = match &batch.images[last].after {
                Some(d) if matches(predicate, d) => Action::Put {
                    value: d.value.clone(),
                    content_type: d.content_type.clone(),
                },
                _ if ever_matched => Action::Delete,
                _ => return None,
            };
            Some(Write {
                key: key.to_string(),
                action,
            })
        })
        .collect()
}

pub struct ReplicaTarget {
    /// The replica collection's group.
    pub group: Arc<LogGroup>,
    pub collection: String,
    pub predicate: Option<Predicate>,
}

impl ReplicaTarget {
    /// Applies the batch; (writes made, 0): a replica never reports duplicates.
    pub async fn deliver(&self, batch: &Batch) -> Result<(u64, u64), GroupError> {
        let writes = plan(self.predicate.as_ref(), batch);
        for chunk in writes.chunks(CONCURRENT) {
            let proposals = chunk.iter().map(|w| {
                let command = match &w.action {
                    Action::Put {
                        value,
                        content_type,
                    } => Command::Put {
                        collection: self.collection.clone(),
                        key: w.key.clone(),
                        value: value.clone(),
                        content_type: content_type.clone(),
                        precondition: Precondition::None,
                    },
                    Action::Delete => Command::Delete {
                        collection: self.collection.clone(),
                        key: w.key.clone(),
                        precondition: Precondition::None,
                    },
                };
                self.group.propose(command)
            });
            // a delete the replica had no copy for answers NotFound: nothing to do
            futures_util::future::try_join_all(proposals).await?;
        }
        Ok((writes.len() as u64, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdc::Position;
    use crate::cdc::event::{Event, Source};
    use crate::clock::Timestamp;

    fn doc(v: &str) -> Document {
        Document {
            version: 1,
            hlc: Timestamp::new(1, 0, 1),
            content_type: Some("application/json".into()),
            value: Bytes::from(v.to_string()),
        }
    }

    /// A batch of (op, key, before, after).
    fn batch(changes: &[(Op, &str, Option<&str>, Option<&str>)]) -> Batch {
        let mut events = Vec::new();
        let mut images = Vec::new();
        for (op, key, before, after) in changes {
            events.push(Event {
                position: Position::new(),
                op: *op,
                collection: "orders".into(),
                key: key.to_string(),
                before: None,
                after: None,
                source: Source {
                    region: "r1".into(),
                    group: 1,
                    index: 1,
                    seq: 0,
                    hlc: Timestamp::new(1, 0, 1).to_string(),
                },
            });
            images.push(Images {
                before: before.map(doc),
                after: after.map(doc),
            });
        }
        Batch {
            events,
            images,
            frontier: Position::new(),
            more: false,
        }
    }

    const ACME: &str = r#"{"tenant":"acme"}"#;
    const ACME2: &str = r#"{"tenant":"acme","n":2}"#;
    const ZETA: &str = r#"{"tenant":"zeta"}"#;

    fn put(v: &str, key: &str) -> Write {
        Write {
            key: key.into(),
            action: Action::Put {
                value: Bytes::from(v.to_string()),
                content_type: Some("application/json".into()),
            },
        }
    }

    fn delete(key: &str) -> Write {
        Write {
            key: key.into(),
            action: Action::Delete,
        }
    }

    #[test]
    fn the_last_change_of_each_key_decides() {
        let p = Predicate::parse("tenant == 'acme'").unwrap();
        let b = batch(&[
            (Op::Insert, "a", None, Some(ACME)),
            (Op::Insert, "z", None, Some(ZETA)),
            (Op::Update, "a", Some(ACME), Some(ACME2)),
            (Op::Insert, "b", None, Some(ACME)),
            (Op::Delete, "b", Some(ACME), None),
            (Op::Snapshot, "s", None, Some(ACME)),
        ]);
        assert_eq!(
            plan(Some(&p), &b),
            vec![put(ACME2, "a"), delete("b"), put(ACME, "s")],
            "z never matched: not written"
        );
    }

    #[test]
    fn moving_out_of_the_filter_deletes_the_copy() {
        let p = Predicate::parse("tenant == 'acme'").unwrap();
        let out = batch(&[(Op::Update, "a", Some(ACME), Some(ZETA))]);
        assert_eq!(plan(Some(&p), &out), vec![delete("a")]);
        // out, then changed again while out: still deleted
        let out_twice = batch(&[
            (Op::Update, "a", Some(ACME), Some(ZETA)),
            (Op::Update, "a", Some(ZETA), Some(ZETA)),
        ]);
        assert_eq!(plan(Some(&p), &out_twice), vec![delete("a")]);
        // back in
        let back = batch(&[(Op::Update, "a", Some(ZETA), Some(ACME))]);
        assert_eq!(plan(Some(&p), &back), vec![put(ACME, "a")]);
    }

    #[test]
    fn without_a_filter_everything_is_copied_and_ddl_ignored() {
        let b = batch(&[
            (Op::Insert, "z", None, Some(ZETA)),
            (Op::Ddl, "placement", None, Some("{}")),
            (Op::Delete, "y", Some("\u{1}bytes"), None),
        ]);
        assert_eq!(plan(None, &b), vec![put(ZETA, "z"), delete("y")]);
    }
}
