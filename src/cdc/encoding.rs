//! A slot's output formats: the same events as NDJSON, delimited Protobuf
//! (`proto/georep_cdc.proto`, through prost) or an Avro object container file
//! (`proto/georep_cdc.avsc`, through apache-avro). Each decodes back to the events it was
//! made from; consumers in other languages use the published schemas.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::event::{Event, Source};
use super::slot::Op;

/// The Avro schema, published in the repository and compiled in from there.
pub const AVRO_SCHEMA: &str = include_str!("../../proto/georep_cdc.avsc");
/// The Protobuf definition the prost types below implement.
pub const PROTO: &str = include_str!("../../proto/georep_cdc.proto");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
    Avro,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodingError {
    #[error("{0:?} is not a format: json, protobuf or avro")]
    Unknown(String),
    #[error("malformed {format} batch: {reason}")]
    Malformed {
        format: &'static str,
        reason: String,
    },
}

fn malformed(format: &'static str) -> impl Fn(String) -> EncodingError {
    move |reason| EncodingError::Malformed { format, reason }
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, EncodingError> {
        match text {
            "json" => Ok(Format::Json),
            "protobuf" => Ok(Format::Protobuf),
            "avro" => Ok(Format::Avro),
            other => Err(EncodingError::Unknown(other.to_string())),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/x-ndjson",
            Format::Protobuf => "application/x-protobuf",
            Format::Avro => "application/avro",
        }
    }

    pub fn encode(self, events: &[Event]) -> Vec<u8> {
        match self {
            Format::Json => {
                let mut out = Vec::with_capacity(events.len() * 256);
                for e in events {
                    serde_json::to_writer(&mut out, e).expect("events serialize");
                    out.push(b'\n');
                }
                out
            }
            Format::Protobuf => {
                use prost::Message;
                let mut out = Vec::with_capacity(events.len() * 192);
                for e in events {
                    EventProto::from(e)
                        .encode_length_delimited(&mut out)
                        .expect("a Vec grows");
                }
                out
            }
            Format::Avro => {
                let mut w = apache_avro::Writer::new(avro_schema(), Vec::new())
                    .expect("a Vec takes the container header");
                for e in events {
                    w.append_ser(AvroEvent::from(e))
                        .expect("events match the published schema");
                }
                w.into_inner().expect("a Vec takes the container")
            }
        }
    }

    /// One event alone, as a message (a sink's): the JSON object, the Protobuf message
    /// without its length, an Avro container of one record.
    pub fn encode_one(self, event: &Event) -> Vec<u8> {
        match self {
            Format::Json => serde_json::to_vec(event).expect("events serialize"),
            Format::Protobuf => {
                use prost::Message;
                EventProto::from(event).encode_to_vec()
            }
            Format::Avro => self.encode(std::slice::from_ref(event)),
        }
    }

    /// What [`Self::encode_one`] made.
    pub fn decode_one(self, bytes: &[u8]) -> Result<Event, EncodingError> {
        match self {
            Format::Json => {
                serde_json::from_slice(bytes).map_err(|e| malformed("json")(e.to_string()))
            }
            Format::Protobuf => {
                use prost::Message;
                EventProto::decode(bytes)
                    .map_err(|e| malformed("protobuf")(e.to_string()))?
                    .try_into()
                    .map_err(malformed("protobuf"))
            }
            Format::Avro => {
                let mut all = self.decode(bytes)?;
                match (all.pop(), all.is_empty()) {
                    (Some(e), true) => Ok(e),
                    _ => Err(malformed("avro")("not one record".into())),
                }
            }
        }
    }

    pub fn decode(self, bytes: &[u8]) -> Result<Vec<Event>, EncodingError> {
        match self {
            Format::Json => bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).map_err(|e| malformed("json")(e.to_string())))
                .collect(),
            Format::Protobuf => {
                use prost::Message;
                let mut buf = bytes;
                let mut out = Vec::new();
                while !buf.is_empty() {
                    let p = EventProto::decode_length_delimited(&mut buf)
                        .map_err(|e| malformed("protobuf")(e.to_string()))?;
                    out.push(p.try_into().map_err(malformed("protobuf"))?);
                }
                Ok(out)
            }
            Format::Avro => {
                if bytes.is_empty() {
                    return Ok(Vec::new());
                }
                let reader = apache_avro::Reader::builder(bytes)
                    .reader_schema(avro_schema())
                    .build()
                    .map_err(|e| malformed("avro")(e.to_string()))?;
                reader
                    .map(|v| {
                        let v = v.map_err(|e| malformed("avro")(e.to_string()))?;
                        let a: AvroEvent = apache_avro::from_value(&v)
                            .map_err(|e| malformed("avro")(e.to_string()))?;
                        a.try_into().map_err(malformed("avro"))
                    })
                    .collect()
            }
        }
    }
}

