//! The NHEM server suite: every case, by stable id, run against a live server over the wire.
//!
//! Cases are grouped by what they need: `ws_auth` (fresh connections and auth flows),
//! `ws_stream` (one captured window of broadcast frames, from which rate, jitter, ordering and
//! timestamp cases are all computed), `ws_input` (bad input on an authenticated connection)
//! and `http` (the REST API). A case that cannot be evaluated because another rule is already
//! broken says so as `informational`, so one fault fails one case, not a cascade.

mod http;
pub mod probe;
pub mod record;
mod ws_auth;
mod ws_input;
mod ws_stream;

use crate::outcome::CaseResult;

pub use crate::cases::{
    all_valid, case, fail, info, pass, schema_violation, unknown_error_code, CaseInfo, Ctx,
};

macro_rules! cases {
    ($($id:literal => $title:literal,)+) => {
        /// Every case of the server suite, in report order.
        pub const CASES: &[CaseInfo] = &[$(CaseInfo { id: $id, title: $title },)+];
    };
}

cases! {
    "nhem.ws.connect" => "The WebSocket handshake succeeds",
    "nhem.ws.auth.ok" => "The right password gets auth_response with success: true",
    "nhem.ws.auth.response_schema" => "auth_response matches its schema",
    "nhem.ws.auth.initial_status" => "A status message follows a successful auth",
    "nhem.ws.auth.bad_password" => "A wrong password gets auth_response with success: false",
    "nhem.ws.auth.bad_password_closes_1008" => "After a failed auth the server closes with 1008",
    "nhem.ws.auth.empty_password" => "An empty password is refused",
    "nhem.ws.auth.required_first" => "A message before auth gets AUTH_REQUIRED and the connection stays open",
    "nhem.ws.auth.no_data_before_auth" => "No data frame reaches an unauthenticated client",
    "nhem.ws.auth.timeout" => "No auth within the timeout: an error, then a close",
    "nhem.ws.data.schema" => "Every data frame matches its schema",
    "nhem.ws.data.rate_60fps" => "Data frames arrive at the advertised rate (60 FPS)",
    "nhem.ws.data.jitter" => "Delivery jitter (p99 − p50 of one-way latency) is small",
    "nhem.ws.data.frame_count_monotonic" => "frame_count only increases",
    "nhem.ws.data.no_gaps" => "No frame_count is missing (no loss)",
    "nhem.ws.data.timestamp_microseconds" => "Frame timestamps carry microseconds",
    "nhem.ws.data.timestamp_scheduled" => "Frame timestamps are scheduled times (t0 + k / fps), not build times",
    "nhem.ws.data.latency" => "One-way latency from frame timestamp to arrival",
    "nhem.ws.data.peaks" => "peak_signal reports peaks (1) while detection runs",
    "nhem.ws.status.schema" => "Every status message matches its schema",
    "nhem.ws.ping.pong" => "ping gets pong",
    "nhem.ws.ping.id_echo" => "pong echoes the ping id",
    "nhem.ws.get_status" => "get_status gets a status with reason request",
    "nhem.ws.rfc6455_ping" => "An RFC 6455 ping frame gets a pong frame",
    "nhem.ws.bad_json.error_open" => "Invalid JSON gets INVALID_JSON and the connection stays open",
    "nhem.ws.unknown_type.error_open" => "An unknown type gets UNKNOWN_MESSAGE_TYPE and the connection stays open",
    "nhem.ws.missing_type.error" => "A message without type gets VALIDATION_ERROR",
    "nhem.ws.wrong_field_type.error" => "A field of the wrong type gets VALIDATION_ERROR",
    "nhem.ws.extra_field.error" => "An unknown member gets VALIDATION_ERROR",
    "nhem.ws.binary_frame.error" => "A binary frame gets an error and the connection stays open",
    "nhem.ws.oversize.payload_too_large" => "An oversize message gets PAYLOAD_TOO_LARGE and close 1009",
    "nhem.ws.error.schema" => "Every error message matches its schema",
    "nhem.ws.close.clean" => "A client close is answered with a close frame",
    "nhem.http.health" => "GET /health answers health",
    "nhem.http.status.schema" => "GET /status answers system_status",
    "nhem.http.realtime.schema" => "GET /data/realtime answers realtime_data",
    "nhem.http.realtime.seed_validator" => "realtime_data passes the seed's DataValidator and validate_api_response",
    "nhem.http.realtime.count_bounds" => "count outside 1–1000 gets 400 VALIDATION_ERROR",
    "nhem.http.realtime.count_honoured" => "count=N returns at most N points",
    "nhem.http.control.bad_password" => "A control command with a wrong password gets 401 AUTH_FAILED",
    "nhem.http.control.missing_password" => "A control command without password gets 401",
    "nhem.http.control.bad_command" => "An unknown command gets 400 INVALID_COMMAND",
    "nhem.http.control.pause_resume" => "pause_detection and resume_detection change the state, and each causes a status broadcast (reason control) over WebSocket",
    "nhem.http.config.schema" => "GET /config answers config",
    "nhem.http.config.unknown_section" => "An unknown config section gets 404",
    "nhem.http.config.dangerous_key" => "A dangerous config key is refused with 400",
    "nhem.http.config.set" => "Setting a config key answers config_update",
    "nhem.http.roi.schema" => "GET /roi answers roi",
    "nhem.http.roi.inverted" => "A ROI with x1 >= x2 is refused with 400",
    "nhem.http.roi.outside_frame" => "A ROI outside the frame is refused with 400",
    "nhem.http.not_found" => "An unknown route gets 404 NOT_FOUND",
    "nhem.http.method_not_allowed" => "A wrong method gets 405 with Allow",
    "nhem.http.openapi" => "GET /openapi.json serves an OpenAPI 3.1 document",
    "nhem.http.error.schema" => "Every HTTP error body matches the error schema",
}

