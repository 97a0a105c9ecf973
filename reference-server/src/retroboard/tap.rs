//! A watcher of the server's sessions: the conformance client probe serves clients with this
//! server and judges them on what the tap reports. Serving does not depend on it.

use std::sync::Arc;
use std::task::{Context, Poll};

/// What the server tells a watcher, as it happens.
pub trait SessionTap: Send + Sync + 'static {
    /// Every HTTP request (Engine.IO handshakes and polls, REST), before it is served.
    fn request(&self, method: &str, path: &str, query: &str);
    /// A client connected to the `/` namespace.
    fn connected(&self, sid: &str);
    /// A client emitted `request_state`.
    fn request_state(&self, sid: &str);
    /// A client's session ended; `heartbeat_timeout`: the server closed it for a missing pong.
    fn disconnected(&self, sid: &str, reason: &str, heartbeat_timeout: bool);
}

/// The outermost HTTP service: tells the tap (if any) of each request, then serves it.
#[derive(Clone)]
pub struct Tapped<S> {
    pub inner: S,
    pub tap: Option<Arc<dyn SessionTap>>,
}

impl<S, B> tower_service::Service<hyper::Request<B>> for Tapped<S>
where
    S: tower_service::Service<hyper::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: hyper::Request<B>) -> Self::Future {
        if let Some(tap) = &self.tap {
            let uri = req.uri();
            tap.request(req.method().as_str(), uri.path(), uri.query().unwrap_or(""));
        }
        self.inner.call(req)
    }
}
