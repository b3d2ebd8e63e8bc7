//! The documents of a `conflict = "crdt"` collection: each one a typed CRDT of the
//! collection's kind (`merge/crdt.rs`), and the operations clients send it
//! (`POST .../docs/{key}/ops`, CONTRACT.md).
//!
//! An origin's head is that origin's whole view of the document (the merge of every head it
//! had applied, with its own operation on top), so a read merges the heads and any order of
//! arrival gives the same value. Elements and register values are JSON values kept as
//! their canonical text (serde_json sorts object keys), so equal JSON is one element.

use serde::Serialize;
use serde_json::Value;

use crate::config::CrdtKind;
use crate::merge::{Crdt, CrdtError, GCounter, LwwRegister, MvRegister, OrSet, PnCounter, Stamp};

/// Elements one operation may name.
pub const MAX_ELEMENTS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum State {
    GCounter(GCounter),
    PnCounter(PnCounter),
    LwwRegister(LwwRegister<String>),
    OrSet(OrSet<String>),
    MvRegister(MvRegister<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Increment(u64),
    Decrement(u64),
    Add(Vec<String>),
    Remove(Vec<String>),
    Set(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("op {op:?} does not apply to a {kind} (its ops: {allowed})")]
    WrongKind {
        op: String,
        kind: &'static str,
        allowed: &'static str,
    },
    #[error(transparent)]
    Crdt(#[from] CrdtError),
}

#[derive(Debug, thiserror::Error)]
#[error("CRDT state cannot be read or written: {0}")]
pub struct StateError(String);

fn allowed(kind: CrdtKind) -> &'static str {
    match kind {
        CrdtKind::GCounter => "increment",
        CrdtKind::PnCounter => "increment, decrement",
        CrdtKind::OrSet => "add, remove",
        CrdtKind::LwwRegister | CrdtKind::MvRegister => "set",
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> OpError {
    OpError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Parses an operation for a document of `kind`; errors name the field.
pub fn parse_op(kind: CrdtKind, body: &[u8]) -> Result<Op, OpError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| invalid("body", format!("not JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| {
        invalid(
            "body",
            "expected an object such as {\"op\":\"increment\",\"by\":1}",
        )
    })?;
    let name = obj
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("op", "missing: increment, decrement, add, remove or set"))?;
    let known: &[&str] = match name {
        "increment" | "decrement" => &["op", "by"],
        "add" | "remove" => &["op", "elements"],
        "set" => &["op", "value"],
        other => {
            return Err(invalid(
                "op",
                format!("unknown op {other:?}: increment, decrement, add, remove or set"),
            ));
        }
    };
    if let Some(extra) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(
            "body",
            format!("unknown field {extra:?} for op {name:?}"),
        ));
    }
    let op = match name {
        "increment" | "decrement" => {
            let by = obj
                .get("by")
                .map_or(Some(1), Value::as_u64)
                .filter(|b| *b > 0);
            let by = by.ok_or_else(|| invalid("by", "must be a whole number of at least 1"))?;
            if name == "increment" {
                Op::Increment(by)
            } else {
                Op::Decrement(by)
            }
        }
        "add" | "remove" => {
            let elements = obj
                .get("elements")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty() && a.len() <= MAX_ELEMENTS)
                .ok_or_else(|| {
                    invalid(
                        "elements",
                        format!("must be an array of 1..={MAX_ELEMENTS} JSON values"),
                    )
                })?;
            let texts = elements.iter().map(Value::to_string).collect();
            if name == "add" {
                Op::Add(texts)
            } else {
                Op::Remove(texts)
            }
        }
        _ => Op::Set(
            obj.get("value")
                .ok_or_else(|| invalid("value", "missing"))?
                .to_string(),
        ),
    };
    let fits = matches!(
        (kind, &op),
        (CrdtKind::GCounter, Op::Increment(_))
            | (CrdtKind::PnCounter, Op::Increment(_) | Op::Decrement(_))
            | (CrdtKind::OrSet, Op::Add(_) | Op::Remove(_))
            | (CrdtKind::LwwRegister | CrdtKind::MvRegister, Op::Set(_))
    );
    if !fits {
        return Err(OpError::WrongKind {
            op: name.to_string(),
            kind: kind.as_str(),
            allowed: allowed(kind),
        });
    }
    Ok(op)
}

