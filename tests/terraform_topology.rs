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
    let text = rendered();
    let topology = Topology::parse(&text, Path::new("rendered.toml"), Path::new("/etc/georep"))
        .unwrap_or_else(|e| panic!("the Terraform-rendered topology is invalid: {e}\n{text}"));
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
        Some(Path::new("/etc/georep/session.key"))
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
