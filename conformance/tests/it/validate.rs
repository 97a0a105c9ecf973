//! Offline validation of files and transcripts.

use crate::support::SCHEMAS;
use conformance::validate::{check_file, collect_files};
use protocol::nhem::MessageKind;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/nhem")
}

#[test]
fn valid_fixtures_have_no_findings() {
    for kind in MessageKind::ALL {
        let forced = (!kind.has_type_field()).then_some(kind.name());
        for file in collect_files(&fixtures().join("valid").join(kind.name())).expect("fixtures") {
            let (messages, findings) = check_file(&SCHEMAS, &file, forced);
            assert_eq!(messages, 1);
            assert!(findings.is_empty(), "{findings:?}");
        }
    }
}

#[test]
fn transcripts_report_each_bad_line_with_its_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let transcript = dir.path().join("session.jsonl");
    let lines = [
        r#"{"direction":"c2s","message":{"type":"auth","password":"31415"}}"#,
        r#"{"direction":"s2c","message":{"type":"auth_response","success":true,"message":"ok"}}"#,
        r#"{"direction":"s2c","message":{"type":"data","timestamp":"2025-12-05T12:30:45.123456Z","frame_count":1,"current_value":300,"peak_signal":null,"baseline":120,"status":"running"}}"#,
        "",
        r#"{"type":"pong","timestamp":"yesterday"}"#,
        r#"not json"#,
        r#"{"direction":"c2s","message":{"type":"data","timestamp":"2025-12-05T12:30:45Z","frame_count":1,"current_value":1,"peak_signal":0,"baseline":1,"status":"running"}}"#,
        r#"{"type":"shout"}"#,
    ];
    std::fs::write(&transcript, lines.join("\n")).expect("write");
    let (messages, findings) = check_file(&SCHEMAS, &transcript, None);
    assert_eq!(messages, 7);
    let got: Vec<(usize, &str)> = findings.iter().map(|f| (f.line, f.rule.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (3, "range:current_value"),
            (5, "format:timestamp"),
            (6, "json"),
            (7, "direction"),
            (8, "enum:type")
        ]
    );
}
