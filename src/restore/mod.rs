//! Point-in-time restore from the archive alone.
//!
//! For each group in the archive: take the archived segments from the start of the log up to
//! the one holding the target time, download each, decrypt and verify it (length and CRC32C
//! against the manifest), and write it as a WAL segment. Then cut the log after the last
//! entry at or before the target. The node that starts on the directory replays the WAL into
//! a fresh store, so its state is the cluster's state at that instant.
//!
//! Everything is written into `<dir>.restoring` and renamed into place only when every group
//! is complete. A failure (a bad object, a missing segment, a wrong key) leaves no directory
//! that looks like a valid data dir.

mod time;

use std::path::{Path, PathBuf};

use georep_archive::{ArchiveBackend, KeyRing, Manifest};

pub use time::{RestoreTarget, rfc3339};

use crate::group::{GroupId, LogGroup};
use crate::util::atomic_file::sync_dir;
use crate::wal::{Wal, WalOptions};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0} exists and is not empty; restore into a new directory")]
    NotEmpty(PathBuf),
    #[error("no manifests in the archive: nothing to restore")]
    EmptyArchive,
    #[error(
        "group g{group}: the archive starts at index {first}; restoring it needs base snapshots, which are not built yet"
    )]
    NoStart { group: u32, first: u64 },
    #[error(
        "group g{group}: nothing archived at or before the target (earliest entry at {earliest_ms} ms)"
    )]
    TooEarly { group: u32, earliest_ms: u64 },
    #[error("archive object {object}: {reason}")]
    BadObject { object: String, reason: String },
    #[error(transparent)]
    Manifest(#[from] georep_archive::ManifestError),
    #[error(transparent)]
    Wal(#[from] crate::wal::WalError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Progress after each restored segment.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub segments_done: usize,
    pub segments_total: usize,
    pub bytes_done: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRestored {
    pub cluster: String,
    pub group: u32,
    pub segments: usize,
    pub last_index: u64,
    pub last_entry_ms: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub async fn restore(
    backend: &ArchiveBackend,
    ring: &KeyRing,
    target: RestoreTarget,
    dir: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<GroupRestored>, RestoreError> {
    if dir.exists() && std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(RestoreError::NotEmpty(dir.to_path_buf()));
    }
    let staging = dir.with_extension("restoring");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    let result = restore_into(backend, ring, target, &staging, &mut progress).await;
    match result {
        Ok(groups) => {
            if dir.exists() {
                std::fs::remove_dir(dir).map_err(io(dir))?; // empty, checked above
            }
            std::fs::rename(&staging, dir).map_err(io(dir))?;
            sync_dir(parent_dir(dir)).map_err(io(dir))?;
            Ok(groups)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

async fn restore_into(
    backend: &ArchiveBackend,
    ring: &KeyRing,
    target: RestoreTarget,
    staging: &Path,
    progress: &mut impl FnMut(Progress),
) -> Result<Vec<GroupRestored>, RestoreError> {
    let manifests = Manifest::list_all(backend).await?;
    if manifests.is_empty() {
        return Err(RestoreError::EmptyArchive);
    }
    let cutoff = match target {
        RestoreTarget::Latest => u64::MAX,
        RestoreTarget::At(ms) => ms,
    };
    // Choose first, so progress knows the total and nothing is downloaded for an impossible restore.
    let mut plan = Vec::new();
    for m in &manifests {
        let Some(first) = m.segments.first() else {
            continue;
        };
        if first.meta.indexes.first != 1 {
            return Err(RestoreError::NoStart {
                group: m.group,
                first: first.meta.indexes.first,
            });
        }
        let chosen: Vec<_> = m
            .segments
            .iter()
            .take_while(|s| s.meta.first_hlc >> 16 <= cutoff)
            .collect();
        if chosen.is_empty() {
            return Err(RestoreError::TooEarly {
                group: m.group,
                earliest_ms: first.meta.first_hlc >> 16,
            });
        }
        plan.push((m, chosen));
    }
    let total: usize = plan.iter().map(|(_, c)| c.len()).sum();
    let (mut done, mut bytes_done) = (0usize, 0u64);
    let mut restored = Vec::new();
    for (m, chosen) in plan {
        let wal_dir = LogGroup::data_dir_of(staging, GroupId(m.group)).join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(io(&wal_dir))?;
        for seg in &chosen {
            let bad = |reason: String| RestoreError::BadObject {
                object: seg.object.clone(),
                reason,
            };
            let (sealed, _) = backend
                .get(&seg.object)
                .await
                .map_err(|e| bad(e.to_string()))?;
            let plain = georep_archive::open(&sealed, ring).map_err(|e| bad(e.to_string()))?;
            if plain.len() as u64 != seg.meta.plain_bytes
                || crc32c::crc32c(&plain) != seg.meta.plain_crc32c
            {
                return Err(bad(
                    "contents do not match the manifest's length and CRC32C".into(),
                ));
            }
            let path = wal_dir.join(format!("{:020}.wal", seg.meta.indexes.first));
            write_synced(&path, &plain)?;
            done += 1;
            bytes_done += plain.len() as u64;
            progress(Progress {
                segments_done: done,
                segments_total: total,
                bytes_done,
            });
        }
        sync_dir(&wal_dir).map_err(io(&wal_dir))?;
        restored.push(cut_log(&wal_dir, m, cutoff)?);
    }
    Ok(restored)
}

/// The directory holding `path` (`.` for a bare relative name, whose `parent()` is empty).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RestoreError> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(io(path))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(io(path))
}

/// Opens the restored WAL (which verifies every frame) and removes entries after `cutoff`.
fn cut_log(wal_dir: &Path, m: &Manifest, cutoff: u64) -> Result<GroupRestored, RestoreError> {
    let options = WalOptions {
        segment_bytes: 1 << 20,
        ..WalOptions::new(wal_dir, m.group)
    };
    let (wal, _) = Wal::open(options, None)?;
    let last = wal.last_index().unwrap_or(0);
    // The HLC is monotonic along the log, so the cut is the first entry past the cutoff.
    let (mut lo, mut hi) = (1u64, last + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if wal.read(mid)?.hlc.physical_ms() <= cutoff {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if lo <= last {
        wal.truncate(lo)?;
    }
    let kept = lo - 1;
    let last_entry_ms = if kept == 0 {
        0
    } else {
        wal.read(kept)?.hlc.physical_ms()
    };
    drop(wal);
    // the WAL's preallocated spare segment is not part of the restore
    for e in std::fs::read_dir(wal_dir).map_err(io(wal_dir))?.flatten() {
        if e.file_name().to_string_lossy().ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(GroupRestored {
        cluster: m.cluster.clone(),
        group: m.group,
        segments: std::fs::read_dir(wal_dir).map_err(io(wal_dir))?.count(),
        last_index: kept,
        last_entry_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_of_a_relative_name_is_the_current_dir() {
        assert_eq!(parent_dir(Path::new("restored")), Path::new("."));
        assert_eq!(parent_dir(Path::new("a/restored")), Path::new("a"));
        assert_eq!(parent_dir(Path::new("/tmp/restored")), Path::new("/tmp"));
        sync_dir(parent_dir(Path::new("restored"))).expect("the current directory can be synced");
    }
}
