//! Point-in-time restore from the archive alone.
//!
//! For each group in the archive: take the newest base snapshot at or before the target time
//! (if any) and install it into a fresh store, then the archived segments after it up to the
//! one holding the target time. Every object is downloaded, decrypted and verified (length
//! and CRC32C against the manifest) before it is written. Then the log is cut after the last
//! entry at or before the target. The node that starts on the directory replays the WAL past
//! the snapshot, so its state is the cluster's state at that instant.
//!
//! Everything is written into `<dir>.restoring` and renamed into place only when every group
//! is complete. A failure (a bad object, a missing segment, a wrong key) leaves no directory
//! that looks like a valid data dir.

mod time;

use std::path::{Path, PathBuf};

use georep_archive::{ArchiveBackend, KeyRing, Manifest, PlanError};

pub use time::{RestoreTarget, rfc3339};

use crate::group::{GroupId, LogGroup, record_log_start};
use crate::store::Store;
use crate::util::atomic_file::sync_dir;
use crate::wal::{Wal, WalOptions};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0} exists and is not empty; restore into a new directory")]
    NotEmpty(PathBuf),
    #[error("no manifests in the archive: nothing to restore")]
    EmptyArchive,
    #[error("the archive has no group g{0}")]
    NoSuchGroup(u32),
    #[error(
        "group g{group}: the archive has no segment after index {after} (the next starts at {next}); a segment is missing"
    )]
    Gap { group: u32, after: u64, next: u64 },
    #[error(
        "group g{group}: nothing archived at or before the target; the earliest restorable instant is {}",
        rfc3339(*earliest_ms)
    )]
    TooEarly { group: u32, earliest_ms: u64 },
    #[error(
        "group g{group}: the archive does not cover {}; the newest instant it holds completely is {} (its leader records coverage every few seconds; a group without a leader, or an archive behind, does not advance)",
        rfc3339(*target_ms),
        covered_ms.map_or_else(|| "none yet".to_string(), rfc3339)
    )]
    NotCovered {
        group: u32,
        target_ms: u64,
        covered_ms: Option<u64>,
    },
    #[error("archive object {object}: {reason}")]
    BadObject { object: String, reason: String },
    #[error(transparent)]
    Manifest(#[from] georep_archive::ManifestError),
    #[error(transparent)]
    Wal(#[from] crate::wal::WalError),
    #[error("the restored store: {0}")]
    Store(String),
    #[error("installing the snapshot of group g{group}: {reason}")]
    Install { group: u32, reason: String },
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

/// What a restore did: the instant it restored every group to, and each group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub instant_ms: u64,
    pub groups: Vec<GroupRestored>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRestored {
    pub cluster: String,
    pub group: u32,
    /// Index of the base snapshot the restore started from, if any.
    pub snapshot_index: Option<u64>,
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
    only: &[u32],
    dir: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<Restored, RestoreError> {
    if dir.exists() && std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(RestoreError::NotEmpty(dir.to_path_buf()));
    }
    let staging = dir.with_extension("restoring");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    let result = restore_into(backend, ring, target, only, &staging, &mut progress).await;
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
    only: &[u32],
    staging: &Path,
    progress: &mut impl FnMut(Progress),
) -> Result<Restored, RestoreError> {
    let manifests = select(Manifest::list_all(backend).await?, only)?;
    let cutoff = cutoff_for(&manifests, target)?;
    // Choose first, so progress knows the total and nothing is downloaded for an impossible restore.
    let plan = plan_all(&manifests, cutoff)?;
    let total: usize = plan
        .iter()
        .map(|(_, p)| p.segments.len() + usize::from(p.snapshot.is_some()))
        .sum();
    let (mut done, mut bytes_done) = (0usize, 0u64);
    // one restored object: count it and report progress
    let mut step = |bytes: usize| {
        done += 1;
        bytes_done += bytes as u64;
        progress(Progress {
            segments_done: done,
            segments_total: total,
            bytes_done,
        });
    };
    std::fs::create_dir_all(staging).map_err(io(staging))?;
    let path = staging.join("store.redb");
    let store = Store::open(&path).map_err(|e| RestoreError::Store(e.to_string()))?;
    let mut restored = Vec::new();
    for (m, p) in plan {
        let group_dir = LogGroup::data_dir_of(staging, GroupId(m.group));
        let wal_dir = group_dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(io(&wal_dir))?;
        let mut base = None;
        if let Some(snap) = &p.snapshot {
            let (index, bytes) =
                install_base(backend, ring, &store, m.group, &group_dir, snap).await?;
            base = Some((index, snap.physical_ms()));
            step(bytes);
        }
        for seg in &p.segments {
            let plain = fetch(
                backend,
                ring,
                &seg.object,
                seg.meta.plain_bytes,
                seg.meta.plain_crc32c,
            )
            .await?;
            let path = wal_dir.join(format!("{:020}.wal", seg.meta.indexes.first));
            write_synced(&path, &plain)?;
            step(plain.len());
        }
        sync_dir(&wal_dir).map_err(io(&wal_dir))?;
        let group = cut_log(&wal_dir, m, cutoff, base)?;
        replay(&store, &wal_dir, &group, base.map_or(0, |(i, _)| i))?;
        restored.push(group);
    }
    // one durable commit for everything replayed
    store
        .checkpoint()
        .map_err(|e| RestoreError::Store(e.to_string()))?;
    drop(store);
    Ok(Restored {
        instant_ms: cutoff,
        groups: restored,
    })
}

/// The manifests to restore: every group's, or those `only` names (each must exist).
fn select(mut manifests: Vec<Manifest>, only: &[u32]) -> Result<Vec<Manifest>, RestoreError> {
    if manifests.is_empty() {
        return Err(RestoreError::EmptyArchive);
    }
    if !only.is_empty() {
        if let Some(&g) = only
            .iter()
            .find(|g| !manifests.iter().any(|m| m.group == **g))
        {
            return Err(RestoreError::NoSuchGroup(g));
        }
        manifests.retain(|m| only.contains(&m.group));
    }
    Ok(manifests)
}

/// Each group's plan for `cutoff`; a group that cannot reach it (too early, a gap) fails the
/// whole restore, naming the group. Groups with nothing archived yet are skipped.
fn plan_all(
    manifests: &[Manifest],
    cutoff: u64,
) -> Result<Vec<(&Manifest, georep_archive::RestorePlan<'_>)>, RestoreError> {
    let mut plan = Vec::new();
    for m in manifests {
        match m.plan(cutoff) {
            Ok(p) => plan.push((m, p)),
            Err(PlanError::Empty) => continue,
            Err(PlanError::TooEarly { earliest_ms }) => {
                return Err(RestoreError::TooEarly {
                    group: m.group,
                    earliest_ms,
                });
            }
            Err(PlanError::Gap { after, next }) => {
                return Err(RestoreError::Gap {
                    group: m.group,
                    after,
                    next,
                });
            }
        }
    }
    Ok(plan)
}

/// Downloads and installs a group's base snapshot, checked against the manifest; the log
/// resumes after it. Returns the snapshot's index and its size.
async fn install_base(
    backend: &ArchiveBackend,
    ring: &KeyRing,
    store: &Store,
    group: u32,
    group_dir: &Path,
    snap: &georep_archive::ArchivedSnapshot,
) -> Result<(u64, usize), RestoreError> {
    let plain = fetch(
        backend,
        ring,
        &snap.object,
        snap.plain_bytes,
        snap.plain_crc32c,
    )
    .await?;
    let head = store
        .install_snapshot(group, &plain)
        .map_err(|e| RestoreError::BadObject {
            object: snap.object.clone(),
            reason: e.to_string(),
        })?;
    if head.applied.index != snap.index {
        return Err(RestoreError::BadObject {
            object: snap.object.clone(),
            reason: format!(
                "holds index {}, the manifest says {}",
                head.applied.index, snap.index
            ),
        });
    }
    record_log_start(group_dir, head.applied.index, head.applied.term).map_err(|e| {
        RestoreError::Install {
            group,
            reason: e.to_string(),
        }
    })?;
    Ok((head.applied.index, plain.len()))
}

/// The instant to cut every group at. An explicit instant must be covered by every group's
/// archive (never a silently older state); `latest` is the newest instant every group
/// covers, so all groups are cut at one instant.
fn cutoff_for(manifests: &[Manifest], target: RestoreTarget) -> Result<u64, RestoreError> {
    let known =
        |m: &&Manifest| !(m.segments.is_empty() && m.snapshots.is_empty()) || m.coverage.is_some();
    match target {
        RestoreTarget::At(ms) => {
            for m in manifests.iter().filter(known) {
                let covered = m.covered_through_ms();
                if covered.is_none_or(|c| c < ms) {
                    return Err(RestoreError::NotCovered {
                        group: m.group,
                        target_ms: ms,
                        covered_ms: covered,
                    });
                }
            }
            Ok(ms)
        }
        RestoreTarget::Latest => manifests
            .iter()
            .filter(known)
            .map(|m| (m.group, m.covered_through_ms()))
            .try_fold(u64::MAX, |acc, (group, c)| match c {
                Some(c) => Ok(acc.min(c)),
                None => Err(RestoreError::NotCovered {
                    group,
                    target_ms: acc.min(u64::MAX / 2),
                    covered_ms: None,
                }),
            })
            .and_then(|c| {
                if c == u64::MAX {
                    Err(RestoreError::EmptyArchive)
                } else {
                    Ok(c)
                }
            }),
    }
}

/// Applies the restored log (everything after the snapshot, up to the cut) to the store. The
/// archive holds only committed entries, so the restored state is the cluster's at the
/// instant, and a node booted on it serves it at once, even alone, before any quorum forms.
fn replay(
    store: &Store,
    wal_dir: &Path,
    group: &GroupRestored,
    after: u64,
) -> Result<(), RestoreError> {
    if group.last_index <= after {
        return Ok(());
    }
    let options = WalOptions {
        segment_bytes: 1 << 20,
        ..WalOptions::new(wal_dir, group.group)
    };
    let (wal, _) = Wal::open(options, None)?;
    let install = |e: &dyn std::fmt::Display| RestoreError::Install {
        group: group.group,
        reason: format!("replaying the log: {e}"),
    };
    let mut from = after + 1;
    while from <= group.last_index {
        let to = (from + REPLAY_BATCH - 1).min(group.last_index);
        let entries = wal.read_range(from, to)?;
        let refs: Vec<&crate::wal::Entry> = entries.iter().collect();
        store
            .apply_batch(group.group, &refs, false)
            .map_err(|e| install(&e))?;
        from = to + 1;
    }
    drop(wal);
    for e in std::fs::read_dir(wal_dir).map_err(io(wal_dir))?.flatten() {
        if e.file_name().to_string_lossy().ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// Entries applied per store transaction during replay.
const REPLAY_BATCH: u64 = 2048;

/// Downloads one object and checks it against the manifest: the envelope's tags, then the
/// plain length and CRC32C.
async fn fetch(
    backend: &ArchiveBackend,
    ring: &KeyRing,
    object: &str,
    plain_bytes: u64,
    plain_crc32c: u32,
) -> Result<Vec<u8>, RestoreError> {
    let bad = |reason: String| RestoreError::BadObject {
        object: object.to_string(),
        reason,
    };
    let (sealed, _) = backend.get(object).await.map_err(|e| bad(e.to_string()))?;
    let plain = georep_archive::open(&sealed, ring).map_err(|e| bad(e.to_string()))?;
    if plain.len() as u64 != plain_bytes || crc32c::crc32c(&plain) != plain_crc32c {
        return Err(bad(
            "contents do not match the manifest's length and CRC32C".into(),
        ));
    }
    Ok(plain)
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
/// `base` is the index and time of the installed snapshot, if any: entries up to it are
/// already in the store.
fn cut_log(
    wal_dir: &Path,
    m: &Manifest,
    cutoff: u64,
    base: Option<(u64, u64)>,
) -> Result<GroupRestored, RestoreError> {
    let options = WalOptions {
        segment_bytes: 1 << 20,
        ..WalOptions::new(wal_dir, m.group)
    };
    let (wal, _) = Wal::open(options, None)?;
    let (base_index, base_ms) = base.unwrap_or((0, 0));
    let last = wal.last_index().unwrap_or(0).max(base_index);
    // The HLC is monotonic along the log, so the cut is the first entry past the cutoff.
    let (mut lo, mut hi) = (base_index + 1, last + 1);
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
    let last_entry_ms = if kept == base_index {
        base_ms
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
        snapshot_index: base.map(|(i, _)| i),
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
