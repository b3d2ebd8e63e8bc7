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
        };
        if !tier_ok {
            let need = match self.tier {
                Tier::Critical => "an odd number of regions, at least 3",
                Tier::Standard => "exactly 2 regions (voter, then learner)",
                Tier::Archival => "exactly 1 region",
            };
            return Err(invalid(
                format!("{field}.regions"),
                format!("tier {:?} needs {need}; {n} given", self.tier),
            ));
        }
        let (ack_default, min_default) = match self.tier {
            Tier::Critical => (AckMode::Sync, (n - 1) as u32),
            Tier::Standard => (AckMode::SemiSync, 1),
            Tier::Archival => (AckMode::Async, 0),
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
        Ok(Placement {
            name: self.name.clone(),
            tier: self.tier,
            regions: self.regions.clone(),
            consistency: self.consistency.unwrap_or(default_consistency),
            max_staleness_ms: self.max_staleness_ms.unwrap_or(default_staleness_ms),
            ack_mode,
            min_sync_replicas,
            semi_sync_timeout_ms: self.semi_sync_timeout_ms.unwrap_or(2000),
            learners,
        })
    }
}
