//! Collection placements: which regions hold a collection and how its writes are acknowledged.

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use crate::consistency::Consistency;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 3+ voter regions (odd), synchronous.
    Critical,
    /// 1 voter + 1 learner in another region, semi-synchronous.
    Standard,
    /// 1 voter, asynchronous; the archive is the copy beyond the region.
    Archival,
    /// Every listed region accepts writes, acknowledged after its own fsync; each region's
    /// writes are its own origin log, replicated to the others asynchronously; concurrent
    /// versions are resolved by the collection's [`ConflictRule`].
    MultiMaster,
}

/// How a multi-master collection resolves concurrent versions of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictRule {
    /// The highest HLC wins, ties by region name; the losers go to the conflict feed.
    #[default]
    Lww,
    /// Typed CRDTs (`crdt = ...`): merged, never lost.
    Crdt,
    /// A sandboxed resolver script (`resolver = ...`).
    Custom,
}

/// The data type of a `conflict = "crdt"` collection: every document of it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrdtKind {
    GCounter,
    PnCounter,
    LwwRegister,
    OrSet,
    MvRegister,
}

impl CrdtKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CrdtKind::GCounter => "g_counter",
            CrdtKind::PnCounter => "pn_counter",
            CrdtKind::LwwRegister => "lww_register",
            CrdtKind::OrSet => "or_set",
            CrdtKind::MvRegister => "mv_register",
        }
    }
}

impl ConflictRule {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictRule::Lww => "lww",
            ConflictRule::Crdt => "crdt",
            ConflictRule::Custom => "custom",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckMode {
    /// Every voter durable.
    Sync,
    /// Leader plus `min_sync_replicas` replicas durable.
    SemiSync,
    /// Leader durable.
    Async,
}

/// `[[collections]]` as written in the topology file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CollectionSpec {
    pub name: String,
    pub tier: Tier,
    pub regions: Vec<String>,
    pub consistency: Option<Consistency>,
    pub max_staleness_ms: Option<u64>,
    pub ack_mode: Option<AckMode>,
    pub min_sync_replicas: Option<u32>,
    pub semi_sync_timeout_ms: Option<u64>,
    /// Extra regions that receive the log as learners and serve local reads.
    pub learners: Option<Vec<String>>,
    /// Multi-master only: how concurrent versions are resolved (default `lww`).
    pub conflict: Option<ConflictRule>,
    /// Multi-master with `conflict = "crdt"`: the data type.
    pub crdt: Option<CrdtKind>,
    /// Multi-master with `conflict = "custom"`: the resolver script.
    pub resolver: Option<String>,
}

/// A validated placement with the tier's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub name: String,
    pub tier: Tier,
    /// The first region leads; the rest are voters (critical) or learners (standard).
    pub regions: Vec<String>,
    pub consistency: Consistency,
    pub max_staleness_ms: u64,
    pub ack_mode: AckMode,
    pub min_sync_replicas: u32,
    pub semi_sync_timeout_ms: u64,
    /// Read replicas beyond the tier's regions.
    #[serde(default)]
    pub learners: Vec<String>,
    /// Multi-master: how concurrent versions are resolved (`lww` for the other tiers, where
    /// no two versions are ever concurrent).
    #[serde(default)]
    pub conflict: ConflictRule,
    /// With `conflict = "crdt"`: the data type of every document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crdt: Option<CrdtKind>,
    /// With `conflict = "custom"`: the resolver script's path as the topology names it
    /// (compiled at load into `Topology::resolvers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<String>,
}

impl CollectionSpec {
    /// An archival collection in one region with the tier's defaults.
    pub(crate) fn archival(name: &str, region: &str) -> CollectionSpec {
        CollectionSpec {
            name: name.to_string(),
            tier: Tier::Archival,
            regions: vec![region.to_string()],
            consistency: None,
            max_staleness_ms: None,
            ack_mode: None,
            min_sync_replicas: None,
            semi_sync_timeout_ms: None,
            learners: None,
            conflict: None,
            crdt: None,
            resolver: None,
        }
    }

