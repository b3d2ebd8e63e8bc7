//! Recorded histories checked per consistency level: 10,000 operations from 12 clients,
//! each a session carrying its token, entering at all three regions (20 ms RTT links through
//! the WAN relays), through a leader kill, its restart, a partition of one region and two
//! tier changes (critical in three regions -> archival in one region not leading, with the
//! other two as learners -> critical again). Writes and STRONG reads must be linearizable
//! (per key, with compare-and-set), so no acknowledged write is lost on any tier; every
//! session must keep its four guarantees, BOUNDED_STALENESS reads their bound, and
//! CONSISTENT_PREFIX listings a prefix of the log (checkers in `tests/support/history.rs`).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use support::cluster::{Cluster, FAST, REGIONS};
use support::history::{
    Level, Op, OpKind, Outcome, Recorder, check_bounded, check_linearizable, check_prefix,
    check_sessions,
};
use support::phase;

const CLIENTS: usize = 12;
const KEYS: u64 = 48;
const TOTAL: usize = 10_000;
const NONE: usize = usize::MAX;
/// The staleness bound of the BOUNDED_STALENESS reads.
const BOUND_MS: u64 = 300;

fn links() -> String {
    let mut s = String::from(
        // a majority acknowledges (SYNC would refuse every write while a voter is down)
        "[[collections]]\nname = \"reg\"\ntier = \"critical\"\nregions = [\"r1\", \"r2\", \"r3\"]\n\
         ack_mode = \"semi_sync\"\nmin_sync_replicas = 1\n",
    );
    for (a, b) in [("r1", "r2"), ("r1", "r3"), ("r2", "r3")] {
        s += &format!("[[links]]\nbetween = [\"{a}\", \"{b}\"]\nrtt_ms = 20\n");
    }
    s
}

/// A small deterministic generator per client.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

