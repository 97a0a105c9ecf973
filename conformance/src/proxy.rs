//! `proxy` mode: sits between a real client and a real server, forwards every message, and
//! validates both directions live.
//!
//! Each message is forwarded first and validated afterwards, so validation never delays
//! delivery. The proxy measures what it adds: the time from a message's arrival to the end of
//! its forwarding write, in an HdrHistogram.

use crate::outcome::{CaseResult, Evidence, Outcome};
use crate::validate::check_message;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use protocol::schema::SchemaSet;
use protocol::Direction;
use reference_server::core::ServerTls;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    pub upstream: String,
    pub duration: Duration,
    /// Clients reach the proxy over TLS when set (`--tls-cert/--tls-key`).
    pub tls: ServerTls,
}

/// Hashes of server messages already found valid. A broadcast sends the same bytes to every
/// client, so with N clients each frame is validated once instead of N times.
#[derive(Default)]
struct SeenValid(Mutex<std::collections::HashSet<u64>>);

impl SeenValid {
    fn hash(text: &str) -> u64 {
        use std::hash::Hasher;
        // Fixed keys: equal texts must hash equally in every session.
        let mut h = std::hash::DefaultHasher::new();
        h.write(text.as_bytes());
        h.finish()
    }

    fn contains(&self, key: u64) -> bool {
        self.0
            .lock()
            .expect("cache lock is never poisoned")
            .contains(&key)
    }

    fn insert(&self, key: u64) {
        let mut set = self.0.lock().expect("cache lock is never poisoned");
        if set.len() > 100_000 {
            set.clear();
        }
        set.insert(key);
    }
}

/// Findings of one run, shared by all sessions.
struct Findings {
    sessions: usize,
    upstream_failures: Vec<String>,
    messages: [usize; 2],
    violations: [Vec<Evidence>; 2],
    /// Microseconds from arrival to forwarded, per direction.
    forward_us: [Histogram<u64>; 2],
}

const C2S: usize = 0;
const S2C: usize = 1;
const DIRECTIONS: [&str; 2] = ["c2s", "s2c"];

pub async fn run(config: ProxyConfig, schemas: Arc<SchemaSet>) -> std::io::Result<Vec<CaseResult>> {
    let listener = TcpListener::bind(config.listen).await?;
    Ok(run_on(listener, config, schemas).await)
}

pub async fn run_on(
    listener: TcpListener,
    config: ProxyConfig,
    schemas: Arc<SchemaSet>,
) -> Vec<CaseResult> {
    let histogram =
        || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    let findings = Arc::new(Mutex::new(Findings {
        sessions: 0,
        upstream_failures: Vec::new(),
        messages: [0, 0],
        violations: [Vec::new(), Vec::new()],
        forward_us: [histogram(), histogram()],
    }));
    let stop = CancellationToken::new();
    let seen = Arc::new(SeenValid::default());
    let tracker = tokio_util::task::TaskTracker::new();
    let deadline = tokio::time::Instant::now() + config.duration;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted { Ok((s, _)) => s, Err(_) => continue },
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let (findings, schemas, stop, upstream, seen, tls) = (
            findings.clone(),
            schemas.clone(),
            stop.clone(),
            config.upstream.clone(),
            seen.clone(),
            config.tls.clone(),
        );
        tracker.spawn(async move {
            session(stream, tls, &upstream, &findings, schemas, seen, &stop).await
        });
    }
    stop.cancel();
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(3), tracker.wait()).await;
    let findings = findings
        .lock()
        .expect("proxy findings lock is never poisoned");
    verdicts(&findings, schemas.profile())
}

/// What one session saw; merged into the run's [`Findings`] once, when the session ends, so
/// sessions never contend for a lock per message.
struct SessionFindings {
    messages: [usize; 2],
    violations: [Vec<Evidence>; 2],
    forward_us: [Histogram<u64>; 2],
}

