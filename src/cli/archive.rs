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
    /// Make a new archive master key file (`<id> <64 hex>`, mode 0600); refuses to overwrite.
    /// Name it in the topology's `[archive] key_file`; to rotate, append a line made here
    Keygen(KeygenArgs),
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The key file to create (its directory is created too)
    #[arg(long)]
    pub out: PathBuf,
    /// Key id recorded with every object sealed under it
    #[arg(long, default_value = "k1")]
    pub id: String,
}

/// Writes a new random archive master key to `path` (mode 0600, never overwriting).
pub fn write_new_key(path: &std::path::Path, id: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        return Err(UsageError(format!("--id {id:?}: a key id is one word")).into());
    }
    let hex: String = georep::node::session_key::generate()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            f.write_all(format!("{id} {hex}\n").as_bytes())?;
            f.sync_all()
        })
        .with_context(|| {
            format!(
                "writing {} (an existing key is never overwritten)",
                path.display()
            )
        })
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
        ArchiveCommand::Keygen(a) => {
            write_new_key(&a.out, &a.id)?;
            println!("wrote archive key {} to {}", a.id, a.out.display());
            Ok(())
        }
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
        let span = match (m.earliest_restorable_ms(), m.latest_restorable_ms()) {
            (Some(from), Some(to)) if to > 0 => {
                format!("restorable from {} to {}", rfc3339(from), rfc3339(to))
            }
            _ => "no entries".to_string(),
        };
        let covered = match m.covered_through_ms() {
            Some(c) => format!("complete through {}", rfc3339(c)),
            None => "coverage not recorded yet".to_string(),
        };
        let plain: u64 = m.segments.iter().map(|s| s.meta.plain_bytes).sum::<u64>()
            + m.snapshots.iter().map(|s| s.plain_bytes).sum::<u64>();
        let sealed: u64 = m.segments.iter().map(|s| s.sealed_bytes).sum::<u64>()
            + m.snapshots.iter().map(|s| s.sealed_bytes).sum::<u64>();
        let mut keys: Vec<&str> = m
            .segments
            .iter()
            .map(|s| s.key_id.as_str())
            .chain(m.snapshots.iter().map(|s| s.key_id.as_str()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let indexes = match (m.segments.first(), m.segments.last()) {
            (Some(a), Some(b)) => format!("{}..={}", a.meta.indexes.first, b.meta.indexes.last),
            _ => "none".to_string(),
        };
        println!(
            "cluster {} group g{}: segment indexes {}, {span}, {covered}, {} segments, {} snapshots, {} bytes ({} sealed), keys {}",
            m.cluster,
            m.group,
            indexes,
            m.segments.len(),
            m.snapshots.len(),
            plain,
            sealed,
            keys.join(",")
        );
        let mut show =
            |object: &str, span: String, bytes: u64, key: &str, class: &Option<String>| {
                let missing = ring.as_ref().is_some_and(|r| r.get(key).is_none());
                unreadable += usize::from(missing);
                println!(
                    "  {object}  {span}  {bytes} bytes  key {key}{}{}",
                    class.as_ref().map(|c| format!("  {c}")).unwrap_or_default(),
                    if missing {
                        "  (key not in --key-file)"
                    } else {
                        ""
                    }
                );
            };
        for s in &m.snapshots {
            show(
                &s.object,
                format!("state at {}", rfc3339(s.physical_ms())),
                s.sealed_bytes,
                &s.key_id,
                &s.storage_class,
            );
        }
        for s in &m.segments {
            show(
                &s.object,
                if s.meta.last_hlc == 0 {
                    "no entries (membership only)".to_string()
                } else {
                    format!(
                        "{}..{}",
                        rfc3339(s.meta.first_hlc >> 16),
                        rfc3339(s.meta.last_hlc >> 16)
                    )
                },
                s.sealed_bytes,
                &s.key_id,
                &s.storage_class,
            );
        }
    }
    anyhow::ensure!(
        unreadable == 0,
        "{unreadable} objects use keys that --key-file lacks"
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
        let objects = m
            .segments
            .iter()
            .map(|s| (&s.object, s.meta.plain_bytes, s.meta.plain_crc32c))
            .chain(
                m.snapshots
                    .iter()
                    .map(|s| (&s.object, s.plain_bytes, s.plain_crc32c)),
            );
        let bad_before = bad;
        for (object, plain_bytes, plain_crc32c) in objects {
            let check = async {
                let (bytes, _) = b.get(object).await?;
                let plain = georep_archive::open(&bytes, &ring)?;
                anyhow::ensure!(
                    plain.len() as u64 == plain_bytes,
                    "{} bytes, manifest says {plain_bytes}",
                    plain.len(),
                );
                let crc = crc32c::crc32c(&plain);
                anyhow::ensure!(
                    crc == plain_crc32c,
                    "CRC32C {crc:08x}, manifest says {plain_crc32c:08x}",
                );
                Ok(())
            };
            match check.await {
                Ok(()) => good += 1,
                Err(e) => {
                    bad += 1;
                    println!("BAD {object}: {e:#}");
                }
            }
        }
        println!(
            "cluster {} group g{}: {} segments and {} snapshots checked, {} bad",
            m.cluster,
            m.group,
            m.segments.len(),
            m.snapshots.len(),
            (bad - bad_before),
        );
    }
    println!("{good} objects verified, {bad} bad");
    anyhow::ensure!(bad == 0, "{bad} archive objects failed verification");
    anyhow::ensure!(good > 0, "no archived objects found under {}", a.archive);
    Ok(())
}
