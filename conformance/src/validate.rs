//! Offline validation: message files and JSONL transcripts against a profile's schemas.
//!
//! A `.json` file holds one message. A `.jsonl` file holds one per line, either the message
//! itself or `{"direction": "c2s" | "s2c", "message": {...}}` (what `record` writes). The
//! profile classifies each message (by `type`, or by direction and shape where the protocol has
//! no `type`); messages it cannot classify (NHEM's HTTP form models) need `--kind`.

use crate::outcome::{CaseResult, Evidence, Outcome};
use protocol::schema::SchemaSet;
use protocol::{Direction, Profile};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One problem with one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub file: PathBuf,
    /// 1-based line in a transcript; 0 for a single-message file.
    pub line: usize,
    pub rule: String,
    pub keyword: String,
    pub detail: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = if self.line > 0 {
            format!("{}:{}", self.file.display(), self.line)
        } else {
            self.file.display().to_string()
        };
        write!(
            f,
            "{place}: {} [{}] {}",
            self.rule, self.keyword, self.detail
        )
    }
}

/// Every `.json` and `.jsonl` file under `path` (or `path` itself), sorted.
pub fn collect_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let p = entry?.path();
        if p.is_dir() {
            files.extend(collect_files(&p)?);
        } else if p.extension().is_some_and(|e| e == "json" || e == "jsonl") {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// The kind of `message`: `kind` if given, else what the profile classifies it as in
/// `direction` (or in either direction when the transcript does not say).
fn kind_of(
    profile: &dyn Profile,
    message: &Value,
    kind: Option<&str>,
    direction: Option<Direction>,
) -> Result<&'static str, (String, String, String)> {
    if let Some(kind) = kind {
        return profile
            .kinds()
            .iter()
            .find(|k| k.name == kind)
            .map(|k| k.name)
            .ok_or_else(|| {
                (
                    "kind".into(),
                    "kind".into(),
                    format!("{} has no message kind {kind:?}", profile.name()),
                )
            });
    }
    let directions = match direction {
        Some(d) => vec![d],
        None => vec![Direction::ClientToServer, Direction::ServerToClient],
    };
    let mut why = String::new();
    for d in directions {
        match profile.classify(d, message) {
            Ok(kind) => return Ok(kind),
            Err(e) => why = e.0,
        }
    }
    // A `type` that names a kind is that kind (NHEM's HTTP bodies, or a message sent the
    // wrong way, which the direction check then reports).
    let named = message.get("type").and_then(Value::as_str);
    if let Some(kind) = profile.kinds().iter().find(|k| Some(k.name) == named) {
        return Ok(kind.name);
    }
    Err(match message.get("type") {
        None => (
            "required:type".into(),
            "required".into(),
            format!("no `type` member ({why}); pass --kind for messages without one"),
        ),
        Some(_) => ("enum:type".into(), "enum".into(), why),
    })
}

/// Validates one message of the profile `schemas` belong to; `kind` overrides
/// classification, `direction` (`c2s`/`s2c`) is checked against the kind's.
pub fn check_message(
    schemas: &SchemaSet,
    message: &Value,
    kind: Option<&str>,
    direction: Option<&str>,
) -> Vec<(String, String, String)> {
    let Some(profile) = protocol::profile::find(schemas.profile()) else {
        return vec![(
            "profile".into(),
            "profile".into(),
            format!("no profile {:?}", schemas.profile()),
        )];
    };
    let direction = match direction.map(|d| (d, Direction::from_name(d))) {
        None => None,
        Some((_, Some(d))) => Some(d),
        Some((d, None)) => {
            return vec![(
                "direction".into(),
                "direction".into(),
                format!("unknown direction {d:?}; use c2s or s2c"),
            )]
        }
    };
    let kind = match kind_of(profile, message, kind, direction) {
        Ok(kind) => kind,
        Err(finding) => return vec![finding],
    };
    let mut found: Vec<(String, String, String)> = schemas
        .violations(kind, message)
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.rule.to_string(), v.keyword, v.message))
        .collect();
    // `format` and `pattern` often both reject one timestamp: report the rule once.
    found.dedup_by(|a, b| a.0 == b.0);
    if let Some(direction) = direction {
        let travels = profile
            .kinds()
            .iter()
            .find(|k| k.name == kind)
            .and_then(|k| k.direction);
        if travels != Some(direction) {
            found.push((
                "direction".into(),
                "direction".into(),
                format!("a {kind} message travelling {}", direction.as_str()),
            ));
        }
    }
    found
}

/// Validates one file; a file that cannot be read or parsed is itself a finding.
pub fn check_file(schemas: &SchemaSet, file: &Path, kind: Option<&str>) -> (usize, Vec<Finding>) {
    let finding = |line, rule: &str, keyword: &str, detail: String| Finding {
        file: file.to_owned(),
        line,
        rule: rule.into(),
        keyword: keyword.into(),
        detail,
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return (0, vec![finding(0, "io", "io", e.to_string())]),
    };
    let transcript = file.extension().is_some_and(|e| e == "jsonl");
    let lines: Vec<(usize, &str)> = if transcript {
        text.lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.trim().is_empty())
            .collect()
    } else {
        vec![(0, text.as_str())]
    };
    let mut findings = Vec::new();
    for (line, source) in &lines {
        let value: Value = match serde_json::from_str(source) {
            Ok(v) => v,
            Err(e) => {
                findings.push(finding(
                    *line,
                    "json",
                    "json",
                    format!("not valid JSON: {e}"),
                ));
                continue;
            }
        };
        let (message, direction) = match (value.get("message"), value.get("type")) {
            (Some(m), None) => (m.clone(), value["direction"].as_str().map(str::to_owned)),
            _ => (value, None),
        };
        for (rule, keyword, detail) in check_message(schemas, &message, kind, direction.as_deref())
        {
            findings.push(finding(*line, &rule, &keyword, detail));
        }
    }
    (lines.len(), findings)
}

/// One case per file: pass, or fail with (up to 20 of) its findings as evidence.
pub fn file_case(file: &Path, messages: usize, findings: &[Finding]) -> CaseResult {
    let id = format!("validate.{}", file.display());
    if findings.is_empty() {
        return CaseResult::new(
            &id,
            "every message matches its schema",
            Outcome::Pass,
            vec![Evidence::note(format!("{messages} messages valid"))],
        );
    }
    let mut evidence: Vec<Evidence> = findings
        .iter()
        .take(20)
        .map(|f| {
            let mut e = Evidence::note(f.to_string());
            e.rule = Some(f.rule.clone());
            e
        })
        .collect();
    if findings.len() > 20 {
        evidence.push(Evidence::note(format!(
            "… and {} more",
            findings.len() - 20
        )));
    }
    CaseResult::new(
        &id,
        "every message matches its schema",
        Outcome::Fail,
        evidence,
    )
}
