//! Case outcomes in the style of Autobahn|Testsuite, with the evidence behind each verdict.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The verdict of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The subject did exactly what the protocol requires.
    Pass,
    /// Acceptable but not what the protocol recommends (e.g. a different error code).
    NonStrict,
    /// Recorded for information; says nothing about conformance (e.g. a latency figure, or a
    /// case that could not be evaluated because an earlier rule was already broken).
    Informational,
    /// The subject broke a rule.
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::NonStrict => "non-strict",
            Outcome::Informational => "informational",
            Outcome::Fail => "fail",
        }
    }
}

/// What a verdict rests on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What was observed, in words.
    pub note: String,
    /// The offending (or decisive) message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    /// The broken rule (`range:current_value`) and where the schema says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_path: Option<String>,
    /// A measured figure: name, value, unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Measured>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

impl Evidence {
    pub fn note(note: impl Into<String>) -> Self {
        Evidence {
            note: note.into(),
            ..Evidence::default()
        }
    }

    pub fn with_message(mut self, message: Value) -> Self {
        self.message = Some(message);
        self
    }

    pub fn with_measured(mut self, name: &str, value: f64, unit: &str) -> Self {
        self.measured = Some(Measured {
            name: name.into(),
            value,
            unit: unit.into(),
        });
        self
    }
}

/// One case: a stable id, a title, the verdict and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: String,
    pub title: String,
    pub outcome: Outcome,
    pub evidence: Vec<Evidence>,
}

impl CaseResult {
    pub fn new(id: &str, title: &str, outcome: Outcome, evidence: Vec<Evidence>) -> Self {
        CaseResult {
            id: id.into(),
            title: title.into(),
            outcome,
            evidence,
        }
    }
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub non_strict: usize,
    pub informational: usize,
    pub fail: usize,
}

impl Summary {
    pub fn of(cases: &[CaseResult]) -> Self {
        let count = |o| cases.iter().filter(|c| c.outcome == o).count();
        Summary {
            total: cases.len(),
            pass: count(Outcome::Pass),
            non_strict: count(Outcome::NonStrict),
            informational: count(Outcome::Informational),
            fail: count(Outcome::Fail),
        }
    }
}

/// Everything one run found: the machine-readable report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always `nhem-conformance-report/1`.
    pub format: String,
    /// `validate`, `server`, `client`, `proxy` or `record`.
    pub mode: String,
    pub profile: String,
    /// What was tested: URLs, files or a listen address.
    pub subject: String,
    pub started_at: String,
    pub duration_s: f64,
    pub summary: Summary,
    pub cases: Vec<CaseResult>,
}

impl Report {
    pub const FORMAT: &'static str = "nhem-conformance-report/1";

    pub fn new(
        mode: &str,
        subject: impl Into<String>,
        started_at: String,
        duration_s: f64,
        cases: Vec<CaseResult>,
    ) -> Self {
        Report {
            format: Self::FORMAT.into(),
            mode: mode.into(),
            profile: "nhem".into(),
            subject: subject.into(),
            started_at,
            duration_s,
            summary: Summary::of(&cases),
            cases,
        }
    }

    /// The profile the cases belong to (`nhem` unless set).
    pub fn for_profile(mut self, profile: &str) -> Self {
        profile.clone_into(&mut self.profile);
        self
    }

    pub fn failed(&self) -> bool {
        self.summary.fail > 0
    }
}
