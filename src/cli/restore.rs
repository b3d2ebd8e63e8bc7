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
    /// Restore point: an RFC 3339 time (2026-11-26T12:00:00Z), which every group's archive
    /// must cover (`georep archive list` shows "complete through"; past it the restore exits 1
    /// naming the group), or `latest`: the newest instant every group covers, printed
    #[arg(long, value_parser = |s: &str| s.parse::<RestoreTarget>())]
    pub to: RestoreTarget,
    /// New, empty directory to restore into; `georep node --data-dir DIR` starts from it
    #[arg(
        long,
        required_unless_present = "all_regions",
        conflicts_with = "all_regions"
    )]
    pub data_dir: Option<PathBuf>,
    /// Restore a data dir for every region of --topology, all at the same instant, into
    /// --out DIR/<region> (the archive is downloaded once); then boot one node per region
    #[arg(long, requires_all = ["out", "topology"])]
    pub all_regions: bool,
    /// With --all-regions: the directory that receives one data dir per region
    #[arg(long, requires = "all_regions")]
    pub out: Option<PathBuf>,
    /// The cluster's topology file: its regions (--all-regions) and which group holds which
    /// collection (--serve-read-only)
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// After restoring, serve the restored instant read-only on --listen (GET and listings at
    /// any level; writes are 405) from this one process, until Ctrl-C: a look at an instant
    /// without booting the cluster
    #[arg(long, requires_all = ["listen", "topology"])]
    pub serve_read_only: bool,
    /// With --serve-read-only: the HTTP address to serve on, e.g. 127.0.0.1:7300
    #[arg(long, requires = "serve_read_only")]
    pub listen: Option<std::net::SocketAddr>,
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
    let topology = match &a.topology {
        Some(path) => Some(georep::config::Topology::load(path)?),
        None => None,
    };
    let regions: Vec<String> = topology
        .as_ref()
        .map(|t| t.region_names())
        .unwrap_or_default();
    let (first_dir, others): (PathBuf, Vec<(String, PathBuf)>) = match (&a.data_dir, &a.out) {
        (Some(d), _) => (d.clone(), Vec::new()),
        (None, Some(out)) => {
            let first = regions
                .first()
                .ok_or_else(|| UsageError("--topology names no region to restore".into()))?;
            for r in &regions {
                let d = out.join(r);
                if d.exists() && std::fs::read_dir(&d)?.next().is_some() {
                    return Err(UsageError(format!(
                        "{} exists and is not empty; restore into a new --out",
                        d.display()
                    ))
                    .into());
                }
            }
            std::fs::create_dir_all(out)?;
            (
                out.join(first),
                regions[1..]
                    .iter()
                    .map(|r| (r.clone(), out.join(r)))
                    .collect(),
            )
        }
        (None, None) => return Err(UsageError("--data-dir or --all-regions --out".into()).into()),
    };
    let started = Instant::now();
    let restored = restore::restore(&backend, &ring, a.to, &a.groups, &first_dir, |p| {
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
    for g in &restored.groups {
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
        "restored to {} (every group cut at this instant)",
        restore::rfc3339(restored.instant_ms)
    );
    for (region, dir) in &others {
        copy_tree(&first_dir, dir)?;
        eprintln!("copied the restored data dir for region {region}");
    }
    match &a.out {
        Some(out) => {
            for r in &regions {
                println!(
                    "region {r}: georep node --topology <file> --region {r} --data-dir {}",
                    out.join(r).display()
                );
            }
        }
        None => println!(
            "start it with: georep node --topology <file> --region <name> --data-dir {}",
            first_dir.display()
        ),
    }
    if let (true, Some(listen), Some(t)) = (a.serve_read_only, a.listen, &topology) {
        serve_read_only(&first_dir, listen, t, restored.instant_ms).await?;
    }
    Ok(())
}

/// Copies a restored data dir (files and folders, each file fsynced) to another region's.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), &dest)?;
            std::fs::File::open(&dest)?.sync_all()?;
        }
    }
    std::fs::File::open(to)?.sync_all()
}

async fn serve_read_only(
    dir: &std::path::Path,
    listen: std::net::SocketAddr,
    topology: &georep::config::Topology,
    instant_ms: u64,
) -> anyhow::Result<()> {
    let store = georep::store::Store::open(&dir.join("store.redb"))?;
    let replay = std::sync::Arc::new(georep::replay::Replay {
        store,
        placed: georep::placement::collection_groups(&georep::placement::plan(topology)),
        instant_ms,
        cluster: topology.cluster.clone(),
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    println!(
        "serving {} read-only on http://{} (Ctrl-C to stop)",
        restore::rfc3339(instant_ms),
        listener.local_addr()?
    );
    axum::serve(listener, georep::replay::router(replay))
        .with_graceful_shutdown(async {
            let _ = super::node::wait_for_signal().await;
        })
        .await?;
    Ok(())
}
