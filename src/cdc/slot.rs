//! A slot as created (`POST /v1/slots`) and as stored: the request's fields, validated once
//! (errors name the field, and a filter's byte position), plus what the cluster records.

use serde::{Deserialize, Serialize};

use super::transform::Projection;
use super::{PatternSet, Predicate};
use crate::config::names::check_collection_name;

/// The change kinds a slot can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Insert,
    Update,
    Delete,
    /// A document as it stood at the slot's start, from its initial snapshot (not a filter:
    /// `initial_snapshot` asks for these).
    Snapshot,
    /// A collection's placement changed (not a filter: `ddl` asks for these).
    Ddl,
}

/// The body of `POST /v1/slots` (CONTRACT.md, "Change data capture").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSpec {
    pub name: String,
    /// Include patterns; empty: every collection.
    #[serde(default)]
    pub collections: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Empty: all three.
    #[serde(default)]
    pub ops: Vec<Op>,
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default = "json_format")]
    pub format: String,
    #[serde(default)]
    pub initial_snapshot: bool,
    #[serde(default = "yes")]
    pub ddl: bool,
    /// The transform hook: the fields of `before` and `after` delivered (`transform.rs`);
    /// empty: the whole documents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub project: Vec<String>,
}

fn json_format() -> String {
    "json".into()
}

fn yes() -> bool {
    true
}

/// A slot as the cluster keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    #[serde(flatten)]
    pub spec: SlotSpec,
    pub paused: bool,
    /// When it was created (ms, the creating region's clock) and where.
    pub created_at_ms: u64,
    pub created_in: String,
    /// Where the slot starts in each group it follows: what the creating region had applied
    /// after catching up with each group's leader. The groups named here are the slot's.
    #[serde(default)]
    pub start: super::Position,
}

/// How far a slot's consumers have confirmed, kept apart from the record so acks do not
/// race pause and resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotCursor {
    pub confirmed: super::Position,
    /// When the last ack moved it (ms, the acking region's clock); 0: never.
    #[serde(default)]
    pub acked_at_ms: u64,
    /// Set when retention had to purge changes the slot had not confirmed: the slot can no
    /// longer deliver without a gap, so it delivers nothing.
    #[serde(default)]
    pub lost: Option<String>,
}

/// Why a slot was refused; `field` as the request names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SlotError {
    pub field: String,
    pub reason: String,
}

impl SlotError {
    fn new(field: &str, reason: impl Into<String>) -> SlotError {
        SlotError {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

/// What a slot's filters compile to, once.
#[derive(Debug)]
pub struct SlotFilter {
    pub patterns: PatternSet,
    pub ops: Vec<Op>,
    pub predicate: Option<Predicate>,
    /// Whether placement changes of followed collections are delivered.
    pub ddl: bool,
    pub projection: Option<Projection>,
}

impl SlotSpec {
    /// Checks every field and compiles the filters; the first problem is the error.
    pub fn compile(&self) -> Result<SlotFilter, SlotError> {
        check_collection_name(&self.name).map_err(|r| {
            SlotError::new("name", format!("slot names follow collection names: {r}"))
        })?;
        let patterns = PatternSet::compile(&self.collections, &self.exclude)
            .map_err(|e| SlotError::new(&e.field, e.reason))?;
        for (i, op) in self.ops.iter().enumerate() {
            if *op == Op::Snapshot || *op == Op::Ddl {
                return Err(SlotError::new(
                    &format!("ops[{i}]"),
                    "snapshot and ddl events come with \"initial_snapshot\" and \"ddl\", not \
                     with ops",
                ));
            }
            if self.ops[..i].contains(op) {
                return Err(SlotError::new(
                    &format!("ops[{i}]"),
                    format!("{op:?} is listed twice"),
                ));
            }
        }
        let predicate = match &self.filter {
            Some(text) if text.trim().is_empty() => {
                return Err(SlotError::new(
                    "filter",
                    "empty (leave it out to follow every document)",
                ));
            }
            Some(text) => Some(Predicate::parse(text).map_err(|e| {
                SlotError::new("filter", format!("at byte {}: {}", e.position, e.message))
            })?),
            None => None,
        };
        super::encoding::Format::parse(&self.format)
            .map_err(|e| SlotError::new("format", e.to_string()))?;
        let ops = if self.ops.is_empty() {
            vec![Op::Insert, Op::Update, Op::Delete]
        } else {
            self.ops.clone()
        };
        let projection = if self.project.is_empty() {
            None
        } else {
            Some(
                Projection::compile(&self.project)
                    .map_err(|e| SlotError::new(&format!("project[{}]", e.index), e.reason))?,
            )
        };
        Ok(SlotFilter {
            patterns,
            ops,
            predicate,
            ddl: self.ddl,
            projection,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> SlotSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_valid_slot_compiles_with_its_defaults() {
        let s = spec(
            serde_json::json!({"name": "etl", "collections": ["orders", "tenant-*"],
            "filter": "tenant == 'acme'"}),
        );
        assert_eq!(
            (s.format.as_str(), s.ddl, s.initial_snapshot),
            ("json", true, false)
        );
        let f = s.compile().unwrap();
        assert_eq!(f.ops, [Op::Insert, Op::Update, Op::Delete]);
        assert!(f.patterns.matches("tenant-a") && !f.patterns.matches("users"));
        assert!(
            f.predicate
                .unwrap()
                .matches(&serde_json::json!({"tenant": "acme"}))
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases = [
            (serde_json::json!({"name": "Bad"}), "name"),
            (
                serde_json::json!({"name": "s", "collections": ["ok", "A*"]}),
                "collections[1]",
            ),
            (
                serde_json::json!({"name": "s", "exclude": [""]}),
                "exclude[0]",
            ),
            (
                serde_json::json!({"name": "s", "ops": ["insert", "insert"]}),
                "ops[1]",
            ),
            (
                serde_json::json!({"name": "s", "filter": "tenant = 'a'"}),
                "filter",
            ),
            (serde_json::json!({"name": "s", "filter": " "}), "filter"),
            (serde_json::json!({"name": "s", "format": "xml"}), "format"),
            (
                serde_json::json!({"name": "s", "ops": ["snapshot"]}),
                "ops[0]",
            ),
            (
                serde_json::json!({"name": "s", "project": ["id", "a..b"]}),
                "project[1]",
            ),
        ];
        for (json, field) in cases {
            let e = spec(json.clone())
                .compile()
                .err()
                .unwrap_or_else(|| panic!("{json} compiled"));
            assert_eq!(e.field, field, "{json}: {e}");
        }
        let e = spec(serde_json::json!({"name": "s", "filter": "a == 1 or"}))
            .compile()
            .unwrap_err();
        assert!(e.reason.starts_with("at byte 9:"), "{e}");
        assert!(
            serde_json::from_value::<SlotSpec>(serde_json::json!({"name": "s", "op": []})).is_err()
        );
        assert!(
            serde_json::from_value::<SlotSpec>(serde_json::json!({"name": "s", "ops": ["upsert"]}))
                .is_err()
        );
    }
}