impl Default for SessionFindings {
    fn default() -> Self {
        SessionFindings {
            messages: [0, 0],
            violations: [Vec::new(), Vec::new()],
            forward_us: [histogram(), histogram()],
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Checks one message. The typed decoder is tried first: it accepts only what the schema
/// accepts (a property test in `protocol` holds it to that) and is much cheaper than schema
/// validation, which only runs to explain a message the decoder refused.
fn problems(schemas: &SchemaSet, seen: &SeenValid, text: &str, direction: usize) -> Vec<Evidence> {
    let key = SeenValid::hash(text);
    if seen.contains(key) {
        return Vec::new();
    }
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return vec![Evidence::note(format!(
                "{}: not JSON: {e}",
                DIRECTIONS[direction]
            ))]
        }
    };
    let way = if direction == C2S {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    };
    if let Some(profile) = protocol::profile::find(schemas.profile()) {
        if let Ok(kind) = profile.classify(way, &value) {
            if profile.decode(kind, value.clone()).is_ok() {
                seen.insert(key);
                return Vec::new();
            }
        }
    }
    check_message(schemas, &value, None, Some(DIRECTIONS[direction]))
        .into_iter()
        .map(|(rule, _, detail)| {
            let mut e = Evidence::note(format!("{}: {rule}: {detail}", DIRECTIONS[direction]))
                .with_message(value.clone());
            e.rule = Some(rule);
            e
        })
        .collect()
}

/// Forwards one direction until its source ends, the run stops, or the other direction ends
/// (the server-to-client side then keeps draining for a second: what the server said before
/// hanging up still belongs to the client).
#[allow(clippy::too_many_arguments)]
async fn pump<R, W>(
    direction: usize,
    mut rx: R,
    mut tx: W,
    schemas: Arc<SchemaSet>,
    seen: Arc<SeenValid>,
    stop: CancellationToken,
    other_done: CancellationToken,
) -> SessionFindings
where
    R: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    W: futures_util::Sink<Message> + Unpin,
{
    let mut local = SessionFindings::default();
    // Created once: polling a fresh `cancelled()` per message would take the token's lock.
    let stopping = stop.cancelled();
    let other = other_done.cancelled();
    tokio::pin!(stopping, other);
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        let message = tokio::select! {
            biased;
            m = rx.next() => m,
            _ = &mut stopping => break,
            _ = &mut other, if drain_until.is_none() => {
                if direction == C2S {
                    break;
                }
                drain_until = Some(tokio::time::Instant::now() + Duration::from_secs(1));
                continue;
            }
            _ = tokio::time::sleep_until(drain_until.unwrap_or_else(tokio::time::Instant::now)), if drain_until.is_some() => break,
        };
        let arrived = Instant::now();
        let Some(Ok(message)) = message else { break };
        // Each hop answers its own RFC 6455 pings (tungstenite does it); forwarding them too
        // would hand the client a second, stray pong.
        if matches!(message, Message::Ping(_) | Message::Pong(_)) {
            continue;
        }
        let closing = message.is_close();
        let text = match &message {
            Message::Text(t) => Some(t.clone()),
            _ => None,
        };
        if tx.send(message).await.is_err() || closing {
            break;
        }
        let _ = local.forward_us[direction].record((arrived.elapsed().as_micros() as u64).max(1));
        local.messages[direction] += 1;
        if let Some(text) = text {
            let found = problems(&schemas, &seen, text.as_str(), direction);
            let room = 20usize.saturating_sub(local.violations[direction].len());
            local.violations[direction].extend(found.into_iter().take(room));
        }
    }
    other_done.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(1), tx.close()).await;
    local
}

