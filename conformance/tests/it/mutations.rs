//! Mutation testing: each fault injected into the reference server is reported as `fail` by
//! exactly the expected case, and nothing else fails.

use crate::support::{describe, ids_with, run_suite_against};
use conformance::outcome::Outcome;
use reference_server::nhem::faults::Fault;

async fn caught_by(fault: Fault, expected: &str) {
    let results = run_suite_against(&[fault]).await;
    let failed = ids_with(&results, Outcome::Fail);
    assert_eq!(
        failed,
        vec![expected.to_owned()],
        "{fault:?} should fail exactly {expected}\n{}",
        describe(&results)
    );
}

#[tokio::test]
async fn wrong_field_type() {
    caught_by(Fault::WrongFieldType, "nhem.ws.data.schema").await;
}

#[tokio::test]
async fn missing_field() {
    caught_by(Fault::MissingField, "nhem.ws.data.schema").await;
}

#[tokio::test]
async fn wrong_rate() {
    caught_by(Fault::WrongRate, "nhem.ws.data.rate_60fps").await;
}

#[tokio::test]
async fn non_monotonic_frame_count() {
    caught_by(Fault::NonMonotonic, "nhem.ws.data.frame_count_monotonic").await;
}

#[tokio::test]
async fn accepts_a_wrong_password() {
    caught_by(Fault::AcceptWrongPassword, "nhem.ws.auth.bad_password").await;
}

#[tokio::test]
async fn no_error_on_bad_json() {
    caught_by(Fault::NoErrorOnBadJson, "nhem.ws.bad_json.error_open").await;
}

#[tokio::test]
async fn control_without_a_status_broadcast() {
    caught_by(Fault::SilentControl, "nhem.http.control.pause_resume").await;
}

#[tokio::test]
async fn no_close_after_failed_auth() {
    caught_by(
        Fault::NoCloseAfterFailedAuth,
        "nhem.ws.auth.bad_password_closes_1008",
    )
    .await;
}

/// A server with error codes of its own is not failed: the schema allows any UPPER_SNAKE
/// code; the cases that meet one say non-strict (a client cannot know what it means).
#[tokio::test]
async fn own_error_codes_are_non_strict_not_failures() {
    let results = run_suite_against(&[Fault::OwnErrorCodes]).await;
    assert!(
        ids_with(&results, Outcome::Fail).is_empty(),
        "{}",
        describe(&results)
    );
    let non_strict = ids_with(&results, Outcome::NonStrict);
    assert!(
        non_strict.contains(&"nhem.ws.bad_json.error_open".to_owned()),
        "{}",
        describe(&results)
    );
}
