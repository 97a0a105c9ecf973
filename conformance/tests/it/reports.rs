//! Report writers: the JSON matches its schema; Markdown and JUnit are pinned by snapshots.

use conformance::outcome::{CaseResult, Evidence, Outcome, Report};
use conformance::report::{to_junit, to_markdown, write_all};

fn sample() -> Report {
    let cases = vec![
        CaseResult::new(
            "nhem.ws.auth.ok",
            "The right password gets auth_response with success: true",
            Outcome::Pass,
            vec![Evidence::note("auth_response success: true")],
        ),
        CaseResult::new(
            "nhem.ws.data.schema",
            "Every data frame matches its schema",
            Outcome::Fail,
            vec![{
                let mut e = Evidence::note("data breaks required:baseline")
                    .with_message(serde_json::json!({"type": "data", "frame_count": 1}));
                e.rule = Some("required:baseline".into());
                e.schema_path = Some("/required".into());
                e
            }],
        ),
        CaseResult::new(
            "nhem.ws.data.rate_60fps",
            "Data frames arrive at the advertised rate",
            Outcome::NonStrict,
            vec![Evidence::note("55.1 frames/s <&> \"quoted\"")
                .with_measured("fps", 55.1, "frames/s")],
        ),
        CaseResult::new(
            "nhem.ws.data.latency",
            "One-way latency",
            Outcome::Informational,
            vec![Evidence::note("p99 2 ms")],
        ),
    ];
    Report::new(
        "server",
        "ws://127.0.0.1:1/ | pipe",
        "2026-01-01T00:00:00.000000Z".into(),
        3.25,
        cases,
    )
}

#[test]
fn json_report_matches_its_schema() {
    let schema: serde_json::Value = serde_json::from_str(include_str!(
        "../../../schemas/reports/conformance-report.json"
    ))
    .expect("schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    let report = serde_json::to_value(sample()).expect("serializes");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut broken = report.clone();
    broken["cases"][0]["outcome"] = "great".into();
    assert!(
        !validator.is_valid(&broken),
        "the schema must reject unknown outcomes"
    );
}

#[test]
fn markdown_and_junit_are_stable() {
    let report = sample();
    insta::assert_snapshot!("markdown", to_markdown(&report));
    insta::assert_snapshot!("junit", to_junit(&report));
}

#[test]
fn write_all_writes_four_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = write_all(&sample(), &dir.path().join("nested")).expect("written");
    let names: Vec<_> = files
        .iter()
        .filter_map(|f| f.file_name()?.to_str().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        [
            "report.json",
            "report.md",
            "report.junit.xml",
            "report.html"
        ]
    );
    for f in files {
        assert!(
            std::fs::metadata(&f).expect("exists").len() > 100,
            "{}",
            f.display()
        );
    }
}

/// `--summary FILE` appends the Markdown summary (as `$GITHUB_STEP_SUMMARY` wants): two runs,
/// two summaries, in order.
#[test]
fn summary_files_are_appended_to() {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = dir.path().join("summary.md");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/nhem/valid/ping");
    for _ in 0..2 {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_conformance"))
            .args(["validate", "--profile", "nhem", fixture, "--summary"])
            .arg(&summary)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("conformance runs");
        assert!(status.success());
    }
    let text = std::fs::read_to_string(&summary).expect("summary written");
    let first_line = text.lines().next().expect("not empty").to_owned();
    assert!(first_line.starts_with('#'), "{text}");
    assert_eq!(text.matches(&first_line).count(), 2, "{text}");
}
