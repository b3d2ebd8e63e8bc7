//! One region node: owns a data directory, opens its log groups and serves the HTTP API.
//!
//! Start-up refuses (with the reason) a data dir of another cluster or region, one locked by
//! another process, and a damaged WAL. Shutdown stops taking requests, lets in-flight writes
//! finish, and checkpoints the store.

mod error;
mod identity;
pub mod session_key;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use error::NodeError;
pub use identity::{Identity, IdentityError};

use crate::api::{self, ApiContext};
use crate::catalog::Catalog;
use crate::catalog::failover::{self, FailoverMetrics};
use crate::clock::{Hlc, node_id_for_region};
use crate::config::{AuthMode, ConfigError, Topology};
use crate::group::{
    AckMetrics, GroupId, GroupOptions, Groups, LogGroup, PeerBook, PeerCaller, spec,
};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::transport::{PeerClocks, Transport, TransportMetrics};
use crate::wal::WalOptions;

/// Serves peers: client requests proxied from regions without a replica go to the API,
/// everything else to the log groups.
fn peer_handler(
    groups: crate::transport::Handler,
    api: Arc<OnceLock<axum::Router>>,
) -> crate::transport::Handler {
    Arc::new(
        move |from: crate::transport::Inbound, request: bytes::Bytes| {
            if request.first() == Some(&(crate::group::rpc::Kind::Proxy as u8)) {
                let api = api.clone();
                Box::pin(async move { api::proxy::serve(&api, &from.peer, &request).await })
            } else {
                groups(from, request)
            }
        },
    )
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub topology: Topology,
    pub region: String,
    pub data_dir: PathBuf,
    /// Listen here instead of the topology's `api` address (tests use port 0).
    pub api_override: Option<SocketAddr>,
    /// Certificates directory instead of the topology's `tls.certs_dir`.
    pub certs_dir: Option<PathBuf>,
    /// Reach these regions at these addresses instead of their `peer` address (a WAN relay
    /// in front of them).
    pub peer_routes: HashMap<String, SocketAddr>,
    /// Fault tests: a file holding a signed millisecond offset added to this node's wall
    /// clock, re-read every 100 ms (`clock::offset`).
    pub clock_offset_file: Option<PathBuf>,
}

