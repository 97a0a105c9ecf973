//! The REST API.

use super::{case, fail, info, pass, schema_violation, Ctx};
use crate::outcome::{CaseResult, Evidence, Outcome};
use crate::wire::{HttpClient, HttpReply, WsConn};
use serde_json::{json, Value};
use std::time::Duration;

const IDS: [&str; 21] = [
    "nhem.http.health",
    "nhem.http.status.schema",
    "nhem.http.realtime.schema",
    "nhem.http.realtime.seed_validator",
    "nhem.http.realtime.count_bounds",
    "nhem.http.realtime.count_honoured",
    "nhem.http.control.bad_password",
    "nhem.http.control.missing_password",
    "nhem.http.control.bad_command",
    "nhem.http.control.pause_resume",
    "nhem.http.config.schema",
    "nhem.http.config.unknown_section",
    "nhem.http.config.dangerous_key",
    "nhem.http.config.set",
    "nhem.http.roi.schema",
    "nhem.http.roi.inverted",
    "nhem.http.roi.outside_frame",
    "nhem.http.not_found",
    "nhem.http.method_not_allowed",
    "nhem.http.openapi",
    "nhem.http.error.schema",
];

struct Api<'a> {
    ctx: &'a Ctx,
    client: HttpClient,
    errors: Vec<serde_json::Value>,
}

impl Api<'_> {
    fn remember(&mut self, reply: &HttpReply) {
        if reply.body["type"] == "error" {
            self.errors.push(reply.body.clone());
        }
    }

    async fn get(&mut self, path: &str) -> Option<HttpReply> {
        let reply = self.client.get(path).await.ok()?;
        self.remember(&reply);
        Some(reply)
    }

    /// POSTs a form; waits out `429 Retry-After` (up to three times) so rate limiting does
    /// not disguise the answer being tested.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Option<HttpReply> {
        for _ in 0..4 {
            let reply = self.client.post_form(path, fields).await.ok()?;
            if reply.status == 429 {
                let wait = reply.body["retry_after"]
                    .as_f64()
                    .unwrap_or(1.0)
                    .clamp(0.05, 5.0);
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                continue;
            }
            self.remember(&reply);
            return Some(reply);
        }
        None
    }

    /// Pass when `reply` has `status`, `type` and a valid body.
    fn expect(
        &self,
        id: &'static str,
        reply: Option<HttpReply>,
        status: u16,
        ty: &str,
    ) -> CaseResult {
        let Some(reply) = reply else {
            return fail(id, Evidence::note("no HTTP answer"));
        };
        if reply.status != status || reply.body["type"] != ty {
            return fail(
                id,
                Evidence::note(format!(
                    "expected {status} {ty}, got {} {}",
                    reply.status, reply.body["type"]
                ))
                .with_message(reply.body),
            );
        }
        match schema_violation(self.ctx, ty, &reply.body) {
            Some(evidence) => fail(id, evidence),
            None => pass(id, format!("{status} {ty}, valid")),
        }
    }

    /// Pass on `status` with `code`; non-strict on another 4xx; fail otherwise.
    fn refused(
        &self,
        id: &'static str,
        reply: Option<HttpReply>,
        status: u16,
        code: &str,
    ) -> CaseResult {
        let Some(reply) = reply else {
            return fail(id, Evidence::note("no HTTP answer"));
        };
        let got = reply.body["error_code"]
            .as_str()
            .unwrap_or("<none>")
            .to_owned();
        let note = format!("{} {got}", reply.status);
        if reply.status == status && got == code {
            pass(id, note)
        } else if (400..500).contains(&reply.status) {
            case(
                id,
                Outcome::NonStrict,
                vec![Evidence::note(format!("{note}; expected {status} {code}"))
                    .with_message(reply.body)],
            )
        } else {
            fail(
                id,
                Evidence::note(format!("{note}; expected {status} {code}"))
                    .with_message(reply.body),
            )
        }
    }
}

