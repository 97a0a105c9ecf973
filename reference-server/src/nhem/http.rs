//! The REST API on hyper: routes of DESIGN.md, errors with stable codes and fitting statuses.

use crate::nhem::api_error::ApiError;
use crate::nhem::auth::password_matches;
use crate::nhem::ratelimit::RateLimiter;
use crate::nhem::state::AppState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use protocol::nhem::sanitize::{sanitize_input, InputType};
use protocol::nhem::{
    decode, ControlCommand, Envelope, Health, HealthState, HttpRequest, HttpResponse, Message,
    MessageKind,
};
use protocol::ErrorCode;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

type HttpResult = Response<Full<Bytes>>;

struct Http {
    state: Arc<AppState>,
    limiter: RateLimiter,
    openapi: Bytes,
    /// `GET /`: the live dashboard, with the WebSocket's port filled in.
    dashboard: Bytes,
}

/// The dashboard page (`GET /`), self-contained: its script reads the WebSocket and uses the
/// REST API of this same server.
const DASHBOARD: &str = include_str!("dashboard.html");

pub async fn serve(
    listener: crate::core::Listener,
    ws_port: u16,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    use protocol::Profile;
    let openapi = protocol::nhem::NHEM
        .documents()
        .bundled_openapi()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "{}".into());
    let http = Arc::new(Http {
        limiter: RateLimiter::new(state.settings.control_rate_per_s),
        state,
        openapi: Bytes::from(openapi),
        dashboard: Bytes::from(DASHBOARD.replace("{{WS_PORT}}", &ws_port.to_string())),
    });
    let header_timeout = Duration::from_millis(http.state.settings.http_header_timeout_ms);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.tcp.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed on the HTTP port");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let http = http.clone();
        let service = service_fn(move |req| {
            let http = http.clone();
            async move { Ok::<_, Infallible>(http.handle(req, peer).await) }
        });
        let (tls, watcher) = (listener.tls.clone(), graceful.watcher());
        tracker.spawn(async move {
            // The TLS handshake (if any) runs here, so a slow client delays only itself.
            let Some(stream) = tls.secure(stream).await else {
                return;
            };
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_header_size(crate::core::upgrade::MAX_HEAD_BYTES)
                .max_headers(crate::core::upgrade::MAX_HEADER_FIELDS)
                .serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(conn).await;
        });
    }
    // In-flight requests finish; idle keep-alive connections are closed.
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
}

fn json_response(status: StatusCode, body: &impl Serialize) -> HttpResult {
    let bytes = serde_json::to_vec(body).expect("responses serialize to JSON");
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn ok(body: HttpResponse) -> HttpResult {
    json_response(StatusCode::OK, &body)
}

fn error_response(error: &ApiError) -> HttpResult {
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = protocol::nhem::ServerMessage::Error(error.to_message());
    let mut response = json_response(status, &message);
    if let Some(seconds) = error.retry_after_s {
        let whole = seconds.ceil().max(1.0) as u64;
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(whole));
    }
    response
}

/// Routes and the methods each allows.
const ROUTES: [(&str, &[Method]); 10] = [
    ("/health", &[Method::GET]),
    ("/status", &[Method::GET]),
    ("/data/realtime", &[Method::GET]),
    ("/control", &[Method::POST]),
    ("/config", &[Method::GET, Method::POST]),
    ("/roi", &[Method::GET, Method::POST]),
    ("/openapi.json", &[Method::GET]),
    ("/metrics", &[Method::GET]),
    ("/", &[Method::GET]),
    ("/routes", &[Method::GET]),
];