pub struct Node {
    /// Archivers, WAL purgers and the store checkpointer.
    tasks: Vec<JoinHandle<()>>,
    region: String,
    api_addr: SocketAddr,
    groups: Arc<Groups>,
    transport: Option<Arc<Transport>>,
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
        // Secure by default: an API reachable beyond loopback needs credentials, or an
        // explicit decision to run it open. Checked before anything binds.
        let api_listen = cfg.api_override.unwrap_or(region.api);
        if topology.auth.mode == (AuthMode::None { explicit: false })
            && !api_listen.ip().is_loopback()
        {
            return Err(NodeError::Config(ConfigError::Invalid {
                field: "auth.mode".into(),
                reason: format!(
                    "the client API would listen on {api_listen}, beyond loopback, with no \
                     authentication: add [[auth.tokens]] (`georep auth token --role writer` \
                     prints one) or auth.jwt_hs256_key_file, or write [auth] mode = \"none\" \
                     to run it open on purpose"
                ),
            }));
        }
        // HTTPS: the certificate is loaded before anything binds, so a bad one is a usage error
        let api_tls = match &topology.api_tls {
            Some(tls) => {
                let certs_dir = cfg.certs_dir.as_deref().or(topology.certs_dir.as_deref());
                let (field, cert, key) = crate::https::choose_files(tls, certs_dir, &region.name)?;
                Some(crate::https::server_config(field, &cert, &key)?)
            }
            None => None,
        };
        let https = api_tls.is_some();
        let lock = identity::claim(
            &cfg.data_dir,
            &Identity {
                cluster: topology.cluster.clone(),
                region: region.name.clone(),
            },
        )?;
        // Multi-region: the meta group's keys replace this one as soon as this region's
        // replica has them (catalog/session_keys.rs); the file, if named, seeds them.
        let seed = match &topology.session_key_file {
            Some(path) => session_key::load(path, false)?,
            None if topology.regions.len() > 1 => session_key::generate(),
            None => session_key::load(&cfg.data_dir.join("session.key"), true)?,
        };
        // A key file seeds the cluster's key 1, valid everywhere at once; a random seed is
        // this region's own key 0 until the meta group's keys arrive.
        let seed_id = if topology.session_key_file.is_some() || topology.regions.len() == 1 {
            1
        } else {
            0
        };
        let mut ring = crate::session::SessionKeys::new(seed_id, seed);
        if topology.regions.len() > 1 {
            ring = ring.rotating();
        }
        let keys = Arc::new(std::sync::RwLock::new(ring));
        let metrics = Metrics::new(&region.name)?;
        let settings = &topology.node;
        let clock = Arc::new(Hlc::new(
            node_id_for_region(&region.name),
            settings.max_clock_skew_ms,
        ));
        let mut early_tasks = Vec::new();
        if let Some(path) = &cfg.clock_offset_file {
            crate::clock::offset::load(path, clock.physical().offset()).map_err(|e| {
                NodeError::ClockOffset {
                    path: path.clone(),
                    reason: e.to_string(),
                }
            })?;
            tracing::warn!(
                path = %path.display(),
                offset_ms = clock.physical().offset().load(std::sync::atomic::Ordering::Relaxed),
                "this node's wall clock is offset by a test file (--clock-offset-file)"
            );
            early_tasks.push(tokio::spawn(crate::clock::offset::follow(
                path.clone(),
                clock.physical().offset().clone(),
            )));
        }
        let store_path = cfg.data_dir.join("store.redb");
        let store = Arc::new(Store::open(&store_path).map_err(crate::group::GroupError::from)?);

        // Peers: mutual TLS over QUIC. A single-region topology has nobody to talk to.
        let table: Arc<OnceLock<Arc<Groups>>> = Arc::new(OnceLock::new());
        let api_cell: Arc<OnceLock<axum::Router>> = Arc::new(OnceLock::new());
        let transport = if topology.regions.len() > 1 {
            let (field, dir) = match (&cfg.certs_dir, &topology.certs_dir) {
                (Some(d), _) => ("--certs", d.clone()),
                (None, Some(d)) => ("tls.certs_dir", d.clone()),
                (None, None) => {
                    return Err(NodeError::Tls {
                        field: "tls.certs_dir",
                        reason: "regions replicate over mutual TLS: name the directory made by \
                                 `georep certs init` (or pass --certs)"
                            .into(),
                    });
                }
            };
            let identity = crate::transport::load_identity(&dir, &region.name).map_err(|e| {
                NodeError::Tls {
                    field,
                    reason: e.to_string(),
                }
            })?;
            let tmetrics = TransportMetrics::register(&metrics.registry)?;
            let clocks = Arc::new(PeerClocks::new(clock.clone(), Some(tmetrics.clone())));
            Some(Transport::bind(
                region.peer,
                &identity,
                topology.region_names(),
                tmetrics,
                clocks,
                peer_handler(
                    crate::group::handler(table.clone(), metrics.peer_claim_mismatches.clone()),
                    api_cell.clone(),
                ),
            )?)
        } else {
            None
        };
        let mut routes: HashMap<String, SocketAddr> = topology
            .regions
            .iter()
            .map(|r| (r.name.clone(), r.peer))
            .collect();
        for (r, addr) in &cfg.peer_routes {
            routes.insert(r.clone(), *addr);
        }
        let caller = PeerCaller {
            transport: transport.clone(),
            peers: Arc::new(PeerBook::new(routes)),
        };

