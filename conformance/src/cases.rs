//! What every profile's cases share: the context that reaches the subject, the case registry
//! entry, and helpers that turn findings into registered results.

use crate::outcome::{CaseResult, Evidence, Outcome};
use protocol::schema::SchemaSet;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Everything the cases need to reach the subject.
#[derive(Clone)]
pub struct Ctx {
    /// The server's WebSocket URL (NHEM: the endpoint itself; other profiles: the base
    /// `ws://host:port`, to which they append their own paths).
    pub ws_url: String,
    /// `None`: the HTTP cases are reported as skipped (informational).
    pub http_url: Option<String>,
    /// The password, token or API key the profile uses.
    pub secret: String,
    pub schemas: Arc<SchemaSet>,
    /// How long to capture a stream for rate and jitter.
    pub window: Duration,
    /// Whether cases may change server state (pause/resume, set config to its current value).
    pub mutate: bool,
    /// How long the server may take to close an unauthenticated connection.
    pub auth_timeout: Duration,
    /// The stream period the server is expected to keep (`None`: the profile's default).
    pub period: Option<Duration>,
    /// The server's idle timeout, when the cases that wait for it should run (monitor).
    pub idle_timeout: Option<Duration>,
    /// Settings of the subject the cases cannot discover, as the operator declares them.
    pub declared: Declared,
}

/// Server settings a case needs and cannot find out over the wire (handler's heartbeat
/// interval, connection and payload limits, required fields). `None`: the case waits for the
/// profile's default, or is informational when that would take too long.
#[derive(Clone, Debug, Default)]
pub struct Declared {
    pub heartbeat_interval: Option<Duration>,
    pub max_connections: Option<usize>,
    pub max_payload: Option<usize>,
    pub required_field: Option<String>,
}

/// A case id and what it checks.
pub struct CaseInfo {
    pub id: &'static str,
    pub title: &'static str,
}

/// The title of a registered case of any profile.
pub fn title(id: &str) -> &'static str {
    crate::profiles::SUITES
        .iter()
        .flat_map(|suite| suite.cases().iter().chain(suite.probe_cases()))
        .find(|c| c.id == id)
        .map_or("(unregistered case)", |c| c.title)
}

/// A result for a registered case.
pub fn case(id: &'static str, outcome: Outcome, evidence: Vec<Evidence>) -> CaseResult {
    debug_assert!(title(id) != "(unregistered case)", "unregistered case {id}");
    CaseResult::new(id, title(id), outcome, evidence)
}

pub fn pass(id: &'static str, note: impl Into<String>) -> CaseResult {
    case(id, Outcome::Pass, vec![Evidence::note(note)])
}

pub fn fail(id: &'static str, evidence: Evidence) -> CaseResult {
    case(id, Outcome::Fail, vec![evidence])
}

pub fn info(id: &'static str, note: impl Into<String>) -> CaseResult {
    case(id, Outcome::Informational, vec![Evidence::note(note)])
}

pub fn non_strict(id: &'static str, note: impl Into<String>) -> CaseResult {
    case(id, Outcome::NonStrict, vec![Evidence::note(note)])
}

/// The `error_code` of `message` when the profile does not list it. The schema allows any
/// UPPER_SNAKE code (servers define their own), but a client cannot know what an unlisted one
/// means: cases judge it non-strict rather than passing or failing it.
pub fn unknown_error_code(profile: &str, message: &Value) -> Option<String> {
    let code = message["error_code"].as_str()?;
    let profile = protocol::profile::find(profile)?;
    (!profile.error_codes().contains(&code)).then(|| code.to_owned())
}

/// The first schema violation of `message` against schema `name`, as evidence.
pub fn schema_violation(ctx: &Ctx, name: &str, message: &Value) -> Option<Evidence> {
    let violations = ctx.schemas.violations(name, message)?;
    let first = violations.first()?;
    let mut evidence = Evidence::note(format!("{name} breaks {}: {}", first.rule, first.message))
        .with_message(message.clone());
    evidence.rule = Some(first.rule.to_string());
    evidence.schema_path = Some(first.schema_path.clone());
    Some(evidence)
}

/// Checks every message in `messages` against schema `name`: pass, or fail with the first
/// offender; informational when there was nothing to check.
pub fn all_valid(ctx: &Ctx, id: &'static str, name: &str, messages: &[Value]) -> CaseResult {
    if messages.is_empty() {
        return info(id, format!("no {name} message was received to check"));
    }
    match messages.iter().find_map(|m| schema_violation(ctx, name, m)) {
        Some(evidence) => fail(id, evidence),
        None => pass(id, format!("{} {name} messages checked", messages.len())),
    }
}

/// Sorts results into the order of `cases`.
pub fn in_registry_order(cases: &[CaseInfo], mut results: Vec<CaseResult>) -> Vec<CaseResult> {
    let position = |id: &str| cases.iter().position(|c| c.id == id).unwrap_or(usize::MAX);
    results.sort_by_key(|r| position(&r.id));
    results
}

/// A message a client sent that its profile does not accept (not JSON, unclassified, or
/// breaking its schema), as evidence; `None` when it is valid. The client probes use it.
pub fn judge_client_message(
    profile: &dyn protocol::Profile,
    schemas: &SchemaSet,
    text: &str,
) -> Option<Evidence> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(Evidence::note(format!("not JSON: {e}"))),
    };
    let kind = match profile.classify(protocol::Direction::ClientToServer, &value) {
        Ok(kind) => kind,
        Err(e) => return Some(Evidence::note(e.0).with_message(value)),
    };
    let violations = schemas.violations(kind, &value)?;
    let first = violations.first()?;
    let mut evidence = Evidence::note(format!("{kind} breaks {}: {}", first.rule, first.message))
        .with_message(value.clone());
    evidence.rule = Some(first.rule.to_string());
    Some(evidence)
}
