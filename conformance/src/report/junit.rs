//! JUnit XML: one `testcase` per case id, so CI test tabs list every case.

use crate::outcome::{Outcome, Report};
use std::fmt::Write;

fn escape(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

pub fn to_junit(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let name = format!("{}.{}", report.profile, report.mode);
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
        escape(&name),
        s.total,
        s.fail,
        report.duration_s
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
        escape(&name),
        s.total,
        s.fail,
        s.informational,
        report.duration_s,
        escape(&report.started_at)
    );
    for case in &report.cases {
        let detail: Vec<String> = case.evidence.iter().map(|e| e.note.clone()).collect();
        let detail = escape(&detail.join("\n"));
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\">",
            escape(&name),
            escape(&case.id)
        );
        match case.outcome {
            Outcome::Fail => {
                let _ = write!(
                    out,
                    "<failure message=\"{}\">{detail}</failure>",
                    escape(&case.title)
                );
            }
            // Informational cases are not verdicts; CI tabs show them as skipped.
            Outcome::Informational => {
                let _ = write!(
                    out,
                    "<skipped message=\"informational\"/><system-out>{detail}</system-out>"
                );
            }
            Outcome::NonStrict => {
                let _ = write!(out, "<system-out>non-strict: {detail}</system-out>");
            }
            Outcome::Pass => {}
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
