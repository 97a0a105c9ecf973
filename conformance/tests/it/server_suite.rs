//! The suite against the reference server: every case passes.

use crate::support::{describe, run_suite_against};
use conformance::nhem::CASES;
use conformance::outcome::Outcome;

/// Cases whose verdict is a figure, not conformance.
const INFORMATIONAL_BY_DESIGN: [&str; 1] = ["nhem.ws.data.latency"];

#[tokio::test]
async fn every_case_passes_against_the_reference_server() {
    let results = run_suite_against(&[]).await;
    assert!(
        CASES.len() >= 40,
        "the suite has only {} cases",
        CASES.len()
    );
    let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    let registered: Vec<&str> = CASES.iter().map(|c| c.id).collect();
    assert_eq!(
        ids, registered,
        "every registered case runs once, in registry order"
    );
    for r in &results {
        let expected = if INFORMATIONAL_BY_DESIGN.contains(&r.id.as_str()) {
            Outcome::Informational
        } else {
            Outcome::Pass
        };
        // Jitter is a timing figure: on a loaded 2-core CI machine it may be non-strict,
        // never a failure.
        let tolerated = r.id == "nhem.ws.data.jitter" && r.outcome == Outcome::NonStrict;
        assert!(
            r.outcome == expected || tolerated,
            "{} is {:?}\n{}",
            r.id,
            r.outcome,
            describe(&results)
        );
    }
}
