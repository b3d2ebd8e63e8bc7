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
    /// Optional key file: also report segments whose key id it lacks (they could not be restored)
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub archive: String,
    /// Archive key file (`<id> <64 hex>` per line, or one bare 64-hex key)
    #[arg(long)]
    pub key_file: PathBuf,
}

pub use georep::restore::rfc3339;

fn backend(url: &str) -> anyhow::Result<ArchiveBackend> {
    ArchiveBackend::from_url(url).map_err(|e| UsageError(format!("--archive: {e}")).into())
}

pub async fn run(args: ArchiveArgs) -> anyhow::Result<()> {
    match args.command {
        ArchiveCommand::List(a) => list(a).await,
        ArchiveCommand::Verify(a) => verify(a).await,
    }
}

fn load_ring(path: &std::path::Path) -> anyhow::Result<KeyRing> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("--key-file {}: {e}", path.display())))?;
    Ok(KeyRing::parse(&text)
        .map_err(|e| UsageError(format!("--key-file {}: {e}", path.display())))?)
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let b = backend(&a.archive)?;
    let ring = a.key_file.as_deref().map(load_ring).transpose()?;
    let mut unreadable = 0;
    let all = Manifest::list_all(&b).await?;
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
        // entries before a group's first write (its initial membership) carry no time
        let earliest = m
            .segments
            .iter()
            .map(|s| s.meta.first_hlc)
            .find(|&h| h != 0)
            .unwrap_or(first.meta.first_hlc);
        println!(
            "cluster {} group g{}: indexes {}..={}, restorable from {} to {}, {} segments, {} bytes ({} sealed), keys {}",
            m.cluster,
            m.group,
            first.meta.indexes.first,
            last.meta.indexes.last,
            rfc3339(earliest >> 16),
            rfc3339(last.meta.last_hlc >> 16),
            m.segments.len(),
            plain,
            sealed,
            keys.join(",")
        );
        for s in &m.segments {
            let missing = ring.as_ref().is_some_and(|r| r.get(&s.key_id).is_none());
            unreadable += usize::from(missing);
            println!(
                "  {}  {}..{}  {} bytes  key {}{}",
                s.object,
                rfc3339(s.meta.first_hlc >> 16),
                rfc3339(s.meta.last_hlc >> 16),
                s.sealed_bytes,
                s.key_id,
                if missing {
                    "  (key not in --key-file)"
                } else {
                    ""
                }
            );
        }
    }
    anyhow::ensure!(
        unreadable == 0,
        "{unreadable} segments use keys that --key-file lacks"
    );
    Ok(())
}

async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let b = backend(&a.archive)?;
    let text = std::fs::read_to_string(&a.key_file)
        .map_err(|e| UsageError(format!("--key-file {}: {e}", a.key_file.display())))?;
    let ring = KeyRing::parse(&text)
        .map_err(|e| UsageError(format!("--key-file {}: {e}", a.key_file.display())))?;
    let (mut good, mut bad) = (0usize, 0usize);
    for m in Manifest::list_all(&b).await? {
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