    /// Checks this spec (found at `field`, e.g. `collections[2]`) against the known regions.
    pub(crate) fn validate(
        &self,
        field: &str,
        regions: &[String],
        default_consistency: Consistency,
        default_staleness_ms: u64,
        warnings: &mut Vec<String>,
    ) -> Result<Placement, ConfigError> {
        super::names::check_collection_name(&self.name)
            .map_err(|r| invalid(format!("{field}.name"), r))?;
        for (i, r) in self.regions.iter().enumerate() {
            if !regions.contains(r) {
                return Err(invalid(
                    format!("{field}.regions[{i}]"),
                    format!("unknown region {r:?} (regions are: {})", regions.join(", ")),
                ));
            }
            if self.regions[..i].contains(r) {
                return Err(invalid(
                    format!("{field}.regions[{i}]"),
                    format!("region {r:?} is listed twice"),
                ));
            }
        }
        let learners = self.learners.clone().unwrap_or_default();
        for (i, r) in learners.iter().enumerate() {
            let problem = if !regions.contains(r) {
                Some(format!(
                    "unknown region {r:?} (regions are: {})",
                    regions.join(", ")
                ))
            } else if self.regions.contains(r) {
                Some(format!("region {r:?} is already in `regions`"))
            } else if learners[..i].contains(r) {
                Some(format!("region {r:?} is listed twice"))
            } else {
                None
            };
            if let Some(reason) = problem {
                return Err(invalid(format!("{field}.learners[{i}]"), reason));
            }
        }
        let n = self.regions.len();
        let tier_ok = match self.tier {
            Tier::Critical => n >= 3 && n % 2 == 1,
            Tier::Standard => n == 2,
            Tier::Archival => n == 1,
            Tier::MultiMaster => n >= 2,
        };
        if !tier_ok {
            let need = match self.tier {
                Tier::Critical => "an odd number of regions, at least 3",
                Tier::Standard => "exactly 2 regions (voter, then learner)",
                Tier::Archival => "exactly 1 region",
                Tier::MultiMaster => "at least 2 regions (each accepts writes)",
            };
            return Err(invalid(
                format!("{field}.regions"),
                format!("tier {:?} needs {need}; {n} given", self.tier),
            ));
        }
        let (conflict, crdt) = self.check_multi_master(field, &learners)?;
        let resolver = (conflict == ConflictRule::Custom)
            .then(|| self.resolver.clone())
            .flatten();
        let (ack_default, min_default) = match self.tier {
            Tier::Critical => (AckMode::Sync, (n - 1) as u32),
            Tier::Standard => (AckMode::SemiSync, 1),
            Tier::Archival | Tier::MultiMaster => (AckMode::Async, 0),
        };
        let ack_mode = self.ack_mode.unwrap_or(ack_default);
        let min_sync_replicas = self.min_sync_replicas.unwrap_or(match ack_mode {
            AckMode::Async => 0,
            _ => min_default,
        });
        // SYNC counts voters; SEMI_SYNC counts learners too
        let others = match ack_mode {
            AckMode::Sync => n.saturating_sub(1),
            _ => n.saturating_sub(1) + learners.len(),
        };
        if min_sync_replicas as usize > others {
            return Err(invalid(
                format!("{field}.min_sync_replicas"),
                format!("{min_sync_replicas} exceeds the {others} other regions"),
            ));
        }
        match ack_mode {
            AckMode::Sync if min_sync_replicas == 0 && n > 1 => {
                return Err(invalid(
                    format!("{field}.min_sync_replicas"),
                    "0 with ack_mode = \"sync\" contradicts itself: sync waits for every voter; \
                     use ack_mode = \"async\" or a positive min_sync_replicas",
                ));
            }
            AckMode::SemiSync if min_sync_replicas == 0 => warnings.push(format!(
                "{field}.min_sync_replicas = 0 with ack_mode = \"semi_sync\" acknowledges on the \
                 leader alone (same as async)"
            )),
            _ => {}
        }
        let consistency = match (self.tier, self.consistency) {
            (Tier::MultiMaster, None) if default_consistency == Consistency::Strong => {
                warnings.push(format!(
                    "{field}: multi-master collections have no STRONG reads; requests that \
                     name no level get session, not the node's default strong"
                ));
                Consistency::Session
            }
            (_, c) => c.unwrap_or(default_consistency),
        };
        Ok(Placement {
            name: self.name.clone(),
            tier: self.tier,
            regions: self.regions.clone(),
            consistency,
            max_staleness_ms: self.max_staleness_ms.unwrap_or(default_staleness_ms),
            ack_mode,
            min_sync_replicas,
            semi_sync_timeout_ms: self.semi_sync_timeout_ms.unwrap_or(2000),
            learners,
            conflict,
            crdt,
            resolver,
        })
    }

