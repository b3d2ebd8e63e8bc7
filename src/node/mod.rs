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
use tokio::task::{JoinHandle, JoinSet};

pub use error::NodeError;
pub use identity::{Identity, IdentityError};

use crate::api::{self, ApiContext};
use crate::catalog::Catalog;
use crate::catalog::failover::{self, FailoverMetrics};
use crate::clock::{Hlc, node_id_for_region};
use crate::config::{AuthMode, ConfigError, Topology};
use crate::group::{AckMetrics, GroupId, GroupOptions, Groups, LogGroup};
use crate::metrics::Metrics;
use crate::placement::{self, PlacementRecords, Resolver};
use crate::store::Store;
use crate::transport::rpc::{Dispatch, PeerBook, PeerCaller, Service};
use crate::transport::{PeerClocks, Transport, TransportMetrics};
use crate::wal::WalOptions;

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
    /// The node's own background tasks (checkpointer, catalog followers, readiness, clock
    /// offset); each group owns its own (`group/tasks.rs`).
    tasks: JoinSet<()>,
    region: String,
    api_addr: SocketAddr,
    groups: Arc<Groups>,
    transport: Option<Arc<Transport>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _lock: std::fs::File,
}

/// What the peer transport's services are served from once they exist: the groups open
/// after the transport binds, and the API after the groups.
#[derive(Default)]
struct Serving {
    groups: Arc<OnceLock<Arc<Groups>>>,
    api: Arc<OnceLock<axum::Router>>,
}

