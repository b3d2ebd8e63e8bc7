//! WAL shipping over the QUIC transport: bytes/s on one follower connection, for
//! compressible (JSON-like) and incompressible (random) entries. Two endpoints in one
//! process on loopback, mutual TLS, batches of 256 WAL records, 4 batches in flight.
//!
//! cargo bench --bench transport

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use georep::clock::Timestamp;
use georep::transport::{
    Handler, PeerClocks, Transport, TransportMetrics, init_certs, load_identity,
};
use georep::wal::Entry;

const BATCH: usize = 256;
const IN_FLIGHT: usize = 4;

const WORDS: [&str; 32] = [
    "order",
    "shipped",
    "customer",
    "priority",
    "warehouse",
    "berlin",
    "tokyo",
    "express",
    "return",
    "invoice",
    "paid",
    "pending",
    "gift",
    "fragile",
    "north",
    "south",
    "delayed",
    "signature",
    "locker",
    "weekend",
    "bulk",
    "sample",
    "discount",
    "loyalty",
    "refund",
    "carrier",
    "parcel",
    "pallet",
    "cold",
    "hazmat",
    "note",
    "eta",
];

fn batch(compressible: bool) -> Vec<u8> {
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut out = Vec::new();
    for i in 0..BATCH as u64 {
        let payload: Vec<u8> = if compressible {
            // a ~1 KiB order document: structure repeats, contents vary (ids, amounts, free text)
            let note: Vec<&str> = (0..110).map(|_| WORDS[(next() % 32) as usize]).collect();
            format!(
                "{{\"collection\":\"orders\",\"key\":\"o-{:016x}\",\"doc\":{{\"customer\":\"c-{:08x}\",\"items\":[{{\"sku\":\"sku-{}\",\"qty\":{},\"price_cents\":{}}}],\"status\":\"placed\",\"note\":\"{}\"}}}}",
                next(),
                next() as u32,
                next() % 100_000,
                next() % 9 + 1,
                next() % 1_000_000,
                note.join(" ")
            )
            .into_bytes()
        } else {
            (0..1024).map(|_| next() as u8).collect()
        };
        Entry {
            index: i + 1,
            term: 3,
            hlc: Timestamp::new(1_764_000_000_000 + i, 0, 7),
            origin: Arc::from("us-east-1"),
            payload: Bytes::from(payload),
        }
        .encode_record(&mut out);
    }
    out
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let regions: Vec<String> = vec!["leader".into(), "follower".into()];
    init_certs(dir.path(), "bench", &regions, &[]).unwrap();
    let registry = prometheus::Registry::new();
    let metrics = TransportMetrics::register(&registry).unwrap();
    let clocks = || {
        Arc::new(PeerClocks::new(
            Arc::new(georep::clock::Hlc::new(1, 500)),
            None,
        ))
    };
    let ack: Handler = Arc::new(|_, req: Bytes| {
        Box::pin(async move { Ok(Bytes::from((req.len() as u64).to_le_bytes().to_vec())) })
    });
    let (leader, follower_addr) = rt.block_on(async {
        let f = Transport::bind(
            "127.0.0.1:0".parse().unwrap(),
            &load_identity(dir.path(), "follower").unwrap(),
            regions.clone(),
            TransportMetrics::register(&prometheus::Registry::new()).unwrap(),
            clocks(),
            ack.clone(),
        )
        .unwrap();
        let l = Transport::bind(
            "127.0.0.1:0".parse().unwrap(),
            &load_identity(dir.path(), "leader").unwrap(),
            regions.clone(),
            metrics.clone(),
            clocks(),
            ack,
        )
        .unwrap();
        let addr = f.local_addr().unwrap();
        std::mem::forget(f); // keep the follower serving for the whole run
        (l, addr)
    });

    let mut group = c.benchmark_group("wal_shipping");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(6));
    for (name, compressible) in [("json_entries_zstd", true), ("random_entries", false)] {
        let payload = Arc::new(batch(compressible));
        group.throughput(Throughput::Bytes(payload.len() as u64));
        let before_plain = metrics
            .bytes_out
            .with_label_values(&["follower", "plain"])
            .get();
        let before_wire = metrics
            .bytes_out
            .with_label_values(&["follower", "wire"])
            .get();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (leader, payload) = (leader.clone(), payload.clone());
                rt.block_on(async move {
                    let started = Instant::now();
                    let mut tasks = Vec::new();
                    for w in 0..IN_FLIGHT as u64 {
                        let (leader, payload) = (leader.clone(), payload.clone());
                        let n = iters / IN_FLIGHT as u64 + u64::from(w < iters % IN_FLIGHT as u64);
                        tasks.push(tokio::spawn(async move {
                            for _ in 0..n {
                                leader
                                    .call("follower", follower_addr, &payload)
                                    .await
                                    .unwrap();
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.unwrap();
                    }
                    started.elapsed()
                })
            })
        });
        let plain = metrics
            .bytes_out
            .with_label_values(&["follower", "plain"])
            .get()
            - before_plain;
        let wire = metrics
            .bytes_out
            .with_label_values(&["follower", "wire"])
            .get()
            - before_wire;
        println!(
            "wal_shipping/{name}: {} KiB batches, wire/plain = {:.3}",
            payload.len() >> 10,
            wire as f64 / plain as f64
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
