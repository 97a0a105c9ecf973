//! `client --profile monitor`: not built yet (see the closing note of issue 10).

use crate::cases::CaseInfo;
use crate::outcome::CaseResult;

/// The probe's cases, in report order.
pub const CASES: &[CaseInfo] = &[];

pub async fn run(_: crate::profiles::ProbeRequest) -> std::io::Result<Vec<CaseResult>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the monitor client probe is not available yet",
    ))
}
