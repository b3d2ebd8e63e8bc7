//! Recorded operation histories and their checkers.
//!
//! Every operation is recorded with its invocation and completion instants and what it
//! returned. An operation whose outcome is unknown (a timeout, or a 503 that may have
//! committed) stays in flight forever: it may or may not have taken effect, at any point
//! after its invocation. Its client continues under a fresh process id, as in Jepsen.
//!
//! Linearizability is checked per key (registers compose) with `consistency_model`'s
//! `LinearizabilityTester` (the tester of Stateright, published on its own) over a register
//! with compare-and-set whose values are unique per write. Writes of unknown outcome that no
//! read saw are left out first (see `check_linearizable`): the search is exponential in the
//! operations in flight.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use consistency_model::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    Write(String),
    Read,
    /// If-Match: the version, then the new value.
    Cas(u64, String),
    /// A listing of every key under the prefix, from one snapshot of a replica.
    List(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written at this version.
    Written(u64),
    /// The value and version read, or None when absent.
    Read(Option<(String, u64)>),
    /// The keys listed, with their versions.
    Listed(BTreeMap<String, u64>),
    /// The compare-and-set did not match (412).
    CasRefused,
    /// Definitely not applied (refused before reaching the log, e.g. a read that failed).
    Failed,
    /// May or may not have taken effect.
    Unknown,
}

/// The consistency a read asked for (writes always go through the leader: `Strong`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Strong,
    Session,
    /// BOUNDED_STALENESS with this bound, in ms.
    Bounded(u64),
    ConsistentPrefix,
    Eventual,
}

#[derive(Debug, Clone)]
pub struct Op {
    pub process: u64,
    /// The client whose session token the operation carried (it survives process changes).
    pub session: u64,
    pub level: Level,
    pub key: String,
    pub kind: OpKind,
    pub invoked: Duration,
    pub completed: Duration,
    pub outcome: Outcome,
}

/// Collects operations from concurrent clients.
pub struct Recorder {
    start: Instant,
    ops: Mutex<Vec<Op>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            start: Instant::now(),
            ops: Mutex::new(Vec::new()),
        }
    }
}

impl Recorder {
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn record(&self, op: Op) {
        self.ops.lock().unwrap().push(op);
    }

    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap().clone()
    }
}