async fn session(
    client: TcpStream,
    tls: ServerTls,
    upstream_url: &str,
    findings: &Mutex<Findings>,
    schemas: Arc<SchemaSet>,
    seen: Arc<SeenValid>,
    stop: &CancellationToken,
) {
    let _ = client.set_nodelay(true);
    let Some(client) = tls.secure(client).await else {
        return;
    };
    let Ok(mut downstream) =
        tokio_tungstenite::accept_async_with_config(client, Some(crate::wire::small_frames()))
            .await
    else {
        return;
    };
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let Ok(request) = upstream_url.into_client_request() else {
        return;
    };
    let upstream =
        match tokio::time::timeout(Duration::from_secs(5), crate::wire::ws::connect(request)).await
        {
            Ok(Ok((ws, _))) => ws,
            outcome => {
                let reason = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no handshake within 5 s".into(),
                };
                findings
                    .lock()
                    .expect("proxy findings lock is never poisoned")
                    .upstream_failures
                    .push(reason);
                let _ = downstream.close(None).await;
                return;
            }
        };
    let (up_tx, up_rx) = upstream.split();
    let (down_tx, down_rx) = downstream.split();
    // One task per direction: a broadcast frame wakes only the task that reads the server, and
    // it never polls the client's side.
    let other_done = CancellationToken::new();
    let s2c = tokio::spawn(pump(
        S2C,
        up_rx,
        down_tx,
        schemas.clone(),
        seen.clone(),
        stop.clone(),
        other_done.clone(),
    ));
    let mut local = pump(C2S, down_rx, up_tx, schemas, seen, stop.clone(), other_done).await;
    if let Ok(s2c) = s2c.await {
        local.messages[S2C] = s2c.messages[S2C];
        local.violations[S2C] = s2c.violations[S2C].clone();
        local.forward_us[S2C] = s2c.forward_us[S2C].clone();
    }
    let mut f = findings
        .lock()
        .expect("proxy findings lock is never poisoned");
    f.sessions += 1;
    for d in [C2S, S2C] {
        f.messages[d] += local.messages[d];
        let room = 20usize.saturating_sub(f.violations[d].len());
        f.violations[d].extend(local.violations[d].drain(..).take(room));
        f.forward_us[d]
            .add(&local.forward_us[d])
            .expect("histograms with the same bounds merge");
    }
}

fn verdicts(f: &Findings, profile: &str) -> Vec<CaseResult> {
    let id = |case: &str| format!("{profile}.proxy.{case}");
    let mut out = Vec::new();
    let sessions_note = format!(
        "{} sessions forwarded, {} upstream failures",
        f.sessions,
        f.upstream_failures.len()
    );
    out.push(if f.upstream_failures.is_empty() {
        CaseResult::new(
            &id("upstream"),
            "Every session reached the upstream server",
            if f.sessions > 0 {
                Outcome::Pass
            } else {
                Outcome::Informational
            },
            vec![Evidence::note(sessions_note)],
        )
    } else {
        CaseResult::new(
            &id("upstream"),
            "Every session reached the upstream server",
            Outcome::Fail,
            f.upstream_failures
                .iter()
                .take(5)
                .map(Evidence::note)
                .collect(),
        )
    });
    for (direction, case, title) in [
        (
            C2S,
            "client_messages_valid",
            "Every client message matches its schema",
        ),
        (
            S2C,
            "server_messages_valid",
            "Every server message matches its schema",
        ),
    ] {
        let id = &id(case);
        let n = f.messages[direction];
        out.push(if !f.violations[direction].is_empty() {
            CaseResult::new(id, title, Outcome::Fail, f.violations[direction].clone())
        } else if n == 0 {
            CaseResult::new(
                id,
                title,
                Outcome::Informational,
                vec![Evidence::note("no message in this direction")],
            )
        } else {
            CaseResult::new(
                id,
                title,
                Outcome::Pass,
                vec![Evidence::note(format!("{n} messages valid"))],
            )
        });
    }
    let h = &f.forward_us[S2C];
    out.push(CaseResult::new(
        &id("overhead"),
        "Time the proxy adds to server-to-client messages (arrival to forwarded)",
        Outcome::Informational,
        vec![Evidence::note(format!(
            "{} messages: p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        ))
        .with_measured("overhead_p99", h.value_at_quantile(0.99) as f64, "us")],
    ));
    out
}
