//! A real node ships sealed WAL segments to the archive; `georep archive list|verify` read
//! it back; damage and wrong keys are reported naming the object. Runs against `file://`
//! and, when scripts/test has started it, S3 on moto.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::{NodeProcess, phase, run, topology};

const KEY: &str = "k1 1111111111111111111111111111111111111111111111111111111111111111\n";

async fn archive_round_trip(dir: &Path, url: &str) -> NodeProcess {
    let key_file = dir.join("archive.key");
    std::fs::write(&key_file, KEY).unwrap();
    let extra = format!(
        "[node]\nwal_segment_bytes = 262144\nmax_value_bytes = 65536\nwal_segment_age_ms = 300\nsnapshot_every_entries = 10\nsnapshot_keep_entries = 1\n\
         [archive]\nurl = \"{url}\"\nkey_file = \"{}\"\n",
        key_file.display()
    );
    let (topo, apis) = topology(dir, &["r1"], &extra);
    let node = NodeProcess::start(&topo, "r1", &dir.join("data"), apis[0]).await;
    phase("write enough to seal several segments");
    let client = node.client();
    for i in 0..400 {
        let r = client
            .put(
                "c",
                &format!("k{i:04}"),
                Bytes::from(vec![b'a' + (i % 26) as u8; 1024]),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    phase("wait until the archive covers every write (size and age sealing)");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, out, err) = run(&["archive", "list", "--archive", url]);
        assert_eq!(code, 0, "{err}");
        // indexes 1 and 2: the group's initial membership and its first leader's blank entry
        if out.contains("indexes 1..=402,") {
            assert!(out.contains("cluster test group g1"), "{out}");
            assert!(out.matches(".seg").count() >= 2, "several segments: {out}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "archive did not catch up:\n{out}\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, out, err) = run(&[
        "archive",
        "verify",
        "--archive",
        url,
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" 0 bad"), "{out}");
    // the manifest is written before the round updates the lag gauge: give it that round
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let metrics = node
            .client()
            .request(hyper::Method::GET, "/metrics", &[], Bytes::new())
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&metrics.body).to_string();
        if text.contains("georep_archive_lag_entries{group=\"g1\",region=\"r1\"} 0") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "archive lag did not reach 0:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !text.contains("1111111111"),
        "key material must never reach metrics"
    );
    assert!(
        !node.log_text().contains("1111111111"),
        "key material must never reach logs"
    );

    phase("list with a key file reports segments whose key it lacks");
    let (code, _, err) = run(&[
        "archive",
        "list",
        "--archive",
        url,
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let other_id = dir.join("other-id.key");
    std::fs::write(&other_id, KEY.replace("k1", "k9")).unwrap();
    let (code, out, err) = run(&[
        "archive",
        "list",
        "--archive",
        url,
        "--key-file",
        other_id.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("(key not in --key-file)") && err.contains("use keys that --key-file lacks"),
        "{out}{err}"
    );

    phase("a wrong key is reported per object");
    let wrong = dir.join("wrong.key");
    std::fs::write(&wrong, KEY.replace('1', "2").replace("k2", "k1")).unwrap();
    let (code, out, _) = run(&[
        "archive",
        "verify",
        "--archive",
        url,
        "--key-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("BAD test/g1/segments/") && out.contains("does not unwrap"),
        "{out}"
    );
    node
}

/// The API address of region r1 in the topology file `support::topology` wrote.
fn read_api(dir: &Path) -> std::net::SocketAddr {
    let text = std::fs::read_to_string(dir.join("topology.toml")).unwrap();
    let line = text.lines().find(|l| l.starts_with("api = ")).unwrap();
    line.trim_start_matches("api = ")
        .trim_matches('"')
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_archive_ships_lists_verifies_and_names_damage() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let url = format!("file://{}", root.display());
    let node = archive_round_trip(dir.path(), &url).await;

    phase("archived segments leave the local WAL; the store still serves the oldest keys");
    let wal_dir = dir.path().join("data/groups/g1/wal");
    let segments = || {
        std::fs::read_dir(&wal_dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "wal")
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while segments() > 1 {
        assert!(
            Instant::now() < deadline,
            "WAL not purged after archiving: {} segments",
            segments()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(node); // SIGKILL
    let (topo, apis) = (dir.path().join("topology.toml"), read_api(dir.path()));
    let node = NodeProcess::start(&topo, "r1", &dir.path().join("data"), apis).await;
    let r = node
        .client()
        .get("c", "k0000", &[("x-georep-consistency", "strong")])
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.body.len()),
        (200, 1024),
        "oldest key after purge and restart"
    );
    drop(node);

    phase("flip one byte of one archived object");
    let segs = root.join("test/g1/segments");
    let mut objects: Vec<_> = std::fs::read_dir(&segs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    objects.sort();
    let victim = &objects[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x04;
    std::fs::write(victim, &bytes).unwrap();
    let key_file = dir.path().join("archive.key");
    let (code, out, _) = run(&[
        "archive",
        "verify",
        "--archive",
        &url,
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    let name = format!(
        "test/g1/segments/{}",
        victim.file_name().unwrap().to_string_lossy()
    );
    assert!(
        out.contains(&format!("BAD {name}")),
        "names the damaged object: {out}"
    );
    assert!(
        out.contains(&format!("{} objects verified, 1 bad", objects.len() - 1)),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_archive_on_moto() {
    let Some(base) = support::emulator("GEOREP_TEST_S3_URL", "S3 (moto)") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{base}/node-{}", std::process::id());
    let _node = archive_round_trip(dir.path(), &url).await;
}

#[test]
fn archive_misconfiguration_exits_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            format!(
                "[archive]\nurl = \"file://{}/a\"\nkey_file = \"/no/such/key\"\n",
                dir.path().display()
            ),
            "archive.key_file",
        ),
        (
            format!(
                "[archive]\nurl = \"file://{}/a\"\nkey_env = \"GEOREP_TEST_UNSET_KEY_VAR\"\n",
                dir.path().display()
            ),
            "archive.key_env",
        ),
        (
            format!(
                "[archive]\nurl = \"file://{}/a\"\nkey_env = \"K\"\ncold_after_days = 1\n",
                dir.path().display()
            ),
            "archive.cold_after_days",
        ),
        (
            "[archive]\nurl = \"s3://b/p\"\nkey_env = \"K\"\ncold_after_days = 1\ncold_storage_class = \"GLACIER\"\n".to_string(),
            "archive.cold_storage_class",
        ),
        (
            "[archive]\nurl = \"s3://b/p\"\nkey_env = \"K\"\nretention_days = 7\ncold_after_days = 9\n".to_string(),
            "archive.cold_after_days",
        ),
        (
            "[archive]\nurl = \"s3://b/p\"\nkey_env = \"K\"\nwal_cap_mib = 64\n".to_string(),
            "archive.wal_cap_mib",
        ),
        (
            "[archive]\nurl = \"s3://b/p\"\nkey_env = \"K\"\nzstd_level = 0\n".to_string(),
            "archive.zstd_level",
        ),
        (
            "[archive]\nurl = \"s3://b/p\"\nkey_env = \"K\"\nretention_days = -1\n".to_string(),
            "archive.retention_days",
        ),
    ];
    for (extra, field) in cases {
        let (topo, _) = topology(dir.path(), &["r1"], &extra);
        let data = dir.path().join(format!("data-{}", field.replace('.', "-")));
        let (code, _, err) = run(&[
            "node",
            "--topology",
            topo.to_str().unwrap(),
            "--region",
            "r1",
            "--data-dir",
            data.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{field}: {err}");
        assert!(err.contains(field), "{field}: {err}");
    }
}

/// SIGKILL while segments are being archived: after restart the archiver finishes, the
/// manifest stays contiguous, and every object verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_archiving_leaves_a_consistent_archive() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("archive.key");
    std::fs::write(&key_file, KEY).unwrap();
    let url = format!("file://{}", dir.path().join("archive").display());
    let extra = format!(
        "[node]\nwal_segment_bytes = 131072\nmax_value_bytes = 16384\nwal_segment_age_ms = 200\nsnapshot_every_entries = 10\nsnapshot_keep_entries = 1\n\
         [archive]\nurl = \"{url}\"\nkey_file = \"{}\"\n",
        key_file.display()
    );
    let (topo, apis) = topology(dir.path(), &["r1"], &extra);
    let data = dir.path().join("data");
    let mut acked = 0u64;
    for round in 0..3 {
        phase(&format!(
            "round {round}: write, and SIGKILL while segments seal and ship"
        ));
        let mut node = NodeProcess::start(&topo, "r1", &data, apis[0]).await;
        let c = node.client();
        let writer = tokio::spawn(async move {
            let mut n = 0u64;
            for i in 0.. {
                match c
                    .put(
                        "c",
                        &format!("r{round}-{i}"),
                        Bytes::from(vec![b'z'; 2000]),
                        &[],
                    )
                    .await
                {
                    Ok(r) if r.status == 200 => n += 1,
                    _ => break,
                }
            }
            n
        });
        tokio::time::sleep(Duration::from_millis(700)).await;
        node.kill9();
        acked += writer.await.unwrap();
    }
    phase("restart and let the archiver catch up");
    let node = NodeProcess::start(&topo, "r1", &data, apis[0]).await;
    // nothing writes after the restart, so the durable index is final; the archive must
    // come to cover exactly it (the lag gauge reads 0 before the first round, so it is no signal)
    let cluster = node
        .client()
        .request(hyper::Method::GET, "/v1/cluster", &[], Bytes::new())
        .await
        .unwrap();
    let last = cluster.json().unwrap()["groups"][0]["durable_index"]
        .as_u64()
        .unwrap();
    assert!(
        last >= acked,
        "the log holds every acknowledged write ({acked}), up to {last}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, out, err) = run(&["archive", "list", "--archive", &url]);
        assert_eq!(code, 0, "{err}");
        if out.contains(&format!("indexes 1..={last},")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "manifest not contiguous from 1 to {last} in time: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, out, err) = run(&[
        "archive",
        "verify",
        "--archive",
        &url,
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" 0 bad"), "{out}");
}
