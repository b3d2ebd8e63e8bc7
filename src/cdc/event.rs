//! The change event a consumer receives (CONTRACT.md, "Change data capture"), Debezium's
//! envelope: `op`, `before`, `after`, `source`. Documents that are JSON are embedded as JSON;
//! any other value appears as `{"$binary": "<base64>"}`, so no value is shown as something
//! it is not.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::position::Position;
use super::slot::{Op, SlotFilter};
use super::transform::Projection;
use crate::ids::GroupId;
use crate::store::{CAPTURED_CATALOG, ChangeOp, ChangeRow, Document, ScannedDoc};

/// Where the change happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The region that accepted the write.
    pub region: String,
    pub group: u32,
    /// The log index (the document's version after the write).
    pub index: u64,
    /// The write's place in a batched log entry.
    pub seq: u32,
    pub hlc: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Acknowledge this to confirm everything up to and including this event.
    pub position: Position,
    pub op: Op,
    pub collection: String,
    pub key: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub source: Source,
}

/// Whether the slot delivers `doc` of `collection` in its initial snapshot.
pub fn selects_doc(filter: &SlotFilter, collection: &str, doc: &Document) -> bool {
    filter.patterns.matches(collection)
        && filter
            .predicate
            .as_ref()
            .is_none_or(|p| p.matches_bytes(&doc.value))
}

fn op_of(op: ChangeOp) -> Op {
    match op {
        ChangeOp::Insert => Op::Insert,
        ChangeOp::Update => Op::Update,
        ChangeOp::Delete => Op::Delete,
    }
}

/// The key prefix of placement records in the catalog (`placement/records.rs`).
const PLACEMENT_PREFIX: &str = "placement/";

/// The collection whose placement a catalog row records, if it is a placement record.
fn placed(row: &ChangeRow) -> Option<&str> {
    (row.collection == CAPTURED_CATALOG)
        .then(|| row.key.strip_prefix(PLACEMENT_PREFIX))
        .flatten()
}

/// Whether the slot delivers `row`: its collection, its op and its predicate (over the
/// document as written, or as it was before a delete); a catalog row only as the DDL event
/// of a followed collection's placement, with `ddl` on.
pub fn selects(filter: &SlotFilter, row: &ChangeRow) -> bool {
    if row.collection == CAPTURED_CATALOG {
        return filter.ddl && placed(row).is_some_and(|c| filter.patterns.matches(c));
    }
    if !filter.patterns.matches(&row.collection) || !filter.ops.contains(&op_of(row.op)) {
        return false;
    }
    match &filter.predicate {
        None => true,
        Some(p) => row
            .after
            .as_ref()
            .or(row.before.as_ref())
            .is_some_and(|d| p.matches_bytes(&d.value)),
    }
}

/// A document as an event carries it: its JSON through the slot's projection, if any; bytes
/// that are not JSON in base64, whole (a projection names JSON fields).
fn image(d: &Document, projection: Option<&Projection>) -> Value {
    match serde_json::from_slice::<Value>(&d.value) {
        Ok(v) => match projection {
            Some(p) => p.apply(v),
            None => v,
        },
        Err(_) => serde_json::json!({
            "$binary": base64::engine::general_purpose::STANDARD.encode(&d.value)
        }),
    }
}

impl Event {
    /// A snapshot event: the document as it stood at the slot's start. Its `source.region`
    /// is empty (a document does not record where it was written); `index` is its version.
    pub fn from_doc(
        d: &ScannedDoc,
        group: GroupId,
        position: Position,
        projection: Option<&Projection>,
    ) -> Event {
        Event {
            position,
            op: Op::Snapshot,
            collection: d.collection.clone(),
            key: d.key.clone(),
            before: None,
            after: Some(image(&d.doc, projection)),
            source: Source {
                region: String::new(),
                group: group.0,
                index: d.doc.version,
                seq: 0,
                hlc: d.doc.hlc.to_string(),
            },
        }
    }

