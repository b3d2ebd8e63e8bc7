//! Sealing (zstd level 3 + AES-256-GCM) and opening throughput on WAL-like data, beside raw
//! zstd level 3 on the same bytes (the floor the issue compares against).
//!
//! cargo bench -p georep-archive --bench envelope

use std::time::Duration;

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use georep_archive::{KeyRing, open, seal};

fn bench(c: &mut Criterion) {
    let data = common::order_documents(16);
    let ring = KeyRing::single("bench", [3u8; 32]);
    let sealed = seal(&data, &ring, 3).unwrap();
    println!(
        "envelope: {} MiB -> {:.2} MiB sealed (ratio {:.3})",
        data.len() >> 20,
        sealed.len() as f64 / (1 << 20) as f64,
        sealed.len() as f64 / data.len() as f64
    );
    let mut g = c.benchmark_group("archive_envelope_16MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("raw_zstd3_compress", |b| {
        b.iter(|| zstd::bulk::compress(&data, 3).unwrap())
    });
    g.bench_function("seal_zstd3_aes256gcm", |b| {
        b.iter(|| seal(&data, &ring, 3).unwrap())
    });
    g.bench_function("open", |b| b.iter(|| open(&sealed, &ring).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
