//! Architecture rules, enforced from `cargo metadata`: dependencies between our crates point
//! one way (toward the domain), and the pure core crates pull in no runtime, database, web
//! or JSON crate.

use serde_json::Value;
use std::collections::BTreeMap;

/// Each crate and the workspace crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("lingxi-domain", &[]),
    ("lingxi-encoder", &[]),
    ("lingxi-nlu", &["lingxi-domain"]),
    ("lingxi-knowledge", &["lingxi-domain", "lingxi-nlu", "lingxi-encoder"]),
    ("lingxi-engine", &["lingxi-domain", "lingxi-nlu", "lingxi-knowledge"]),
    ("lingxi-store", &["lingxi-domain"]),
    (
        "lingxi-server",
        &["lingxi-domain", "lingxi-nlu", "lingxi-encoder", "lingxi-knowledge", "lingxi-engine", "lingxi-store"],
    ),
];

const PURE: &[&str] = &["lingxi-domain", "lingxi-nlu", "lingxi-encoder", "lingxi-knowledge", "lingxi-engine"];
const FORBIDDEN_IN_PURE: &[&str] = &["tokio", "sqlx", "axum", "serde_json", "reqwest", "hyper"];

fn workspace_deps() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut map = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect();
        map.insert(p["name"].as_str().unwrap().to_owned(), deps);
    }
    map
}

#[test]
fn crate_edges_point_toward_the_domain() {
    let deps = workspace_deps();
    for (krate, list) in &deps {
        let allowed = ALLOWED
            .iter()
            .find(|(k, _)| k == krate)
            .unwrap_or_else(|| panic!("new crate {krate}: add it to ALLOWED here and to ARCHITECTURE.md"))
            .1;
        for d in list.iter().filter(|d| d.starts_with("lingxi-")) {
            assert!(allowed.contains(&d.as_str()), "{krate} must not depend on {d}");
        }
    }
}

#[test]
fn the_core_does_no_io() {
    let deps = workspace_deps();
    for krate in PURE {
        let Some(list) = deps.get(*krate) else { continue };
        for bad in FORBIDDEN_IN_PURE {
            assert!(!list.iter().any(|d| d == bad), "{krate} must not depend on {bad}");
        }
    }
}
