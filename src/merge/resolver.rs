//! The `custom` conflict rule: a resolver script per collection, in Rhai, run in a sandbox.
//! The script defines `fn resolve(a, b)`; each side is a map `#{value, hlc, region}` (the
//! document as JSON, its HLC as text, the region that wrote it) and the function returns
//! the value that stands, which may be either side's or a merge of both.
//!
//! - **Order.** The sides are passed older first (by HLC, then region name): the same two
//!   versions give the same result in every region, whichever arrived first.
//! - **Sandbox.** No file, network or module access (no module resolver, `eval` disabled);
//!   limits on operations, wall time, call depth, and the size of strings, arrays and maps.
//! - **Failure never drops a side.** A script that errs, passes a limit, or returns `()`
//!   leaves the conflict `Unresolved` with the reason: the caller keeps both versions and
//!   records the conflict as unresolved in the feed.
//!
//! Compiled once, when the collection is loaded: a script that does not parse, or has no
//! `resolve` of two parameters, is refused naming the line and column.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::{AST, Dynamic, Engine, Map, Scope};

use super::lww::Versioned;

/// What one resolution may use at most.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub operations: u64,
    pub wall: Duration,
    /// Bytes of one string; elements of one array or map.
    pub string_bytes: usize,
    pub collection_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            operations: 100_000,
            wall: Duration::from_millis(50),
            string_bytes: 1 << 20,
            collection_items: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolverError {
    #[error("{origin}: line {line}, column {column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: no `fn resolve(a, b)`: the script must define it, with two parameters")]
    NoResolve { origin: String },
}

/// How a conflict came out.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    Resolved(serde_json::Value),
    /// Both sides stay; the feed records why.
    Unresolved {
        reason: String,
    },
}

thread_local! {
    /// When the resolution running on this thread must stop (scripts run synchronously on
    /// the caller's thread, so one engine serves concurrent callers).
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

pub struct Resolver {
    engine: Engine,
    ast: AST,
    /// How long one resolution may run (`Limits::wall`).
    wall: Duration,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

fn sandbox(limits: Limits) -> Engine {
    let mut e = Engine::new();
    e.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    e.disable_symbol("eval");
    e.set_max_operations(limits.operations);
    e.set_max_string_size(limits.string_bytes);
    e.set_max_array_size(limits.collection_items);
    e.set_max_map_size(limits.collection_items);
    e.set_max_call_levels(32);
    e.set_max_expr_depths(64, 32);
    e.on_print(|_| {});
    e.on_debug(|_, _, _| {});
    e.on_progress(|_| {
        let late = DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() > t));
        late.then(|| Dynamic::from("the resolver ran past its time limit".to_string()))
    });
    e
}

impl Resolver {
    /// Compiles `source`; `origin` names it in errors (its path).
    pub fn compile(source: &str, origin: &str, limits: Limits) -> Result<Resolver, ResolverError> {
        let engine = sandbox(limits);
        let ast = engine.compile(source).map_err(|e| {
            let p = e.position();
            ResolverError::Syntax {
                origin: origin.to_string(),
                line: p.line().unwrap_or(0),
                column: p.position().unwrap_or(0),
                message: e.err_type().to_string(),
            }
        })?;
        if !ast
            .iter_functions()
            .any(|f| f.name == "resolve" && f.params.len() == 2)
        {
            return Err(ResolverError::NoResolve {
                origin: origin.to_string(),
            });
        }
        Ok(Resolver {
            engine,
            ast,
            wall: limits.wall,
        })
    }

    fn side(v: &Versioned<serde_json::Value>) -> Result<Dynamic, String> {
        let mut m = Map::new();
        m.insert(
            "value".into(),
            rhai::serde::to_dynamic(&v.value).map_err(|e| e.to_string())?,
        );
        m.insert("hlc".into(), v.stamp.hlc.to_string().into());
        m.insert("region".into(), v.stamp.region.clone().into());
        Ok(Dynamic::from_map(m))
    }