pub async fn run(ctx: &Ctx) -> Vec<CaseResult> {
    let Some(base) = &ctx.http_url else {
        return IDS
            .iter()
            .map(|id| info(id, "skipped: no --http URL given"))
            .collect();
    };
    let client = match HttpClient::new(base) {
        Ok(c) => c,
        Err(e) => {
            return IDS
                .iter()
                .map(|id| info(id, format!("skipped: {e}")))
                .collect()
        }
    };
    let mut api = Api {
        ctx,
        client,
        errors: Vec::new(),
    };
    let pw = ctx.secret.as_str();
    let wrong = format!("{pw}-wrong");
    let mut out = Vec::new();

    let reply = api.get("/health").await;
    out.push(api.expect("nhem.http.health", reply, 200, "health"));
    let reply = api.get("/status").await;
    out.push(api.expect("nhem.http.status.schema", reply, 200, "system_status"));

    let realtime = api.get("/data/realtime?count=10").await;
    out.push(api.expect(
        "nhem.http.realtime.schema",
        realtime.clone(),
        200,
        "realtime_data",
    ));
    out.push(match &realtime {
        Some(r) if r.status == 200 => match (
            protocol::nhem::validate::validate_realtime_data(&r.body),
            protocol::nhem::validate::validate_api_response(&r.body),
        ) {
            (Ok(()), Ok(())) => pass(
                "nhem.http.realtime.seed_validator",
                "accepted by validate_realtime_data and validate_api_response",
            ),
            (data, api_check) => fail(
                "nhem.http.realtime.seed_validator",
                Evidence::note(format!(
                    "seed validators refused it: data {data:?}, api {api_check:?}"
                ))
                .with_message(r.body.clone()),
            ),
        },
        _ => info(
            "nhem.http.realtime.seed_validator",
            "not evaluated: no realtime_data",
        ),
    });
    let mut bounds = Vec::new();
    for count in ["0", "1001"] {
        let reply = api.get(&format!("/data/realtime?count={count}")).await;
        bounds.push(api.refused(
            "nhem.http.realtime.count_bounds",
            reply,
            400,
            "VALIDATION_ERROR",
        ));
    }
    out.push(
        bounds
            .into_iter()
            .max_by_key(|c| c.outcome)
            .expect("two checks"),
    );
    out.push(match api.get("/data/realtime?count=5").await {
        Some(r) if r.status == 200 => match r.body["series"].as_array().map(Vec::len) {
            Some(n) if n <= 5 => pass(
                "nhem.http.realtime.count_honoured",
                format!("{n} points for count=5"),
            ),
            n => fail(
                "nhem.http.realtime.count_honoured",
                Evidence::note(format!("{n:?} points for count=5")),
            ),
        },
        _ => info(
            "nhem.http.realtime.count_honoured",
            "not evaluated: no realtime_data",
        ),
    });

    let reply = api
        .post(
            "/control",
            &[("command", "pause_detection"), ("password", &wrong)],
        )
        .await;
    let accepted = reply.as_ref().is_some_and(|r| r.status == 200);
    out.push(api.refused("nhem.http.control.bad_password", reply, 401, "AUTH_FAILED"));
    if accepted {
        // Undo what the wrong password was allowed to do.
        api.post(
            "/control",
            &[("command", "resume_detection"), ("password", pw)],
        )
        .await;
    }
    let reply = api
        .post("/control", &[("command", "pause_detection")])
        .await;
    out.push(api.refused(
        "nhem.http.control.missing_password",
        reply,
        401,
        "AUTH_REQUIRED",
    ));
    let reply = api
        .post(
            "/control",
            &[("command", "nhem_self_destruct"), ("password", pw)],
        )
        .await;
    out.push(api.refused(
        "nhem.http.control.bad_command",
        reply,
        400,
        "INVALID_COMMAND",
    ));
    out.push(pause_resume(&mut api, pw).await);

    let reply = api.get("/config").await;
    let config = reply.as_ref().map(|r| r.body.clone());
    out.push(api.expect("nhem.http.config.schema", reply, 200, "config"));
    let reply = api.get("/config?section=nhem_conformance_nope").await;
    out.push(api.refused("nhem.http.config.unknown_section", reply, 404, "NOT_FOUND"));
    let reply = api
        .post(
            "/config",
            &[("key", "detection.eval"), ("value", "1"), ("password", pw)],
        )
        .await;
    out.push(api.refused(
        "nhem.http.config.dangerous_key",
        reply,
        400,
        "VALIDATION_ERROR",
    ));
    let threshold = config
        .as_ref()
        .and_then(|c| c.pointer("/data/config/detection/threshold"))
        .and_then(|v| v.as_f64());
    out.push(match (ctx.mutate, threshold) {
        (false, _) => info("nhem.http.config.set", "skipped: --no-mutate"),
        (true, None) => info(
            "nhem.http.config.set",
            "not evaluated: no detection.threshold in GET /config",
        ),
        (true, Some(t)) => {
            let reply = api
                .post(
                    "/config",
                    &[
                        ("key", "detection.threshold"),
                        ("value", &t.to_string()),
                        ("password", pw),
                    ],
                )
                .await;
            api.expect("nhem.http.config.set", reply, 200, "config_update")
        }
    });

    let reply = api.get("/roi").await;
    let roi = reply.as_ref().map(|r| r.body["data"].clone());
    out.push(api.expect("nhem.http.roi.schema", reply, 200, "roi"));
    let reply = api
        .post(
            "/roi",
            &[
                ("x1", "50"),
                ("y1", "10"),
                ("x2", "10"),
                ("y2", "60"),
                ("password", pw),
            ],
        )
        .await;
    out.push(api.refused("nhem.http.roi.inverted", reply, 400, "VALIDATION_ERROR"));
    let width = roi
        .as_ref()
        .and_then(|r| r["frame_width"].as_u64())
        .unwrap_or(640);
    let beyond = (width + 1).to_string();
    let reply = api
        .post(
            "/roi",
            &[
                ("x1", "0"),
                ("y1", "0"),
                ("x2", &beyond),
                ("y2", "10"),
                ("password", pw),
            ],
        )
        .await;
    out.push(api.refused(
        "nhem.http.roi.outside_frame",
        reply,
        400,
        "VALIDATION_ERROR",
    ));

    let reply = api.get("/nhem-conformance-nope").await;
    out.push(api.refused("nhem.http.not_found", reply, 404, "NOT_FOUND"));
    out.push(match api.client.request("DELETE", "/roi", None).await {
        Ok(r) if r.status == 405 && r.headers.contains_key("allow") => {
            pass("nhem.http.method_not_allowed", "405 with Allow")
        }
        Ok(r) if r.status == 405 => case(
            "nhem.http.method_not_allowed",
            Outcome::NonStrict,
            vec![Evidence::note("405 without an Allow header")],
        ),
        Ok(r) => fail(
            "nhem.http.method_not_allowed",
            Evidence::note(format!("DELETE /roi → {}", r.status)),
        ),
        Err(e) => fail(
            "nhem.http.method_not_allowed",
            Evidence::note(e.to_string()),
        ),
    });
    out.push(match api.client.get("/openapi.json").await {
        Ok(r)
            if r.status == 200
                && r.body["openapi"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("3.1")) =>
        {
            pass("nhem.http.openapi", "OpenAPI 3.1")
        }
        Ok(r) => case(
            "nhem.http.openapi",
            Outcome::NonStrict,
            vec![Evidence::note(format!(
                "{} without an OpenAPI 3.1 document",
                r.status
            ))],
        ),
        Err(e) => fail("nhem.http.openapi", Evidence::note(e.to_string())),
    });
    let errors = std::mem::take(&mut api.errors);
    out.push(super::all_valid(
        ctx,
        "nhem.http.error.schema",
        "error",
        &errors,
    ));
    out
}

