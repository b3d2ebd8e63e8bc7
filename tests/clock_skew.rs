//! Clock skew between regions, with real processes: one region's wall clock is moved through
//! +300 ms, -300 ms and +2 s while writers and BOUNDED_STALENESS readers run, then the
//! leader fails over to regions whose clocks run 300 ms behind.
//!
//! Checked: within the bound the skewed region is served and its offset is measured and
//! shown; beyond it, the others refuse it and count it; staleness at a follower whose clock
//! runs behind is never reported below the time it has heard nothing; no BOUNDED_STALENESS
//! read is older than its bound; no acknowledged write is lost; and entry HLCs strictly
//! increase along the log, across the failover to the slower clocks.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::cluster::{Cluster, FAST, REGIONS};
use support::history::{Level, Op, OpKind, Outcome, Recorder, check_bounded};
use support::phase;

/// Keys every writer overwrites (what the staleness check reads).
const HOT: u64 = 8;
const BOUND_MS: u64 = 800;

#[derive(Default)]
struct Seen {
    /// Unique keys acknowledged, with their versions.
    acked: Vec<(String, u64)>,
    /// (version = log index, HLC as (ms, logical)) of every acknowledged write.
    hlcs: Vec<(u64, (u64, u64))>,
}

/// "1764150000123.7@a917257e" -> (1764150000123, 7)
fn parse_hlc(s: &str) -> (u64, u64) {
    let (ms, rest) = s.split_once('.').expect("ms.logical@node");
    let logical = rest.split('@').next().unwrap();
    (ms.parse().unwrap(), logical.parse().unwrap())
}