        let region_name: Arc<str> = Arc::from(region.name.as_str());
        let ack_metrics = AckMetrics::register(&metrics.registry)?;
        let mut groups = Vec::new();
        let mut catalog: Option<Arc<Catalog>> = None;
        // Every region keeps a replica slot for every placed group, idle where the group is
        // not placed, so that a placement change can add the region online.
        for planned in spec::plan(&topology) {
            let gid = planned.id;
            // The meta group opens first: a placement changed at run time (its catalog
            // record) is in force instead of the topology's, and such a group is never
            // bootstrapped again (its leader adds replicas).
            let changed = match &catalog {
                Some(c) if gid != GroupId::DEFAULT_DATA => c
                    .placement(&planned.name)
                    .map_err(|e| NodeError::Catalog(e.to_string()))?
                    .map(|(r, _)| r.placement),
                _ => None,
            };
            let retired = LogGroup::retired_in(&cfg.data_dir, gid);
            let spec = match &changed {
                Some(p) => spec::placement_spec(p),
                None => planned,
            };
            let options = GroupOptions {
                wal: WalOptions {
                    segment_bytes: settings.wal_segment_bytes,
                    segment_age: Duration::from_millis(settings.wal_segment_age_ms),
                    ..WalOptions::new(LogGroup::data_dir_of(&cfg.data_dir, gid).join("wal"), gid.0)
                },
                settings: settings.clone(),
                regions: topology.region_names(),
                // a replica emptied by a placement change must never found a group anew
                bootstrap: !retired && changed.is_none(),
            };
            let (group, report) = LogGroup::open(
                spec,
                region_name.clone(),
                clock.clone(),
                store.clone(),
                options,
                caller.clone(),
                Some(metrics.wal.clone()),
                Some(ack_metrics.clone()),
            )
            .await?;
            tracing::info!(
                region = %region.name,
                group = %gid,
                segments = report.segments,
                first = ?report.first_index,
                last = ?report.last_index,
                "log recovered"
            );
            if gid == GroupId::META {
                catalog = Some(Catalog::new(
                    group.clone(),
                    spec::plan(&topology)
                        .into_iter()
                        .filter(|s| s.promotes_learner),
                ));
            }
            groups.push(group);
        }
        let groups = Arc::new(Groups::new(groups));
        let _ = table.set(groups.clone());

        let mut tasks = early_tasks;
        tasks.push(tokio::spawn(checkpointer(
            store.clone(),
            groups.clone(),
            Duration::from_millis(settings.checkpoint_interval_ms),
        )));
        // The catalog fences and promotes the `standard` groups (catalog/failover.rs) and
        // holds the placements changed at run time (catalog/placement.rs).
        if let Some(catalog) = &catalog {
            // a restarted region signs with the cluster's keys from its first request
            if let Ok(Some(ring)) = catalog.session_keys() {
                *keys.write().expect("session keys") = ring;
            }
            tasks.push(tokio::spawn(crate::catalog::placement::follow(
                catalog.clone(),
                groups.clone(),
            )));
            tasks.push(tokio::spawn(crate::catalog::session_keys::follow(
                catalog.clone(),
                keys.clone(),
                seed,
            )));
            let failover_metrics = FailoverMetrics::register(&metrics.registry)?;
            for g in groups
                .iter()
                .filter(|g| g.promotes_learner() && g.spec().has(&region.name))
            {
                g.set_sync_recorder(catalog.clone());
                tasks.push(tokio::spawn(failover::watch(
                    catalog.clone(),
                    Arc::downgrade(g),
                    failover_metrics.clone(),
                )));
            }
        }
        match &topology.archive {
            // every replica runs an archiver; only the group's leader ships (see archiver/)
            Some(archive) => {
                let families = crate::archiver::ArchiveMetricFamilies::register(&metrics.registry)?;
                for g in groups.iter() {
                    tasks.push(archive_task(&topology, archive, &families, g.clone())?);
                }
            }
            // No archive: the store's durable checkpoint is all recovery needs.
            None => tasks.extend(groups.iter().map(|g| purger(g.clone()))),
        }

