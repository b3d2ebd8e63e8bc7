//! What change capture costs the write path and what a slot read delivers (issue 17):
//! - `apply_100_puts_captured` vs `apply_100_puts_uncaptured`: one store transaction applying
//!   a batch of 100 updates of 256-byte JSON documents to a client collection (a change row
//!   each, with before and after images) and to an internal one (names starting with `_` are
//!   not captured). The difference is what capture adds to every applied write: the
//!   "commit -> enqueue" step, as the row is written in the write's own transaction.
//! - `read_1000_events/{json,protobuf}`: a slot read of 1,000 events (scan, filter, merge,
//!   envelope) encoded as NDJSON or delimited Protobuf, as `GET /v1/slots/{name}/changes`
//!   does; the encoded sizes are printed, for MB/s.
//!
//! cargo bench --bench cdc_capture

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use georep::cdc::SlotSpec;
use georep::cdc::encoding::Format;
use georep::cdc::reader::{self, ReadLimits};
use georep::clock::Timestamp;
use georep::ids::GroupId;
use georep::store::{Command, Precondition, Store};
use georep::wal::Entry;

fn batch(first: u64, collection: &str) -> Vec<Entry> {
    let value = Bytes::from(format!(
        "{{\"tenant\":\"acme\",\"n\":1,\"pad\":\"{}\"}}",
        "x".repeat(220)
    ));
    (0..100)
        .map(|i| Entry {
            index: first + i,
            term: 1,
            hlc: Timestamp::new(1_000 + first + i, 0, 1),
            origin: Arc::from("r1"),
            payload: Command::Put {
                collection: collection.into(),
                key: format!("k{}", i % 50),
                value: value.clone(),
                content_type: None,
                precondition: Precondition::None,
            }
            .encode(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for (name, collection) in [
        ("apply_100_puts_captured", "orders"),
        ("apply_100_puts_uncaptured", "_internal"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let mut next = 1u64;
        c.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let entries = batch(next, collection);
                    next += 100;
                    entries
                },
                |entries| {
                    let refs: Vec<&Entry> = entries.iter().collect();
                    black_box(store.apply_batch(1, &refs, false).unwrap())
                },
                BatchSize::SmallInput,
            )
        });
    }

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    for first in (1..=1000).step_by(100) {
        let entries = batch(first, "orders");
        let refs: Vec<&Entry> = entries.iter().collect();
        store.apply_batch(1, &refs, false).unwrap();
    }
    let filter = serde_json::from_value::<SlotSpec>(serde_json::json!({"name": "s"}))
        .unwrap()
        .compile()
        .unwrap();
    let stores = HashMap::from([(GroupId(1), &store)]);
    let mut from = georep::cdc::Position::new();
    from.set(GroupId(1), reader::start_at(0));
    let mut group = c.benchmark_group("read_1000_events");
    group.throughput(criterion::Throughput::Elements(1000));
    for (name, format) in [("json", Format::Json), ("protobuf", Format::Protobuf)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let batch =
                    reader::read(&stores, &filter, &from, ReadLimits::events(1000)).unwrap();
                assert_eq!(batch.events.len(), 1000);
                black_box(format.encode(&batch.events))
            })
        });
    }
    group.finish();
    let batch = reader::read(&stores, &filter, &from, ReadLimits::events(1000)).unwrap();
    for (name, format) in [("json", Format::Json), ("protobuf", Format::Protobuf)] {
        println!(
            "read_1000_events/{name}: {} bytes encoded",
            format.encode(&batch.events).len()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