/// A register of unique values with versions; `None` where a version is not known (the
/// write's outcome was unknown, so whoever reads it learns the version first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CasRegister(Option<(String, Option<u64>)>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegOp {
    Write(String),
    Read,
    Cas(u64, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegRet {
    Written(Option<u64>),
    Read(Option<(String, u64)>),
    CasOk(Option<u64>),
    CasRefused,
}

impl SequentialSpec for CasRegister {
    type Op = RegOp;
    type Ret = RegRet;

    /// Used for operations still in flight: their effect, with the version unknown.
    fn invoke(&mut self, op: &RegOp) -> RegRet {
        match op {
            RegOp::Write(v) => {
                self.0 = Some((v.clone(), None));
                RegRet::Written(None)
            }
            RegOp::Read => RegRet::Read(self.0.as_ref().map(|(v, n)| (v.clone(), n.unwrap_or(0)))),
            RegOp::Cas(expect, v) => match &self.0 {
                Some((_, ver)) if ver.is_none_or(|x| x == *expect) => {
                    self.0 = Some((v.clone(), None));
                    RegRet::CasOk(None)
                }
                _ => RegRet::CasRefused,
            },
        }
    }

    fn is_valid_step(&mut self, op: &RegOp, ret: &RegRet) -> bool {
        match (op, ret) {
            (RegOp::Write(v), RegRet::Written(n)) => {
                self.0 = Some((v.clone(), *n));
                true
            }
            (RegOp::Read, RegRet::Read(None)) => self.0.is_none(),
            (RegOp::Read, RegRet::Read(Some((v, n)))) => match &mut self.0 {
                Some((cur, ver)) if cur == v => {
                    if ver.is_some_and(|x| x != *n) {
                        return false;
                    }
                    *ver = Some(*n);
                    true
                }
                _ => false,
            },
            (RegOp::Cas(expect, v), RegRet::CasOk(n)) => match &self.0 {
                Some((_, ver)) if ver.is_none_or(|x| x == *expect) => {
                    self.0 = Some((v.clone(), *n));
                    true
                }
                _ => false,
            },
            // refused: the current version is not the expected one (an unknown version may
            // be anything)
            (RegOp::Cas(expect, _), RegRet::CasRefused) => match &self.0 {
                None => true,
                Some((_, ver)) => ver.is_none_or(|x| x != *expect),
            },
            _ => false,
        }
    }
}

fn reg_op(kind: &OpKind) -> RegOp {
    match kind {
        OpKind::Write(v) => RegOp::Write(v.clone()),
        OpKind::Read | OpKind::List(_) => RegOp::Read,
        OpKind::Cas(n, v) => RegOp::Cas(*n, v.clone()),
    }
}

fn reg_ret(op: &Op) -> Option<RegRet> {
    Some(match (&op.kind, &op.outcome) {
        (OpKind::Write(_), Outcome::Written(n)) => RegRet::Written(Some(*n)),
        (OpKind::Read, Outcome::Read(r)) => RegRet::Read(r.clone()),
        (OpKind::Cas(..), Outcome::Written(n)) => RegRet::CasOk(Some(*n)),
        (OpKind::Cas(..), Outcome::CasRefused) => RegRet::CasRefused,
        _ => return None,
    })
}

/// Checks that the STRONG operations (all writes, STRONG reads) on each key form a
/// linearizable history of a register with compare-and-set. Returns the keys that do not,
/// with their operations.
pub fn check_linearizable(ops: &[Op]) -> Result<(), String> {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        if op.outcome != Outcome::Failed && op.level == Level::Strong {
            by_key.entry(&op.key).or_default().push(op);
        }
    }
    let mut bad = Vec::new();
    for (key, ops) in by_key {
        // A write of unknown outcome whose value no read returned can be linearized last
        // (it never returns, so nothing follows it), where it changes no verdict, unless a
        // refused compare-and-set that ended after it began may owe its refusal to it (the
        // write took effect and changed the version, though no read saw its value): those
        // are kept. The others are left out: each one kept in flight multiplies the tester's
        // search, and a run with many timeouts would otherwise take it minutes.
        let observed: std::collections::HashSet<&str> = ops
            .iter()
            .filter_map(|o| match &o.outcome {
                Outcome::Read(Some((v, _))) => Some(v.as_str()),
                _ => None,
            })
            .collect();
        let refusals: Vec<Duration> = ops
            .iter()
            .filter(|o| o.outcome == Outcome::CasRefused)
            .map(|o| o.completed)
            .collect();
        let ops: Vec<&Op> = ops
            .iter()
            .copied()
            .filter(|o| {
                o.outcome != Outcome::Unknown
                    || refusals.iter().any(|done| *done > o.invoked)
                    || match &o.kind {
                        OpKind::Write(v) | OpKind::Cas(_, v) => observed.contains(v.as_str()),
                        _ => true,
                    }
            })
            .collect();
        // events in real-time order: (instant, 0 = return before 1 = invoke at a tie, op)
        let mut events: Vec<(Duration, u8, &Op)> = Vec::new();
        for op in &ops {
            events.push((op.invoked, 1, op));
            if op.outcome != Outcome::Unknown {
                events.push((op.completed, 0, op));
            }
        }
        events.sort_by_key(|(t, kind, op)| (*t, *kind, op.process));
        let mut tester = LinearizabilityTester::new(CasRegister::default());
        for (_, kind, op) in &events {
            let r = if *kind == 1 {
                tester.on_invoke(op.process, reg_op(&op.kind)).map(|_| ())
            } else {
                match reg_ret(op) {
                    Some(ret) => tester.on_return(op.process, ret).map(|_| ()),
                    None => Err(format!("operation {op:?} has an outcome of the wrong kind")),
                }
            };
            if let Err(e) = r {
                return Err(format!("key {key}: malformed history: {e}"));
            }
        }
        if !tester.is_consistent() {
            bad.push(format!("key {key}: not linearizable: {ops:#?}"));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("\n"))
    }
}

fn written(op: &Op) -> Option<u64> {
    match (&op.kind, &op.outcome) {
        (OpKind::Write(_) | OpKind::Cas(..), Outcome::Written(n)) => Some(*n),
        _ => None,
    }
}

/// The four session guarantees, for histories of one log group (versions are its log
/// indexes, so they order all writes). Per session, in its order of operations:
/// - read-your-writes and monotonic reads: a SESSION (or STRONG) read of a key returns a
///   version at least the highest of that key the session has written or read at any level
///   (its token carries them all; a BOUNDED_STALENESS read itself may be older);
/// - monotonic writes: the session's acknowledged writes get increasing versions;
/// - writes-follow-reads: a write is ordered after every version the session has read.
pub fn check_sessions(ops: &[Op]) -> Result<(), String> {
    let mut by_session: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        by_session.entry(op.session).or_default().push(op);
    }
    let mut bad = Vec::new();
    for (session, mut ops) in by_session {
        ops.sort_by_key(|o| o.invoked);
        let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
        let mut highest_read = 0u64;
        let mut last_write = 0u64;
        for op in ops {
            let floor = seen.get(op.key.as_str()).copied().unwrap_or(0);
            if let Outcome::Read(r) = &op.outcome {
                let got = r.as_ref().map_or(0, |(_, n)| *n);
                if got < floor && matches!(op.level, Level::Session | Level::Strong) {
                    bad.push(format!(
                        "session {session}: read of {} returned version {got} after the session saw {floor}: {op:?}",
                        op.key
                    ));
                }
                highest_read = highest_read.max(got);
                seen.insert(&op.key, floor.max(got));
            }
            if let Some(n) = written(op) {
                if n <= last_write {
                    bad.push(format!(
                        "session {session}: write at version {n} after its write at {last_write}: {op:?}"
                    ));
                }
                if n <= highest_read {
                    bad.push(format!(
                        "session {session}: write at version {n} not after the version {highest_read} it read: {op:?}"
                    ));
                }
                last_write = n;
                seen.insert(&op.key, floor.max(n));
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("\n"))
    }
}

