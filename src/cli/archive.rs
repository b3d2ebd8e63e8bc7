//! `georep archive list|verify`: what an archive holds, and whether every object in it is intact.

use std::path::PathBuf;

use georep_archive::{ArchiveBackend, KeyRing, Manifest};

use super::UsageError;

#[derive(Debug, clap::Args)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    pub command: ArchiveCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ArchiveCommand {
    /// List restore points per group: index and HLC ranges, objects, sizes, key ids
    List(ListArgs),
    /// Download and check every archived object (decrypt, decompress, CRC); exit 1 if any is bad
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// file://DIR, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://ACCOUNT/CONTAINER/PREFIX
    #[arg(long)]
    pub archive: String,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub archive: String,
    /// Archive key file (`<id> <64 hex>` per line, or one bare 64-hex key)
    #[arg(long)]
    pub key_file: PathBuf,
}

/// Milliseconds since the epoch as RFC 3339 UTC (days-from-civil, Howard Hinnant).
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

async fn manifests(backend: &ArchiveBackend) -> anyhow::Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for obj in backend.list("").await? {
        let parts: Vec<&str> = obj.name.split('/').collect();
        if let [cluster, group, "manifest.json"] = parts.as_slice()
            && let Some(g) = group.strip_prefix('g').and_then(|g| g.parse().ok())
        {
            out.push(Manifest::load(backend, cluster, g).await?.0);
        }
    }
    Ok(out)
}

fn backend(url: &str) -> anyhow::Result<ArchiveBackend> {
    ArchiveBackend::from_url(url).map_err(|e| UsageError(format!("--archive: {e}")).into())
}

pub async fn run(args: ArchiveArgs) -> anyhow::Result<()> {
    match args.command {
        ArchiveCommand::List(a) => list(a).await,
        ArchiveCommand::Verify(a) => verify(a).await,
    }
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let b = backend(&a.archive)?;
    let all = manifests(&b).await?;
    if all.is_empty() {
        println!("no manifests under {}", a.archive);
        return Ok(());
    }
    for m in all {
        let (Some(first), Some(last)) = (m.segments.first(), m.segments.last()) else {
            continue;
        };
        let plain: u64 = m.segments.iter().map(|s| s.meta.plain_bytes).sum();
        let sealed: u64 = m.segments.iter().map(|s| s.sealed_bytes).sum();
        let mut keys: Vec<&str> = m.segments.iter().map(|s| s.key_id.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        println!(
            "cluster {} group g{}: indexes {}..={}, restorable from {} to {}, {} segments, {} bytes ({} sealed), keys {}",
            m.cluster,
            m.group,
            first.meta.indexes.first,
            last.meta.indexes.last,
            rfc3339(first.meta.first_hlc >> 16),
            rfc3339(last.meta.last_hlc >> 16),
            m.segments.len(),
            plain,
            sealed,
            keys.join(",")
        );
        for s in &m.segments {
            println!(
                "  {}  {}..{}  {} bytes  key {}",
                s.object,
                rfc3339(s.meta.first_hlc >> 16),
                rfc3339(s.meta.last_hlc >> 16),
                s.sealed_bytes,
                s.key_id
            );
        }
    }
    Ok(())
}

async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let b = backend(&a.archive)?;
    let text = std::fs::read_to_string(&a.key_file)
        .map_err(|e| UsageError(format!("--key-file {}: {e}", a.key_file.display())))?;
    let ring = KeyRing::parse(&text)
        .map_err(|e| UsageError(format!("--key-file {}: {e}", a.key_file.display())))?;
    let (mut good, mut bad) = (0usize, 0usize);
    for m in manifests(&b).await? {
        for s in &m.segments {
            let check = async {
                let (bytes, _) = b.get(&s.object).await?;
                let plain = georep_archive::open(&bytes, &ring)?;
                anyhow::ensure!(
                    plain.len() as u64 == s.meta.plain_bytes,
                    "{} bytes, manifest says {}",
                    plain.len(),
                    s.meta.plain_bytes
                );
                let crc = crc32c::crc32c(&plain);
                anyhow::ensure!(
                    crc == s.meta.plain_crc32c,
                    "CRC32C {crc:08x}, manifest says {:08x}",
                    s.meta.plain_crc32c
                );
                Ok(())
            };
            match check.await {
                Ok(()) => good += 1,
                Err(e) => {
                    bad += 1;
                    println!("BAD {}: {e:#}", s.object);
                }
            }
        }
    }
    println!("{good} objects verified, {bad} bad");
    anyhow::ensure!(bad == 0, "{bad} archive objects failed verification");
    anyhow::ensure!(good > 0, "no archived objects found under {}", a.archive);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_764_150_000_123),
            "2025-11-26T09:40:00.123Z"
        );
        assert_eq!(super::rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