async fn client_loop(
    c: usize,
    clients: Vec<georep::client::Client>,
    rec: Arc<Recorder>,
    done: Arc<AtomicUsize>,
    dead: Arc<AtomicUsize>,
    cut: Arc<AtomicUsize>,
) {
    // one session per client: every response's token is carried into the next request
    let mut token = String::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((c as u64 + 1) * 0x1000_0001));
    let mut generation = 0u64;
    let mut seq = 0u64;
    let mut known: std::collections::HashMap<String, u64> = Default::default();
    while done.load(Ordering::Relaxed) < TOTAL {
        let mut region = (c + (rng.next() % 3) as usize) % 3;
        let key = format!("k{}", rng.next() % KEYS);
        let process = c as u64 * 1_000_000 + generation;
        let roll = rng.next() % 100;
        let level = match roll {
            0..17 => Level::Strong,
            17..33 => Level::Session,
            33..45 => Level::Bounded(BOUND_MS),
            45..52 => Level::ConsistentPrefix,
            52..55 => Level::Eventual,
            _ => Level::Strong,
        };
        // writes avoid a region cut off from the leader (their outcome would be unknown,
        // and too many unknowns make the linearizability search explode); reads go there too
        for _ in 0..2 {
            if region == dead.load(Ordering::Relaxed)
                || (roll >= 55 && region == cut.load(Ordering::Relaxed))
            {
                region = (region + 1) % 3;
            }
        }
        let client = &clients[region];
        let kind = match (roll, known.get(&key)) {
            (45..49, _) => OpKind::List("k".into()),
            (0..55, _) => OpKind::Read,
            (55..90, _) | (_, None) => {
                seq += 1;
                OpKind::Write(format!("c{c}-{seq}"))
            }
            (_, Some(&v)) => {
                seq += 1;
                OpKind::Cas(v, format!("c{c}-{seq}"))
            }
        };
        let invoked = rec.now();
        let outcome = match &kind {
            OpKind::List(prefix) => {
                let r = client
                    .request(
                        hyper::Method::GET,
                        &format!("/v1/collections/reg/docs?prefix={prefix}&limit=1000"),
                        &[("x-georep-consistency", "consistent_prefix")],
                        Bytes::new(),
                    )
                    .await;
                match r {
                    Ok(r) if r.status == 200 => {
                        let v = r.json().unwrap();
                        assert!(v["next_start_after"].is_null(), "one page holds every key");
                        Outcome::Listed(
                            v["keys"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|k| {
                                    (
                                        k["key"].as_str().unwrap().to_string(),
                                        k["version"].as_u64().unwrap(),
                                    )
                                })
                                .collect(),
                        )
                    }
                    _ => Outcome::Failed,
                }
            }
            OpKind::Read => {
                let bound = BOUND_MS.to_string();
                let mut headers = vec![(
                    "x-georep-consistency",
                    match level {
                        Level::Strong => "strong",
                        Level::Session => "session",
                        Level::Bounded(_) => "bounded_staleness",
                        Level::ConsistentPrefix => "consistent_prefix",
                        Level::Eventual => "eventual",
                    },
                )];
                if let Level::Bounded(_) = level {
                    headers.push(("x-georep-max-staleness-ms", &bound));
                }
                if !token.is_empty() {
                    headers.push(("x-georep-session-token", &token));
                }
                match client.get("reg", &key, &headers).await {
                    Ok(r) if r.status == 200 || r.status == 404 => {
                        if let Some(t) = r.header("x-georep-session-token") {
                            token = t.to_string();
                        }
                        if r.status == 404 {
                            Outcome::Read(None)
                        } else {
                            let v: u64 = r.header("x-georep-version").unwrap().parse().unwrap();
                            known.insert(key.clone(), v);
                            Outcome::Read(Some((String::from_utf8(r.body.to_vec()).unwrap(), v)))
                        }
                    }
                    _ => Outcome::Failed,
                }
            }
            OpKind::Write(v) | OpKind::Cas(_, v) => {
                let if_match = match &kind {
                    OpKind::Cas(n, _) => Some(n.to_string()),
                    _ => None,
                };
                let mut headers: Vec<(&str, &str)> = if_match
                    .as_deref()
                    .map(|n| vec![("if-match", n)])
                    .unwrap_or_default();
                if !token.is_empty() {
                    headers.push(("x-georep-session-token", &token));
                }
                match client
                    .put("reg", &key, Bytes::from(v.clone()), &headers)
                    .await
                {
                    Ok(r) if r.status == 200 => {
                        if let Some(t) = r.header("x-georep-session-token") {
                            token = t.to_string();
                        }
                        let n = r.json().unwrap()["version"].as_u64().unwrap();
                        known.insert(key.clone(), n);
                        Outcome::Written(n)
                    }
                    Ok(r) if r.status == 412 => {
                        if let Some(t) = r.header("x-georep-session-token") {
                            token = t.to_string();
                        }
                        Outcome::CasRefused
                    }
                    Ok(r) if r.status.is_client_error() => {
                        panic!(
                            "unexpected {}: {}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        )
                    }
                    // 503, timeouts, a dying node: the write may have committed
                    _ => Outcome::Unknown,
                }
            }
        };
        let completed = rec.now();
        let unknown = outcome == Outcome::Unknown;
        let failed = matches!(outcome, Outcome::Unknown | Outcome::Failed);
        rec.record(Op {
            process,
            session: c as u64,
            level: if matches!(kind, OpKind::Read | OpKind::List(_)) {
                level
            } else {
                Level::Strong
            },
            key: if matches!(kind, OpKind::List(_)) {
                "*".into()
            } else {
                key
            },
            kind,
            invoked,
            completed,
            outcome,
        });
        done.fetch_add(1, Ordering::Relaxed);
        if unknown {
            // its outcome stays open forever: go on as a new process
            generation += 1;
        }
        if failed {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Moves `reg` to `placement` (asked of r1, which finds the leader).
async fn place(c: &Cluster, placement: serde_json::Value) {
    let started = std::time::Instant::now();
    let r = c
        .client(0)
        .with_timeout(Duration::from_secs(180))
        .request(
            hyper::Method::PUT,
            "/v1/admin/collections/reg",
            &[],
            Bytes::from(placement.to_string()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    eprintln!("placement changed in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_keep_every_level_through_a_leader_kill_and_a_partition() {
    let dir = tempfile::tempdir().unwrap();
    // one session key for the cluster, so a token from any region verifies in every region
    std::fs::write(
        dir.path().join("session.key"),
        "5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5",
    )
    .unwrap();
    let mut c = Cluster::start(
        dir.path(),
        &format!("{FAST}{}[session]\nkey_file = \"session.key\"\n", links()),
    )
    .await;
    let leader = c.leader("reg", Duration::from_secs(30)).await;
    let rec = Arc::new(Recorder::default());
    let done = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(AtomicUsize::new(NONE));
    let cut = Arc::new(AtomicUsize::new(NONE));
    phase(&format!(
        "{CLIENTS} clients, {TOTAL} operations on {KEYS} keys"
    ));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let clients = (0..REGIONS.len()).map(|r| c.client(r)).collect();
            tokio::spawn(client_loop(
                i,
                clients,
                rec.clone(),
                done.clone(),
                dead.clone(),
                cut.clone(),
            ))
        })
        .collect();
    while done.load(Ordering::Relaxed) < TOTAL * 3 / 10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    phase(&format!("kill -9 the leader {}", REGIONS[leader]));
    dead.store(leader, Ordering::Relaxed);
    c.kill9(leader);
    while done.load(Ordering::Relaxed) < TOTAL * 6 / 10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    phase(&format!("restart {}", REGIONS[leader]));
    c.restart(leader).await;
    dead.store(NONE, Ordering::Relaxed);
    while done.load(Ordering::Relaxed) < TOTAL * 3 / 4 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now_leader = c.leader("reg", Duration::from_secs(30)).await;
    let follower = (now_leader + 1) % 3;
    phase(&format!(
        "cut {} off from both other regions for 3 s",
        REGIONS[follower]
    ));
    cut.store(follower, Ordering::Relaxed);
    c.mesh.isolate(REGIONS[follower], true);
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.mesh.isolate(REGIONS[follower], false);
    cut.store(NONE, Ordering::Relaxed);
    while done.load(Ordering::Relaxed) < TOTAL * 85 / 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now_leader = c.leader("reg", Duration::from_secs(30)).await;
    let sole = (now_leader + 1) % 3;
    let learners: Vec<&str> = (0..3).filter(|&i| i != sole).map(|i| REGIONS[i]).collect();
    phase(&format!(
        "tier change: critical -> archival in {} (the leader {} removes itself as voter), \
         the others learners",
        REGIONS[sole], REGIONS[now_leader]
    ));
    place(
        &c,
        serde_json::json!({"tier": "archival", "regions": [REGIONS[sole]], "learners": learners}),
    )
    .await;
    while done.load(Ordering::Relaxed) < TOTAL * 93 / 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    phase("tier change: archival -> critical in r1, r2, r3");
    place(
        &c,
        serde_json::json!({"tier": "critical", "regions": ["r1", "r2", "r3"],
                           "ack_mode": "semi_sync", "min_sync_replicas": 1}),
    )
    .await;
    for t in tasks {
        t.await.unwrap();
    }
    let ops = rec.ops();
    let count = |f: &dyn Fn(&Op) -> bool| ops.iter().filter(|o| f(o)).count();
    eprintln!(
        "{} operations: {} reads, {} writes acknowledged, {} compare-and-sets applied, {} refused, \
         {} of unknown outcome, {} failed reads",
        ops.len(),
        count(&|o| matches!(o.outcome, Outcome::Read(_))),
        count(&|o| matches!(
            (&o.kind, &o.outcome),
            (OpKind::Write(_), Outcome::Written(_))
        )),
        count(&|o| matches!(
            (&o.kind, &o.outcome),
            (OpKind::Cas(..), Outcome::Written(_))
        )),
        count(&|o| o.outcome == Outcome::CasRefused),
        count(&|o| o.outcome == Outcome::Unknown),
        count(&|o| o.outcome == Outcome::Failed),
    );
    assert!(ops.len() >= TOTAL);
    assert!(
        count(&|o| o.outcome == Outcome::CasRefused) > 0
            && count(&|o| matches!(
                (&o.kind, &o.outcome),
                (OpKind::Cas(..), Outcome::Written(_))
            )) > 0,
        "the history exercises both outcomes of compare-and-set"
    );

    phase("check the session guarantees, the staleness bound and prefix order");
    check_sessions(&ops).unwrap();
    check_bounded(&ops).unwrap();
    check_prefix(&ops).unwrap();
    eprintln!(
        "{} CONSISTENT_PREFIX listings, {} CONSISTENT_PREFIX and {} EVENTUAL reads",
        count(&|o| matches!(o.outcome, Outcome::Listed(_))),
        count(&|o| o.level == Level::ConsistentPrefix && matches!(o.outcome, Outcome::Read(_))),
        count(&|o| o.level == Level::Eventual && matches!(o.outcome, Outcome::Read(_))),
    );
    eprintln!(
        "{} SESSION and {} BOUNDED_STALENESS ({BOUND_MS} ms) reads",
        count(&|o| o.level == Level::Session && matches!(o.outcome, Outcome::Read(_))),
        count(&|o| matches!(o.level, Level::Bounded(_)) && matches!(o.outcome, Outcome::Read(_))),
    );

    phase("check linearizability per key (writes and STRONG reads)");
    let started = std::time::Instant::now();
    let all = ops.clone();
    let verdict = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || check_linearizable(&all)),
    )
    .await
    .expect("the checker finished within 2 minutes")
    .unwrap();
    eprintln!("checked in {:?}", started.elapsed());
    verdict.unwrap();

    phase("the same history with one read made stale is rejected");
    // A read that began after the write of the value it saw was acknowledged, made to
    // return a value whose write was acknowledged before that write began: stale.
    let mut found = None;
    for (i, r) in ops.iter().enumerate() {
        let Outcome::Read(Some((v, _))) = &r.outcome else {
            continue;
        };
        if r.level != Level::Strong {
            continue;
        }
        let Some(w) = ops.iter().find(|w| {
            w.key == r.key
                && w.completed < r.invoked
                && matches!(&w.outcome, Outcome::Written(_))
                && matches!(&w.kind, OpKind::Write(x) | OpKind::Cas(_, x) if x == v)
        }) else {
            continue;
        };
        let older = ops.iter().find_map(|o| match (&o.kind, &o.outcome) {
            (OpKind::Write(x), Outcome::Written(n))
                if o.key == r.key && o.completed < w.invoked && x != v =>
            {
                Some((x.clone(), *n))
            }
            _ => None,
        });
        if let Some(older) = older {
            found = Some((i, older));
            break;
        }
    }
    let (i, older) = found.expect("some read follows two acknowledged writes of its key");
    let key = ops[i].key.clone();
    let mut one_key: Vec<Op> = Vec::new();
    for (n, o) in ops.into_iter().enumerate() {
        if o.key != key {
            continue;
        }
        let mut o = o;
        if n == i {
            o.outcome = Outcome::Read(Some(older.clone()));
        }
        one_key.push(o);
    }
    let verdict = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || check_linearizable(&one_key)),
    )
    .await
    .expect("the checker finished within a minute")
    .unwrap();
    assert!(verdict.is_err(), "a stale read went unnoticed");
}
