//! Markdown: a summary line, a table of every case, and the evidence of what did not pass.

use crate::outcome::{Outcome, Report};
use std::fmt::Write;

fn icon(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✅ pass",
        Outcome::NonStrict => "🟡 non-strict",
        Outcome::Informational => "ℹ️ informational",
        Outcome::Fail => "❌ fail",
    }
}

/// Table cells cannot hold `|` or newlines.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn to_markdown(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {} conformance: {} ({})\n",
        report.profile.to_uppercase(),
        report.mode,
        if report.failed() { "FAILED" } else { "passed" }
    );
    let _ = writeln!(
        out,
        "Subject: `{}` · started {} · {:.1} s\n",
        report.subject, report.started_at, report.duration_s
    );
    let _ = writeln!(
        out,
        "**{} cases:** {} pass, {} non-strict, {} informational, {} fail\n",
        s.total, s.pass, s.non_strict, s.informational, s.fail
    );
    let _ = writeln!(out, "| case | outcome | evidence |\n| --- | --- | --- |");
    for case in &report.cases {
        let first = case.evidence.first().map(|e| {
            let mut text = e.note.clone();
            if let Some(m) = &e.measured {
                let _ = write!(text, " ({} = {:.3} {})", m.name, m.value, m.unit);
            }
            text
        });
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            case.id,
            icon(case.outcome),
            cell(&first.unwrap_or_default())
        );
    }
    let troubled: Vec<_> = report
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail | Outcome::NonStrict))
        .collect();
    if !troubled.is_empty() {
        let _ = writeln!(out, "\n## Evidence\n");
        for case in troubled {
            let _ = writeln!(
                out,
                "### `{}` — {}\n\n{}\n",
                case.id,
                icon(case.outcome),
                case.title
            );
            for e in &case.evidence {
                let _ = writeln!(out, "- {}", e.note);
                if let Some(rule) = &e.rule {
                    let _ = writeln!(
                        out,
                        "  - rule `{rule}`{}",
                        e.schema_path
                            .as_ref()
                            .map(|p| format!(" (schema `{p}`)"))
                            .unwrap_or_default()
                    );
                }
                if let Some(message) = &e.message {
                    let text: String = message.to_string().chars().take(400).collect();
                    let _ = writeln!(out, "  - message: `{}`", text.replace('`', "'"));
                }
            }
            out.push('\n');
        }
    }
    out
}
