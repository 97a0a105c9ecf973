//! Data-driven: every fixture in `fixtures/nhem/` against the schemas and the Rust parser.

use crate::support::{json_equal, repo_root, NHEM_SCHEMAS};
use protocol::nhem::{decode, MessageKind};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// `(kind, file)` for every fixture under `fixtures/nhem/<validity>/<kind>/`.
fn fixture_files(validity: &str) -> Vec<(MessageKind, PathBuf)> {
    let dir = repo_root().join("fixtures/nhem").join(validity);
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let kind_dir = entry.expect("readable directory entry").path();
        let name = kind_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let kind = MessageKind::from_name(&name)
            .unwrap_or_else(|| panic!("{}: no message kind named {name:?}", kind_dir.display()));
        for file in fs::read_dir(&kind_dir).expect("readable kind directory") {
            let path = file.expect("readable file entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push((kind, path));
            }
        }
    }
    files.sort();
    files
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_kind_has_at_least_three_valid_fixtures() {
    let files = fixture_files("valid");
    for kind in MessageKind::ALL {
        let n = files.iter().filter(|(k, _)| *k == kind).count();
        assert!(
            n >= 3,
            "{} has {n} valid fixtures; at least 3 expected",
            kind.name()
        );
    }
}

#[test]
fn valid_fixtures_pass_the_schema_and_round_trip_through_rust() {
    let mut failures = Vec::new();
    for (kind, path) in fixture_files("valid") {
        let value = read_json(&path);
        let violations = NHEM_SCHEMAS
            .violations(kind.name(), &value)
            .expect("schema exists");
        if !violations.is_empty() {
            failures.push(format!("{}: schema says {:?}", path.display(), violations));
            continue;
        }
        match decode(kind, value.clone()) {
            Err(e) => failures.push(format!(
                "{}: Rust parser says {e} ({:?})",
                path.display(),
                e.rule
            )),
            Ok(message) => {
                assert_eq!(message.kind(), kind, "{}", path.display());
                let back = message.to_value();
                if !json_equal(&back, &value) {
                    failures.push(format!(
                        "{}: round trip changed it to {back}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} valid fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn invalid_fixtures_are_rejected_by_schema_and_rust_with_their_rule() {
    let files = fixture_files("invalid");
    assert!(files.len() >= 40, "only {} invalid fixtures", files.len());
    let mut failures = Vec::new();
    for (kind, path) in files {
        let fixture = read_json(&path);
        let expected = fixture["rule"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no rule", path.display()));
        let message = fixture["message"].clone();

        let schema_rules: BTreeSet<String> = NHEM_SCHEMAS
            .violations(kind.name(), &message)
            .expect("schema exists")
            .iter()
            .map(|v| v.rule.to_string())
            .collect();
        if schema_rules != BTreeSet::from([expected.to_owned()]) {
            failures.push(format!(
                "{}: schema reports {schema_rules:?}, fixture says {expected}",
                path.display()
            ));
        }

        match decode(kind, message) {
            Ok(_) => failures.push(format!(
                "{}: Rust parser accepted it ({expected})",
                path.display()
            )),
            Err(e) => {
                let got = e.rule.as_ref().map(ToString::to_string).unwrap_or_default();
                if got != expected {
                    failures.push(format!(
                        "{}: Rust parser reports {got:?} ({}), fixture says {expected}",
                        path.display(),
                        e.message
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} invalid fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
