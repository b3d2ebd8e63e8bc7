//! The Terraform example renders the topology every node reads. A drift between that
//! template, the values Terraform passes it, and georep's own config validation must break
//! the build, since terraform itself cannot run against a cloud here.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use georep::config::{Tier, Topology};
use support::tftpl;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform/examples/aws-three-regions")
}

fn vars() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(example().join("testdata/template-vars.json")).unwrap(),
    )
    .unwrap()
}

fn rendered() -> String {
    let template = std::fs::read_to_string(example().join("topology.toml.tftpl")).unwrap();
    tftpl::render(&template, &vars()).unwrap()
}

#[test]
fn rendered_topology_passes_georep_validation() {
    // The secrets cloud-init fetches into /etc/georep before each start, staged in a temporary
    // /etc/georep: auth files are read at load, so the topology is checked with them.
    let etc = tempfile::tempdir().unwrap();
    let staged = etc.path().display().to_string();
    std::fs::write(etc.path().join("jwt.key"), "k".repeat(64)).unwrap();
    let (code, _, err) = support::run(&[
        "auth",
        "token",
        "--role",
        "writer",
        "--name",
        "app",
        "--append-to",
        etc.path().join("auth-tokens.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let text = rendered().replace("/etc/georep", &staged);
    let topology = Topology::parse(&text, Path::new("rendered.toml"), etc.path())
        .unwrap_or_else(|e| panic!("the Terraform-rendered topology is invalid: {e}\n{text}"));
    assert!(topology.auth.enabled(), "the deployed API authenticates");
    assert_eq!(topology.auth.tokens[0].role, georep::config::Role::Writer);
    assert!(topology.auth.jwt_hs256_key.is_some());
    assert_eq!(
        topology.api_tls,
        Some(georep::config::ApiTls { files: None })
    );
    assert_eq!(
        topology.certs_dir.as_deref(),
        Some(etc.path().join("tls").as_path())
    );
    assert_eq!(topology.cluster, "prod");
    let names: Vec<_> = topology.regions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["us-east-1", "eu-west-1", "ap-south-1"]);
    assert_eq!(
        topology.region("eu-west-1").unwrap().api.to_string(),
        "198.51.100.20:7101"
    );
    assert_eq!(topology.region("eu-west-1").unwrap().peer.port(), 7201);
    assert_eq!(topology.collection("orders").unwrap().tier, Tier::Critical);
    assert_eq!(
        topology.collection("profiles").unwrap().regions,
        ["eu-west-1", "us-east-1"]
    );
    let archive = topology.archive.expect("archive section");
    assert_eq!(archive.url, "s3://acme-georep-prod-archive/georep");
    assert_eq!(archive.retention_days, 7.0);
    assert_eq!(
        topology.session_key_file.as_deref(),
        Some(etc.path().join("session.key").as_path())
    );
}

/// The keys main.tf hands to templatefile() are exactly the ones the sample provides, so the
/// sample (and this test) cannot silently fall behind the example.
#[test]
fn sample_values_match_what_terraform_passes() {
    let main = std::fs::read_to_string(example().join("main.tf")).unwrap();
    let start = main
        .find("templatefile(\"${path.module}/topology.toml.tftpl\", {")
        .expect("templatefile call in main.tf");
    let body = &main[start..];
    let body = &body[..body.find("\n  })").expect("end of the templatefile object")];
    let mut keys: Vec<String> = body
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("    ") && !l.starts_with("     "))
        .filter_map(|l| {
            l.trim()
                .split_once(" = ")
                .map(|(k, _)| k.trim().to_string())
        })
        .collect();
    keys.sort();
    let mut sample: Vec<String> = vars().as_object().unwrap().keys().cloned().collect();
    sample.sort();
    assert_eq!(
        keys, sample,
        "main.tf passes different template variables than testdata/template-vars.json"
    );
}

/// Where a terraform binary is installed, its own rendering must equal ours.
#[test]
fn renderer_agrees_with_terraform_when_available() {
    if Command::new("terraform").arg("version").output().is_err() {
        eprintln!("terraform not installed: comparison with Terraform's own renderer skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        example().join("topology.toml.tftpl"),
        dir.path().join("t.tftpl"),
    )
    .unwrap();
    std::fs::copy(
        example().join("testdata/template-vars.json"),
        dir.path().join("v.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        "output \"t\" { value = templatefile(\"${path.module}/t.tftpl\", jsondecode(file(\"${path.module}/v.json\"))) }\n",
    )
    .unwrap();
    let tf = |args: &[&str]| {
        let out = Command::new("terraform")
            .args(args)
            .current_dir(dir.path())
            .env("TF_IN_AUTOMATION", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "terraform {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    tf(&["init", "-backend=false", "-input=false"]);
    tf(&["apply", "-auto-approve", "-input=false"]);
    let theirs = tf(&["output", "-raw", "t"]);
    assert_eq!(rendered(), theirs);
}

/// Every file the rendered topology makes a node read from /etc/georep (keys, tokens, the
/// certificates directory's files) is one the node module fetches from Secrets Manager, so a
/// new secret cannot be named in the topology and forgotten in the module.
#[test]
fn every_file_the_topology_names_is_a_fetched_secret() {
    let main = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform/modules/region_node/main.tf"),
    )
    .unwrap();
    let block = &main[main
        .find("secret_files = {")
        .expect("secret_files in main.tf")..];
    let block = &block[..block.find("\n  }").unwrap()];
    let fetched: Vec<String> = block
        .lines()
        .skip(1)
        .filter_map(|l| l.split('=').nth(1))
        .map(|v| {
            v.trim()
                .trim_matches('"')
                .replace("${var.region_name}", "us-east-1")
        })
        .collect();
    let text = rendered();
    let mut named: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("certs_dir"))
        .filter_map(|l| l.split_once("= \"/etc/georep/").map(|(_, rest)| rest))
        .map(|rest| rest.trim_end_matches('"').to_string())
        .collect();
    assert!(text.contains("certs_dir = \"/etc/georep/tls\""));
    for f in [
        "ca.pem",
        "us-east-1.pem",
        "us-east-1.key",
        "us-east-1.api.pem",
        "us-east-1.api.key",
    ] {
        named.push(format!("tls/{f}"));
    }
    assert!(named.len() >= 9, "{named:?}");
    for n in &named {
        assert!(
            fetched.contains(n),
            "{n} is named by the topology but not fetched: {fetched:?}"
        );
    }
}
