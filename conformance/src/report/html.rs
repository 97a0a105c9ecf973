//! `report.html`: one self-contained page (inline CSS and a few lines of inline script, no
//! network): a verdict banner, the counts, and a case table (verdict, id, title, evidence)
//! that can be filtered by verdict and by text.

use crate::outcome::{CaseResult, Outcome, Report};
use std::fmt::Write;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;padding:0 1em}\
h1{font-size:1.5em}.meta{color:#666;font-size:.9em}\
.banner{padding:.8em 1em;border-radius:6px;font-weight:600;margin:.6em 0}\
.ok{background:#e3f4e6;color:#1d6b2c}.bad{background:#fbe4e4;color:#9b1c1c}\
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:.35em .6em;text-align:left;vertical-align:top}\
th{background:#f4f4f4}td.verdict{font-weight:600;white-space:nowrap}\
tr.pass td.verdict{color:#1d6b2c}tr.fail td.verdict{color:#9b1c1c;background:#fbe4e4}\
tr.non-strict td.verdict{color:#7a5200;background:#fff4dc}tr.informational td.verdict{color:#555}\
code{font-size:.85em}pre{white-space:pre-wrap;margin:.3em 0;font-size:.8em;background:#f6f6f6;padding:.4em}\
.filters{margin:.8em 0}.filters label{margin-right:1em}";

/// Hides the rows whose verdict is unchecked or whose text does not contain the query.
const SCRIPT: &str = "function applyFilters(){var q=document.getElementById('q').value.toLowerCase();\
var on={};document.querySelectorAll('.filters input[type=checkbox]').forEach(function(b){on[b.value]=b.checked});\
var shown=0;document.querySelectorAll('#cases tbody tr').forEach(function(r){\
var v=on[r.dataset.outcome]&&r.textContent.toLowerCase().indexOf(q)>=0;r.style.display=v?'':'none';if(v)shown++});\
document.getElementById('shown').textContent=shown}\
document.querySelectorAll('.filters input').forEach(function(i){i.addEventListener('input',applyFilters)});applyFilters();";

const OUTCOMES: [Outcome; 4] = [
    Outcome::Fail,
    Outcome::NonStrict,
    Outcome::Informational,
    Outcome::Pass,
];

fn evidence(case: &CaseResult) -> String {
    let mut out = String::new();
    for e in &case.evidence {
        let _ = write!(out, "<div>{}", escape(&e.note));
        if let Some(rule) = &e.rule {
            let _ = write!(out, " <code>{}</code>", escape(rule));
        }
        if let Some(m) = &e.measured {
            let _ = write!(
                out,
                " ({} = {} {})",
                escape(&m.name),
                m.value,
                escape(&m.unit)
            );
        }
        if let Some(message) = &e.message {
            let text: String = message.to_string().chars().take(600).collect();
            let _ = write!(out, "<pre>{}</pre>", escape(&text));
        }
        out.push_str("</div>");
    }
    out
}

pub fn to_html(report: &Report) -> String {
    let s = &report.summary;
    let (class, verdict) = if s.fail == 0 {
        (
            "ok",
            format!(
                "Conformant: no case failed ({} pass, {} non-strict, {} informational)",
                s.pass, s.non_strict, s.informational
            ),
        )
    } else {
        (
            "bad",
            format!("Not conformant: {} of {} cases failed", s.fail, s.total),
        )
    };
    let title = format!(
        "{} conformance report: {} mode",
        report.profile, report.mode
    );
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{}</h1><p class=\"meta\">Subject: {}. Started {}, {:.1} s.</p>",
        escape(&title),
        escape(&report.subject),
        escape(&report.started_at),
        report.duration_s
    );
    let _ = write!(
        body,
        "<div id=\"verdict\" class=\"banner {class}\">{}</div>",
        escape(&verdict)
    );
    body.push_str("<div class=\"filters\">Show: ");
    for outcome in OUTCOMES {
        let n = report.cases.iter().filter(|c| c.outcome == outcome).count();
        let _ = write!(
            body,
            "<label><input type=\"checkbox\" value=\"{0}\" checked> {0} ({n})</label>",
            outcome.as_str()
        );
    }
    body.push_str("<input id=\"q\" type=\"search\" placeholder=\"filter by id or text\"> <span class=\"meta\"><span id=\"shown\"></span> shown</span></div>");
    body.push_str("<table id=\"cases\"><thead><tr><th>verdict</th><th>case</th><th>checks</th><th>evidence</th></tr></thead><tbody>");
    // Failures first, then the rest in report order.
    let mut cases: Vec<&CaseResult> = report.cases.iter().collect();
    cases.sort_by_key(|c| OUTCOMES.iter().position(|o| *o == c.outcome));
    for case in cases {
        let outcome = case.outcome.as_str();
        let _ = write!(body, "<tr class=\"{outcome}\" data-outcome=\"{outcome}\"><td class=\"verdict\">{outcome}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>", escape(&case.id), escape(&case.title), evidence(case));
    }
    body.push_str("</tbody></table>");
    format!("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{CSS}</style></head><body>{body}<script>{SCRIPT}</script></body></html>\n", escape(&title))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Evidence;

    #[test]
    fn failures_come_first_with_their_evidence_escaped() {
        let cases = vec![
            CaseResult::new("p.a", "A", Outcome::Pass, vec![Evidence::note("fine")]),
            CaseResult::new(
                "p.b",
                "B",
                Outcome::Fail,
                vec![Evidence::note("<script>x</script>")
                    .with_message(serde_json::json!({"k": "<b>"}))],
            ),
        ];
        let report = Report::new(
            "server",
            "ws://h/",
            "2026-01-01T00:00:00Z".into(),
            1.0,
            cases,
        );
        let html = to_html(&report);
        assert!(html.contains("class=\"banner bad\">Not conformant: 1 of 2 cases failed"));
        assert!(html.find("data-outcome=\"fail\"") < html.find("data-outcome=\"pass\""));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>x"));
        assert_eq!(html.matches("<tr class=").count(), 2);
    }
}