    /// The multi-master settings: refused on the other tiers, and on multi-master whatever
    /// would break its promise (a local ack, every region a writer).
    fn check_multi_master(
        &self,
        field: &str,
        learners: &[String],
    ) -> Result<(ConflictRule, Option<CrdtKind>), ConfigError> {
        if self.tier != Tier::MultiMaster {
            for (name, set) in [
                ("conflict", self.conflict.is_some()),
                ("crdt", self.crdt.is_some()),
                ("resolver", self.resolver.is_some()),
            ] {
                if set {
                    return Err(invalid(
                        format!("{field}.{name}"),
                        "only a tier = \"multi_master\" collection resolves conflicts",
                    ));
                }
            }
            return Ok((ConflictRule::Lww, None));
        }
        if !learners.is_empty() {
            return Err(invalid(
                format!("{field}.learners"),
                "a multi-master collection has no learners: every listed region writes, \
                 list the region in `regions`",
            ));
        }
        if self.consistency == Some(Consistency::Strong) {
            return Err(invalid(
                format!("{field}.consistency"),
                "a multi-master collection has no STRONG reads (writes are acknowledged by \
                 one region); use session, bounded_staleness, consistent_prefix or eventual",
            ));
        }
        for (name, set) in [
            (
                "ack_mode",
                self.ack_mode.is_some_and(|m| m != AckMode::Async),
            ),
            (
                "min_sync_replicas",
                self.min_sync_replicas.is_some_and(|m| m > 0),
            ),
        ] {
            if set {
                return Err(invalid(
                    format!("{field}.{name}"),
                    "a multi-master write is acknowledged after its region's own fsync \
                     (async); replication to the other regions is asynchronous",
                ));
            }
        }
        let rule = self.conflict.unwrap_or_default();
        match rule {
            ConflictRule::Lww => {
                for (name, set) in [
                    ("crdt", self.crdt.is_some()),
                    ("resolver", self.resolver.is_some()),
                ] {
                    if set {
                        return Err(invalid(
                            format!("{field}.{name}"),
                            format!("{name} needs conflict = \"{name}\" (this collection is lww)")
                                .replace("conflict = \"resolver\"", "conflict = \"custom\""),
                        ));
                    }
                }
                Ok((rule, None))
            }
            ConflictRule::Crdt => {
                if self.resolver.is_some() {
                    return Err(invalid(
                        format!("{field}.resolver"),
                        "resolver needs conflict = \"custom\" (this collection is crdt)",
                    ));
                }
                let kind = self.crdt.ok_or_else(|| {
                    invalid(
                        format!("{field}.crdt"),
                        "conflict = \"crdt\" needs the data type: g_counter, pn_counter, \
                         lww_register, or_set or mv_register",
                    )
                })?;
                Ok((rule, Some(kind)))
            }
            ConflictRule::Custom => {
                if self.crdt.is_some() {
                    return Err(invalid(
                        format!("{field}.crdt"),
                        "crdt needs conflict = \"crdt\" (this collection is custom)",
                    ));
                }
                if self.resolver.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid(
                        format!("{field}.resolver"),
                        "conflict = \"custom\" needs resolver = \"<path of a Rhai script \
                         defining fn resolve(a, b)>\", relative to the topology",
                    ));
                }
                Ok((rule, None))
            }
        }
    }
}
