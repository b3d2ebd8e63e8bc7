//! The `custom` conflict rule's resolver scripts: read (relative to the topology) and
//! compiled once at load (`merge/resolver.rs`), so a script that does not parse, or lacks
//! `fn resolve(a, b)`, stops the node naming the field, the line and the column.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::error::{ConfigError, invalid};
use super::placement::{ConflictRule, Placement};
use crate::merge::{Limits, Resolver};

#[derive(Clone)]
struct Compiled {
    source: String,
    script: Arc<Resolver>,
}

/// Collection name -> its compiled resolver.
#[derive(Clone, Default)]
pub struct Resolvers(BTreeMap<String, Compiled>);

impl PartialEq for Resolvers {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((a, x), (b, y))| a == b && x.source == y.source)
    }
}

impl std::fmt::Debug for Resolvers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Resolvers {
    pub fn get(&self, collection: &str) -> Option<Arc<Resolver>> {
        self.0.get(collection).map(|c| c.script.clone())
    }
}

/// Compiles the resolver of every `conflict = "custom"` collection (indexes as in the file).
pub(super) fn load(collections: &[Placement], base: &Path) -> Result<Resolvers, ConfigError> {
    let mut out = BTreeMap::new();
    for (i, p) in collections.iter().enumerate() {
        if p.conflict != ConflictRule::Custom {
            continue;
        }
        let field = format!("collections[{i}].resolver");
        let Some(path) = p.resolver.as_deref() else {
            return Err(invalid(field, "missing"));
        };
        let full = base.join(path);
        let source = std::fs::read_to_string(&full).map_err(|e| {
            invalid(
                field.clone(),
                format!("cannot read {}: {e}", full.display()),
            )
        })?;
        let script = Resolver::compile(&source, path, Limits::default())
            .map_err(|e| invalid(field.clone(), e.to_string()))?;
        out.insert(
            p.name.clone(),
            Compiled {
                source,
                script: Arc::new(script),
            },
        );
    }
    Ok(Resolvers(out))
}
