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

/// `validate` and `proxy` need only a profile's contract, so they judge every profile
/// `protocol` registers, monitor included, before its server suite exists.
#[test]
fn validate_judges_monitor_messages_by_their_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"type":"performance","id":"p1","timestamp":"2024-01-01T12:00:00Z","data":{"cpu_percent":101,"memory_percent":1,"disk_usage_percent":1,"network_io":{"bytes_sent":1,"bytes_recv":1},"process_count":3}}"#,
    )
    .expect("written");
    let valid = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/monitor/valid");
    let run = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_conformance"))
            .args(["validate", "--profile", "monitor"])
            .arg(path)
            .output()
            .expect("conformance runs")
    };
    let good = run(std::path::Path::new(valid));
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stdout)
    );
    let refused = run(&bad);
    assert_eq!(refused.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(stdout.contains("range:data/cpu_percent"), "{stdout}");
}
