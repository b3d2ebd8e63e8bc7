//! The topology file: the cluster's regions, the links between them, the archive and the
//! collection placements. Loaded once at start-up and validated whole: the first problem is
//! reported with the path of the field that has it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use super::names::check_region_name;
use super::placement::{CollectionSpec, Placement};
use super::settings::NodeSettings;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFile {
    cluster: String,
    #[serde(default)]
    node: NodeSettings,
    #[serde(default)]
    session: SessionSpec,
    #[serde(default)]
    tls: TlsSpec,
    regions: Vec<RegionSpec>,
    #[serde(default)]
    links: Vec<LinkSpec>,
    archive: Option<ArchiveSpec>,
    #[serde(default)]
    collections: Vec<CollectionSpec>,
    #[serde(default)]
    auth: super::auth::AuthSpec,
    #[serde(default)]
    api: super::api::ApiSpec,
    #[serde(default)]
    sinks: Vec<super::sinks::SinkSpec>,
    #[serde(default)]
    replicas: Vec<super::replicas::ReplicaSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionSpec {
    key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSpec {
    certs_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionSpec {
    name: String,
    api: String,
    peer: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkSpec {
    between: [String; 2],
    rtt_ms: u64,
    #[serde(default)]
    jitter_ms: u64,
    #[serde(default)]
    loss_pct: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchiveSpec {
    url: String,
    key_file: Option<PathBuf>,
    key_env: Option<String>,
    #[serde(default = "default_retention_days")]
    retention_days: f64,
    #[serde(default = "default_snapshot_interval_s")]
    snapshot_interval_s: u64,
    #[serde(default = "default_wal_cap_mib")]
    wal_cap_mib: u64,
    #[serde(default = "default_zstd_level")]
    zstd_level: i32,
    cold_after_days: Option<f64>,
    cold_storage_class: Option<String>,
}

fn default_retention_days() -> f64 {
    7.0
}

fn default_snapshot_interval_s() -> u64 {
    3600
}

fn default_wal_cap_mib() -> u64 {
    4096
}

fn default_zstd_level() -> i32 {
    3
}

/// S3 storage classes an object can be read from at once. Archive classes (GLACIER,
/// DEEP_ARCHIVE) need a thaw request before each GET, which a restore cannot wait for.
pub const COLD_STORAGE_CLASSES: &[&str] = &[
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Region {
    pub name: String,
    pub api: SocketAddr,
    pub peer: SocketAddr,
}

/// An emulated WAN link between two regions (both directions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub between: [String; 2],
    pub rtt_ms: u64,
    pub jitter_ms: u64,
    pub loss_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ArchiveKey {
    File(PathBuf),
    Env(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Archive {
    pub url: String,
    pub key: ArchiveKey,
    /// Restore points are kept this long (fractions allowed: 0.5 is 12 hours).
    pub retention_days: f64,
    /// How often the leader of each group archives a base snapshot.
    pub snapshot_interval_s: u64,
    /// Unarchived WAL a group may hold before its leader refuses writes.
    pub wal_cap_bytes: u64,
    pub zstd_level: i32,
    /// S3 only: archived objects older than this move to `cold_storage_class`.
    pub cold: Option<ColdTier>,
}

impl Archive {
    /// An archive at `url` with every other setting at its default.
    pub fn new(url: String, key: ArchiveKey) -> Archive {
        Archive {
            url,
            key,
            retention_days: default_retention_days(),
            snapshot_interval_s: default_snapshot_interval_s(),
            wal_cap_bytes: default_wal_cap_mib() << 20,
            zstd_level: default_zstd_level(),
            cold: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColdTier {
    pub after_days: f64,
    pub storage_class: String,
}

/// A validated topology.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub cluster: String,
    pub node: NodeSettings,
    /// Absolute path of the shared session-token key, if the file names one.
    pub session_key_file: Option<PathBuf>,
    /// Directory of the cluster CA and node certificates (`georep certs init`), absolute.
    pub certs_dir: Option<PathBuf>,
    pub regions: Vec<Region>,
    pub links: Vec<Link>,
    pub archive: Option<Archive>,
    pub collections: Vec<Placement>,
    /// Who may call the client API (`[auth]`).
    pub auth: super::auth::AuthConfig,
    /// HTTPS on the client API (`[api] tls = true`), if asked for.
    pub api_tls: Option<super::api::ApiTls>,
    /// Where slots' changes are pushed (`[[sinks]]`).
    pub sinks: Vec<super::sinks::Sink>,
    /// Filtered replicas (`[[replicas]]`); each one's collection is also in `collections`.
    pub replicas: Vec<super::replicas::Replica>,
    /// The compiled resolver of each `conflict = "custom"` collection.
    pub resolvers: super::resolvers::Resolvers,
    /// Allowed but questionable settings, logged at start-up.
    pub warnings: Vec<String>,
}

impl Topology {
    pub fn load(path: &Path) -> Result<Topology, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Topology::parse(&text, path, base)
    }

    /// Parses topology text; relative paths inside it are taken from `base`.
    pub fn parse(text: &str, origin: &Path, base: &Path) -> Result<Topology, ConfigError> {
        let file: TopologyFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        file.validate(base)
    }

    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    pub fn region_names(&self) -> Vec<String> {
        self.regions.iter().map(|r| r.name.clone()).collect()
    }

    pub fn collection(&self, name: &str) -> Option<&Placement> {
        self.collections.iter().find(|c| c.name == name)
    }

    /// The filtered replica that keeps `collection`, if it is one (read-only to clients).
    pub fn replica(&self, collection: &str) -> Option<&super::replicas::Replica> {
        self.replicas.iter().find(|r| r.name == collection)
    }
}

impl TopologyFile {
    fn validate(self, base: &Path) -> Result<Topology, ConfigError> {
        check_region_name(&self.cluster).map_err(|r| invalid("cluster", r))?;
        self.node.validate()?;
        if self.regions.is_empty() {
            return Err(invalid("regions", "at least one region is required"));
        }
        let mut regions: Vec<Region> = Vec::new();
        let mut addrs: HashMap<SocketAddr, String> = HashMap::new();
        let mut node_ids: HashMap<u32, String> = HashMap::new();
        for (i, r) in self.regions.iter().enumerate() {
            let field = format!("regions[{i}]");
            check_region_name(&r.name).map_err(|e| invalid(format!("{field}.name"), e))?;
            if let Some(j) = regions.iter().position(|x| x.name == r.name) {
                return Err(invalid(
                    format!("{field}.name"),
                    format!("duplicate region {:?} (also regions[{j}])", r.name),
                ));
            }
            if let Some(other) =
                node_ids.insert(crate::clock::node_id_for_region(&r.name), r.name.clone())
            {
                return Err(invalid(
                    format!("{field}.name"),
                    format!(
                        "{:?} and {other:?} hash to the same clock node id; rename one",
                        r.name
                    ),
                ));
            }
            let mut parse = |what: &str, v: &str| -> Result<SocketAddr, ConfigError> {
                let addr: SocketAddr = v.parse().map_err(|_| {
                    invalid(
                        format!("{field}.{what}"),
                        format!("{v:?} is not an IP socket address (like 127.0.0.1:7101)"),
                    )
                })?;
                if addr.port() != 0
                    && let Some(prev) = addrs.insert(addr, format!("{field}.{what}"))
                {
                    return Err(invalid(
                        format!("{field}.{what}"),
                        format!("{addr} is already used by {prev}"),
                    ));
                }
                Ok(addr)
            };
            let api = parse("api", &r.api)?;
            let peer = parse("peer", &r.peer)?;
            regions.push(Region {
                name: r.name.clone(),
                api,
                peer,
            });
        }
        let names: Vec<String> = regions.iter().map(|r| r.name.clone()).collect();

        let mut links: Vec<Link> = Vec::new();
        for (i, l) in self.links.iter().enumerate() {
            let field = format!("links[{i}]");
            for (k, r) in l.between.iter().enumerate() {
                if !names.contains(r) {
                    return Err(invalid(
                        format!("{field}.between[{k}]"),
                        format!("unknown region {r:?}"),
                    ));
                }
            }
            if l.between[0] == l.between[1] {
                return Err(invalid(
                    format!("{field}.between"),
                    "a link needs two different regions",
                ));
            }
            let same = |x: &Link| {
                let mut a = x.between.clone();
                let mut b = l.between.clone();
                a.sort();
                b.sort();
                a == b
            };
            if links.iter().any(same) {
                return Err(invalid(
                    format!("{field}.between"),
                    "this pair already has a link",
                ));
            }
            if l.rtt_ms > 10_000 {
                return Err(invalid(
                    format!("{field}.rtt_ms"),
                    format!("{} ms is over 10 s", l.rtt_ms),
                ));
            }
            if l.jitter_ms > l.rtt_ms {
                return Err(invalid(
                    format!("{field}.jitter_ms"),
                    "jitter cannot exceed the RTT",
                ));
            }
            if !(0.0..=100.0).contains(&l.loss_pct) {
                return Err(invalid(
                    format!("{field}.loss_pct"),
                    "must be a percentage 0-100",
                ));
            }
            links.push(Link {
                between: l.between.clone(),
                rtt_ms: l.rtt_ms,
                jitter_ms: l.jitter_ms,
                loss_pct: l.loss_pct,
            });
        }

        let archive = match self.archive {
            None => None,
            Some(a) => {
                let scheme = a.url.split_once("://").map(|(s, _)| s);
                if !matches!(scheme, Some("s3" | "gs" | "az" | "file")) {
                    return Err(invalid(
                        "archive.url",
                        format!("{:?} must start with s3://, gs://, az:// or file://", a.url),
                    ));
                }
                let key = match (a.key_file, a.key_env) {
                    (Some(f), None) => ArchiveKey::File(base.join(f)),
                    (None, Some(e)) if !e.is_empty() => ArchiveKey::Env(e),
                    (None, Some(_)) => return Err(invalid("archive.key_env", "is empty")),
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            "archive.key_file",
                            "give key_file or key_env, not both",
                        ));
                    }
                    (None, None) => {
                        return Err(invalid(
                            "archive",
                            "key_file or key_env is required (archives are always encrypted)",
                        ));
                    }
                };
                if !(a.retention_days.is_finite() && a.retention_days > 0.0) {
                    return Err(invalid(
                        "archive.retention_days",
                        "must be a positive number of days",
                    ));
                }
                if a.snapshot_interval_s == 0 {
                    return Err(invalid("archive.snapshot_interval_s", "must be at least 1"));
                }
                // Only sealed segments ship: a cap under two segments could hold writes
                // until the active segment seals by age.
                if (a.wal_cap_mib << 20) < 2 * self.node.wal_segment_bytes {
                    return Err(invalid(
                        "archive.wal_cap_mib",
                        format!(
                            "{} MiB is less than two WAL segments (node.wal_segment_bytes = {})",
                            a.wal_cap_mib, self.node.wal_segment_bytes
                        ),
                    ));
                }
                if !(1..=19).contains(&a.zstd_level) {
                    return Err(invalid("archive.zstd_level", "must be 1 to 19"));
                }
                let cold = match (a.cold_after_days, a.cold_storage_class) {
                    (None, None) => None,
                    (None, Some(_)) => {
                        return Err(invalid(
                            "archive.cold_storage_class",
                            "needs cold_after_days",
                        ));
                    }
                    (Some(days), class) => {
                        if scheme != Some("s3") {
                            return Err(invalid(
                                "archive.cold_after_days",
                                "storage-class transitions are S3 only; for gs:// and az:// set \
                                 the bucket's lifecycle rules (terraform/modules/archive_bucket_*)",
                            ));
                        }
                        if !(days.is_finite() && days >= 0.0) {
                            return Err(invalid(
                                "archive.cold_after_days",
                                "must be zero or a positive number of days",
                            ));
                        }
                        if days >= a.retention_days {
                            return Err(invalid(
                                "archive.cold_after_days",
                                format!(
                                    "{days} must be less than retention_days ({})",
                                    a.retention_days
                                ),
                            ));
                        }
                        let class = class.unwrap_or_else(|| "STANDARD_IA".to_string());
                        if !COLD_STORAGE_CLASSES.contains(&class.as_str()) {
                            return Err(invalid(
                                "archive.cold_storage_class",
                                format!(
                                    "{class:?} is not one of {} (archive classes need a thaw \
                                     before every read, which a restore cannot wait for)",
                                    COLD_STORAGE_CLASSES.join(", ")
                                ),
                            ));
                        }
                        Some(ColdTier {
                            after_days: days,
                            storage_class: class,
                        })
                    }
                };
                Some(Archive {
                    url: a.url,
                    key,
                    retention_days: a.retention_days,
                    snapshot_interval_s: a.snapshot_interval_s,
                    wal_cap_bytes: a.wal_cap_mib << 20,
                    zstd_level: a.zstd_level,
                    cold,
                })
            }
        };

        let mut warnings = Vec::new();
        let mut collections: Vec<Placement> = Vec::new();
        for (i, c) in self.collections.iter().enumerate() {
            let field = format!("collections[{i}]");
            let p = c.validate(
                &field,
                &names,
                self.node.default_consistency,
                self.node.default_max_staleness_ms,
                &mut warnings,
            )?;
            if let Some(j) = collections.iter().position(|x| x.name == p.name) {
                return Err(invalid(
                    format!("{field}.name"),
                    format!("duplicate collection {:?} (also collections[{j}])", p.name),
                ));
            }
            collections.push(p);
        }
        let resolvers = super::resolvers::load(&collections, base)?;
        let auth = self.auth.validate(base)?;
        let api_tls = self.api.validate(base)?;
        let sinks = super::sinks::validate(self.sinks, base)?;
        let replicas = super::replicas::validate(self.replicas, &names, &collections)?;
        for (i, r) in replicas.iter().enumerate() {
            // placed like an archival collection listed in the file: one region, async
            let spec = CollectionSpec::archival(&r.name, &r.region);
            collections.push(spec.validate(
                &format!("replicas[{i}]"),
                &names,
                self.node.default_consistency,
                self.node.default_max_staleness_ms,
                &mut warnings,
            )?);
        }

        Ok(Topology {
            cluster: self.cluster,
            node: self.node,
            session_key_file: self.session.key_file.map(|f| base.join(f)),
            certs_dir: self.tls.certs_dir.map(|d| base.join(d)),
            regions,
            links,
            archive,
            collections,
            auth,
            api_tls,
            sinks,
            replicas,
            resolvers,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests;