/// BOUNDED_STALENESS: a read with bound `b` invoked at `t` sees every write to its key that
/// was acknowledged before `t - b` (its version is at least theirs).
pub fn check_bounded(ops: &[Op]) -> Result<(), String> {
    let mut writes: BTreeMap<&str, Vec<(Duration, u64)>> = BTreeMap::new();
    for op in ops {
        if let Some(n) = written(op) {
            writes.entry(&op.key).or_default().push((op.completed, n));
        }
    }
    let mut bad = Vec::new();
    for op in ops {
        let (Level::Bounded(b), Outcome::Read(r)) = (op.level, &op.outcome) else {
            continue;
        };
        let got = r.as_ref().map_or(0, |(_, n)| *n);
        let Some(horizon) = op.invoked.checked_sub(Duration::from_millis(b)) else {
            continue;
        };
        let must = writes
            .get(op.key.as_str())
            .into_iter()
            .flatten()
            .filter(|(done, _)| *done < horizon)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        if got < must {
            bad.push(format!(
                "bounded read ({b} ms) of {} returned version {got}, but version {must} was acknowledged more than {b} ms before it began: {op:?}",
                op.key
            ));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("\n"))
    }
}

/// CONSISTENT_PREFIX (and the convergence EVENTUAL promises), for histories of one log
/// group whose versions are its log indexes:
/// - a listing is one snapshot of a prefix of the log: seeing a key at version `m` or
///   below, it sees every other key as of its last acknowledged write at or below the
///   highest version listed, never an older one (no write seen out of order);
/// - every version or value read at these levels was written (never invented), and a
///   value comes with the version it was written at.
pub fn check_prefix(ops: &[Op]) -> Result<(), String> {
    // per key: acknowledged versions and values; keys with writes of unknown outcome
    let mut acked: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    let mut unknown: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for op in ops {
        let value = match &op.kind {
            OpKind::Write(v) | OpKind::Cas(_, v) => v.as_str(),
            _ => continue,
        };
        match op.outcome {
            Outcome::Written(n) => acked.entry(&op.key).or_default().push((n, value)),
            Outcome::Unknown => unknown.entry(&op.key).or_default().push(value),
            _ => {}
        }
    }
    let mut bad = Vec::new();
    for op in ops {
        if !matches!(op.level, Level::ConsistentPrefix | Level::Eventual) {
            continue;
        }
        match &op.outcome {
            Outcome::Listed(listed) => {
                let top = listed.values().copied().max().unwrap_or(0);
                for (key, writes) in &acked {
                    if !key.starts_with(match &op.kind {
                        OpKind::List(p) => p.as_str(),
                        _ => "",
                    }) {
                        continue;
                    }
                    let seen = listed.get(*key).copied().unwrap_or(0);
                    let must = writes
                        .iter()
                        .map(|(n, _)| *n)
                        .filter(|n| *n <= top)
                        .max()
                        .unwrap_or(0);
                    if seen < must {
                        bad.push(format!(
                            "listing saw version {top} of the log but {key} at version {seen},                              older than its write at {must}: out of order: {op:?}"
                        ));
                    }
                }
                for (key, n) in listed {
                    let known = acked
                        .get(key.as_str())
                        .is_some_and(|w| w.iter().any(|(v, _)| v == n));
                    if !known && !unknown.contains_key(key.as_str()) {
                        bad.push(format!(
                            "listing has {key} at version {n}, which no write made: {op:?}"
                        ));
                    }
                }
            }
            Outcome::Read(Some((value, n))) => {
                let by_value = acked
                    .get(op.key.as_str())
                    .and_then(|w| w.iter().find(|(_, v)| v == value));
                let ok = match by_value {
                    Some((version, _)) => version == n,
                    None => unknown
                        .get(op.key.as_str())
                        .is_some_and(|u| u.contains(&value.as_str())),
                };
                if !ok {
                    bad.push(format!(
                        "read of {} returned {value:?} at version {n}, which no write made: {op:?}",
                        op.key
                    ));
                }
            }
            _ => {}
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("\n"))
    }
}
