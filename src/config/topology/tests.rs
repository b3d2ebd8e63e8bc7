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
