//! Sealing (zstd level 3 + AES-256-GCM) and opening throughput on WAL-like data, beside raw
//! zstd level 3 on the same bytes (the floor the issue compares against).
//!
//! cargo bench -p georep-archive --bench envelope

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use georep_archive::{KeyRing, open, seal};

/// 16 MiB of order documents with varying ids, amounts and free text (~4-5x compressible).
fn segment() -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "order",
        "shipped",
        "customer",
        "priority",
        "warehouse",
        "express",
        "return",
        "invoice",
        "paid",
        "pending",
        "gift",
        "fragile",
        "delayed",
        "parcel",
        "refund",
        "carrier",
    ];
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut v = Vec::with_capacity(16 << 20);
    while v.len() < 16 << 20 {
        let note: Vec<&str> = (0..40).map(|_| WORDS[(next() % 16) as usize]).collect();
        v.extend_from_slice(
            format!(
                "{{\"key\":\"o-{:016x}\",\"customer\":\"c-{:08x}\",\"qty\":{},\"cents\":{},\"note\":\"{}\"}}\n",
                next(),
                next() as u32,
                next() % 9,
                next() % 100_000,
                note.join(" ")
            )
            .as_bytes(),
        );
    }
    v
}

fn bench(c: &mut Criterion) {
    let data = segment();
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