impl State {
    pub fn empty(kind: CrdtKind) -> State {
        match kind {
            CrdtKind::GCounter => State::GCounter(GCounter::default()),
            CrdtKind::PnCounter => State::PnCounter(PnCounter::default()),
            CrdtKind::LwwRegister => State::LwwRegister(LwwRegister::default()),
            CrdtKind::OrSet => State::OrSet(OrSet::default()),
            CrdtKind::MvRegister => State::MvRegister(MvRegister::default()),
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, StateError> {
        serde_json::to_vec(self).map_err(|e| StateError(e.to_string()))
    }

    /// A stored state of `kind`; one of another kind is an error, never merged.
    pub fn decode(kind: CrdtKind, bytes: &[u8]) -> Result<State, StateError> {
        let s: State = serde_json::from_slice(bytes).map_err(|e| StateError(e.to_string()))?;
        if std::mem::discriminant(&s) != std::mem::discriminant(&State::empty(kind)) {
            return Err(StateError(format!("not a {}", kind.as_str())));
        }
        Ok(s)
    }

    /// Joins `other` (of the same kind; checked by `decode`).
    pub fn merge(&mut self, other: &State) {
        match (self, other) {
            (State::GCounter(a), State::GCounter(b)) => a.merge(b),
            (State::PnCounter(a), State::PnCounter(b)) => a.merge(b),
            (State::LwwRegister(a), State::LwwRegister(b)) => a.merge(b),
            (State::OrSet(a), State::OrSet(b)) => a.merge(b),
            (State::MvRegister(a), State::MvRegister(b)) => a.merge(b),
            _ => {}
        }
    }

    /// Applies `op` (checked against the kind by `parse_op`) as `stamp.region`.
    pub fn apply(&mut self, op: &Op, stamp: Stamp) -> Result<(), OpError> {
        let region = stamp.region.clone();
        match (self, op) {
            (State::GCounter(c), Op::Increment(by)) => c.increment(&region, *by)?,
            (State::PnCounter(c), Op::Increment(by)) => c.increment(&region, *by)?,
            (State::PnCounter(c), Op::Decrement(by)) => c.decrement(&region, *by)?,
            (State::OrSet(s), Op::Add(elements)) => {
                for e in elements {
                    s.add(&region, e.clone());
                }
            }
            (State::OrSet(s), Op::Remove(elements)) => {
                for e in elements {
                    s.remove(e);
                }
            }
            (State::LwwRegister(r), Op::Set(v)) => r.set(stamp, v.clone()),
            (State::MvRegister(r), Op::Set(v)) => r.set(&region, v.clone()),
            (s, op) => {
                return Err(invalid("op", format!("{op:?} does not apply to {s:?}")));
            }
        }
        Ok(())
    }

    /// What a read answers (CONTRACT.md): `{"value"}` for counters and registers,
    /// `{"elements"}` for a set, `{"values"}` for a multi-value register.
    pub fn to_json(&self) -> Value {
        let parse = |t: &String| serde_json::from_str(t).unwrap_or(Value::Null);
        match self {
            State::GCounter(c) => serde_json::json!({ "value": c.value() }),
            State::PnCounter(c) => serde_json::json!({ "value": c.value() as i64 }),
            State::LwwRegister(r) => serde_json::json!({ "value": r.value().as_ref().map(parse) }),
            State::OrSet(s) => serde_json::json!({
                "elements": s.value().iter().map(parse).collect::<Vec<_>>()
            }),
            State::MvRegister(r) => serde_json::json!({
                "values": r.value().iter().map(parse).collect::<Vec<_>>()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    fn stamp(region: &str, ms: u64) -> Stamp {
        Stamp {
            hlc: Timestamp::new(ms, 0, 0),
            region: region.into(),
        }
    }

    #[test]
    fn ops_are_checked_against_the_kind_naming_the_field() {
        assert_eq!(
            parse_op(CrdtKind::PnCounter, br#"{"op":"decrement","by":3}"#).unwrap(),
            Op::Decrement(3)
        );
        assert_eq!(
            parse_op(CrdtKind::GCounter, br#"{"op":"increment"}"#).unwrap(),
            Op::Increment(1)
        );
        let wrong = parse_op(CrdtKind::GCounter, br#"{"op":"decrement","by":1}"#).unwrap_err();
        assert!(wrong.to_string().contains("g_counter"), "{wrong}");
        for (body, field) in [
            (&br#"{"op":"increment","by":0}"#[..], "by"),
            (br#"{"op":"increment","by":-2}"#, "by"),
            (br#"{"op":"add","elements":[]}"#, "elements"),
            (br#"{"op":"jump"}"#, "op"),
            (br#"{"by":1}"#, "op"),
            (br#"{"op":"increment","by":1,"extra":2}"#, "body"),
            (br#"[1]"#, "body"),
            (br#"nope"#, "body"),
        ] {
            let kind = if field == "elements" {
                CrdtKind::OrSet
            } else {
                CrdtKind::PnCounter
            };
            match parse_op(kind, body) {
                Err(OpError::Invalid { field: f, .. }) => assert_eq!(f, field, "{body:?}"),
                other => panic!("{body:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn heads_merge_to_the_same_value_in_any_order_and_kinds_do_not_mix() {
        // two regions' views of a set: eu added a and b, us saw a and removed it, added c
        let mut eu = State::empty(CrdtKind::OrSet);
        eu.apply(
            &Op::Add(vec!["\"a\"".into(), "\"b\"".into()]),
            stamp("eu", 1),
        )
        .unwrap();
        let mut us = eu.clone();
        us.apply(&Op::Remove(vec!["\"a\"".into()]), stamp("us", 2))
            .unwrap();
        us.apply(&Op::Add(vec!["\"c\"".into()]), stamp("us", 3))
            .unwrap();
        // concurrently eu adds a again: add wins over the remove that did not see it
        eu.apply(&Op::Add(vec!["\"a\"".into()]), stamp("eu", 4))
            .unwrap();
        let mut x = eu.clone();
        x.merge(&us);
        let mut y = us.clone();
        y.merge(&eu);
        assert_eq!(x, y);
        assert_eq!(
            x.to_json(),
            serde_json::json!({"elements": ["a", "b", "c"]})
        );
        let bytes = x.encode().unwrap();
        assert_eq!(State::decode(CrdtKind::OrSet, &bytes).unwrap(), x);
        assert!(State::decode(CrdtKind::GCounter, &bytes).is_err());
        assert!(State::decode(CrdtKind::OrSet, b"{").is_err());
    }
}
