//! `[[replicas]]` in the topology: filtered replicas, or selective replication (issue 17).
//! `name = "orders-acme", source = "orders", region = "eu-west-1", filter = "tenant == 'acme'"`
//! keeps in `region` a read-only collection `name` holding the documents of `source` that
//! match `filter` (all of them without one), applied from a change-data-capture slot
//! (`replica/`). The replica is a collection like any other for readers (its own log group,
//! archival tier, in `region` alone), so it can be the source of another replica; such
//! chains are refused past `MAX_HOPS`, and cycles with them. Validated at load: every
//! problem names the field, e.g. `replicas[1].source`.

use serde::Deserialize;

use super::error::{ConfigError, invalid};
use super::names::check_collection_name;
use super::placement::Placement;

/// Replicas of replicas a chain may have, counting the first replica of a collection as
/// one hop.
pub const MAX_HOPS: usize = 5;

/// The slot a replica is applied from is named this, then the replica's name.
pub const SLOT_PREFIX: &str = "replica.";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplicaSpec {
    name: String,
    source: String,
    region: String,
    filter: Option<String>,
}

/// A validated filtered replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// The read-only collection it keeps.
    pub name: String,
    /// The collection (or replica) it copies.
    pub source: String,
    pub region: String,
    /// The row predicate, checked at load (`predicate.rs`).
    pub filter: Option<String>,
    /// 1 for a replica of a collection, 2 for a replica of that, ...
    pub hops: usize,
}

impl Replica {
    /// The slot it is applied from.
    pub fn slot(&self) -> String {
        format!("{SLOT_PREFIX}{}", self.name)
    }

    /// The sink that applies it.
    pub fn sink(&self) -> super::sinks::Sink {
        super::sinks::Sink {
            slot: self.slot(),
            kind: super::sinks::SinkKind::Replica {
                collection: self.name.clone(),
                filter: self.filter.clone(),
            },
        }
    }
}

/// Checks the replicas against the regions and the placed collections.
pub(super) fn validate(
    specs: Vec<ReplicaSpec>,
    regions: &[String],
    collections: &[Placement],
) -> Result<Vec<Replica>, ConfigError> {
    for (i, s) in specs.iter().enumerate() {
        let field = |f: &str| format!("replicas[{i}].{f}");
        check_collection_name(&s.name).map_err(|r| invalid(field("name"), r))?;
        check_collection_name(&format!("{SLOT_PREFIX}{}", s.name)).map_err(|_| {
            invalid(
                field("name"),
                format!(
                    "{:?} is too long: its slot {SLOT_PREFIX}{0} must fit in 63 characters",
                    s.name
                ),
            )
        })?;
        if let Some(j) = specs[..i].iter().position(|x| x.name == s.name) {
            return Err(invalid(
                field("name"),
                format!("duplicate replica {:?} (also replicas[{j}])", s.name),
            ));
        }
        if collections.iter().any(|c| c.name == s.name) {
            return Err(invalid(
                field("name"),
                format!(
                    "{:?} is a [[collections]] entry; a replica is placed by its own entry \
                     (archival, in its region)",
                    s.name
                ),
            ));
        }
        check_collection_name(&s.source).map_err(|r| invalid(field("source"), r))?;
        if s.source == s.name {
            return Err(invalid(field("source"), "a replica cannot copy itself"));
        }
        if !regions.contains(&s.region) {
            return Err(invalid(
                field("region"),
                format!(
                    "unknown region {:?} (regions are: {})",
                    s.region,
                    regions.join(", ")
                ),
            ));
        }
        if let Some(f) = &s.filter {
            crate::predicate::Predicate::parse(f)
                .map_err(|e| invalid(field("filter"), e.to_string()))?;
        }
    }
    let mut out = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let hops = hops(&specs, i).map_err(|chain| {
            invalid(
                format!("replicas[{i}].source"),
                format!(
                    "a chain of replicas longer than {MAX_HOPS} hops ({}): copy a collection \
                     nearer the origin",
                    chain.join(" <- ")
                ),
            )
        })?;
        out.push(Replica {
            name: s.name.clone(),
            source: s.source.clone(),
            region: s.region.clone(),
            filter: s.filter.clone(),
            hops,
        });
    }
    Ok(out)
}

/// How many hops replica `i` is from a collection that is no replica, or the chain once it
/// passes `MAX_HOPS` (which a cycle always does).
fn hops(specs: &[ReplicaSpec], i: usize) -> Result<usize, Vec<String>> {
    let mut chain = vec![specs[i].name.clone()];
    let mut at = i;
    loop {
        let source = &specs[at].source;
        chain.push(source.clone());
        // hops so far: the links of the chain
        let hops = chain.len() - 1;
        match specs.iter().position(|s| &s.name == source) {
            None => return Ok(hops),
            Some(_) if hops >= MAX_HOPS => return Err(chain),
            Some(next) => at = next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, source: &str) -> ReplicaSpec {
        ReplicaSpec {
            name: name.into(),
            source: source.into(),
            region: "r2".into(),
            filter: None,
        }
    }

    fn regions() -> Vec<String> {
        vec!["r1".into(), "r2".into()]
    }

    fn refused(specs: Vec<ReplicaSpec>) -> (String, String) {
        match validate(specs, &regions(), &[]).unwrap_err() {
            ConfigError::Invalid { field, reason } => (field, reason),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn chains_count_hops_up_to_five() {
        let mut specs = vec![spec("h1", "orders")];
        for n in 2..=MAX_HOPS {
            specs.push(spec(&format!("h{n}"), &format!("h{}", n - 1)));
        }
        let ok = validate(specs.clone(), &regions(), &[]).unwrap();
        assert_eq!(
            ok.iter().map(|r| r.hops).collect::<Vec<_>>(),
            (1..=MAX_HOPS).collect::<Vec<_>>()
        );
        assert_eq!(ok[0].slot(), "replica.h1");
        specs.push(spec("h6", "h5"));
        let (field, reason) = refused(specs);
        assert_eq!(field, "replicas[5].source");
        assert!(
            reason.contains("h6 <- h5 <- h4 <- h3 <- h2 <- h1"),
            "{reason}"
        );
    }

    #[test]
    fn a_cycle_is_refused() {
        let (field, reason) = refused(vec![spec("a", "b"), spec("b", "a")]);
        assert_eq!(field, "replicas[0].source");
        assert!(reason.contains("a <- b <- a"), "{reason}");
    }

    #[test]
    fn bad_entries_are_refused_naming_the_field() {
        let mut bad_filter = spec("x", "orders");
        bad_filter.filter = Some("tenant = 'acme'".into());
        let mut bad_region = spec("x", "orders");
        bad_region.region = "r9".into();
        for (specs, want) in [
            (vec![spec("_x", "orders")], "replicas[0].name"),
            (vec![spec(&"a".repeat(60), "orders")], "replicas[0].name"),
            (
                vec![spec("x", "orders"), spec("x", "users")],
                "replicas[1].name",
            ),
            (vec![spec("x", "x")], "replicas[0].source"),
            (vec![spec("x", "a/b")], "replicas[0].source"),
            (vec![bad_region], "replicas[0].region"),
            (vec![bad_filter], "replicas[0].filter"),
        ] {
            assert_eq!(refused(specs).0, want);
        }
    }
}
