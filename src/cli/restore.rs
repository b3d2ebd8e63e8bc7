use std::path::PathBuf;
use std::time::Instant;

use georep::restore::{self, RestoreTarget};
use georep_archive::{ArchiveBackend, KeyRing};

use super::UsageError;

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The archive: file://DIR, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://ACCOUNT/CONTAINER/PREFIX
    #[arg(long)]
    pub archive: String,
    /// Restore point: an RFC 3339 time (2026-11-26T12:00:00Z) or `latest`
    #[arg(long, value_parser = |s: &str| s.parse::<RestoreTarget>())]
    pub to: RestoreTarget,
    /// New, empty directory to restore into; `georep node --data-dir DIR` starts from it
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Archive key file (`<id> <64 hex>` per line, or one bare 64-hex key)
    #[arg(long, env = "GEOREP_ARCHIVE_KEY_FILE")]
    pub key_file: PathBuf,
    /// Restore only this group (`g<N>` as `georep archive list` names it); repeat for more.
    /// Default: every group in the archive, i.e. the whole region
    #[arg(long = "group", value_parser = parse_group)]
    pub groups: Vec<u32>,
}

fn parse_group(s: &str) -> Result<u32, String> {
    s.strip_prefix('g')
        .unwrap_or(s)
        .parse()
        .map_err(|_| format!("{s:?} is not a group id (g<number>, as `georep archive list` shows)"))
}

pub async fn run(a: RestoreArgs) -> anyhow::Result<()> {
    let backend =
        ArchiveBackend::from_url(&a.archive).map_err(|e| UsageError(format!("--archive: {e}")))?;
    let text = std::fs::read_to_string(&a.key_file)
        .map_err(|e| UsageError(format!("--key-file {}: {e}", a.key_file.display())))?;
    let ring = KeyRing::parse(&text)
        .map_err(|e| UsageError(format!("--key-file {}: {e}", a.key_file.display())))?;
    let started = Instant::now();
    let groups = restore::restore(&backend, &ring, a.to, &a.groups, &a.data_dir, |p| {
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        eprintln!(
            "restoring: {}/{} objects, {:.1} MiB, {:.1} MiB/s",
            p.segments_done,
            p.segments_total,
            p.bytes_done as f64 / 1048576.0,
            p.bytes_done as f64 / 1048576.0 / secs
        );
    })
    .await?;
    for g in &groups {
        println!(
            "restored cluster {} group g{}: {}{} segment file(s), log up to index {} (last entry {})",
            g.cluster,
            g.group,
            g.snapshot_index
                .map(|i| format!("base snapshot at index {i}, "))
                .unwrap_or_default(),
            g.segments,
            g.last_index,
            restore::rfc3339(g.last_entry_ms)
        );
    }
    println!(
        "start it with: georep node --topology <file> --region <name> --data-dir {}",
        a.data_dir.display()
    );
    Ok(())
}