async fn writer(
    c: georep::client::Client,
    id: usize,
    rec: Arc<Recorder>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = format!("u-{id}-{n}");
        if let Ok(r) = c.put("c", &key, Bytes::from(format!("v{n}")), &[]).await
            && r.status == 200
        {
            let v = r.json().unwrap();
            let version = v["version"].as_u64().unwrap();
            let mut s = seen.lock().unwrap();
            s.acked.push((key, version));
            s.hlcs
                .push((version, parse_hlc(v["hlc"].as_str().unwrap())));
        }
        let hot = format!("h{}", n % HOT);
        let value = format!("w{id}-{n}");
        let invoked = rec.now();
        let outcome = match c.put("c", &hot, Bytes::from(value.clone()), &[]).await {
            Ok(r) if r.status == 200 => {
                Outcome::Written(r.json().unwrap()["version"].as_u64().unwrap())
            }
            Ok(r) if r.status.is_client_error() => {
                panic!("{}: {}", r.status, String::from_utf8_lossy(&r.body))
            }
            _ => Outcome::Unknown,
        };
        rec.record(Op {
            process: id as u64 * 1_000_000 + n,
            session: id as u64,
            level: Level::Strong,
            key: hot,
            kind: OpKind::Write(value),
            invoked,
            completed: rec.now(),
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn bounded_reader(
    c: georep::client::Client,
    rec: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) -> (usize, usize) {
    let bound = BOUND_MS.to_string();
    let headers = [
        ("x-georep-consistency", "bounded_staleness"),
        ("x-georep-max-staleness-ms", bound.as_str()),
    ];
    let (mut served, mut refused) = (0, 0);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = format!("h{}", n % HOT);
        let invoked = rec.now();
        let outcome = match c.get("c", &key, &headers).await {
            Ok(r) if r.status == 200 => {
                served += 1;
                let v: u64 = r.header("x-georep-version").unwrap().parse().unwrap();
                Outcome::Read(Some((String::from_utf8(r.body.to_vec()).unwrap(), v)))
            }
            Ok(r) if r.status == 404 => Outcome::Read(None),
            _ => {
                refused += 1;
                Outcome::Failed
            }
        };
        rec.record(Op {
            process: 99_000_000 + n,
            session: 99,
            level: Level::Bounded(BOUND_MS),
            key,
            kind: OpKind::Read,
            invoked,
            completed: rec.now(),
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    (served, refused)
}

/// `/v1/cluster` at region `i`: what it measured of peer `peer`'s clock.
async fn peer_clock(c: &Cluster, i: usize, peer: usize) -> serde_json::Value {
    let r = c
        .client(i)
        .request(hyper::Method::GET, "/v1/cluster", &[], Bytes::new())
        .await
        .unwrap();
    r.json().unwrap()["clock"]["peers"][REGIONS[peer]].clone()
}

/// Refusals region `i` counted against `peer`.
async fn refusals(c: &Cluster, i: usize, peer: usize) -> f64 {
    support::metric_lines(&c.client(i), "georep_clock_skew_refusals_total")
        .await
        .iter()
        .filter(|l| l.contains(&format!("peer=\"{}\"", REGIONS[peer])))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until region `i` has measured `peer`'s offset within `range`.
async fn offset_seen(c: &Cluster, i: usize, peer: usize, range: std::ops::RangeInclusive<i64>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = peer_clock(c, i, peer).await;
        if p["clock_offset_ms"]
            .as_i64()
            .is_some_and(|o| range.contains(&o))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never measured {}'s offset in {range:?}: {p}",
            REGIONS[i],
            REGIONS[peer]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_clocks_are_merged_within_the_bound_and_refused_beyond_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(dir.path(), FAST).await;
    let leader = c.leader("default", Duration::from_secs(20)).await;
    let s = (leader + 1) % 3; // the skewed region: a follower
    let other = (leader + 2) % 3;

    let rec = Arc::new(Recorder::default());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn(writer(
                c.client(i),
                i,
                rec.clone(),
                seen.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let reader = tokio::spawn(bounded_reader(c.client(s), rec.clone(), stop.clone()));

    phase(&format!(
        "{} runs 300 ms ahead: merged, measured, served",
        REGIONS[s]
    ));
    c.set_clock_offset(s, 300);
    offset_seen(&c, leader, s, 200..=400).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        refusals(&c, leader, s).await,
        0.0,
        "300 ms is within the 500 ms bound"
    );

    phase(&format!("{} runs 300 ms behind", REGIONS[s]));
    c.set_clock_offset(s, -300);
    offset_seen(&c, leader, s, -400..=-200).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(refusals(&c, leader, s).await, 0.0);

    phase("cut off, the follower 300 ms behind never reports less staleness than its silence");
    let eventual = [("x-georep-consistency", "eventual")];
    c.mesh.isolate(REGIONS[s], true);
    let cut = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..5 {
        let silent = cut.elapsed().as_millis() as u64;
        let r = c.client(s).get("c", "h1", &eventual).await.unwrap();
        let reported: u64 = r.header("x-georep-staleness-ms").unwrap().parse().unwrap();
        assert!(
            reported >= silent,
            "staleness {reported} ms reported, but {} has heard nothing for {silent} ms",
            REGIONS[s]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.mesh.isolate(REGIONS[s], false);

    phase(&format!(
        "{} jumps 2 s ahead: refused and counted by the others",
        REGIONS[s]
    ));
    let acked_before = seen.lock().unwrap().acked.len();
    c.set_clock_offset(s, 2_000);
    let deadline = Instant::now() + Duration::from_secs(10);
    while refusals(&c, leader, s).await == 0.0 || refusals(&c, other, s).await == 0.0 {
        assert!(Instant::now() < deadline, "the 2 s skew was never refused");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let p = peer_clock(&c, leader, s).await;
    assert!(
        p["refused"] == true && p["clock_offset_ms"].as_i64().unwrap() > 1_500,
        "{p}"
    );
    let log = c.nodes[leader].as_ref().unwrap().log_text();
    assert!(
        log.contains(&format!("refusing messages from {}", REGIONS[s]))
            && log.contains("max_clock_skew_ms"),
        "a clear log line at the leader"
    );
    assert!(
        seen.lock().unwrap().acked.len() > acked_before + 20,
        "the two regions within the bound kept acknowledging writes"
    );

    phase(&format!(
        "{}'s clock is fixed: it rejoins once real time passes its HLC",
        REGIONS[s]
    ));
    c.set_clock_offset(s, 0);
    tokio::time::sleep(Duration::from_secs(4)).await;

    phase("fail over to regions whose clocks run 300 ms behind the old leader's");
    let leader = c.leader("default", Duration::from_secs(20)).await;
    for i in (0..3).filter(|&i| i != leader) {
        c.set_clock_offset(i, -300);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    c.kill9(leader);
    let next = c.leader("default", Duration::from_secs(20)).await;
    assert_ne!(next, leader);
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.restart(leader).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let (served, refused) = reader.await.unwrap();
    assert!(
        served > 100,
        "bounded reads were served: {served} ({refused} refused)"
    );

    phase("every bounded read within its bound");
    let ops = rec.ops();
    check_bounded(&ops).unwrap();

    phase("entry HLCs strictly increase along the log, across the failover");
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let by_index: BTreeMap<u64, (u64, u64)> = seen.hlcs.iter().copied().collect();
    for w in by_index.iter().collect::<Vec<_>>().windows(2) {
        let ((i, a), (j, b)) = (w[0], w[1]);
        assert!(
            a < b,
            "entry {j} has HLC {b:?}, not above entry {i}'s {a:?}"
        );
    }

    phase("no acknowledged write lost");
    c.converged("default", Duration::from_secs(30)).await;
    let client = c.client(next);
    for (key, version) in &seen.acked {
        let r = client
            .get("c", key, &[("x-georep-consistency", "strong")])
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{key} (version {version}) lost");
        assert_eq!(
            r.header("x-georep-version"),
            Some(version.to_string().as_str())
        );
    }
    eprintln!(
        "{} writes acknowledged, {served} bounded reads served and {refused} refused",
        seen.acked.len()
    );
}