impl Http {
    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> HttpResult {
        self.state.metrics.http_requests_total.fetch_add(1, Relaxed);
        let path = req.uri().path().to_owned();
        let query = match query_pairs(req.uri().query()) {
            Ok(query) => query,
            Err(e) => return error_response(&e),
        };
        let result = match (req.method().clone(), path.as_str()) {
            (Method::GET, "/health") => Ok(ok(HttpResponse::Health(Envelope::ok(Health {
                status: HealthState::Ok,
                uptime_s: self.state.uptime_s(),
            })))),
            (Method::GET, "/status") => Ok(ok(HttpResponse::SystemStatus(Envelope::ok(
                self.state.system_status(),
            )))),
            (Method::GET, "/data/realtime") => self.realtime(&query),
            (Method::GET, "/config") => self
                .state
                .config_view(query.get("section").map(String::as_str))
                .map(|v| ok(HttpResponse::Config(Envelope::ok(v)))),
            (Method::GET, "/roi") => Ok(ok(HttpResponse::Roi(Envelope::ok(self.state.roi_view())))),
            (Method::GET, "/openapi.json") => Ok(raw(self.openapi.clone(), "application/json")),
            (Method::GET, "/metrics") => Ok(raw(
                Bytes::from(self.state.metrics.render()),
                "text/plain; version=0.0.4",
            )),
            (Method::GET, "/") => Ok(raw(self.dashboard.clone(), "text/html; charset=utf-8")),
            (Method::GET, "/routes") => Ok(raw(
                Bytes::from_static(INDEX.as_bytes()),
                "text/plain; charset=utf-8",
            )),
            (Method::POST, "/control" | "/config" | "/roi") => self.change(req, peer, &path).await,
            (method, _) => Err(match ROUTES.iter().find(|(p, _)| *p == path) {
                Some((_, allowed)) => {
                    let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                    let error = ApiError::new(
                        ErrorCode::MethodNotAllowed,
                        format!(
                            "{method} is not allowed on {path}; use {}",
                            allow.join(" or ")
                        ),
                    )
                    .with_details(
                        "method",
                        method.as_str(),
                        format!("one of {}", allow.join(", ")),
                    );
                    let mut response = error_response(&error);
                    if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                        response.headers_mut().insert(ALLOW, value);
                    }
                    return response;
                }
                None => ApiError::new(
                    ErrorCode::NotFound,
                    format!("no route {path}; see GET /openapi.json"),
                )
                .with_details(
                    "path",
                    path.clone(),
                    "a route listed in /openapi.json",
                ),
            }),
        };
        result.unwrap_or_else(|e| error_response(&e))
    }

    fn realtime(&self, query: &HashMap<String, String>) -> Result<HttpResult, ApiError> {
        let count = match query.get("count") {
            None => 100,
            Some(raw) => sanitize_input(raw, InputType::Integer)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .filter(|n| (1..=protocol::nhem::MAX_SERIES_POINTS).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "count",
                        raw.as_str(),
                        "integer 1..=1000",
                        "count must be a whole number from 1 to 1000",
                    )
                })?,
        };
        Ok(ok(HttpResponse::RealtimeData(self.state.realtime(count)?)))
    }

    /// POST /control, /config, /roi: rate limit, body, password, validation, then the change.
    async fn change(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        path: &str,
    ) -> Result<HttpResult, ApiError> {
        if let Err(retry_after) = self.limiter.check(peer.ip()) {
            let mut error = ApiError::new(
                ErrorCode::RateLimited,
                format!("too many changes; retry after {retry_after:.1} s"),
            );
            error.retry_after_s = Some((retry_after * 1000.0).ceil() / 1000.0);
            return Err(error);
        }
        let settings = &self.state.settings;
        let body_timeout = Duration::from_millis(settings.http_body_timeout_ms);
        let form = read_form(req, settings.max_message_bytes, body_timeout).await?;
        let password =
            match form.get("password") {
                None => {
                    return Err(ApiError::new(
                        ErrorCode::AuthRequired,
                        "the password form field is required",
                    )
                    .with_details("password", Value::Null, "required"))
                }
                Some(p) if !password_matches(p, self.state.settings.password.expose()) => {
                    // Never echo the password back: it may be a near miss of the real one.
                    return Err(ApiError::new(ErrorCode::AuthFailed, "wrong password")
                        .with_details("password", "<redacted>", "must match the server password"));
                }
                Some(p) => p.clone(),
            };
        let field = |name: &str| form.get(name).cloned().unwrap_or_default();
        match path {
            "/control" => {
                let command = field("command");
                if ControlCommand::parse(&command).is_none() {
                    return Err(ApiError::new(
                        ErrorCode::InvalidCommand,
                        format!(
                            "unknown command {:?}",
                            command.chars().take(64).collect::<String>()
                        ),
                    )
                    .with_details(
                        "command",
                        command,
                        "one of start_detection, stop_detection, pause_detection, resume_detection",
                    ));
                }
                let request = validated(
                    MessageKind::ControlRequest,
                    json!({"command": command, "password": password}),
                )?;
                let HttpRequest::Control(request) = request else {
                    unreachable!("decoded as a control request")
                };
                let result = self.state.control(request.command)?;
                Ok(ok(HttpResponse::ControlResponse(Envelope::ok(result))))
            }
            "/config" => {
                let mut model = Map::new();
                for name in ["key", "value"] {
                    if let Some(v) = form.get(name) {
                        model.insert(name.into(), Value::String(v.clone()));
                    }
                }
                model.insert("password".into(), Value::String(password));
                let HttpRequest::ConfigSet(request) =
                    validated(MessageKind::ConfigSetRequest, Value::Object(model))?
                else {
                    unreachable!("decoded as a config request")
                };
                let change = self.state.set_config(&request.key, &request.value).await?;
                Ok(ok(HttpResponse::ConfigUpdate(Envelope::ok(change))))
            }
            _ => {
                let mut model = Map::new();
                for name in ["x1", "y1", "x2", "y2"] {
                    let Some(raw) = form.get(name) else { continue };
                    let n = sanitize_input(raw, InputType::Coordinate)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                        .ok_or_else(|| {
                            ApiError::invalid(
                                name,
                                raw.as_str(),
                                "integer 0..=10000",
                                format!("{name} must be a whole number"),
                            )
                        })?;
                    model.insert(name.into(), Value::from(n));
                }
                model.insert("password".into(), Value::String(password));
                let HttpRequest::RoiSet(request) =
                    validated(MessageKind::RoiSetRequest, Value::Object(model))?
                else {
                    unreachable!("decoded as a ROI request")
                };
                let change = self.state.set_roi(request.rect()).await?;
                Ok(ok(HttpResponse::RoiUpdate(Envelope::ok(change))))
            }
        }
    }
}

