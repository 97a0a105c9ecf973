//! Data-driven, for every registered profile: each fixture under `fixtures/<profile>/` against
//! the profile's schemas and its Rust decoder, through the `Profile` interface only.

use crate::support::repo_root;
use protocol::profile::PROFILES;
use protocol::schema::SchemaSet;
use protocol::Profile;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

/// `(kind, file, contents)` for every fixture under `fixtures/<profile>/<validity>/<kind>/`.
fn fixtures(profile: &dyn Profile, validity: &str) -> Vec<(String, PathBuf, Value)> {
    let dir = repo_root()
        .join("fixtures")
        .join(profile.name())
        .join(validity);
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let kind_dir = entry.expect("readable entry").path();
        let kind = kind_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        assert!(
            profile.kinds().iter().any(|k| k.name == kind),
            "{}: {} has no kind {kind:?}",
            kind_dir.display(),
            profile.name()
        );
        for file in fs::read_dir(&kind_dir).expect("readable kind directory") {
            let path = file.expect("readable entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = fs::read_to_string(&path).expect("readable fixture");
                let value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.push((kind.clone(), path, value));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

#[test]
fn every_profile_has_three_valid_fixtures_per_kind_and_they_pass() {
    for profile in PROFILES {
        let schemas = SchemaSet::load(*profile).expect("schemas compile");
        let valid = fixtures(*profile, "valid");
        let mut failures = Vec::new();
        for kind in profile.kinds() {
            let n = valid.iter().filter(|(k, _, _)| k == kind.name).count();
            if n < 3 {
                failures.push(format!(
                    "{}: {n} valid fixtures of {}",
                    profile.name(),
                    kind.name
                ));
            }
        }
        for (kind, path, value) in valid {
            let violations = schemas.violations(&kind, &value).expect("schema exists");
            if !violations.is_empty() {
                failures.push(format!("{}: schema says {violations:?}", path.display()));
            }
            if let Err(e) = profile.decode(&kind, value.clone()) {
                failures.push(format!("{}: decoder says {e}", path.display()));
            }
            if let Some(direction) = profile
                .kinds()
                .iter()
                .find(|k| k.name == kind)
                .and_then(|k| k.direction)
            {
                match profile.classify(direction, &value) {
                    Ok(classified) if classified == kind => {}
                    other => failures.push(format!("{}: classified as {other:?}", path.display())),
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

#[test]
fn every_profile_rejects_its_invalid_fixtures_with_the_named_rule() {
    for profile in PROFILES {
        let schemas = SchemaSet::load(*profile).expect("schemas compile");
        let invalid = fixtures(*profile, "invalid");
        assert!(
            invalid.len() >= 5,
            "{}: only {} invalid fixtures",
            profile.name(),
            invalid.len()
        );
        let mut failures = Vec::new();
        for (kind, path, fixture) in invalid {
            let expected = fixture["rule"].as_str().expect("fixture names its rule");
            let message = fixture["message"].clone();
            let schema_rules: BTreeSet<String> = schemas
                .violations(&kind, &message)
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
            match profile.decode(&kind, message) {
                Ok(()) => failures.push(format!("{}: decoder accepted it", path.display())),
                Err(e) => {
                    let got = e.rule.as_ref().map(ToString::to_string).unwrap_or_default();
                    if got != expected {
                        failures.push(format!(
                            "{}: decoder reports {got:?} ({}), fixture says {expected}",
                            path.display(),
                            e.message
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