    /// The event of a change row; `projection` is the slot's (not applied to DDL events:
    /// their documents are placement records).
    pub fn from_row(
        row: &ChangeRow,
        group: GroupId,
        position: Position,
        projection: Option<&Projection>,
    ) -> Event {
        // a placement record: the DDL event of the collection it places, keyed `placement`
        let (op, collection, key, projection) = match placed(row) {
            Some(c) => (Op::Ddl, c.to_string(), "placement".to_string(), None),
            None => (
                op_of(row.op),
                row.collection.clone(),
                row.key.clone(),
                projection,
            ),
        };
        Event {
            position,
            op,
            collection,
            key,
            before: row.before.as_ref().map(|d| image(d, projection)),
            after: row.after.as_ref().map(|d| image(d, projection)),
            source: Source {
                region: row.origin.clone(),
                group: group.0,
                index: row.id.index,
                seq: row.id.seq,
                hlc: row.hlc.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::cdc::SlotSpec;
    use crate::clock::Timestamp;
    use crate::store::ChangeId;

    fn row(op: ChangeOp, collection: &str, before: Option<&str>, after: Option<&str>) -> ChangeRow {
        let doc = |v: &str| Document {
            version: 9,
            hlc: Timestamp::new(5, 0, 1),
            content_type: None,
            value: Bytes::from(v.to_string()),
        };
        ChangeRow {
            id: ChangeId::at(9),
            op,
            hlc: Timestamp::new(5, 0, 1),
            origin: "r2".into(),
            collection: collection.into(),
            key: "k".into(),
            before: before.map(doc),
            after: after.map(doc),
        }
    }

    fn filter(json: Value) -> SlotFilter {
        serde_json::from_value::<SlotSpec>(json)
            .unwrap()
            .compile()
            .unwrap()
    }

    #[test]
    fn a_slot_selects_by_collection_op_and_predicate() {
        let f = filter(serde_json::json!({"name": "s", "collections": ["orders*"],
            "ops": ["insert", "delete"], "filter": "tenant == 'acme'"}));
        let acme = r#"{"tenant":"acme"}"#;
        let other = r#"{"tenant":"zeta"}"#;
        assert!(selects(
            &f,
            &row(ChangeOp::Insert, "orders", None, Some(acme))
        ));
        assert!(selects(
            &f,
            &row(ChangeOp::Insert, "orders-eu", None, Some(acme))
        ));
        assert!(!selects(
            &f,
            &row(ChangeOp::Insert, "users", None, Some(acme))
        ));
        assert!(!selects(
            &f,
            &row(ChangeOp::Update, "orders", Some(acme), Some(acme))
        ));
        assert!(!selects(
            &f,
            &row(ChangeOp::Insert, "orders", None, Some(other))
        ));
        assert!(!selects(
            &f,
            &row(ChangeOp::Insert, "orders", None, Some("not json"))
        ));
        // a delete is judged by what was deleted
        assert!(selects(
            &f,
            &row(ChangeOp::Delete, "orders", Some(acme), None)
        ));
        assert!(!selects(
            &f,
            &row(ChangeOp::Delete, "orders", Some(other), None)
        ));
    }

    #[test]
    fn the_envelope_embeds_json_and_marks_other_bytes() {
        let r = row(
            ChangeOp::Update,
            "orders",
            Some("{\"n\":1}"),
            Some("\u{1}raw"),
        );
        let e = Event::from_row(&r, GroupId(3), "3:9:0".parse().unwrap(), None);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["op"], "update");
        assert_eq!(v["position"], "3:9:0");
        assert_eq!(v["before"], serde_json::json!({"n": 1}));
        assert_eq!(v["after"]["$binary"], "AXJhdw==");
        assert_eq!(v["source"]["region"], "r2");
        assert_eq!(v["source"]["group"], 3);
        assert_eq!(v["source"]["index"], 9);
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn placement_records_are_ddl_events_of_followed_collections_when_asked() {
        let mut placement = row(
            ChangeOp::Update,
            CAPTURED_CATALOG,
            Some(r#"{"changes":0}"#),
            Some(r#"{"changes":1}"#),
        );
        placement.key = "placement/orders".into();
        let mut other_placed = placement.clone();
        other_placed.key = "placement/users".into();
        let mut session_keys = placement.clone();
        session_keys.key = "session_keys".into();
        let ddl = filter(serde_json::json!({"name": "s", "collections": ["orders*"],
            "ops": ["delete"], "ddl": true}));
        assert!(selects(&ddl, &placement), "ddl is not an op filter");
        assert!(!selects(&ddl, &other_placed), "users is not followed");
        assert!(!selects(&ddl, &session_keys), "not a placement record");
        let plain = filter(serde_json::json!({"name": "s", "collections": ["*"], "ddl": false}));
        assert!(!selects(&plain, &placement), "ddl off");
        assert!(
            !selects(&plain, &session_keys),
            "the catalog is no collection"
        );

        let e = Event::from_row(
            &placement,
            GroupId::META,
            "0:9:0".parse().unwrap(),
            ddl.projection.as_ref(),
        );
        assert_eq!(e.op, Op::Ddl);
        assert_eq!(e.collection, "orders");
        assert_eq!(e.key, "placement");
        assert_eq!(e.after, Some(serde_json::json!({"changes": 1})));
    }

    #[test]
    fn the_projection_shapes_json_images_and_leaves_bytes_whole() {
        let f = filter(serde_json::json!({"name": "s", "project": ["id", "a.b"]}));
        let r = row(
            ChangeOp::Update,
            "orders",
            Some(r#"{"id":1,"ssn":"x","a":{"b":2,"c":3}}"#),
            Some("\u{1}raw"),
        );
        let e = Event::from_row(
            &r,
            GroupId(3),
            "3:9:0".parse().unwrap(),
            f.projection.as_ref(),
        );
        assert_eq!(e.before, Some(serde_json::json!({"id": 1, "a": {"b": 2}})));
        assert_eq!(e.after, Some(serde_json::json!({"$binary": "AXJhdw=="})));
    }
}
