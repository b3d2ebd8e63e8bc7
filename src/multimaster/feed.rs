//! The conflict feed's JSON (CONTRACT.md): `{"id", "key", "rule", "winner": {"region",
//! "hlc", "value"}, "losers": [...], "detected_at"}`. A value declared JSON is embedded as
//! JSON; any other is a string (UTF-8, else base64 under `"value_base64"`); a delete is null.

use base64::Engine;
use serde_json::{Value, json};

use crate::store::{ConflictRecord, ConflictSide};

fn side(s: &ConflictSide) -> Value {
    let mut out = json!({
        "region": s.region,
        "hlc": s.hlc.to_string(),
        "deleted": s.value.is_none(),
    });
    let is_json = s
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    let value = match &s.value {
        None => Value::Null,
        Some(v) if is_json => serde_json::from_slice(v).unwrap_or(Value::Null),
        Some(v) => match std::str::from_utf8(v) {
            Ok(text) => Value::String(text.to_string()),
            Err(_) => {
                out["value_base64"] =
                    Value::String(base64::engine::general_purpose::STANDARD.encode(v));
                Value::Null
            }
        },
    };
    out["value"] = value;
    if let Some(ct) = &s.content_type {
        out["content_type"] = Value::String(ct.clone());
    }
    out
}

pub fn entry(r: &ConflictRecord) -> Value {
    json!({
        "id": r.seq.to_string(),
        "key": r.key,
        "rule": r.rule,
        "winner": side(&r.winner),
        "losers": r.losers.iter().map(side).collect::<Vec<_>>(),
        "detected_at": r.detected.to_string(),
        "detected_at_ms": r.detected.physical_ms(),
        "unresolved": r.unresolved,
    })
}