/// Decodes a request model, turning a broken rule into VALIDATION_ERROR with its details.
fn validated(kind: MessageKind, model: Value) -> Result<HttpRequest, ApiError> {
    match decode(kind, model) {
        Ok(Message::HttpRequest(request)) => Ok(request),
        Ok(_) => unreachable!("request kinds decode to requests"),
        Err(e) => Err(ApiError::from(&e)),
    }
}

fn raw(body: Bytes, content_type: &'static str) -> HttpResult {
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// URL-encoded fields (a query or a form body). A field named twice is refused: which of
/// the two values counts would otherwise depend on the parser (JSON bodies are refused the
/// same way by `protocol::codec::parse_json`).
pub fn query_pairs(query: Option<&str>) -> Result<HashMap<String, String>, ApiError> {
    let mut pairs = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if pairs.contains_key(k.as_ref()) {
            let message = format!("field {k:?} appears more than once; send each field once");
            return Err(ApiError::invalid(
                &k,
                Value::Null,
                "each field once",
                message,
            ));
        }
        pairs.insert(k.into_owned(), v.into_owned());
    }
    Ok(pairs)
}

/// Reads form fields from `application/x-www-form-urlencoded` (the seed's clients) or a JSON
/// object of strings and numbers; refuses bodies over the limit with PAYLOAD_TOO_LARGE (at
/// once when `Content-Length` says so) and bodies slower than `timeout` with REQUEST_TIMEOUT.
async fn read_form(
    req: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<HashMap<String, String>, ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body over {limit} bytes"),
        )
        .with_details("body", Value::Null, format!("at most {limit} bytes"))
    };
    if hyper::body::Body::size_hint(req.body()).lower() > limit as u64 {
        return Err(too_large());
    }
    let body = tokio::time::timeout(timeout, Limited::new(req.into_body(), limit).collect())
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request body did not arrive within {} ms",
                    timeout.as_millis()
                ),
            )
        })?
        .map_err(|_| too_large())?;
    let bytes = body.to_bytes();
    if content_type.starts_with("application/json") {
        let value = protocol::codec::parse_json(&bytes, limit).map_err(|e| ApiError::from(&e))?;
        let Value::Object(object) = value else {
            return Err(ApiError::invalid(
                "body",
                Value::Null,
                "a JSON object of form fields",
                "the JSON body must be an object",
            ));
        };
        return Ok(object
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                _ => None,
            })
            .collect());
    }
    if content_type.starts_with("multipart/") {
        return Err(ApiError::invalid(
            "content-type",
            content_type,
            "application/x-www-form-urlencoded or application/json",
            "multipart bodies are not supported; send the fields URL-encoded (URLSearchParams in JavaScript)",
        ));
    }
    query_pairs(Some(&String::from_utf8_lossy(&bytes)))
}

const INDEX: &str = "NHEM reference server. Routes: GET / (the live dashboard), /routes, /health, /status, /data/realtime?count=N, /config, /roi, /metrics, /openapi.json; POST /control, /config, /roi (form fields, password required). WebSocket on the socket port.\n";
