//! One suite for every archive backend, run against `file://` always and against real
//! emulators of S3 (moto), Azure Blob (Azurite) and GCS (gcp-storage-emulator) when
//! `scripts/test` has started them (it sets `GEOREP_TEST_*_URL`). With
//! `GEOREP_REQUIRE_EMULATORS=1`, or in CI, a missing emulator fails the suite; elsewhere the
//! test prints SKIPPED (shown in nextest's output) instead of passing silently.
//!
//! gcp-storage-emulator answers object_store's XML PUT and GET without headers object_store
//! requires (ETag, Last-Modified) and does not serve HEAD, list, DELETE or multipart, so the
//! GCS test covers only what it serves correctly; README.md lists the GCS calls that stay
//! unverified.

use bytes::Bytes;
use georep_archive::{ArchiveBackend, BackendError, KeyRing, MULTIPART_ABOVE, open, seal};

/// Every call the archiver needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Coverage {
    Full,
}

fn backend(env: &str) -> Option<ArchiveBackend> {
    let url = match std::env::var(env) {
        Ok(u) => u,
        Err(_) => {
            // in CI, or once scripts/test started them, a missing emulator is a failure
            let required = std::env::var("GEOREP_REQUIRE_EMULATORS").is_ok()
                || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(!required, "{env} is not set but emulators are required");
            // stdout, which nextest shows for these tests (.config/nextest.toml)
            println!(
                "SKIPPED: {env} is not set, so this backend did not run (scripts/test starts the emulators)"
            );
            return None;
        }
    };
    // a fresh prefix per run, so runs never see each other's objects
    let run = format!(
        "run-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    Some(ArchiveBackend::from_url(&format!("{}/{run}", url.trim_end_matches('/'))).unwrap())
}

async fn suite(b: ArchiveBackend, coverage: Coverage) {
    let name = b.url().to_string();
    // put / get / overwrite
    b.put("c1/g1/segments/a.seg", Bytes::from_static(b"one"))
        .await
        .unwrap();
    let (got, _) = b.get("c1/g1/segments/a.seg").await.unwrap();
    assert_eq!(got, Bytes::from_static(b"one"), "{name}");
    b.put("c1/g1/segments/a.seg", Bytes::from_static(b"one"))
        .await
        .expect("re-upload is idempotent");
    // a sealed object survives the round trip byte for byte
    let ring = KeyRing::single("k1", [4u8; 32]);
    let plain: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let sealed = seal(&plain, &ring, 3).unwrap();
    b.put("c1/g1/segments/sealed.seg", Bytes::from(sealed.clone()))
        .await
        .unwrap();
    let (back, _) = b.get("c1/g1/segments/sealed.seg").await.unwrap();
    assert_eq!(open(&back, &ring).unwrap(), plain, "{name}");
    // a missing object is NotFound, not an I/O error
    match b.get("c1/g1/segments/missing.seg").await {
        Err(BackendError::NotFound { .. }) => {}
        other => panic!("{name}: missing object gave {other:?}"),
    }
    let Coverage::Full = coverage;

    // list by prefix, in name order, with sizes
    b.put("c1/g1/segments/b.seg", Bytes::from_static(b"bb"))
        .await
        .unwrap();
    b.put("c1/g2/segments/x.seg", Bytes::from_static(b"x"))
        .await
        .unwrap();
    let listed = b.list("c1/g1/segments").await.unwrap();
    let names: Vec<&str> = listed.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "c1/g1/segments/a.seg",
            "c1/g1/segments/b.seg",
            "c1/g1/segments/sealed.seg"
        ],
        "{name}"
    );
    assert_eq!(listed[1].size, 2);

    // conditional create and compare-and-swap (manifest updates)
    let m1 = b
        .put_if_absent("c1/manifest.json", Bytes::from_static(b"{\"v\":1}"))
        .await
        .unwrap();
    assert!(
        matches!(
            b.put_if_absent("c1/manifest.json", Bytes::from_static(b"{}"))
                .await,
            Err(BackendError::AlreadyExists { .. })
        ),
        "{name}"
    );
    b.put_if_match("c1/manifest.json", Bytes::from_static(b"{\"v\":2}"), &m1)
        .await
        .unwrap();
    assert!(
        matches!(
            b.put_if_match("c1/manifest.json", Bytes::from_static(b"{\"v\":3}"), &m1)
                .await,
            Err(BackendError::Precondition { .. })
        ),
        "{name}: a stale version must be refused"
    );
    assert_eq!(
        b.get("c1/manifest.json").await.unwrap().0,
        Bytes::from_static(b"{\"v\":2}")
    );

    // multipart upload of a large object
    let big: Vec<u8> = (0..(MULTIPART_ABOVE * 2 + 12345))
        .map(|i| (i * 31 % 256) as u8)
        .collect();
    b.put("c1/g1/segments/big.seg", Bytes::from(big.clone()))
        .await
        .unwrap();
    assert_eq!(
        b.get("c1/g1/segments/big.seg").await.unwrap().0,
        Bytes::from(big),
        "{name}"
    );

    // delete
    b.delete("c1/g1/segments/b.seg").await.unwrap();
    assert!(matches!(
        b.get("c1/g1/segments/b.seg").await,
        Err(BackendError::NotFound { .. })
    ));
}

#[tokio::test]
async fn file_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    suite(ArchiveBackend::from_url(&url).unwrap(), Coverage::Full).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_on_moto() {
    if let Some(b) = backend("GEOREP_TEST_S3_URL") {
        suite(b, Coverage::Full).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_backend_on_azurite() {
    if let Some(b) = backend("GEOREP_TEST_AZURE_URL") {
        suite(b, Coverage::Full).await;
    }
}

/// gcp-storage-emulator answers object_store's XML PUT and GET without the ETag and
/// Last-Modified headers object_store requires, so only what it serves correctly is verified:
/// the client against an emulator base URL with OAuth disabled, and a missing object as
/// NotFound. README.md lists every GCS call that stays unverified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_backend_on_emulator() {
    let Some(b) = backend("GEOREP_TEST_GCS_URL") else {
        return;
    };
    match b.get("c1/g1/segments/missing.seg").await {
        Err(BackendError::NotFound { .. }) => {}
        other => panic!("missing object gave {other:?}"),
    }
}

#[test]
fn bad_urls_are_named_errors() {
    for url in ["ftp://x/y", "s3://", "az://acct", "nonsense"] {
        match ArchiveBackend::from_url(url) {
            Err(BackendError::InvalidUrl { url: u, .. }) => assert_eq!(u, url),
            other => panic!("{url}: {other:?}"),
        }
    }
}
