//! What multi-master versions cost the store's apply (issue 16), per write:
//! - `apply_100_merges/detected_conflict`: one transaction applying 100 versions of 256-byte
//!   documents from one origin log of a three-region collection whose other two origins
//!   already hold versions of the same 50 keys, none of which these saw: each version's
//!   vector is made (the origin's previous head read), it is compared with the other
//!   origins' heads, and a conflict is recorded for every one (the worst case);
//! - `apply_100_merges/detected_no_conflict`: the same versions having seen the others
//!   (compared, nothing recorded: the common case). The detection cost per write is these
//!   minus
//! - `apply_100_merges/undetected`: the same with no other origin known to the store;
//! - `apply_100_puts`: single-leader puts of the same documents, for scale.
//!
//! cargo bench --bench merge_apply

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use georep::clock::Timestamp;
use georep::merge::VersionVector;
use georep::store::{Command, OriginSet, Precondition, Store};
use georep::wal::Entry;

fn value() -> Bytes {
    Bytes::from(format!("{{\"n\":1,\"pad\":\"{}\"}}", "x".repeat(240)))
}

fn merges(first: u64, origin: &str, seen_others: bool) -> Vec<Entry> {
    let mut seen = VersionVector::new();
    if seen_others {
        seen.raise("r2", 1000);
        seen.raise("r3", 1000);
    }
    (0..100)
        .map(|i| Entry {
            index: first + i,
            term: 1,
            hlc: Timestamp::new(1_000 + first + i, 0, 1),
            origin: Arc::from(origin),
            payload: Command::Merge {
                collection: "carts".into(),
                key: format!("k{}", i % 50),
                value: Some(value()),
                content_type: Some("application/json".into()),
                seen: seen.clone(),
            }
            .encode(),
        })
        .collect()
}

fn puts(first: u64) -> Vec<Entry> {
    (0..100)
        .map(|i| Entry {
            index: first + i,
            term: 1,
            hlc: Timestamp::new(1_000 + first + i, 0, 1),
            origin: Arc::from("r1"),
            payload: Command::Put {
                collection: "carts".into(),
                key: format!("k{}", i % 50),
                value: value(),
                content_type: Some("application/json".into()),
                precondition: Precondition::None,
            }
            .encode(),
        })
        .collect()
}

/// A store whose origins r2 (group 20) and r3 (group 30) hold a version of every key.
fn store(dir: &std::path::Path, detect: bool) -> Store {
    let store = Store::open(&dir.join("s.redb")).unwrap();
    if detect {
        store.register_origins(OriginSet {
            collection: "carts".into(),
            origins: vec![("r1".into(), 10), ("r2".into(), 20), ("r3".into(), 30)],
            detect: true,
            resolver: None,
        });
    }
    for (g, origin) in [(20, "r2"), (30, "r3")] {
        let e = merges(1, origin, false);
        let refs: Vec<&Entry> = e.iter().collect();
        store.apply_batch(g, &refs, false).unwrap();
    }
    store
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply_100_merges");
    for (name, detect, seen) in [
        ("detected_conflict", true, false),
        ("detected_no_conflict", true, true),
        ("undetected", false, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), detect);
        let mut next = 1u64;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let e = merges(next, "r1", seen);
                    next += 100;
                    e
                },
                |e| {
                    let refs: Vec<&Entry> = e.iter().collect();
                    black_box(store.apply_batch(10, &refs, false).unwrap())
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let mut next = 1u64;
    c.bench_function("apply_100_puts", |b| {
        b.iter_batched(
            || {
                let e = puts(next);
                next += 100;
                e
            },
            |e| {
                let refs: Vec<&Entry> = e.iter().collect();
                black_box(store.apply_batch(1, &refs, false).unwrap())
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