/// A WebSocket client watching for the `status` broadcasts that control commands cause.
struct StatusWatcher(WsConn);

impl StatusWatcher {
    const WAIT: Duration = Duration::from_secs(3);

    async fn open(ctx: &Ctx) -> Option<Self> {
        let mut conn = WsConn::connect(&ctx.ws_url, Self::WAIT).await.ok()?;
        conn.send_json(&json!({"type": "auth", "password": ctx.secret}))
            .await;
        let response = conn.next_of("auth_response", Self::WAIT).await.ok()?;
        (response["success"] == true).then_some(StatusWatcher(conn))
    }

    /// The next `status` broadcast with reason `control`, skipping frames and other statuses.
    async fn next_control_status(&mut self) -> Option<Value> {
        let deadline = std::time::Instant::now() + Self::WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let status = self.0.next_of("status", left).await.ok()?;
            if status["reason"] == "control" {
                return Some(status);
            }
        }
    }
}

/// Pause and resume over HTTP, each causing a `status` broadcast over WebSocket that carries
/// the new state (watched by a client authenticated before the pause).
async fn pause_resume(api: &mut Api<'_>, pw: &str) -> CaseResult {
    let id = "nhem.http.control.pause_resume";
    if !api.ctx.mutate {
        return info(id, "skipped: --no-mutate");
    }
    let Some(mut watcher) = StatusWatcher::open(api.ctx).await else {
        return fail(
            id,
            Evidence::note("could not authenticate a WebSocket client to watch the broadcasts"),
        );
    };
    let Some(paused) = api
        .post(
            "/control",
            &[("command", "pause_detection"), ("password", pw)],
        )
        .await
    else {
        return fail(id, Evidence::note("no answer to pause_detection"));
    };
    let paused_broadcast = watcher.next_control_status().await;
    let status = api
        .get("/status")
        .await
        .map(|r| r.body["data"]["status"].clone());
    let resumed = api
        .post(
            "/control",
            &[("command", "resume_detection"), ("password", pw)],
        )
        .await;
    let resumed_broadcast = watcher.next_control_status().await;
    if let Some(evidence) = schema_violation(api.ctx, "control_response", &paused.body) {
        return fail(id, evidence);
    }
    let broadcast_state = |b: &Option<Value>| b.as_ref().map(|s| s["status"].clone());
    match (
        paused.body["data"]["status"].as_str(),
        status.as_ref().and_then(|s| s.as_str()),
        resumed.as_ref().map(|r| r.body["data"]["status"].clone()),
    ) {
        (Some("paused"), Some("paused"), Some(after)) if after == "running" => {
            match (broadcast_state(&paused_broadcast), broadcast_state(&resumed_broadcast)) {
                (Some(p), Some(r)) if p == "paused" && r == "running" => pass(
                    id,
                    "paused, seen paused in /status and in a status broadcast, resumed to running and broadcast",
                ),
                other => fail(
                    id,
                    Evidence::note(format!(
                        "the HTTP answers were right, but the WebSocket status broadcasts (reason control) were {other:?}; expected paused, then running within {} s of each command",
                        StatusWatcher::WAIT.as_secs()
                    )),
                ),
            }
        }
        other => fail(
            id,
            Evidence::note(format!("pause/status/resume gave {other:?}")).with_message(paused.body),
        ),
    }
}