/// The client probe's cases (`crate::probe`), as the registry lists them.
static PROBE_CASES: std::sync::LazyLock<Vec<CaseInfo>> = std::sync::LazyLock::new(|| {
    probe::CASE_IDS
        .iter()
        .map(|&(id, title)| CaseInfo { id, title })
        .collect()
});

/// The NHEM suite, as the registry sees it.
pub struct NhemSuite;

impl crate::profiles::ProfileSuite for NhemSuite {
    fn profile(&self) -> &'static dyn protocol::Profile {
        &protocol::nhem::NHEM
    }

    fn cases(&self) -> &'static [CaseInfo] {
        CASES
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> crate::profiles::CasesFuture<'a> {
        Box::pin(run(ctx))
    }

    fn probe_cases(&self) -> &'static [CaseInfo] {
        &PROBE_CASES
    }

    fn probe(
        &self,
        request: crate::profiles::ProbeRequest,
    ) -> crate::profiles::ProbeFuture<'static> {
        Box::pin(probe::run(probe::ProbeConfig {
            listen: request.listen,
            duration: request.duration,
            password: request.secret,
            fps: request.fps,
            tls: request.tls,
        }))
    }

    fn record<'a>(
        &'a self,
        ws: &'a str,
        secret: &'a str,
        frames: usize,
    ) -> crate::profiles::RecordFuture<'a> {
        Box::pin(record::record(ws, secret, frames))
    }
}

/// Runs every case; the result is in registry order.
pub async fn run(ctx: &Ctx) -> Vec<CaseResult> {
    let (auth, stream) = tokio::join!(ws_auth::run(ctx), ws_stream::run(ctx));
    let input = ws_input::run(ctx).await;
    let http = http::run(ctx).await;
    let mut results: Vec<CaseResult> = auth
        .into_iter()
        .chain(stream)
        .chain(input)
        .chain(http)
        .collect();
    let position = |id: &str| CASES.iter().position(|c| c.id == id).unwrap_or(usize::MAX);
    results.sort_by_key(|r| position(&r.id));
    results
}
