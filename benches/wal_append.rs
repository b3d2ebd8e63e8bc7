//! WAL append throughput: 1 KiB entries, 1 and 16 concurrent writers, every append waiting
//! for its own fsync acknowledgement (and 16 writers with 8 appends in flight each, as a
//! pipelining Raft leader submits). Entries per fsync come from the WAL's own histogram.
//!
//! cargo bench --bench wal_append

use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use georep::clock::Timestamp;
use georep::wal::{Entry, Wal, WalMetrics, WalOptions};

const ENTRY_BYTES: usize = 1024;

struct Fixture {
    wal: Arc<Wal>,
    next: Arc<Mutex<u64>>,
    metrics: WalMetrics,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    // Under the project's target dir, not /tmp, so the disk is the one the node would use.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let registry = prometheus::Registry::new();
    let metrics = WalMetrics::register(&registry).unwrap();
    let (wal, _) = Wal::open(WalOptions::new(dir.path(), 1), Some(metrics.clone())).unwrap();
    Fixture {
        wal: Arc::new(wal),
        next: Arc::new(Mutex::new(1)),
        metrics,
        _dir: dir,
    }
}

fn entry(index: u64, payload: &Bytes) -> Entry {
    Entry {
        index,
        term: 1,
        hlc: Timestamp::new(1_700_000_000_000, 0, 1),
        origin: Arc::from("us-east-1"),
        payload: payload.clone(),
    }
}

/// `writers` threads append `total` entries between them; each keeps up to `in_flight`
/// appends outstanding and counts one only when its own fsync acknowledgement arrives.
fn run(f: &Fixture, writers: usize, in_flight: usize, total: u64) -> Duration {
    let payload = Bytes::from(vec![7u8; ENTRY_BYTES - 40]); // ~1 KiB on disk with the header
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (wal, next, payload) = (f.wal.clone(), f.next.clone(), payload.clone());
            let n = total / writers as u64 + u64::from((w as u64) < total % writers as u64);
            std::thread::spawn(move || {
                let (tx, rx) = mpsc::channel::<Result<u64, georep::wal::WalError>>();
                let mut outstanding = 0;
                for _ in 0..n {
                    if outstanding == in_flight {
                        rx.recv().unwrap().unwrap();
                        outstanding -= 1;
                    }
                    let tx = tx.clone();
                    {
                        let mut next = next.lock().unwrap();
                        wal.append_with(vec![entry(*next, &payload)], move |r| {
                            let _ = tx.send(r);
                        });
                        *next += 1;
                    }
                    outstanding += 1;
                }
                for _ in 0..outstanding {
                    rx.recv().unwrap().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append_1KiB");
    group.throughput(Throughput::Elements(1));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (writers, in_flight) in [(1usize, 1usize), (16, 1), (16, 8)] {
        let f = fixture();
        let name = match in_flight {
            1 => format!("{writers}_writers"),
            n => format!("{writers}_writers_{n}_in_flight_each"),
        };
        group.bench_function(&name, |b| {
            b.iter_custom(|iters| run(&f, writers, in_flight, iters))
        });
        let batches = f.metrics.batch_entries.get_sample_count();
        let entries = f.metrics.batch_entries.get_sample_sum();
        let fsync_mean_us = f.metrics.fsync_seconds.get_sample_sum() / batches.max(1) as f64 * 1e6;
        println!(
            "wal_append_1KiB/{name}: {:.1} entries per fsync over {batches} fsyncs, mean fsync {fsync_mean_us:.0} us",
            entries / batches.max(1) as f64
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
