//! The archive over time: base snapshots and point-in-time restore across three groups,
//! retention, the S3 cold tier, and an object-store outage under writes. Real `georep`
//! processes; S3 is moto's server (started by scripts/test), reached through a TCP
//! forwarder that the outage test switches off.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::client::Client;
use georep::restore::rfc3339;
use support::tcp_proxy::TcpProxy;
use support::{NodeProcess, archive_verify, phase, run, topology};

const KEY: &str = "k1 4444444444444444444444444444444444444444444444444444444444444444\n";
const COLLECTIONS: [&str; 3] = ["orders", "carts", "events"];

type State = BTreeMap<String, BTreeMap<String, String>>;

fn placements() -> String {
    COLLECTIONS
        .iter()
        .map(|c| {
            format!("[[collections]]\nname = \"{c}\"\ntier = \"archival\"\nregions = [\"r1\"]\n")
        })
        .collect()
}

/// Every document of every collection, read at STRONG: keys from the list API, values by GET.
async fn read_state(node: &NodeProcess) -> State {
    let mut state = State::new();
    for coll in COLLECTIONS {
        state.insert(coll.to_string(), read_collection(node, coll).await);
    }
    state
}

async fn read_collection(node: &NodeProcess, coll: &str) -> BTreeMap<String, String> {
    let c = &node.client();
    // a node that just started may still be electing its groups' leaders
    let deadline = Instant::now() + Duration::from_secs(20);
    let r = loop {
        let r = c
            .request(
                hyper::Method::GET,
                &format!("/v1/collections/{coll}/docs?limit=1000"),
                &[("x-georep-consistency", "strong")],
                Bytes::new(),
            )
            .await
            .unwrap();
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        r.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&r.body),
        node.log_text()
    );
    let listed = r.json().unwrap();
    assert!(listed["next_start_after"].is_null(), "one page holds all");
    let mut docs = BTreeMap::new();
    for k in listed["keys"].as_array().unwrap() {
        let key = k["key"].as_str().unwrap();
        let r = c
            .get(coll, key, &[("x-georep-consistency", "strong")])
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        docs.insert(key.to_string(), String::from_utf8(r.body.to_vec()).unwrap());
    }
    docs
}

/// Manifests of the archive at `root` (a `file://` directory), by group directory name.
fn manifests(root: &Path) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    let Ok(groups) = std::fs::read_dir(root.join("test")) else {
        return out;
    };
    for g in groups.flatten() {
        if let Ok(bytes) = std::fs::read(g.path().join("manifest.json")) {
            out.insert(
                g.file_name().to_string_lossy().into_owned(),
                serde_json::from_slice(&bytes).unwrap(),
            );
        }
    }
    out
}

/// Per group label, the value of metric `name`.
async fn metric_by_group(c: &Client, name: &str) -> BTreeMap<String, u64> {
    support::metric_lines(c, &format!("{name}{{"))
        .await
        .iter()
        .filter_map(|l| {
            let group = l.split("group=\"").nth(1)?.split('"').next()?;
            let value = l.rsplit(' ').next()?.parse::<f64>().ok()?;
            Some((group.to_string(), value as u64))
        })
        .collect()
}

/// Waits until the archive of each of `groups` groups holds everything applied when called,
/// and records that it covers the instant of the call (what a restore to it requires).
async fn wait_archived(node: &NodeProcess, groups: usize) {
    wait_archived_covered(node, groups, true).await
}