impl Node {
    /// Starts a region node, in order: check the configuration (nothing binds before it is
    /// known to be usable), claim the data directory, open the store, bind the peer
    /// transport, open every group, start the background tasks, serve the API.
    pub async fn start(cfg: NodeConfig) -> Result<Node, NodeError> {
        let topology = &cfg.topology;
        let region = topology.region(&cfg.region).cloned().ok_or_else(|| {
            NodeError::UnknownRegion(cfg.region.clone(), topology.region_names().join(", "))
        })?;
        for w in &topology.warnings {
            tracing::warn!("{w}");
        }
        let api_listen = cfg.api_override.unwrap_or(region.api);
        refuse_open_api(topology, api_listen)?;
        let api_tls = api_tls(&cfg, &region.name)?;
        let lock = identity::claim(
            &cfg.data_dir,
            &Identity {
                cluster: topology.cluster.clone(),
                region: region.name.clone(),
            },
        )?;
        let (keys, seed) = session_keys(&cfg)?;
        let metrics = Metrics::new(&region.name)?;
        let clock = Arc::new(Hlc::new(
            node_id_for_region(&region.name),
            topology.node.max_clock_skew_ms,
        ));
        let mut tasks = JoinSet::new();
        if let Some(path) = &cfg.clock_offset_file {
            tasks.spawn(follow_clock_offset(path, &clock)?);
        }
        let store = Arc::new(
            Store::open(&cfg.data_dir.join("store.redb"))
                .map_err(crate::group::GroupError::from)?,
        );
        register_origins(&topology, &store);
        let serving = Serving::default();
        let transport = bind_transport(&cfg, &region, &metrics, &clock, &serving)?;
        let caller = peer_caller(&cfg, transport.clone());
        let region_name: Arc<str> = Arc::from(region.name.as_str());
        let Opened { groups, catalog } =
            open_groups(&cfg, &region_name, &clock, &store, &caller, &metrics).await?;
        let _ = serving.groups.set(groups.clone());
        for g in groups.iter() {
            g.reachable_from_now();
        }
        tasks.spawn(checkpointer(
            store.clone(),
            groups.clone(),
            Duration::from_millis(topology.node.checkpoint_interval_ms),
        ));
        if let Some(catalog) = &catalog {
            follow_catalog(
                catalog,
                &groups,
                &keys,
                seed,
                &region.name,
                &metrics,
                &mut tasks,
            )?;
        }
        let (catalog, records) = catalog.unzip();
        start_archiving(topology, &groups, &metrics)?;

        let (listener, api_addr) = bind_api(api_listen, &region.name).await?;
        let auth = crate::auth::Authenticator::new(topology.auth.clone(), Some(&metrics.registry))?;
        // slots live in the meta group; a single region has none, and keeps them in the
        // default group, which it alone holds
        let slot_group = groups
            .get(GroupId::META)
            .or_else(|| groups.get(GroupId::DEFAULT_DATA))
            .expect("every node opens the default group")
            .clone();
        tasks.spawn(crate::cdc::retention::run(
            crate::cdc::SlotStore::new(slot_group.clone()),
            groups.clone(),
            clock.clone(),
            topology.node.clone(),
            crate::cdc::retention::RetentionMetrics::register(&metrics.registry)?,
        ));
        start_sinks(
            topology,
            &groups,
            &slot_group,
            &clock,
            &region.name,
            &metrics,
            &mut tasks,
        )?;
        let ctx = Arc::new(ApiContext {
            region: region_name.clone(),
            placements: Resolver::new(topology, region_name.clone(), records),
            topology: cfg.topology.clone(),
            groups: groups.clone(),
            keys,
            metrics,
            catalog,
            caller,
            clock,
            auth,
            slots: crate::cdc::SlotStore::new(slot_group),
            transport: transport.clone(),
            key_locks: Default::default(),
        });
        tasks.spawn(api::cluster::report_readiness(ctx.clone()));
        let app = api::router(ctx);
        let _ = serving.api.set(app.clone());
        let (tx, server) = serve_api(listener, api_addr, api_tls, app, &region.name)?;
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
        // uploads are idempotent: an interrupted round is redone after restart
        self.tasks.abort_all();
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

/// Binds the client API's address (port 0: the OS picks; the bound address is returned).
async fn bind_api(
    listen: SocketAddr,
    region: &str,
) -> Result<(TcpListener, SocketAddr), NodeError> {
    let bind = |source| NodeError::Bind {
        addr: listen,
        region: region.to_string(),
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    Ok((listener, addr))
}

type Server = JoinHandle<std::io::Result<()>>;

/// Serves `app` on `listener` (HTTPS with `tls`) until the returned sender fires.
fn serve_api(
    listener: TcpListener,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: axum::Router,
    region: &str,
) -> Result<(oneshot::Sender<()>, Server), NodeError> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (tx, rx) = oneshot::channel::<()>();
    let server = crate::https::spawn(listener, tls, app, rx).map_err(|source| NodeError::Bind {
        addr,
        region: region.to_string(),
        source,
    })?;
    tracing::info!(%region, api = %format!("{scheme}://{addr}"), "serving");
    Ok((tx, server))
}

/// Secure by default: an API reachable beyond loopback needs credentials, or an explicit
/// decision to run it open. Checked before anything binds.
fn refuse_open_api(topology: &Topology, api_listen: SocketAddr) -> Result<(), NodeError> {
    if topology.auth.mode == (AuthMode::None { explicit: false }) && !api_listen.ip().is_loopback()
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
    Ok(())
}

/// HTTPS: the certificate is loaded before anything binds, so a bad one is a usage error.
fn api_tls(cfg: &NodeConfig, region: &str) -> Result<Option<Arc<rustls::ServerConfig>>, NodeError> {
    let Some(tls) = &cfg.topology.api_tls else {
        return Ok(None);
    };
    let certs_dir = cfg
        .certs_dir
        .as_deref()
        .or(cfg.topology.certs_dir.as_deref());
    let (field, cert, key) = crate::https::choose_files(tls, certs_dir, region)?;
    Ok(Some(crate::https::server_config(field, &cert, &key)?))
}

type SessionKeyRing = Arc<std::sync::RwLock<crate::session::SessionKeys>>;

/// The ring session tokens are signed with, and its seed key. Multi-region: the meta group's
/// keys replace the seed as soon as this region's replica has them
/// (catalog/session_keys.rs); a key file, if named, seeds them.
fn session_keys(cfg: &NodeConfig) -> Result<(SessionKeyRing, [u8; 32]), NodeError> {
    let topology = &cfg.topology;
    let multi_region = topology.regions.len() > 1;
    let seed = match &topology.session_key_file {
        Some(path) => session_key::load(path, false)?,
        None if multi_region => session_key::generate(),
        None => session_key::load(&cfg.data_dir.join("session.key"), true)?,
    };
    // A key file seeds the cluster's key 1, valid everywhere at once; a random seed is this
    // region's own key 0 until the meta group's keys arrive.
    let seed_id = if topology.session_key_file.is_some() || !multi_region {
        1
    } else {
        0
    };
    let mut ring = crate::session::SessionKeys::new(seed_id, seed);
    if multi_region {
        ring = ring.rotating();
    }
    Ok((Arc::new(std::sync::RwLock::new(ring)), seed))
}

/// Fault tests: the wall clock offset by the file's value, followed as it changes.
fn follow_clock_offset(
    path: &std::path::Path,
    clock: &Hlc,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static, NodeError> {
    crate::clock::offset::load(path, clock.physical().offset()).map_err(|e| {
        NodeError::ClockOffset {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    tracing::warn!(
        path = %path.display(),
        offset_ms = clock.physical().offset().load(std::sync::atomic::Ordering::Relaxed),
        "this node's wall clock is offset by a test file (--clock-offset-file)"
    );
    Ok(crate::clock::offset::follow(
        path.to_path_buf(),
        clock.physical().offset().clone(),
    ))
}

/// Peers: mutual TLS over QUIC, one dispatch table for the services. A single-region
/// topology has nobody to talk to.
fn bind_transport(
    cfg: &NodeConfig,
    region: &crate::config::Region,
    metrics: &Metrics,
    clock: &Arc<Hlc>,
    serving: &Serving,
) -> Result<Option<Arc<Transport>>, NodeError> {
    let topology = &cfg.topology;
    if topology.regions.len() < 2 {
        return Ok(None);
    }
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
    let identity =
        crate::transport::load_identity(&dir, &region.name).map_err(|e| NodeError::Tls {
            field,
            reason: e.to_string(),
        })?;
    let tmetrics = TransportMetrics::register(&metrics.registry)?;
    let clocks = Arc::new(PeerClocks::new(clock.clone(), Some(tmetrics.clone())));
    let dispatch = Dispatch::new()
        .serve(
            Service::Group,
            crate::group::handler(
                serving.groups.clone(),
                metrics.peer_claim_mismatches.clone(),
            ),
        )
        .serve(Service::Proxy, api::proxy::handler(serving.api.clone()));
    Ok(Some(Transport::bind(
        region.peer,
        &identity,
        topology.region_names(),
        tmetrics,
        clocks,
        dispatch.into_handler(),
    )?))
}

/// Reaches each region at its peer address, or at the relay the config puts in front of it.
fn peer_caller(cfg: &NodeConfig, transport: Option<Arc<Transport>>) -> PeerCaller {
    let mut routes: HashMap<String, SocketAddr> = cfg
        .topology
        .regions
        .iter()
        .map(|r| (r.name.clone(), r.peer))
        .collect();
    for (r, addr) in &cfg.peer_routes {
        routes.insert(r.clone(), *addr);
    }
    PeerCaller {
        transport,
        peers: Arc::new(PeerBook::new(routes)),
    }
}

/// The groups a node opened, and the meta group's catalog with its placement records (None
/// in a single-region topology).
struct Opened {
    groups: Arc<Groups>,
    catalog: Option<(Arc<Catalog>, Arc<PlacementRecords>)>,
}

/// Opens a replica slot for every planned group, the meta group first. Every region keeps a
/// slot for every group, idle where the group is not placed, so that a placement change can
/// add the region online. A placement changed at run time (its catalog record) is in force
/// instead of the topology's, and such a group is never bootstrapped again (its leader adds
/// replicas).
/// Tells the store which origin logs make up each multi-master collection, before any of
/// them replays, so every version applied is compared with the other origins' heads.
fn register_origins(topology: &crate::config::Topology, store: &Store) {
    for p in &topology.collections {
        if p.tier != crate::config::Tier::MultiMaster {
            continue;
        }
        store.register_origins(crate::store::OriginSet {
            collection: p.name.clone(),
            origins: p
                .regions
                .iter()
                .map(|r| (r.clone(), placement::origin_group_id(&p.name, r).0))
                .collect(),
            detect: p.conflict != crate::config::ConflictRule::Crdt,
            resolver: topology.resolvers.get(&p.name),
        });
    }
}

async fn open_groups(
    cfg: &NodeConfig,
    region: &Arc<str>,
    clock: &Arc<Hlc>,
    store: &Arc<Store>,
    caller: &PeerCaller,
    metrics: &Metrics,
) -> Result<Opened, NodeError> {
    let topology = &cfg.topology;
    let ack_metrics = AckMetrics::register(&metrics.registry)?;
    let mut groups = Vec::new();
    let mut catalog: Option<Arc<Catalog>> = None;
    let mut records: Option<Arc<PlacementRecords>> = None;
    for planned in placement::plan(topology) {
        let gid = planned.id;
        let changed = match &records {
            Some(r) if gid != GroupId::DEFAULT_DATA => r
                .get(&planned.name)
                .map_err(|e| NodeError::Catalog(e.to_string()))?
                .map(|(r, _)| r.placement),
            _ => None,
        };
        let retired = LogGroup::retired_in(&cfg.data_dir, gid);
        let spec = match &changed {
            Some(p) => placement::placement_spec(p),
            None => planned,
        };
        let settings = &topology.node;
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
            region.clone(),
            clock.clone(),
            store.clone(),
            options,
            caller.clone(),
            Some(metrics.wal.clone()),
            Some(ack_metrics.clone()),
        )
        .await?;
        tracing::info!(
            %region,
            group = %gid,
            segments = report.segments,
            first = ?report.first_index,
            last = ?report.last_index,
            "log recovered"
        );
        if gid == GroupId::META {
            let c = Catalog::new(
                group.clone(),
                placement::plan(topology)
                    .into_iter()
                    .filter(|s| s.promotes_learner),
            );
            records = Some(PlacementRecords::new(c.clone()));
            catalog = Some(c);
        }
        groups.push(group);
    }
    Ok(Opened {
        groups: Arc::new(Groups::new(groups)),
        catalog: catalog.zip(records),
    })
}

/// The catalog fences and promotes the `standard` groups (catalog/failover.rs), holds the
/// placements changed at run time (placement/follower.rs) and the session keys.
fn follow_catalog(
    (catalog, records): &(Arc<Catalog>, Arc<PlacementRecords>),
    groups: &Arc<Groups>,
    keys: &SessionKeyRing,
    seed: [u8; 32],
    region: &str,
    metrics: &Metrics,
    tasks: &mut JoinSet<()>,
) -> Result<(), NodeError> {
    // a restarted region signs with the cluster's keys from its first request
    if let Ok(Some(ring)) = catalog.session_keys() {
        *keys.write().expect("session keys") = ring;
    }
    tasks.spawn(placement::follower::follow(records.clone(), groups.clone()));
    tasks.spawn(crate::catalog::session_keys::follow(
        catalog.clone(),
        keys.clone(),
        seed,
    ));
    let failover_metrics = FailoverMetrics::register(&metrics.registry)?;
    for g in groups
        .iter()
        .filter(|g| g.promotes_learner() && g.spec().has(region))
    {
        g.set_sync_recorder(catalog.clone());
        g.spawn_task(failover::watch(
            catalog.clone(),
            Arc::downgrade(g),
            failover_metrics.clone(),
        ));
    }
    Ok(())
}

/// The sinks (`[[sinks]]`, run by the slots' group leader) and the filtered replicas
/// (`[[replicas]]`, each run by its source's group leader, which holds what its slot
/// follows; it creates its slot the first time).
fn start_sinks(
    topology: &Topology,
    groups: &Arc<Groups>,
    slot_group: &Arc<LogGroup>,
    clock: &Arc<Hlc>,
    region: &str,
    metrics: &Metrics,
    tasks: &mut JoinSet<()>,
) -> Result<(), NodeError> {
    if topology.sinks.is_empty() && topology.replicas.is_empty() {
        return Ok(());
    }
    let sink_metrics = crate::cdc::sink::SinkMetrics::register(&metrics.registry)?;
    let runner = |sink, lead: &Arc<LogGroup>, ensure| crate::cdc::sink::SinkRunner {
        sink,
        slots: crate::cdc::SlotStore::new(slot_group.clone()),
        groups: groups.clone(),
        lead: lead.clone(),
        ensure,
        region: region.to_string(),
        clock: clock.clone(),
        metrics: sink_metrics.clone(),
    };
    for sink in &topology.sinks {
        tasks.spawn(runner(sink.clone(), slot_group, None).run());
    }
    for r in &topology.replicas {
        let lead = groups
            .get(crate::placement::group_id_for(&r.source))
            .or_else(|| groups.get(GroupId::DEFAULT_DATA))
            .expect("every node opens the default group");
        tasks.spawn(
            runner(
                r.sink(),
                lead,
                Some(crate::cdc::sink::replica::slot_spec(r)),
            )
            .run(),
        );
    }
    Ok(())
}

/// Every replica runs an archiver (only the group's leader ships, see archiver/); without
/// an archive, the store's durable checkpoint is all recovery needs and a purger trims the
/// WAL.
fn start_archiving(
    topology: &Topology,
    groups: &Groups,
    metrics: &Metrics,
) -> Result<(), NodeError> {
    match &topology.archive {
        Some(archive) => {
            let families = crate::archiver::ArchiveMetricFamilies::register(&metrics.registry)?;
            for g in groups.iter() {
                g.spawn_task(archiver(topology, archive, &families, g)?.run(g.clone()));
            }
        }
        None => {
            for g in groups.iter() {
                g.spawn_task(purger(g.clone()));
            }
        }
    }
    Ok(())
}

impl Drop for Node {
    /// A node dropped without `shutdown` (a test's, or an aborted start-up's caller) still
    /// stops what runs in the background for it: some group tasks hold their group, which
    /// would otherwise outlive the node.
    fn drop(&mut self) {
        self.tasks.abort_all();
        for g in self.groups.iter() {
            g.stop_tasks();
        }
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
async fn purger(group: Arc<LogGroup>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        crate::archiver::purge(&group, u64::MAX).await;
    }
}

/// Builds a group's archiver from `[archive]`: key ring (never logged), backend, metrics.
fn archiver(
    topology: &Topology,
    archive: &crate::config::Archive,
    families: &crate::archiver::ArchiveMetricFamilies,
    group: &LogGroup,
) -> Result<crate::archiver::Archiver, NodeError> {
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
    tracing::info!(url = %archive.url, group = %group.id(), "archiving sealed segments");
    Ok(archiver)
}