        let addr = api_listen;
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
        let topology_auth = topology.auth.clone();
        let metrics_registry = metrics.registry.clone();
        let ctx = Arc::new(ApiContext {
            region: region_name,
            placed: spec::collection_groups(&spec::plan(&topology)),
            topology,
            groups: groups.clone(),
            keys,
            metrics,
            catalog,
            caller: caller.clone(),
            clock: clock.clone(),
            auth: crate::auth::Authenticator::new(topology_auth, Some(&metrics_registry))?,
            transport: transport.clone(),
        });
        tasks.push(tokio::spawn(api::cluster::report_readiness(ctx.clone())));
        let app = api::router(ctx);
        let _ = api_cell.set(app.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server =
            crate::https::spawn(listener, api_tls, app, rx).map_err(|source| NodeError::Bind {
                addr,
                region: region.name.clone(),
                source,
            })?;
        let scheme = if https { "https" } else { "http" };
        tracing::info!(region = %region.name, api = %format!("{scheme}://{api_addr}"), "serving");
        Ok(Node {
            tasks,
            region: region.name,
            api_addr,
            groups,
            transport,
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

    pub fn groups(&self) -> &Arc<Groups> {
        &self.groups
    }

    /// The default data group's replica here, if this region holds one.
    pub fn group(&self) -> Option<&Arc<LogGroup>> {
        self.groups.get(GroupId::DEFAULT_DATA)
    }

    /// Stops accepting requests, waits for in-flight ones, then closes the logs cleanly.
    pub async fn shutdown(mut self) {
        for t in self.tasks.drain(..) {
            // uploads are idempotent: an interrupted round is redone after restart
            t.abort();
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
        for g in self.groups.iter() {
            g.shutdown().await;
        }
        if let Some(t) = &self.transport {
            t.close();
        }
        let groups = self.groups.clone();
        drop(self);
        // The last handles close the WALs and checkpoint the store; that blocks, so not here.
        let _ = tokio::task::spawn_blocking(move || {
            drop(groups);
        })
        .await;
    }
}

/// Makes the store durable every `every`, then tells each group how far that covers (what
/// bounds WAL purging and replay after a crash).
async fn checkpointer(store: Arc<Store>, groups: Arc<Groups>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let applied: Vec<(Arc<LogGroup>, u64)> = groups
            .iter()
            .map(|g| (g.clone(), g.applied_index()))
            .collect();
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.checkpoint()).await {
            Ok(Ok(())) => {
                for (g, a) in applied {
                    g.set_checkpointed(a);
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "store checkpoint failed"),
            Err(e) => tracing::error!(error = %e, "store checkpoint task failed"),
        }
    }
}

/// Without an archive, the WAL is purged as far as the checkpoint and Raft allow.
fn purger(group: Arc<LogGroup>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            crate::archiver::purge(&group, u64::MAX).await;
        }
    })
}

/// Builds the archiver from `[archive]`: key ring (never logged), backend, metrics.
fn archive_task(
    topology: &Topology,
    archive: &crate::config::Archive,
    families: &crate::archiver::ArchiveMetricFamilies,
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
    let archive_metrics = families.for_group(&group.id().to_string());
    let archiver = crate::archiver::Archiver {
        cluster: topology.cluster.clone(),
        backend,
        ring,
        level: archive.zstd_level,
        interval: Duration::from_millis(500),
        metrics: archive_metrics,
        snapshot_interval: Duration::from_secs(archive.snapshot_interval_s),
        retention: Duration::from_secs_f64(archive.retention_days * 86_400.0),
        wal_cap_bytes: archive.wal_cap_bytes,
        cold: archive.cold.clone(),
    };
    tracing::info!(url = %archive.url, "archiving sealed segments");
    Ok(archiver.spawn(group))
}
