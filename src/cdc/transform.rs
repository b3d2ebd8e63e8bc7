//! The transform hook: a slot's field projection (`"project": ["id", "address.city"]`),
//! applied to each event's `before` and `after` as the slot is read, so a consumer receives
//! the fields it needs and nothing else leaves the cluster.
//!
//! A projection keeps the named fields of a JSON object and drops the rest; a dotted path
//! keeps a nested field inside its parent object (`address.city` gives
//! `{"address": {"city": ...}}`). A field the document lacks is left out, not set to null;
//! so is a parent that kept nothing. A document that is not a JSON object (a scalar, an
//! array, or bytes shown as `{"$binary": ...}`) is delivered whole: a projection names
//! object fields, and delivering an empty document instead would lose it silently.
//!
//! Compiled once, at slot creation; the paths are refused there, naming the entry.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Entries a projection may name.
pub const MAX_FIELDS: usize = 64;
/// Bytes one entry may have.
const MAX_PATH_BYTES: usize = 256;

/// Why a projection was refused: `index` is the entry of `project`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("project[{index}]: {reason}")]
pub struct ProjectionError {
    pub index: usize,
    pub reason: String,
}

/// The fields kept at one level: for each name, its subtree, or `None` to keep it whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tree(BTreeMap<String, Option<Tree>>);

impl Tree {
    fn add(&mut self, path: &[&str]) {
        let (first, rest) = path.split_first().expect("paths have a name");
        if rest.is_empty() {
            // the whole field: it covers any narrower path into it
            self.0.insert(first.to_string(), None);
            return;
        }
        match self
            .0
            .entry(first.to_string())
            .or_insert_with(|| Some(Tree::default()))
        {
            None => {}
            Some(sub) => sub.add(rest),
        }
    }

    fn keep(&self, mut object: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, sub) in &self.0 {
            let Some(v) = object.remove(name) else {
                continue;
            };
            match (sub, v) {
                (None, v) => {
                    out.insert(name.clone(), v);
                }
                (Some(sub), Value::Object(inner)) => {
                    let kept = sub.keep(inner);
                    if !kept.is_empty() {
                        out.insert(name.clone(), Value::Object(kept));
                    }
                }
                // a path through a field that is not an object: nothing there to keep
                (Some(_), _) => {}
            }
        }
        out
    }
}

/// A compiled projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    tree: Tree,
}

impl Projection {
    pub fn compile(paths: &[String]) -> Result<Projection, ProjectionError> {
        if paths.len() > MAX_FIELDS {
            return Err(ProjectionError {
                index: MAX_FIELDS,
                reason: format!("at most {MAX_FIELDS} fields; {} given", paths.len()),
            });
        }
        let mut tree = Tree::default();
        for (index, path) in paths.iter().enumerate() {
            let bad = |reason: String| ProjectionError { index, reason };
            if path.len() > MAX_PATH_BYTES {
                return Err(bad(format!("longer than {MAX_PATH_BYTES} bytes")));
            }
            let names: Vec<&str> = path.split('.').collect();
            if names.iter().any(|n| n.is_empty()) {
                return Err(bad(format!(
                    "{path:?} is not a field path (names joined by '.', none empty)"
                )));
            }
            if let Some(c) = path.chars().find(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(format!(
                    "{path:?}: {c:?} is not allowed in a field name"
                )));
            }
            if let Some(j) = paths[..index].iter().position(|p| p == path) {
                return Err(bad(format!("{path:?} is listed twice (also project[{j}])")));
            }
            tree.add(&names);
        }
        Ok(Projection { tree })
    }

    /// The projected document: only the named fields of an object; anything else whole.
    pub fn apply(&self, value: Value) -> Value {
        match value {
            Value::Object(object) => Value::Object(self.tree.keep(object)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn projection(paths: &[&str]) -> Projection {
        Projection::compile(&paths.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn keeps_the_named_fields_nested_paths_inside_their_parents() {
        let p = projection(&["id", "address.city", "tags"]);
        let doc = json!({"id": 7, "name": "Ada", "ssn": "123",
            "address": {"city": "Oslo", "street": "x"}, "tags": ["a", "b"]});
        assert_eq!(
            p.apply(doc),
            json!({"id": 7, "address": {"city": "Oslo"}, "tags": ["a", "b"]})
        );
    }

    #[test]
    fn missing_fields_and_empty_parents_are_left_out() {
        let p = projection(&["id", "address.city"]);
        assert_eq!(p.apply(json!({"name": "x"})), json!({}));
        assert_eq!(
            p.apply(json!({"id": 1, "address": {"street": "x"}})),
            json!({"id": 1})
        );
        assert_eq!(
            p.apply(json!({"id": 1, "address": "Oslo"})),
            json!({"id": 1})
        );
    }

    #[test]
    fn a_whole_field_covers_narrower_paths_into_it() {
        for paths in [["a", "a.b"], ["a.b", "a"]] {
            let p = projection(&paths);
            assert_eq!(
                p.apply(json!({"a": {"b": 1, "c": 2}, "d": 3})),
                json!({"a": {"b": 1, "c": 2}})
            );
        }
    }

    #[test]
    fn documents_that_are_not_objects_are_delivered_whole() {
        let p = projection(&["id"]);
        for v in [json!(5), json!("text"), json!([1, 2]), Value::Null] {
            assert_eq!(p.apply(v.clone()), v);
        }
    }

    #[test]
    fn bad_paths_are_refused_naming_the_entry() {
        let compile = |paths: &[&str]| {
            Projection::compile(&paths.iter().map(|p| p.to_string()).collect::<Vec<_>>())
                .unwrap_err()
        };
        let e = compile(&["id", "a..b"]);
        assert_eq!(e.index, 1, "{e}");
        assert!(e.to_string().starts_with("project[1]: "), "{e}");
        assert_eq!(compile(&[""]).index, 0);
        assert_eq!(compile(&["a", ".a"]).index, 1);
        assert_eq!(compile(&["a b"]).index, 0);
        let e = compile(&["x", "y", "x"]);
        assert_eq!(e.index, 2);
        assert!(e.reason.contains("project[0]"), "{e}");
        let many: Vec<String> = (0..=MAX_FIELDS).map(|i| format!("f{i}")).collect();
        assert!(Projection::compile(&many).is_err());
        assert!(Projection::compile(&many[..MAX_FIELDS]).is_ok());
    }
}
