//! One region node: owns a data directory, opens its log groups and serves the HTTP API.
//!
//! Start-up refuses (with the reason) a data dir of another cluster or region, one locked by
//! another process, and a damaged WAL. Shutdown stops taking requests, lets in-flight writes
//! finish, and checkpoints the store.

mod error;
mod identity;
pub mod session_key;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use error::NodeError;
pub use identity::Identity;

use crate::api::{self, ApiContext};
use crate::clock::{Hlc, node_id_for_region};
use crate::config::Topology;
use crate::group::{GroupId, GroupOptions, LogGroup};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::wal::WalOptions;

pub struct NodeConfig {
    pub topology: Topology,
    pub region: String,
    pub data_dir: PathBuf,
    /// Listen here instead of the topology's `api` address (tests use port 0).
    pub api_override: Option<SocketAddr>,
}

pub struct Node {
    /// The archiver, or without an archive the WAL purge task.
    log_task: Option<JoinHandle<()>>,
    region: String,
    api_addr: SocketAddr,
    group: Arc<LogGroup>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _lock: std::fs::File,
}

impl Node {
    pub async fn start(cfg: NodeConfig) -> Result<Node, NodeError> {
        let topology = cfg.topology;
        let region = topology.region(&cfg.region).cloned().ok_or_else(|| {
            NodeError::UnknownRegion(cfg.region.clone(), topology.region_names().join(", "))
        })?;
        for w in &topology.warnings {
            tracing::warn!("{w}");
        }
        let lock = identity::claim(
            &cfg.data_dir,
            &Identity {
                cluster: topology.cluster.clone(),
                region: region.name.clone(),
            },
        )?;
        let keys = match &topology.session_key_file {
            Some(path) => session_key::load(path, false)?,
            None => {
                if topology.regions.len() > 1 {
                    tracing::warn!(
                        "no session.key_file in the topology: this node signs session tokens with \
                         its own key, so its tokens will not verify in other regions"
                    );
                }
                session_key::load(&cfg.data_dir.join("session.key"), true)?
            }
        };
        let metrics = Metrics::new(&region.name)?;
        let settings = &topology.node;
        let clock = Arc::new(Hlc::new(
            node_id_for_region(&region.name),
            settings.max_clock_skew_ms,
        ));
        let store_path = cfg.data_dir.join("store.redb");
        let store = Arc::new(Store::open(&store_path).map_err(crate::group::GroupError::from)?);
        let group_id = GroupId::DEFAULT_DATA;
        let options = GroupOptions {
            wal: WalOptions {
                segment_bytes: settings.wal_segment_bytes,
                segment_age: Duration::from_millis(settings.wal_segment_age_ms),
                ..WalOptions::new(
                    LogGroup::data_dir_of(&cfg.data_dir, group_id).join("wal"),
                    group_id.0,
                )
            },
            checkpoint_interval: Duration::from_millis(settings.checkpoint_interval_ms),
        };
        let region_name: Arc<str> = Arc::from(region.name.as_str());
        let (group, report) = LogGroup::open(
            group_id,
            region_name.clone(),
            clock,
            store,
            options,
            Some(metrics.wal.clone()),
        )?;
        tracing::info!(
            region = %region.name,
            group = %group_id,
            segments = report.segments,
            first = ?report.first_index,
            last = ?report.last_index,
            "log recovered"
        );
        let group = Arc::new(group);
        let log_task = match &topology.archive {
            Some(_) if topology.regions.len() > 1 => {
                tracing::warn!(
                    "archiving is off: regions are not replicated yet, so each region's group g1 would \
                     collide in a shared archive; it runs for single-region topologies"
                );
                None
            }
            Some(archive) => Some(archive_task(&topology, archive, &metrics, group.clone())?),
            // No archive: the store's durable checkpoint is all recovery needs.
            None => Some(tokio::spawn({
                let group = group.clone();
                async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        crate::archiver::purge(&group, u64::MAX).await;
                    }
                }
            })),
        };

        let addr = cfg.api_override.unwrap_or(region.api);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| NodeError::Bind {
                addr,
                region: region.name.clone(),
                source,
            })?;
        let api_addr = listener.local_addr().map_err(|source| NodeError::Bind {
            addr,
            region: region.name.clone(),
            source,
        })?;
        let ctx = Arc::new(ApiContext {
            region: region_name,
            topology,
            group: group.clone(),
            keys,
            metrics,
        });
        let app = api::router(ctx);
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(region = %region.name, api = %api_addr, "serving");
        Ok(Node {
            log_task,
            region: region.name,
            api_addr,
            group,
            shutdown: Some(tx),
            server: Some(server),
            _lock: lock,
        })
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn group(&self) -> &Arc<LogGroup> {
        &self.group
    }

    /// Stops accepting requests, waits for in-flight ones, then closes the log cleanly.
    pub async fn shutdown(mut self) {
        if let Some(a) = self.log_task.take() {
            // uploads are idempotent: an interrupted round is redone after restart
            a.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            match tokio::time::timeout(Duration::from_secs(10), server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server ended with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "HTTP server task failed"),
                Err(_) => tracing::warn!("HTTP server did not stop within 10 s"),
            }
        }
        let group = self.group.clone();
        drop(self);
        // The last handle closes the WAL and checkpoints the store; that blocks, so not here.
        let _ = tokio::task::spawn_blocking(move || drop(group)).await;
    }
}

/// Builds the archiver from `[archive]`: key ring (never logged), backend, metrics.
fn archive_task(
    topology: &Topology,
    archive: &crate::config::Archive,
    metrics: &Metrics,
    group: Arc<LogGroup>,
) -> Result<JoinHandle<()>, NodeError> {
    use crate::config::ArchiveKey;
    let (field, text) = match &archive.key {
        ArchiveKey::File(path) => (
            "archive.key_file",
            std::fs::read_to_string(path).map_err(|e| NodeError::Archive {
                field: "archive.key_file",
                reason: format!("{}: {e}", path.display()),
            })?,
        ),
        ArchiveKey::Env(var) => (
            "archive.key_env",
            std::env::var(var).map_err(|_| NodeError::Archive {
                field: "archive.key_env",
                reason: format!("environment variable {var} is not set"),
            })?,
        ),
    };
    let ring = georep_archive::KeyRing::parse(&text).map_err(|e| NodeError::Archive {
        field,
        reason: e.to_string(),
    })?;
    let backend =
        georep_archive::ArchiveBackend::from_url(&archive.url).map_err(|e| NodeError::Archive {
            field: "archive.url",
            reason: e.to_string(),
        })?;
    let archive_metrics = crate::archiver::ArchiveMetrics::register(&metrics.registry)?;
    let archiver = crate::archiver::Archiver {
        cluster: topology.cluster.clone(),
        backend,
        ring,
        level: georep_archive::envelope::DEFAULT_LEVEL,
        interval: Duration::from_millis(500),
        metrics: archive_metrics,
    };
    tracing::info!(url = %archive.url, "archiving sealed segments");
    Ok(archiver.spawn(group))
}
