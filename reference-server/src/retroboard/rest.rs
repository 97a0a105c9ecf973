//! The REST commands (PROFILES.md §4) as the hyper service Socket.IO wraps: bodies are JSON
//! whatever the Content-Type, every error is `{"success":false,"error","code"}` with 400, 404,
//! 405 or 413, and a change is broadcast before its answer is sent.

use crate::retroboard::board::BoardError;
use crate::retroboard::RetroBoardServer;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use protocol::codec::{decode_struct, Validate};
use protocol::retroboard::{
    CarouselRequest, ConfigRequest, ErrorResponse, Health, SettingsRequest, Success, SwitchRequest,
};
use protocol::ErrorCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub type RestResponse = Response<Full<Bytes>>;

/// A request body must arrive within this long.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The routes and the methods each allows.
const ROUTES: [(&str, Method); 6] = [
    ("/api/switch", Method::POST),
    ("/api/config", Method::POST),
    ("/api/carousel", Method::POST),
    ("/api/settings", Method::POST),
    ("/api/current", Method::GET),
    ("/api/health", Method::GET),
];

/// An error answer: a status, a stable code and a message that says what to change.
#[derive(Debug)]
struct RestError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl RestError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        RestError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<BoardError> for RestError {
    fn from(error: BoardError) -> Self {
        let code = match error {
            BoardError::UnknownApp { .. } => ErrorCode::NotFound,
            BoardError::EmptyCarousel => ErrorCode::ValidationError,
        };
        RestError::new(code, error.to_string())
    }
}

/// The REST side of one server; cloned into every connection.
#[derive(Clone)]
pub struct Rest(pub Arc<RetroBoardServer>);

impl tower_service::Service<Request<Incoming>> for Rest {
    type Response = RestResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<RestResponse, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let server = self.0.clone();
        Box::pin(async move {
            Ok(match route(&server, req).await {
                Ok(response) => response,
                Err(error) => error_response(&error),
            })
        })
    }
}

async fn route(
    server: &RetroBoardServer,
    req: Request<Incoming>,
) -> Result<RestResponse, RestError> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match (method.clone(), path.as_str()) {
        (Method::GET, "/api/health") => Ok(json(
            StatusCode::OK,
            &Health {
                status: "ok".into(),
            },
        )),
        (Method::GET, "/api/current") => Ok(json(StatusCode::OK, &server.board().await.current())),
        (Method::POST, "/api/switch") => {
            let request: SwitchRequest = read_body(server, req).await?;
            let app = server.switch(&request.app).await?;
            Ok(json(StatusCode::OK, &Success::new(app)))
        }
        (Method::POST, "/api/config") => {
            let request: ConfigRequest = read_body(server, req).await?;
            let answer = server.configure(request).await?;
            Ok(json(StatusCode::OK, &Success::new(answer)))
        }
        (Method::POST, "/api/carousel") => {
            let request: CarouselRequest = read_body(server, req).await?;
            let carousel = server.set_carousel(request).await?;
            Ok(json(StatusCode::OK, &Success::new(carousel)))
        }
        (Method::POST, "/api/settings") => {
            let request: SettingsRequest = read_body(server, req).await?;
            let settings = server.set_brightness(request.brightness).await;
            Ok(json(StatusCode::OK, &Success::new(settings)))
        }
        _ => match ROUTES.iter().find(|(p, _)| *p == path) {
            Some((_, allowed)) => {
                let mut response = error_response(&RestError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("{method} is not allowed on {path}; use {allowed}"),
                ));
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(allowed.as_str()));
                Ok(response)
            }
            None => Err(RestError::new(
                ErrorCode::NotFound,
                format!(
                    "no route {:?}; the routes are {} and Socket.IO at /socket.io/",
                    path.chars().take(128).collect::<String>(),
                    ROUTES.map(|(p, m)| format!("{m} {p}")).join(", ")
                ),
            )),
        },
    }
}

/// Reads and decodes a JSON body of at most maxPayload bytes, whatever its Content-Type (the
/// seed's `fetch` sends none, which makes it `text/plain`).
async fn read_body<T: DeserializeOwned + Validate>(
    server: &RetroBoardServer,
    req: Request<Incoming>,
) -> Result<T, RestError> {
    let limit = server.settings.max_payload as usize;
    let too_large = || {
        RestError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is over {limit} bytes (maxPayload; raise --max-payload)"),
        )
    };
    if hyper::body::Body::size_hint(req.body()).lower() > limit as u64 {
        return Err(too_large());
    }
    let body = tokio::time::timeout(BODY_TIMEOUT, Limited::new(req.into_body(), limit).collect())
        .await
        .map_err(|_| {
            RestError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
        })?
        .map_err(|_| too_large())?
        .to_bytes();
    let value = protocol::codec::parse_json(&body, limit).map_err(|e| {
        RestError::new(e.code, format!("the body is not valid JSON: {}", e.message))
    })?;
    decode_struct(value).map_err(|e| {
        let rule = e
            .rule
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        RestError::new(ErrorCode::ValidationError, format!("{}{rule}", e.message))
    })
}

fn json(status: StatusCode, body: &impl Serialize) -> RestResponse {
    let bytes = serde_json::to_vec(body).expect("responses serialize to JSON");
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_response(error: &RestError) -> RestResponse {
    json(
        error.status,
        &ErrorResponse::new(error.code, error.message.clone()),
    )
}
