//! Report writers: JSON (machine), Markdown (humans, CI job summaries), JUnit XML (CI test tabs),
//! HTML (a person's first look: verdict banner and a filterable case table).

mod html;
mod junit;
mod markdown;

pub use html::to_html;
pub use junit::to_junit;
pub use markdown::to_markdown;

use crate::outcome::Report;
use std::path::{Path, PathBuf};

/// Writes `report.json`, `report.md`, `report.junit.xml` and `report.html` into `dir` (created if missing);
/// returns the paths written.
pub fn write_all(report: &Report, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let files = [
        (
            "report.json",
            serde_json::to_string_pretty(report).expect("reports serialize"),
        ),
        ("report.md", to_markdown(report)),
        ("report.junit.xml", to_junit(report)),
        ("report.html", to_html(report)),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}
