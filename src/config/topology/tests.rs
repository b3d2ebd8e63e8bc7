use std::path::Path;

use super::*;
use crate::config::{AckMode, Tier};
use crate::consistency::Consistency;

fn parse(text: &str) -> Result<Topology, ConfigError> {
    Topology::parse(text, Path::new("t.toml"), Path::new("/etc/georep"))
}

const BASE: &str = r#"
cluster = "c1"
[[regions]]
name = "a"
api = "127.0.0.1:1"
peer = "127.0.0.1:2"
[[regions]]
name = "b"
api = "127.0.0.1:3"
peer = "127.0.0.1:4"
[[regions]]
name = "c"
api = "127.0.0.1:5"
peer = "127.0.0.1:6"
"#;

fn field_of(err: ConfigError) -> String {
    match err {
        ConfigError::Invalid { field, .. } => field,
        other => panic!("expected a field error, got {other}"),
    }
}

#[test]
fn embedded_local_topology_is_valid() {
    let t = Topology::parse(
        crate::config::LOCAL_TOPOLOGY,
        Path::new("local.toml"),
        Path::new("regions"),
    )
    .unwrap();
    assert_eq!(t.regions.len(), 3);
    assert_eq!(t.collection("orders").unwrap().ack_mode, AckMode::Sync);
    assert_eq!(
        t.collection("profiles").unwrap().ack_mode,
        AckMode::SemiSync
    );
    assert_eq!(t.collection("audit").unwrap().tier, Tier::Archival);
    assert!(t.warnings.is_empty());
}

#[test]
fn defaults_fill_in() {
    let t = parse(BASE).unwrap();
    assert_eq!(t.node.default_consistency, Consistency::Session);
    assert_eq!(t.node.max_value_bytes, 1 << 20);
    assert_eq!(t.region("b").unwrap().api.port(), 3);
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let err = parse(&format!("{BASE}\nbogus = 1\n")).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }));
    assert!(err.to_string().contains("bogus"), "{err}");
    let err = parse(&BASE.replace("peer = \"127.0.0.1:2\"", "peer = \"127.0.0.1:2\"\nport = 9"))
        .unwrap_err();
    assert!(err.to_string().contains("port"), "{err}");
    let err = parse(&format!("{BASE}\n[node]\nmax_value_byte = 5\n")).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `max_value_byte`"),
        "{err}"
    );
}

#[test]
fn region_errors_name_the_field() {
    assert_eq!(
        field_of(parse(&BASE.replace("name = \"b\"", "name = \"a\"")).unwrap_err()),
        "regions[1].name"
    );
    assert_eq!(
        field_of(parse(&BASE.replace("127.0.0.1:3", "127.0.0.1:99999")).unwrap_err()),
        "regions[1].api"
    );
    assert_eq!(
        field_of(parse(&BASE.replace("127.0.0.1:3", "localhost")).unwrap_err()),
        "regions[1].api"
    );
    assert_eq!(
        field_of(parse(&BASE.replace("127.0.0.1:6", "127.0.0.1:1")).unwrap_err()),
        "regions[2].peer"
    );
    assert_eq!(
        field_of(parse(&BASE.replace("cluster = \"c1\"", "cluster = \"C 1\"")).unwrap_err()),
        "cluster"
    );
    assert_eq!(
        field_of(parse("cluster = \"x\"\nregions = []").unwrap_err()),
        "regions"
    );
}

#[test]
fn placement_errors_name_the_field() {
    let with = |c: &str| parse(&format!("{BASE}\n[[collections]]\n{c}"));
    assert_eq!(
        field_of(with("name = \"o\"\ntier = \"critical\"\nregions = [\"a\",\"b\"]").unwrap_err()),
        "collections[0].regions"
    );
    assert_eq!(
        field_of(with("name = \"o\"\ntier = \"standard\"\nregions = [\"a\",\"zz\"]").unwrap_err()),
        "collections[0].regions[1]"
    );
    let err = with("name = \"o\"\ntier = \"critical\"\nregions = [\"a\",\"b\",\"c\"]\nack_mode = \"sync\"\nmin_sync_replicas = 0")
        .unwrap_err();
    assert!(
        err.to_string().contains("collections[0].min_sync_replicas"),
        "{err}"
    );
    let t =
        with("name = \"o\"\ntier = \"standard\"\nregions = [\"a\",\"b\"]\nmin_sync_replicas = 0")
            .unwrap();
    assert_eq!(t.warnings.len(), 1, "semi_sync with 0 is a warning");
    assert!(
        with("name = \"o\"\ntier = \"archival\"\nregions = [\"a\"]\nconsistency = \"sometimes\"")
            .is_err()
    );
    assert_eq!(
        field_of(with("name = \"Bad/Name\"\ntier = \"archival\"\nregions = [\"a\"]").unwrap_err()),
        "collections[0].name"
    );
}

