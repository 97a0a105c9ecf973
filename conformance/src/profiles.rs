//! The registry of server suites: one line per profile. The CLI, the reports and the case
//! helpers never name a profile; they go through [`ProfileSuite`].

use crate::cases::{CaseInfo, Ctx};
use crate::outcome::CaseResult;
use crate::record::RecordError;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// What running a suite yields.
pub type CasesFuture<'a> = Pin<Box<dyn Future<Output = Vec<CaseResult>> + Send + 'a>>;
/// What recording a session yields: transcript lines.
pub type RecordFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Value>, RecordError>> + Send + 'a>>;

/// What `client` mode was asked for; each profile's probe takes what it needs.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    pub listen: std::net::SocketAddr,
    pub duration: std::time::Duration,
    /// The password or token the probe accepts.
    pub secret: protocol::Secret,
    /// NHEM's broadcast rate.
    pub fps: u32,
    /// Other profiles' stream interval (`None`: the profile's default).
    pub interval: Option<std::time::Duration>,
    /// Clients reach the probe over TLS when on (`--tls-cert/--tls-key`).
    pub tls: reference_server::core::ServerTls,
}

/// What running a client probe yields (an error: the probe could not listen).
pub type ProbeFuture<'a> =
    Pin<Box<dyn Future<Output = std::io::Result<Vec<CaseResult>>> + Send + 'a>>;

/// A profile's server suite, client probe and recorded session.
pub trait ProfileSuite: Sync {
    fn profile(&self) -> &'static dyn protocol::Profile;
    /// Every case, in report order; ids start with the profile's name.
    fn cases(&self) -> &'static [CaseInfo];
    /// Runs every case against the subject of `ctx`.
    fn run<'a>(&'a self, ctx: &'a Ctx) -> CasesFuture<'a>;
    /// The client probe's cases, in report order.
    fn probe_cases(&self) -> &'static [CaseInfo];
    /// Runs the client probe (`client` mode) until `request.duration` has passed.
    fn probe(&self, request: ProbeRequest) -> ProbeFuture<'static>;
    /// Records the profile's scripted session with `frames` stream messages (`record` mode).
    fn record<'a>(&'a self, ws: &'a str, secret: &'a str, frames: usize) -> RecordFuture<'a>;
}

/// Every profile's suite; adding a profile is one line here.
pub static SUITES: &[&dyn ProfileSuite] = &[
    &crate::nhem::NhemSuite,
    &crate::ecg::EcgSuite,
    &crate::monitor::MonitorSuite,
    &crate::handler::HandlerSuite,
    &crate::retroboard::RetroBoardSuite,
];

/// The suite of profile `name`.
pub fn find(name: &str) -> Option<&'static dyn ProfileSuite> {
    SUITES.iter().copied().find(|s| s.profile().name() == name)
}

/// The names of every profile with a suite (`nhem, ecg`), for error messages.
pub fn names() -> String {
    SUITES
        .iter()
        .map(|s| s.profile().name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_are_unique_and_carry_their_profile() {
        let mut all = Vec::new();
        for suite in SUITES {
            let prefix = format!("{}.", suite.profile().name());
            for case in suite.cases().iter().chain(suite.probe_cases()) {
                assert!(case.id.starts_with(&prefix), "{} lacks {prefix}", case.id);
                all.push(case.id);
            }
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "duplicate case ids");
    }
}