/// As [`wait_archived`]; `covered: false` waits for the segments only.
async fn wait_archived_covered(node: &NodeProcess, groups: usize, covered_too: bool) {
    let c = node.client();
    let applied = metric_by_group(&c, "georep_applied_index").await;
    let called_ms = support::now_ms();
    assert_eq!(applied.len(), groups, "{applied:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let archived = metric_by_group(&c, "georep_archive_archived_index").await;
        let covered: Vec<f64> =
            support::metric_lines(&c, "georep_archive_covered_timestamp_seconds{")
                .await
                .iter()
                .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
                .collect();
        if applied
            .iter()
            .all(|(g, a)| archived.get(g).is_some_and(|x| x >= a))
            && (!covered_too
                || (covered.len() == groups
                    && covered.iter().all(|s| s * 1000.0 >= called_ms as f64)))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "archive did not catch up: applied {applied:?}, archived {archived:?}\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn restore(archive: &str, key: &Path, to: &str, dir: &Path) -> (i32, String, String) {
    run(&[
        "restore",
        "--archive",
        archive,
        "--to",
        to,
        "--data-dir",
        dir.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pitr_across_three_groups_from_base_snapshots_then_retention() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("archive.key");
    std::fs::write(&key, KEY).unwrap();
    let root = dir.path().join("archive");
    let archive = format!("file://{}", root.display());
    let settings = |retention: &str| {
        format!(
            "[node]\nwal_segment_bytes = 131072\nmax_value_bytes = 16384\nwal_segment_age_ms = 300\n\
             snapshot_every_entries = 10\nsnapshot_keep_entries = 1\n\
             [archive]\nurl = \"{archive}\"\nkey_file = \"{}\"\nsnapshot_interval_s = 1\n{retention}{}",
            key.display(),
            placements()
        )
    };
    let (topo, apis) = topology(dir.path(), &["r1"], &settings(""));
    let live = dir.path().join("live");
    let mut node = NodeProcess::start(&topo, "r1", &live, apis[0]).await;
    let c = node.client();

    // Four phases over the three collections: new keys, overwrites and deletes. Each
    // phase's end time is a restore target; the pauses let base snapshots fall between.
    let mut expected: State = COLLECTIONS
        .iter()
        .map(|c| (c.to_string(), BTreeMap::new()))
        .collect();
    let mut targets = Vec::new();
    for p in 0..4 {
        phase(&format!("phase {p}"));
        for (ci, coll) in COLLECTIONS.iter().enumerate() {
            for i in 0..40 {
                let k = format!("k{:03}", (p * 25 + i) % 80);
                let v = format!("{coll}-p{p}-i{i}-{}", "v".repeat(200 * ci));
                let r = c.put(coll, &k, Bytes::from(v.clone()), &[]).await.unwrap();
                assert_eq!(r.status, 200);
                expected.get_mut(*coll).unwrap().insert(k, v);
            }
            let gone = format!("k{:03}", p * 7);
            let r = c.delete(coll, &gone, &[]).await.unwrap();
            assert!(r.status == 200 || r.status == 404);
            expected.get_mut(*coll).unwrap().remove(&gone);
        }
        targets.push((support::now_ms(), expected.clone()));
        tokio::time::sleep(Duration::from_millis(1600)).await;
    }
    assert_eq!(read_state(&node).await, expected, "the live node");

    phase("wait until all four groups are archived, with base snapshots");
    wait_archived(&node, 4).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = manifests(&root);
        let with_snapshots = m
            .values()
            .filter(|m| m["snapshots"].as_array().is_some_and(|s| s.len() >= 2))
            .count();
        if with_snapshots >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "snapshots: {m:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(node.stop().success());
    let (code, out, err) = archive_verify(&archive, &key);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines()
            .filter(|l| l.contains(" snapshots checked, 0 bad") && !l.contains(" 0 snapshots"))
            .count()
            >= 3,
        "verify checks snapshots too: {out}"
    );

    let mut used_snapshot = 0;
    for (n, (t, state)) in targets
        .iter()
        .map(|(t, s)| (rfc3339(*t), s.clone()))
        .chain([("latest".to_string(), expected.clone())])
        .enumerate()
    {
        phase(&format!("restore to {t}"));
        let restored = dir.path().join(format!("restored-{n}"));
        let (code, out, err) = restore(&archive, &key, &t, &restored);
        assert_eq!(code, 0, "{out}{err}");
        used_snapshot += out.matches("base snapshot at index").count();
        let mut node = NodeProcess::start(&topo, "r1", &restored, apis[0]).await;
        assert_eq!(read_state(&node).await, state, "restored to {t}");
        assert!(node.stop().success());
    }
    assert!(
        used_snapshot >= 6,
        "later restores start from base snapshots ({used_snapshot} groups did)"
    );

    phase("one group alone");
    let one = manifests(&root)
        .into_iter()
        .find(|(_, m)| !m["snapshots"].as_array().unwrap().is_empty())
        .unwrap()
        .0;
    let only = dir.path().join("restored-one-group");
    let (code, out, err) = run(&[
        "restore",
        "--archive",
        &archive,
        "--to",
        "latest",
        "--data-dir",
        only.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
        "--group",
        &one,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.matches("restored cluster test group").count(),
        1,
        "{out}"
    );
    assert!(out.contains(&format!("group {one}:")), "{out}");
    let (code, _, err) = run(&[
        "restore",
        "--archive",
        &archive,
        "--to",
        "latest",
        "--data-dir",
        dir.path().join("x").to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
        "--group",
        "g7",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no group g7"), "{err}");

    phase("retention of ~3 s: segments and snapshots no restore point needs are deleted");
    let first_target = targets[0].0;
    std::fs::write(
        &topo,
        std::fs::read_to_string(&topo).unwrap().replace(
            "snapshot_interval_s = 1\n",
            "snapshot_interval_s = 1\nretention_days = 0.000035\n",
        ),
    )
    .unwrap();
    let mut node = NodeProcess::start(&topo, "r1", &live, apis[0]).await;
    let c = node.client();
    // a few more writes so every group has snapshots newer than the retention point
    for round in 0..3 {
        for coll in COLLECTIONS {
            let v = format!("late-{round}");
            assert_eq!(
                c.put(coll, "late", Bytes::from(v.clone()), &[])
                    .await
                    .unwrap()
                    .status,
                200
            );
            expected.get_mut(coll).unwrap().insert("late".into(), v);
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = manifests(&root);
        let trimmed = m
            .values()
            .filter(|m| m["segments"][0]["meta"]["indexes"]["first"].as_u64() > Some(1))
            .count();
        if trimmed >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retention did not run:\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_archived(&node, 4).await;
    let deleted = support::metric_lines(&c, "georep_archive_deleted_objects_total").await;
    assert!(deleted.iter().any(|l| !l.ends_with(" 0")), "{deleted:?}");
    assert!(node.stop().success());

    // nothing the manifests name is missing, and what they dropped is gone from the store
    let (code, out, err) = archive_verify(&archive, &key);
    assert_eq!(code, 0, "{out}{err}");
    for (g, m) in manifests(&root) {
        let first = m["segments"][0]["meta"]["indexes"]["first"]
            .as_u64()
            .unwrap();
        for f in std::fs::read_dir(root.join("test").join(&g).join("segments")).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            let last: u64 = name[21..41].parse().unwrap();
            assert!(
                last >= first || first == 1,
                "{g}: {name} should have been deleted"
            );
        }
    }
    let (code, out, err) = restore(
        &archive,
        &key,
        &rfc3339(first_target),
        &dir.path().join("too-early"),
    );
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("earliest restorable instant"), "{err}");
    assert!(!dir.path().join("too-early").exists());
    let restored = dir.path().join("restored-after-retention");
    let (code, out, err) = restore(&archive, &key, "latest", &restored);
    assert_eq!(code, 0, "{out}{err}");
    let mut node = NodeProcess::start(&topo, "r1", &restored, apis[0]).await;
    assert_eq!(read_state(&node).await, expected, "latest after retention");
    assert!(node.stop().success());

    phase("damage: a truncated snapshot, two swapped segments, a wrong key");
    // retention has trimmed idle groups to one segment: write a little more first, with
    // the default retention back, so the new segments stay
    std::fs::write(
        &topo,
        std::fs::read_to_string(&topo)
            .unwrap()
            .replace("retention_days = 0.000035\n", ""),
    )
    .unwrap();
    let mut node = NodeProcess::start(&topo, "r1", &live, apis[0]).await;
    let c = node.client();
    for round in 0..4 {
        for coll in COLLECTIONS {
            let v = format!("more-{round}");
            assert_eq!(
                c.put(coll, "more", Bytes::from(v), &[])
                    .await
                    .unwrap()
                    .status,
                200
            );
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    wait_archived(&node, 4).await;
    // `latest` is the newest instant every group covers: the snapshot a group's restore
    // starts from is its newest at or before that. The damaged group needs two segments and
    // such a snapshot; an idle group's coverage is refreshed every 5 s, so wait for one.
    let pick = |m: &std::collections::BTreeMap<String, serde_json::Value>| {
        let covered = m
            .values()
            .map(|m| m["coverage"]["through_ms"].as_u64().unwrap())
            .min()
            .unwrap();
        m.values().find_map(|g| {
            let snap = g["snapshots"]
                .as_array()
                .unwrap()
                .iter()
                .rev()
                .find(|s| s["hlc"].as_u64().unwrap() >> 16 <= covered)?;
            (g["segments"].as_array().unwrap().len() >= 2)
                .then(|| (g.clone(), snap["object"].as_str().unwrap().to_string()))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while pick(&manifests(&root)).is_none() {
        assert!(
            Instant::now() < deadline,
            "no group with two segments and a snapshot covered"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(node.stop().success());
    // coverage only grows, so what was picked running still holds
    let (group, snap) = pick(&manifests(&root)).unwrap();
    let snap_path = root.join(&snap);
    let whole = std::fs::read(&snap_path).unwrap();
    std::fs::write(&snap_path, &whole[..whole.len() - 100]).unwrap();
    let seg = |i: usize| group["segments"][i]["object"].as_str().unwrap().to_string();
    let (a, b) = (root.join(seg(0)), root.join(seg(1)));
    let (bytes_a, bytes_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    std::fs::write(&a, &bytes_b).unwrap();
    std::fs::write(&b, &bytes_a).unwrap();
    let (code, out, _) = archive_verify(&archive, &key);
    assert_eq!(code, 1, "{out}");
    for bad in [&snap, &seg(0), &seg(1)] {
        assert!(out.contains(&format!("BAD {bad}")), "names {bad}: {out}");
    }
    let failed = dir.path().join("restored-damaged");
    let (code, _, err) = restore(&archive, &key, "latest", &failed);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&snap), "names the truncated snapshot: {err}");
    assert!(!failed.exists(), "no partial data dir");
    std::fs::write(&snap_path, &whole).unwrap();
    std::fs::write(&a, &bytes_a).unwrap();
    std::fs::write(&b, &bytes_b).unwrap();
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, KEY.replace('4', "5")).unwrap();
    let (code, _, err) = restore(&archive, &wrong, "latest", &failed);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("archive object test/g"),
        "names the object: {err}"
    );
    assert!(!failed.exists(), "no partial data dir");
    let (code, out, err) = archive_verify(&archive, &key);
    assert_eq!(code, 0, "repaired: {out}{err}");
}

fn s3_base() -> Option<String> {
    support::emulator("GEOREP_TEST_S3_URL", "S3 (moto)")
}

fn moto_addr() -> std::net::SocketAddr {
    let ep = std::env::var("AWS_ENDPOINT").expect("AWS_ENDPOINT names moto");
    ep.trim_start_matches("http://").parse().unwrap()
}

/// The object store goes away under writes: the WAL grows to the cap, then writes get 503
/// `archive_backlog`; when the store returns the backlog ships, writes resume, and every
/// acknowledged write is in the archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_holds_writes_at_the_wal_cap_and_loses_nothing() {
    let Some(base) = s3_base() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("archive.key");
    std::fs::write(&key, KEY).unwrap();
    let archive = format!("{base}/outage-{}", std::process::id());
    let extra = format!(
        "[node]\nwal_segment_bytes = 262144\nmax_value_bytes = 65536\nwal_segment_age_ms = 300\n\
         snapshot_every_entries = 10\nsnapshot_keep_entries = 1\n\
         [archive]\nurl = \"{archive}\"\nkey_file = \"{}\"\nwal_cap_mib = 1\n",
        key.display()
    );
    let (topo, apis) = topology(dir.path(), &["r1"], &extra);
    let proxy = TcpProxy::start(moto_addr()).await;
    let env = [("AWS_ENDPOINT", format!("http://{}", proxy.addr))];
    let node =
        NodeProcess::start_env(&topo, "r1", &dir.path().join("data"), apis[0], &[], &env).await;
    let c = node.client();
    let mut acked = BTreeMap::new();
    let value = |i: usize| format!("{i:06}-{}", "o".repeat(4000));

    phase("writes archive normally");
    for i in 0..50 {
        assert_eq!(
            c.put("c", &format!("k{i:05}"), Bytes::from(value(i)), &[])
                .await
                .unwrap()
                .status,
            200
        );
        acked.insert(i, value(i));
    }
    wait_archived(&node, 1).await;

    phase("the object store becomes unreachable: writes continue until the WAL cap");
    proxy.set_down(true);
    let mut refused = None;
    let mut i = 50;
    while i < 3000 {
        let r = c
            .put("c", &format!("k{i:05}"), Bytes::from(value(i)), &[])
            .await
            .unwrap();
        match r.status.as_u16() {
            200 => {
                acked.insert(i, value(i));
            }
            503 => {
                refused = Some(r);
                break;
            }
            s => panic!("unexpected {s}: {}", String::from_utf8_lossy(&r.body)),
        }
        i += 1;
    }
    let refused = refused.expect("writes are refused once the backlog passes 1 MiB");
    assert_eq!(refused.error_code().as_deref(), Some("archive_backlog"));
    assert!(refused.header("retry-after").is_some());
    let during = acked.len() - 50;
    // The cap counts every byte not yet archived, which at the cut may include some of the
    // 50 writes before it (only one segment was waited for): about 1 MiB in all, no more
    // than 3 MiB accepted while the store was down.
    assert!(
        acked.len() * 4000 >= 1 << 20 && during * 4000 < 3 << 20,
        "about 1 MiB unarchived when writes were refused: {during} writes during the outage, \
         {} in all",
        acked.len()
    );
    let gauge = support::metric_lines(&c, "georep_archive_writes_refused").await;
    assert!(gauge.iter().any(|l| l.ends_with(" 1")), "{gauge:?}");
    phase("still refused a while later; nothing is dropped meanwhile");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = c
        .put("c", "refused", Bytes::from_static(b"x"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 503);

    phase("the store returns: the backlog ships and writes resume");
    proxy.set_down(false);
    let outage_end = Instant::now();
    loop {
        let r = c
            .put("c", &format!("k{i:05}"), Bytes::from(value(i)), &[])
            .await
            .unwrap();
        if r.status == 200 {
            acked.insert(i, value(i));
            break;
        }
        assert_eq!(r.error_code().as_deref(), Some("archive_backlog"));
        assert!(
            outage_end.elapsed() < Duration::from_secs(90),
            "writes did not resume:\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "writes resumed {:?} after the store returned",
        outage_end.elapsed()
    );
    wait_archived(&node, 1).await;
    drop(node);

    phase("every acknowledged write is in the archive");
    let restored = dir.path().join("restored");
    let (code, out, err) = restore(&archive, &key, "latest", &restored);
    assert_eq!(code, 0, "{out}{err}");
    let node = NodeProcess::start(&topo, "r1", &restored, apis[0]).await;
    let c = node.client();
    let state = read_collection(&node, "c").await;
    assert_eq!(state.len(), acked.len(), "exactly the acknowledged writes");
    for (i, v) in &acked {
        let r = c.get("c", &format!("k{i:05}"), &[]).await.unwrap();
        assert_eq!(r.status, 200, "k{i:05} lost");
        assert_eq!(r.body, v.as_bytes());
    }
}

/// `cold_after_days = 0`: archived objects move to STANDARD_IA at once; S3 reports the new
/// class, and a restore reads them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_tier_moves_archived_objects_to_a_colder_s3_class() {
    let Some(base) = s3_base() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("archive.key");
    std::fs::write(&key, KEY).unwrap();
    let prefix = format!("cold-{}", std::process::id());
    let archive = format!("{base}/{prefix}");
    let extra = format!(
        "[node]\nwal_segment_bytes = 262144\nmax_value_bytes = 65536\nwal_segment_age_ms = 300\n\
         [archive]\nurl = \"{archive}\"\nkey_file = \"{}\"\ncold_after_days = 0\ncold_storage_class = \"STANDARD_IA\"\nsnapshot_interval_s = 1\n",
        key.display()
    );
    let (topo, apis) = topology(dir.path(), &["r1"], &extra);
    let node = NodeProcess::start(&topo, "r1", &dir.path().join("data"), apis[0]).await;
    let c = node.client();
    for i in 0..60 {
        let v = Bytes::from(format!("{i}-{}", "c".repeat(3000)));
        assert_eq!(
            c.put("c", &format!("k{i}"), v, &[]).await.unwrap().status,
            200
        );
    }
    wait_archived(&node, 1).await;
    phase("wait for the cold-tier pass");
    let deadline = Instant::now() + Duration::from_secs(30);
    let listing = loop {
        let (code, out, err) = run(&["archive", "list", "--archive", &archive]);
        assert_eq!(code, 0, "{err}");
        if out.contains(".seg")
            && out
                .lines()
                .filter(|l| l.contains(".seg"))
                .all(|l| l.contains("STANDARD_IA"))
        {
            break out;
        }
        assert!(Instant::now() < deadline, "{out}\n{}", node.log_text());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    drop(node);

    phase("S3 itself reports the class of every segment object");
    let s3 = georep_archive::S3ColdTier::from_url(&archive, "STANDARD_IA")
        .await
        .unwrap();
    let mut checked = 0;
    for line in listing
        .lines()
        .filter(|l| l.contains(".seg") || l.contains(".snap"))
    {
        let object = line.split_whitespace().next().unwrap();
        // HeadObject's x-amz-storage-class, as moto reports it
        assert_eq!(
            s3.current_class(object).await.unwrap(),
            "STANDARD_IA",
            "{object}"
        );
        checked += 1;
    }
    assert!(checked > 0);

    phase("restore reads the cold objects");
    let restored = dir.path().join("restored");
    let (code, out, err) = restore(&archive, &key, "latest", &restored);
    assert_eq!(code, 0, "{out}{err}");
    let node = NodeProcess::start(&topo, "r1", &restored, apis[0]).await;
    let r = node.client().get("c", "k59", &[]).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"59-"));
}