#[test]
fn multi_master_settings_are_checked_naming_the_field() {
    let with = |c: &str| parse(&format!("{BASE}\n[[collections]]\nname = \"m\"\n{c}"));
    let mm = "tier = \"multi_master\"\nregions = [\"a\",\"b\"]\n";
    let t = with(mm).unwrap();
    let p = t.collection("m").unwrap();
    assert_eq!(p.tier, Tier::MultiMaster);
    assert_eq!(p.conflict, crate::config::ConflictRule::Lww);
    let t = with(&format!("{mm}conflict = \"crdt\"\ncrdt = \"or_set\"")).unwrap();
    assert_eq!(
        t.collection("m").unwrap().crdt,
        Some(crate::config::CrdtKind::OrSet)
    );
    for (extra, field) in [
        (
            "tier = \"multi_master\"\nregions = [\"a\"]",
            "collections[0].regions",
        ),
        (
            &format!("{mm}learners = [\"c\"]") as &str,
            "collections[0].learners",
        ),
        (
            &format!("{mm}consistency = \"strong\""),
            "collections[0].consistency",
        ),
        (
            &format!("{mm}ack_mode = \"sync\""),
            "collections[0].ack_mode",
        ),
        (&format!("{mm}conflict = \"crdt\""), "collections[0].crdt"),
        (&format!("{mm}crdt = \"g_counter\""), "collections[0].crdt"),
        (
            &format!("{mm}conflict = \"custom\""),
            "collections[0].resolver",
        ),
        (
            &format!("{mm}conflict = \"custom\"\nresolver = \"no-such.rhai\""),
            "collections[0].resolver",
        ),
        (
            "tier = \"critical\"\nregions = [\"a\",\"b\",\"c\"]\nconflict = \"lww\"",
            "collections[0].conflict",
        ),
    ] {
        let err = with(extra).unwrap_err();
        assert_eq!(field_of(err), field, "{extra}");
    }
    assert!(
        with(&format!("{mm}crdt = \"bogus\"")).is_err(),
        "unknown CRDT kind"
    );
    // a resolver script is compiled at load: a bad one is named with its line
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.rhai"), "fn resolve(a, b) { b.value }").unwrap();
    std::fs::write(
        dir.path().join("bad.rhai"),
        "fn resolve(a, b) {\n  a.value +\n",
    )
    .unwrap();
    let custom = |script: &str| {
        Topology::parse(
            &format!(
                "{BASE}\n[[collections]]\nname = \"m\"\n{mm}conflict = \"custom\"\nresolver = \"{script}\""
            ),
            Path::new("t.toml"),
            dir.path(),
        )
    };
    let t = custom("good.rhai").unwrap();
    assert!(t.resolvers.get("m").is_some());
    let err = custom("bad.rhai").unwrap_err().to_string();
    assert!(
        err.contains("collections[0].resolver") && err.contains("line"),
        "{err}"
    );
    // a node default of strong is not a multi-master default: session, with a warning
    let t = parse(&format!(
        "{BASE}\n[node]\ndefault_consistency = \"strong\"\n[[collections]]\nname = \"m\"\n{mm}"
    ))
    .unwrap();
    assert_eq!(
        t.collection("m").unwrap().consistency,
        crate::consistency::Consistency::Session
    );
    assert!(
        t.warnings.iter().any(|w| w.contains("STRONG")),
        "{:?}",
        t.warnings
    );
}

#[test]
fn links_archive_and_node_settings_are_checked() {
    let link = |l: &str| parse(&format!("{BASE}\n[[links]]\n{l}"));
    assert!(link("between = [\"a\",\"b\"]\nrtt_ms = 50").is_ok());
    assert_eq!(
        field_of(link("between = [\"a\",\"q\"]\nrtt_ms = 50").unwrap_err()),
        "links[0].between[1]"
    );
    assert_eq!(
        field_of(link("between = [\"a\",\"a\"]\nrtt_ms = 50").unwrap_err()),
        "links[0].between"
    );
    let archive = |a: &str| parse(&format!("{BASE}\n[archive]\n{a}"));
    let t = archive("url = \"s3://bucket/p\"\nkey_file = \"k.key\"").unwrap();
    assert_eq!(
        t.archive.unwrap().key,
        ArchiveKey::File("/etc/georep/k.key".into())
    );
    assert_eq!(
        field_of(archive("url = \"ftp://x\"\nkey_env = \"K\"").unwrap_err()),
        "archive.url"
    );
    assert_eq!(
        field_of(archive("url = \"gs://x\"").unwrap_err()),
        "archive"
    );
    assert_eq!(
        field_of(parse(&format!("{BASE}\n[node]\nwal_segment_bytes = 10\n")).unwrap_err()),
        "node.wal_segment_bytes"
    );
}
