//! Point-in-time restore from the archive alone: a real node writes three phases with
//! recorded times between them; the archive is restored to each instant (and `latest`), a
//! real node boots on each restored data dir, and every key reads as it was at that instant.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::restore::rfc3339;
use support::{NodeProcess, phase, run, topology};

const KEY: &str = "k1 3333333333333333333333333333333333333333333333333333333333333333\n";

/// What each key must read as: `Some(value)` or absent.
type Expected = Vec<(String, Option<String>)>;

async fn check(node: &NodeProcess, expected: &Expected, label: &str) {
    let c = node.client();
    for (key, value) in expected {
        let r = c
            .get("c", key, &[("x-georep-consistency", "strong")])
            .await
            .unwrap();
        match value {
            Some(v) => {
                assert_eq!(r.status, 200, "{label}: {key} missing");
                assert_eq!(r.body, v.as_bytes(), "{label}: {key}");
            }
            None => assert_eq!(r.status, 404, "{label}: {key} should not exist yet"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_to_instants_between_writes_on_a_segment_boundary_and_latest() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("archive.key");
    std::fs::write(&key, KEY).unwrap();
    let archive = format!("file://{}", dir.path().join("archive").display());
    // `georep restore --archive <archive> --to <to> --data-dir <dir> --key-file <key>`
    let restore = |to: &str, data_dir: &str| {
        run(&[
            "restore",
            "--archive",
            &archive,
            "--to",
            to,
            "--data-dir",
            data_dir,
            "--key-file",
            key.to_str().unwrap(),
        ])
    };
    let extra = format!(
        "[node]\nwal_segment_bytes = 131072\nmax_value_bytes = 16384\nwal_segment_age_ms = 300\nsnapshot_every_entries = 10\nsnapshot_keep_entries = 1\n\
         [archive]\nurl = \"{archive}\"\nkey_file = \"{}\"\n",
        key.display()
    );
    let (topo, apis) = topology(dir.path(), &["r1"], &extra);
    let mut node = NodeProcess::start(&topo, "r1", &dir.path().join("live"), apis[0]).await;
    let c = node.client();
    let pad = "x".repeat(600);
    let put = |k: String, v: String| {
        let c = c.clone();
        async move {
            assert_eq!(
                c.put("c", &k, Bytes::from(v), &[]).await.unwrap().status,
                200
            )
        }
    };

    phase("phase A: a0..a99 = A-i");
    for i in 0..100 {
        put(format!("a{i}"), format!("A-{i}-{pad}")).await;
    }
    let t1 = support::now_ms();
    tokio::time::sleep(Duration::from_millis(30)).await;
    phase("phase B: b0..b99, a0..a9 overwritten, a10 deleted");
    for i in 0..100 {
        put(format!("b{i}"), format!("B-{i}-{pad}")).await;
    }
    for i in 0..10 {
        put(format!("a{i}"), format!("A2-{i}")).await;
    }
    assert_eq!(c.delete("c", "a10", &[]).await.unwrap().status, 200);
    let t2 = support::now_ms();
    tokio::time::sleep(Duration::from_millis(30)).await;
    phase("phase C: c0..c49");
    for i in 0..50 {
        put(format!("c{i}"), format!("C-{i}")).await;
    }

    phase("wait until the archive holds every write, then stop the node");
    // 2 + : the group's initial membership and its first leader's blank entry
    let last = 2 + 100 + 100 + 10 + 1 + 50;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, out, _) = run(&["archive", "list", "--archive", &archive]);
        if out.contains(&format!("indexes 1..={last},")) {
            break;
        }
        assert!(Instant::now() < deadline, "archive did not catch up: {out}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(node.stop().success());

    let a = |i: usize, phase_b: bool| -> (String, Option<String>) {
        let v = if phase_b && i < 10 {
            format!("A2-{i}")
        } else {
            format!("A-{i}-{pad}")
        };
        (
            format!("a{i}"),
            if phase_b && i == 10 { None } else { Some(v) },
        )
    };
    let at_t1: Expected = (0..100)
        .map(|i| a(i, false))
        .chain((0..100).map(|i| (format!("b{i}"), None)))
        .chain([("c0".to_string(), None)])
        .collect();
    let at_t2: Expected = (0..100)
        .map(|i| a(i, true))
        .chain((0..100).map(|i| (format!("b{i}"), Some(format!("B-{i}-{pad}")))))
        .chain([("c0".to_string(), None)])
        .collect();
    let mut latest = at_t2.clone();
    latest.pop();
    latest.extend((0..50).map(|i| (format!("c{i}"), Some(format!("C-{i}")))));

    for (n, (target, expected)) in [
        (rfc3339(t1), at_t1),
        (rfc3339(t2), at_t2),
        ("latest".to_string(), latest),
    ]
    .into_iter()
    .enumerate()
    {
        phase(&format!("restore to {target} and boot a node on it"));
        let restored = dir.path().join(format!("restored-{n}"));
        let (code, out, err) = restore(&target, restored.to_str().unwrap());
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            err.contains("restoring: ") && err.contains("MiB/s"),
            "progress on stderr: {err}"
        );
        let mut node = NodeProcess::start(&topo, "r1", &restored, apis[0]).await;
        check(&node, &expected, &target).await;
        assert!(node.stop().success());
    }

    phase("restore to the last entry of the first archived segment (a segment boundary)");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("archive/test/g1/manifest.json")).unwrap(),
    )
    .unwrap();
    let seg0_last_ms = manifest["segments"][0]["meta"]["last_hlc"]
        .as_u64()
        .unwrap()
        >> 16;
    let seg0_last = manifest["segments"][0]["meta"]["indexes"]["last"]
        .as_u64()
        .unwrap();
    let boundary = dir.path().join("restored-boundary");
    let (code, out, err) = restore(&rfc3339(seg0_last_ms), boundary.to_str().unwrap());
    assert_eq!(code, 0, "{out}{err}");
    let kept: u64 = out
        .split("log up to index ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        kept >= seg0_last,
        "the cut keeps the whole first segment: {out}"
    );
    let node = NodeProcess::start(&topo, "r1", &boundary, apis[0]).await;
    let r = node.client().get("c", "a0", &[]).await.unwrap();
    assert_eq!(r.status, 200);
    drop(node);

    phase("a damaged object stops the restore, naming it, and leaves no data dir");
    let objects = dir.path().join("archive/test/g1/segments");
    let victim = std::fs::read_dir(&objects)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let original = std::fs::read(&victim).unwrap();
    let mut bytes = original.clone();
    let n = bytes.len();
    bytes[n - 10] ^= 0x20;
    std::fs::write(&victim, &bytes).unwrap();
    let failed = dir.path().join("restored-bad");
    let (code, _, err) = restore("latest", failed.to_str().unwrap());
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&victim.file_name().unwrap().to_string_lossy().to_string()),
        "names the object: {err}"
    );
    assert!(
        !failed.exists() && !Path::new(&format!("{}.restoring", failed.display())).exists(),
        "no partial data dir"
    );

    phase("with the original bytes back, the restore succeeds again");
    std::fs::write(&victim, &original).unwrap(); // undo the damage...
    let (code, out, err) = restore("latest", failed.to_str().unwrap());
    assert_eq!(code, 0, "{out}{err}");
    std::fs::remove_dir_all(&failed).unwrap();

    phase("a missing archived object stops the restore, naming it");
    let gone = std::fs::read_dir(&objects)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    std::fs::remove_file(&gone).unwrap(); // ...and lose the first segment instead
    let (code, _, err) = restore("latest", failed.to_str().unwrap());
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&gone.file_name().unwrap().to_string_lossy().to_string())
            && err.contains("does not exist"),
        "{err}"
    );
    assert!(!failed.exists());

    phase("restoring into a non-empty directory is refused");
    let (code, _, err) = restore("latest", dir.path().join("restored-0").to_str().unwrap());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not empty"), "{err}");
    let (code, _, err) = restore("yesterday", "/tmp/x");
    assert_eq!(code, 2, "{err}");
}
