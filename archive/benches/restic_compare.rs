//! georep's archive pipeline beside restic, on the same segment files, in the same run.
//!
//! Eight 16 MiB segment files of distinct order documents (128 MiB) are written to a temp
//! directory. Then, each timed from the files on disk to the data at rest:
//! - georep: read each file, seal it (zstd level 3, then AES-256-GCM in 1 MiB chunks) and
//!   put it to a `file://` archive, one file after another on one thread;
//! - restic (Debian package `restic`): `restic backup` of the directory into a fresh local
//!   repository (format 2: zstd "auto", AES-256-CTR + Poly1305), once with GOMAXPROCS=1 and
//!   once with every core;
//! - raw zstd level 3 on one core, the ceiling for georep's compress step.
//!
//! apt-get install restic && cargo bench -p georep-archive --bench restic_compare

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;
use georep_archive::{ArchiveBackend, KeyRing, seal};

const FILES: u64 = 8;

fn mib_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1048576.0 / secs
}

fn restic(repo: &Path, args: &[&str], procs: Option<&str>) -> f64 {
    let mut cmd = Command::new("restic");
    cmd.arg("--repo")
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", "bench-only")
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"));
    if let Some(p) = procs {
        cmd.env("GOMAXPROCS", p);
    }
    let start = Instant::now();
    let out = cmd.output().expect("restic runs (apt-get install restic)");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn main() {
    if Command::new("restic").arg("version").output().is_err() {
        eprintln!("restic is not installed (apt-get install restic): skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let segs = dir.path().join("segments");
    std::fs::create_dir_all(&segs).unwrap();
    let mut total = 0u64;
    for i in 0..FILES {
        let data = common::order_documents_seeded(8, 0x9E37_79B9_7F4A_7C15 ^ (i * 7919));
        total += data.len() as u64;
        std::fs::write(segs.join(format!("{:020}.wal", i * 100_000 + 1)), data).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ring = KeyRing::single("bench", [5u8; 32]);
    let mut rows = Vec::new();

    for run in 0..2 {
        // georep: one thread, read + seal + put, file after file
        let backend =
            ArchiveBackend::from_url(&format!("file://{}/georep-{run}", dir.path().display()))
                .unwrap();
        let start = Instant::now();
        let mut sealed_total = 0u64;
        for (n, entry) in std::fs::read_dir(&segs).unwrap().enumerate() {
            let plain = std::fs::read(entry.unwrap().path()).unwrap();
            let sealed = seal(&plain, &ring, 3).unwrap();
            sealed_total += sealed.len() as u64;
            rt.block_on(backend.put(&format!("c/g1/segments/{n:020}.seg"), Bytes::from(sealed)))
                .unwrap();
        }
        let georep = mib_per_s(total, start.elapsed().as_secs_f64());

        // raw zstd-3, one core
        let start = Instant::now();
        let mut zstd_total = 0u64;
        for entry in std::fs::read_dir(&segs).unwrap() {
            let plain = std::fs::read(entry.unwrap().path()).unwrap();
            zstd_total += zstd::bulk::compress(&plain, 3).unwrap().len() as u64;
        }
        let zstd = mib_per_s(total, start.elapsed().as_secs_f64());

        let mut restic_runs = Vec::new();
        for (label, procs) in [("1 core", Some("1")), ("all cores", None)] {
            let repo = dir
                .path()
                .join(format!("restic-{run}-{}", procs.unwrap_or("all")));
            restic(&repo, &["init", "--repository-version", "2"], procs);
            let secs = restic(
                &repo,
                &[
                    "backup",
                    "--compression",
                    "auto",
                    "--quiet",
                    segs.to_str().unwrap(),
                ],
                procs,
            );
            restic_runs.push((label, mib_per_s(total, secs)));
        }
        rows.push((georep, zstd, restic_runs, sealed_total, zstd_total));
    }

    println!(
        "{} MiB in {FILES} segment files of order documents",
        total >> 20
    );
    for (run, (georep, zstd, restic, sealed, zstd_bytes)) in rows.iter().enumerate() {
        println!(
            "run {run}: georep seal+put (1 thread) {georep:.0} MiB/s (ratio {:.3}); raw zstd-3 {zstd:.0} MiB/s (ratio {:.3}): georep at {:.0}% of it",
            *sealed as f64 / total as f64,
            *zstd_bytes as f64 / total as f64,
            100.0 * georep / zstd
        );
        for (label, r) in restic {
            println!(
                "run {run}: restic backup ({label}) {r:.0} MiB/s: georep/restic = {:.2}x",
                georep / r
            );
        }
    }
}