fn avro_schema() -> &'static apache_avro::Schema {
    static SCHEMA: OnceLock<apache_avro::Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        apache_avro::Schema::parse_str(AVRO_SCHEMA).expect("the published Avro schema parses")
    })
}

fn json_text(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().map(|v| v.to_string())
}

fn json_value(t: Option<String>) -> Result<Option<serde_json::Value>, String> {
    t.map(|t| serde_json::from_str(&t).map_err(|e| format!("document JSON: {e}")))
        .transpose()
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EventProto {
    #[prost(string, tag = "1")]
    pub position: String,
    #[prost(enumeration = "OpProto", tag = "2")]
    pub op: i32,
    #[prost(string, tag = "3")]
    pub collection: String,
    #[prost(string, tag = "4")]
    pub key: String,
    #[prost(string, optional, tag = "5")]
    pub before_json: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub after_json: Option<String>,
    #[prost(message, optional, tag = "7")]
    pub source: Option<SourceProto>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum OpProto {
    Unspecified = 0,
    Insert = 1,
    Update = 2,
    Delete = 3,
    Snapshot = 4,
    Ddl = 5,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SourceProto {
    #[prost(string, tag = "1")]
    pub region: String,
    #[prost(uint32, tag = "2")]
    pub group: u32,
    #[prost(uint64, tag = "3")]
    pub index: u64,
    #[prost(uint32, tag = "4")]
    pub seq: u32,
    #[prost(string, tag = "5")]
    pub hlc: String,
}

impl From<&Event> for EventProto {
    fn from(e: &Event) -> Self {
        EventProto {
            position: e.position.to_string(),
            op: match e.op {
                Op::Insert => OpProto::Insert,
                Op::Update => OpProto::Update,
                Op::Delete => OpProto::Delete,
                Op::Snapshot => OpProto::Snapshot,
                Op::Ddl => OpProto::Ddl,
            } as i32,
            collection: e.collection.clone(),
            key: e.key.clone(),
            before_json: json_text(&e.before),
            after_json: json_text(&e.after),
            source: Some(SourceProto {
                region: e.source.region.clone(),
                group: e.source.group,
                index: e.source.index,
                seq: e.source.seq,
                hlc: e.source.hlc.clone(),
            }),
        }
    }
}

impl TryFrom<EventProto> for Event {
    type Error = String;

    fn try_from(p: EventProto) -> Result<Event, String> {
        let op = match OpProto::try_from(p.op) {
            Ok(OpProto::Insert) => Op::Insert,
            Ok(OpProto::Update) => Op::Update,
            Ok(OpProto::Delete) => Op::Delete,
            Ok(OpProto::Snapshot) => Op::Snapshot,
            Ok(OpProto::Ddl) => Op::Ddl,
            _ => {
                return Err(format!(
                    "op {} is not insert, update, delete, snapshot or ddl",
                    p.op
                ));
            }
        };
        let s = p.source.ok_or("no source")?;
        Ok(Event {
            position: p.position.parse().map_err(|e| format!("position: {e}"))?,
            op,
            collection: p.collection,
            key: p.key,
            before: json_value(p.before_json)?,
            after: json_value(p.after_json)?,
            source: Source {
                region: s.region,
                group: s.group,
                index: s.index,
                seq: s.seq,
                hlc: s.hlc,
            },
        })
    }
}

/// The Avro record, field for field as `proto/georep_cdc.avsc` has it.
#[derive(Debug, Serialize, Deserialize)]
struct AvroEvent {
    position: String,
    op: Op,
    collection: String,
    key: String,
    before_json: Option<String>,
    after_json: Option<String>,
    source: AvroSource,
}

#[derive(Debug, Serialize, Deserialize)]
struct AvroSource {
    region: String,
    group: i64,
    index: i64,
    seq: i64,
    hlc: String,
}

impl From<&Event> for AvroEvent {
    fn from(e: &Event) -> Self {
        AvroEvent {
            position: e.position.to_string(),
            op: e.op,
            collection: e.collection.clone(),
            key: e.key.clone(),
            before_json: json_text(&e.before),
            after_json: json_text(&e.after),
            source: AvroSource {
                region: e.source.region.clone(),
                group: e.source.group.into(),
                // Avro has no unsigned longs; a log index fits in 63 bits for ever
                index: e.source.index as i64,
                seq: e.source.seq.into(),
                hlc: e.source.hlc.clone(),
            },
        }
    }
}

impl TryFrom<AvroEvent> for Event {
    type Error = String;

    fn try_from(a: AvroEvent) -> Result<Event, String> {
        let s = a.source;
        Ok(Event {
            position: a.position.parse().map_err(|e| format!("position: {e}"))?,
            op: a.op,
            collection: a.collection,
            key: a.key,
            before: json_value(a.before_json)?,
            after: json_value(a.after_json)?,
            source: Source {
                region: s.region,
                group: u32::try_from(s.group).map_err(|_| "source.group out of range")?,
                index: u64::try_from(s.index).map_err(|_| "source.index negative")?,
                seq: u32::try_from(s.seq).map_err(|_| "source.seq out of range")?,
                hlc: s.hlc,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<Event> {
        let e = |i: u64, op: Op, before: Option<serde_json::Value>, after| Event {
            position: format!("1:{i}:0,7:3:4294967295").parse().unwrap(),
            op,
            collection: "orders".into(),
            key: format!("k{i}"),
            before,
            after,
            source: Source {
                region: "r2".into(),
                group: 1,
                index: i,
                seq: 0,
                hlc: "1764150000123.2@9f3a1c2b".into(),
            },
        };
        vec![
            e(
                1,
                Op::Insert,
                None,
                Some(serde_json::json!({"tenant": "acme", "n": 1})),
            ),
            e(
                2,
                Op::Update,
                Some(serde_json::json!({"n": 1})),
                Some(serde_json::json!({"$binary": "AXJhdw=="})),
            ),
            e(
                3,
                Op::Delete,
                Some(serde_json::json!([1, "two", null])),
                None,
            ),
            e(4, Op::Snapshot, None, Some(serde_json::json!("s"))),
            e(5, Op::Ddl, None, Some(serde_json::json!({"changes": 1}))),
        ]
    }

    #[test]
    fn every_format_round_trips_the_same_events() {
        for f in [Format::Json, Format::Protobuf, Format::Avro] {
            let bytes = f.encode(&events());
            assert_eq!(f.decode(&bytes).unwrap(), events(), "{f:?}");
            assert!(f.decode(&f.encode(&[])).unwrap().is_empty(), "{f:?}");
            for e in events() {
                assert_eq!(f.decode_one(&f.encode_one(&e)).unwrap(), e, "{f:?}");
            }
        }
    }

    #[test]
    fn damaged_batches_are_refused_by_name() {
        for f in [Format::Json, Format::Protobuf, Format::Avro] {
            let bytes = f.encode(&events());
            let cut = &bytes[..bytes.len() - 7];
            let e = f.decode(cut).unwrap_err().to_string();
            assert!(e.starts_with("malformed"), "{f:?}: {e}");
        }
        assert!(Format::parse("xml").is_err());
    }

    #[test]
    fn the_published_proto_names_the_fields_the_code_writes() {
        for line in [
            "string position = 1;",
            "Op op = 2;",
            "string collection = 3;",
            "string key = 4;",
            "optional string before_json = 5;",
            "optional string after_json = 6;",
            "Source source = 7;",
            "OP_INSERT = 1;",
            "OP_UPDATE = 2;",
            "OP_DELETE = 3;",
            "OP_SNAPSHOT = 4;",
            "OP_DDL = 5;",
            "string region = 1;",
            "uint32 group = 2;",
            "uint64 index = 3;",
            "uint32 seq = 4;",
            "string hlc = 5;",
        ] {
            assert!(
                PROTO.contains(line),
                "proto/georep_cdc.proto lacks {line:?}"
            );
        }
    }
}