    /// Resolves any number of concurrent versions: folded oldest first (by stamp), each
    /// result standing as the newer side's against the next, so every region holding the
    /// same versions gets the same answer. Unresolved as soon as one step is.
    pub fn resolve_all(&self, versions: &[Versioned<serde_json::Value>]) -> Resolution {
        let mut sorted: Vec<&Versioned<serde_json::Value>> = versions.iter().collect();
        sorted.sort_by(|a, b| a.stamp.cmp(&b.stamp));
        let Some((first, rest)) = sorted.split_first() else {
            return Resolution::Unresolved {
                reason: "no versions to resolve".into(),
            };
        };
        let mut acc = (*first).clone();
        for next in rest {
            match self.resolve(&acc, next) {
                Resolution::Resolved(v) => {
                    acc = Versioned {
                        stamp: next.stamp.clone(),
                        vv: next.vv.clone(),
                        value: v,
                    };
                }
                unresolved => return unresolved,
            }
        }
        Resolution::Resolved(acc.value)
    }

    /// Resolves two concurrent versions, in either order.
    pub fn resolve(
        &self,
        x: &Versioned<serde_json::Value>,
        y: &Versioned<serde_json::Value>,
    ) -> Resolution {
        let (older, newer) = if x.stamp <= y.stamp { (x, y) } else { (y, x) };
        let unresolved = |reason: String| Resolution::Unresolved { reason };
        let (a, b) = match (Self::side(older), Self::side(newer)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                return unresolved(format!("a side does not convert: {e}"));
            }
        };
        DEADLINE.with(|d| d.set(Some(Instant::now() + self.wall)));
        let r = self
            .engine
            .call_fn::<Dynamic>(&mut Scope::new(), &self.ast, "resolve", (a, b));
        DEADLINE.with(|d| d.set(None));
        match r {
            Err(e) => match &*e {
                // stopped by `on_progress`: its token says why
                rhai::EvalAltResult::ErrorTerminated(why, _) => {
                    unresolved(why.clone().into_string().unwrap_or_else(|_| e.to_string()))
                }
                _ => unresolved(format!("the resolver failed: {e}")),
            },
            Ok(d) if d.is_unit() => unresolved("the resolver returned no winner (())".into()),
            Ok(d) => match rhai::serde::from_dynamic::<serde_json::Value>(&d) {
                Ok(v) => Resolution::Resolved(v),
                Err(e) => unresolved(format!("the resolver's answer is not JSON: {e}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::clock::Timestamp;
    use crate::merge::{Stamp, VersionVector};

    const TALLY: &str = r#"
        // the cart with more items wins; equal: the later write
        fn resolve(a, b) {
            if a.value.items.len() > b.value.items.len() { a.value } else { b.value }
        }
    "#;

    fn version(ms: u64, region: &str, value: serde_json::Value) -> Versioned<serde_json::Value> {
        let mut vv = VersionVector::new();
        vv.bump(region);
        Versioned {
            stamp: Stamp {
                hlc: Timestamp::new(ms, 0, 1),
                region: region.into(),
            },
            vv,
            value,
        }
    }

    /// With time enough that only the limit a test is about stops a script (an unoptimised
    /// build on a loaded machine is slow).
    fn resolver(source: &str) -> Resolver {
        let limits = Limits {
            wall: Duration::from_secs(5),
            ..Limits::default()
        };
        Resolver::compile(source, "carts.rhai", limits).unwrap()
    }

    #[test]
    fn the_script_picks_the_winner_in_either_order() {
        let r = resolver(TALLY);
        let big = version(100, "r1", json!({"items": [1, 2, 3]}));
        let small = version(200, "r2", json!({"items": [1]}));
        assert_eq!(
            r.resolve(&big, &small),
            Resolution::Resolved(json!({"items": [1, 2, 3]}))
        );
        assert_eq!(r.resolve(&small, &big), r.resolve(&big, &small));
    }

    #[test]
    fn a_script_can_merge_both_sides_and_see_their_stamps() {
        let r = resolver(
            r#"fn resolve(a, b) { #{ items: a.value.items + b.value.items, from: [a.region, b.region] } }"#,
        );
        let x = version(100, "r1", json!({"items": ["x"]}));
        let y = version(200, "r2", json!({"items": ["y"]}));
        assert_eq!(
            r.resolve(&y, &x),
            Resolution::Resolved(json!({"items": ["x", "y"], "from": ["r1", "r2"]})),
            "older first"
        );
    }

    #[test]
    fn a_failing_script_leaves_the_conflict_unresolved() {
        let x = version(100, "r1", json!({"items": []}));
        let y = version(200, "r2", json!({"items": [1]}));
        for (source, needle) in [
            ("fn resolve(a, b) { loop {} }", "operations"),
            (
                r#"fn resolve(a, b) { let s = "x"; loop { s += s; } }"#,
                "ength",
            ),
            ("fn resolve(a, b) { throw \"no\"; }", "no"),
            ("fn resolve(a, b) { () }", "no winner"),
            ("fn resolve(a, b) { a.nothing.deeper }", "failed"),
        ] {
            match resolver(source).resolve(&x, &y) {
                Resolution::Unresolved { reason } => {
                    assert!(reason.contains(needle), "{source}: {reason}")
                }
                r => panic!("{source}: {r:?}"),
            }
        }
    }

    #[test]
    fn the_wall_clock_limit_stops_a_slow_script() {
        let r = Resolver::compile(
            "fn resolve(a, b) { let n = 0; loop { n += 1; } }",
            "slow.rhai",
            Limits {
                operations: 0, // unlimited: only the clock stops it
                wall: Duration::from_millis(30),
                ..Limits::default()
            },
        )
        .unwrap();
        let x = version(1, "r1", json!(1));
        let started = Instant::now();
        match r.resolve(&x, &version(2, "r2", json!(2))) {
            Resolution::Unresolved { reason } => assert!(reason.contains("time limit"), "{reason}"),
            r => panic!("{r:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn bad_scripts_are_refused_at_load_naming_the_place() {
        match Resolver::compile(
            "fn resolve(a, b) {\n  a +\n}",
            "carts.rhai",
            Limits::default(),
        ) {
            Err(ResolverError::Syntax { line, origin, .. }) => {
                assert_eq!(origin, "carts.rhai");
                assert!(line >= 2, "line {line}");
            }
            r => panic!("{r:?}"),
        }
        // no eval: refused where it is written
        match Resolver::compile(
            "fn resolve(a, b) { eval(\"a\") }",
            "x.rhai",
            Limits::default(),
        ) {
            Err(ResolverError::Syntax { message, .. }) => {
                assert!(message.contains("eval"), "{message}")
            }
            r => panic!("{r:?}"),
        }
        for source in ["fn pick(a, b) { a }", "fn resolve(a) { a }"] {
            assert!(matches!(
                Resolver::compile(source, "x.rhai", Limits::default()),
                Err(ResolverError::NoResolve { .. })
            ));
        }
        // no module can be loaded: refused at load or when run, never resolved
        if let Ok(r) = Resolver::compile(
            "import \"fs\" as fs; fn resolve(a, b) { a }",
            "x.rhai",
            Limits::default(),
        ) {
            assert!(matches!(
                r.resolve(&version(1, "r1", json!(1)), &version(2, "r2", json!(2))),
                Resolution::Unresolved { .. }
            ));
        }
    }

    proptest! {
        #[test]
        fn the_same_winner_whatever_order_the_sides_arrive_in(
            a in 0u64..1000, b in 0u64..1000, ma in 0u64..50, mb in 0u64..50,
        ) {
            let r = resolver("fn resolve(a, b) { if a.value.n >= b.value.n { a.value } else { b.value } }");
            let x = version(ma, "r1", json!({"n": a}));
            let y = version(mb, "r2", json!({"n": b}));
            prop_assert_eq!(r.resolve(&x, &y), r.resolve(&y, &x));
        }
    }
}
