//! The archive pipeline end to end: seal (zstd-3 + AES-256-GCM) then upload a 16 MiB segment,
//! to `file://` and, when `GEOREP_TEST_S3_URL` is set (scripts/emulators), to S3 on moto.
//!
//! . scripts/emulators && georep_emulators_start && cargo bench -p georep-archive --bench pipeline

use std::time::Duration;

use bytes::Bytes;
mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use georep_archive::{ArchiveBackend, KeyRing, seal};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = common::order_documents(8);
    let ring = KeyRing::single("bench", [3u8; 32]);
    let dir = tempfile::tempdir().unwrap();
    let mut targets = vec![("file", format!("file://{}", dir.path().display()))];
    if let Ok(s3) = std::env::var("GEOREP_TEST_S3_URL") {
        targets.push(("s3_moto", format!("{s3}/bench-{}", std::process::id())));
    }
    let mut g = c.benchmark_group("archive_pipeline_16MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (name, url) in targets {
        let backend = ArchiveBackend::from_url(&url).unwrap();
        let mut n = 0u64;
        g.bench_function(format!("seal_and_upload_{name}"), |b| {
            b.iter(|| {
                n += 1;
                let sealed = seal(&data, &ring, 3).unwrap();
                rt.block_on(
                    backend.put(&format!("c/g1/segments/{n:020}.seg"), Bytes::from(sealed)),
                )
                .unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
