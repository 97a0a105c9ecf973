//! The captured streams: one long `/ws` capture, the three single-family endpoints, and a
//! filtered `/ws` client whose window lies inside the long capture.

use super::{barrier, capture, connect, open, period, Arrival};
use crate::cases::{fail, info, pass, schema_violation, Ctx};
use crate::outcome::{CaseResult, Evidence};
use protocol::monitor::Endpoint;
use protocol::{Direction, Profile};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// One connection's capture, named by its endpoint.
struct Captured {
    endpoint: Endpoint,
    arrivals: Vec<Arrival>,
}

/// What the filtered client saw.
struct Filtered {
    /// From its subscribe's pong to the end of its window.
    window: (Instant, Instant),
    during: Vec<Arrival>,
    /// After the unsubscribe's pong.
    after_unsubscribe: Vec<Arrival>,
}

const IDS: [&str; 6] = [
    "monitor.ws.envelope.schema",
    "monitor.ws.envelope.unique_ids",
    "monitor.ws.endpoint.isolation",
    "monitor.ws.filters",
    "monitor.ws.alert.lifecycle",
    "monitor.ws.performance.cadence",
];

pub async fn cases(ctx: &Ctx) -> Vec<CaseResult> {
    let window = ctx.window.max(period(ctx) * 3);
    let main = async {
        let mut conn = connect(ctx, Endpoint::Main, Some(&ctx.secret), None)
            .await
            .map_err(|e| e.to_string())?;
        // Three pongs, so that ids of replies are checked beside ids of events.
        for i in 0..3 {
            conn.send_json(&json!({"type": "ping", "id": format!("ids-{i}")}))
                .await;
        }
        let (arrivals, _) = capture(&mut conn, window + Duration::from_millis(1500)).await;
        conn.close().await;
        Ok::<_, String>(Captured {
            endpoint: Endpoint::Main,
            arrivals,
        })
    };
    let single = |endpoint| async move {
        let mut conn = connect(ctx, endpoint, Some(&ctx.secret), None)
            .await
            .map_err(|e| e.to_string())?;
        let (arrivals, _) = capture(&mut conn, window).await;
        conn.close().await;
        Ok::<_, String>(Captured { endpoint, arrivals })
    };
    let (main, performance, alerts, status, filtered) = tokio::join!(
        main,
        single(Endpoint::Performance),
        single(Endpoint::Alerts),
        single(Endpoint::Status),
        filtered(ctx, window),
    );
    let mut captures = Vec::new();
    for captured in [main, performance, alerts, status] {
        match captured {
            Ok(c) => captures.push(c),
            Err(e) => {
                let note = format!("cannot capture the streams: {e}");
                return IDS
                    .iter()
                    .map(|id| fail(id, Evidence::note(&note)))
                    .collect();
            }
        }
    }
    let main = &captures[0];
    vec![
        schema(ctx, &captures, filtered.as_ref().ok()),
        unique_ids(&captures),
        isolation(&captures[1..]),
        filters(main, filtered),
        lifecycle(&[&captures[0], &captures[2]]),
        cadence(main, period(ctx)),
    ]
}

/// Subscribes to critical CPU alerts, captures `window`, unsubscribes, captures half of it.
async fn filtered(ctx: &Ctx, window: Duration) -> Result<Filtered, String> {
    // Start after the long capture, so its window holds this one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut conn = open(ctx, Endpoint::Main).await?;
    let subscribe = json!({"type": "subscribe", "data": {"events": ["alert.cpu"], "filters": {"level": ["critical"]}}});
    conn.send_json(&subscribe).await;
    barrier(&mut conn, "subscribed")
        .await
        .ok_or("no pong after subscribe, so the filter's start is unknown")?;
    let start = Instant::now();
    let (during, _) = capture(&mut conn, window).await;
    let end = Instant::now();
    let unsubscribe = json!({"type": "unsubscribe", "data": {"events": ["alert.cpu"]}});
    conn.send_json(&unsubscribe).await;
    barrier(&mut conn, "unsubscribed")
        .await
        .ok_or("no pong after unsubscribe")?;
    let (after_unsubscribe, _) = capture(&mut conn, window / 2).await;
    conn.close().await;
    Ok(Filtered {
        window: (start, end),
        during,
        after_unsubscribe,
    })
}

fn schema(ctx: &Ctx, captures: &[Captured], filtered: Option<&Filtered>) -> CaseResult {
    let id = IDS[0];
    let profile = &protocol::monitor::MONITOR;
    let filtered = filtered
        .into_iter()
        .flat_map(|f| f.during.iter().chain(&f.after_unsubscribe));
    let all = captures.iter().flat_map(|c| &c.arrivals).chain(filtered);
    let mut checked = 0;
    for arrival in all {
        let kind = match profile.classify(Direction::ServerToClient, &arrival.value) {
            Ok(kind) => kind,
            Err(e) => {
                return fail(
                    id,
                    Evidence::note(format!("unclassified: {}", e.0))
                        .with_message(arrival.value.clone()),
                )
            }
        };
        if let Some(evidence) = schema_violation(ctx, kind, &arrival.value) {
            return fail(id, evidence);
        }
        checked += 1;
    }
    if checked == 0 {
        return info(id, "no message arrived to check");
    }
    pass(id, format!("{checked} messages valid"))
}

fn unique_ids(captures: &[Captured]) -> CaseResult {
    let id = IDS[1];
    let mut total = 0;
    for captured in captures {
        let mut seen = HashSet::new();
        for arrival in &captured.arrivals {
            let Some(message_id) = arrival.value["id"].as_str() else {
                continue; // the schema case judges a missing id
            };
            total += 1;
            if !seen.insert(message_id) {
                return fail(
                    id,
                    Evidence::note(format!(
                        "id {message_id:?} arrived twice on {}",
                        captured.endpoint.path()
                    ))
                    .with_message(arrival.value.clone()),
                );
            }
        }
    }
    pass(
        id,
        format!(
            "{total} ids on {} connections, none repeated",
            captures.len()
        ),
    )
}

/// The families every endpoint carries besides its own.
const EVERYWHERE: [&str; 3] = ["connection", "pong", "error"];

fn isolation(singles: &[Captured]) -> CaseResult {
    let id = IDS[2];
    let mut counts = Vec::new();
    for captured in singles {
        let mut own = 0;
        for arrival in &captured.arrivals {
            let ty = arrival.ty();
            let carried = protocol::monitor::Family::from_name(ty)
                .is_some_and(|f| captured.endpoint.carries(f));
            if carried {
                own += 1;
            } else if !EVERYWHERE.contains(&ty) {
                return fail(
                    id,
                    Evidence::note(format!(
                        "{} carried a {ty:?} message",
                        captured.endpoint.path()
                    ))
                    .with_message(arrival.value.clone()),
                );
            }
        }
        counts.push(format!("{} {own}", captured.endpoint.path()));
    }
    pass(id, format!("own-family messages: {}", counts.join(", ")))
}

/// `(alert_id, status)` of an alert message.
fn alert_key(arrival: &Arrival) -> Option<(String, String)> {
    (arrival.ty() == "alert").then(|| {
        let data = &arrival.value["data"];
        let s = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
        (s("alert_id"), s("status"))
    })
}

fn is_critical_cpu(arrival: &Arrival) -> bool {
    let data = &arrival.value["data"];
    data["type"] == "cpu" && data["level"] == "critical"
}

fn filters(main: &Captured, filtered: Result<Filtered, String>) -> CaseResult {
    let id = IDS[3];
    let filtered = match filtered {
        Ok(f) => f,
        Err(e) => return info(id, format!("cannot judge: {e}")),
    };
    if let Some(wrong) = filtered
        .during
        .iter()
        .find(|a| a.ty() == "alert" && !is_critical_cpu(a))
    {
        return fail(
            id,
            Evidence::note("an alert that is not a critical CPU alert passed the filter")
                .with_message(wrong.value.clone()),
        );
    }
    if let Some(leak) = filtered
        .after_unsubscribe
        .iter()
        .find(|a| a.ty() == "alert")
    {
        return fail(
            id,
            Evidence::note("an alert arrived after unsubscribing alert.cpu (the family is muted)")
                .with_message(leak.value.clone()),
        );
    }
    // The unfiltered capture's messages inside the filtered window, with a margin for the
    // two connections' delivery times.
    let margin = Duration::from_millis(100);
    let (start, end) = (filtered.window.0 + margin, filtered.window.1 - margin);
    let overlap: Vec<&Arrival> = main
        .arrivals
        .iter()
        .filter(|a| a.at >= start && a.at <= end)
        .collect();
    let got: HashSet<(String, String)> = filtered.during.iter().filter_map(alert_key).collect();
    if let Some(missed) = overlap
        .iter()
        .filter(|a| a.ty() == "alert" && is_critical_cpu(a))
        .find(|a| alert_key(a).is_some_and(|k| !got.contains(&k)))
    {
        return fail(
            id,
            Evidence::note(
                "a critical CPU alert the unfiltered client got never reached the filtered one",
            )
            .with_message(missed.value.clone()),
        );
    }
    let performance_expected = overlap.iter().any(|a| a.ty() == "performance");
    let performance = filtered
        .during
        .iter()
        .filter(|a| a.ty() == "performance")
        .count();
    if performance_expected && performance == 0 {
        return fail(
            id,
            Evidence::note("performance stopped after subscribing to alerts only (families never named stay on)"),
        );
    }
    let alerts_in_window = overlap.iter().filter(|a| a.ty() == "alert").count();
    if got.is_empty() {
        return info(
            id,
            format!("no critical CPU alert occurred in the window ({alerts_in_window} other alerts were filtered out); run with a longer --window or a faster cycle to prove delivery"),
        );
    }
    pass(
        id,
        format!(
            "{} critical CPU alert messages delivered, {alerts_in_window} alerts in the unfiltered window, {performance} performance kept, muted after unsubscribe",
            got.len()
        ),
    )
}

fn lifecycle(captures: &[&Captured]) -> CaseResult {
    let id = IDS[4];
    let mut total = 0;
    for captured in captures {
        let mut raised = HashSet::new();
        let mut resolved = HashSet::new();
        for arrival in &captured.arrivals {
            let Some((alert_id, status)) = alert_key(arrival) else {
                continue;
            };
            total += 1;
            let problem = match status.as_str() {
                "resolved" if !resolved.insert(alert_id.clone()) => Some("resolved twice"),
                "resolved" => None,
                _ if resolved.contains(&alert_id) => Some("raised again after it was resolved"),
                _ if !raised.insert(alert_id.clone()) => Some("raised twice while active"),
                _ => None,
            };
            if let Some(problem) = problem {
                return fail(
                    id,
                    Evidence::note(format!(
                        "alert {alert_id:?} {problem} on {}",
                        captured.endpoint.path()
                    ))
                    .with_message(arrival.value.clone()),
                );
            }
        }
    }
    if total == 0 {
        return info(
            id,
            "no alert arrived in the window; run with a longer --window to judge the lifecycle",
        );
    }
    pass(
        id,
        format!("{total} alert messages, every id raised and resolved at most once"),
    )
}

fn cadence(main: &Captured, period: Duration) -> CaseResult {
    let id = IDS[5];
    let system: Vec<Instant> = main
        .arrivals
        .iter()
        .filter(|a| {
            let (data, meta) = (&a.value["data"], &a.value["meta"]);
            a.ty() == "performance"
                && data.get("metric_name").is_none()
                && meta.get("reply_to").is_none()
        })
        .map(|a| a.at)
        .collect();
    if system.len() < 3 {
        return info(
            id,
            format!(
                "{} system performance messages: too few to measure",
                system.len()
            ),
        );
    }
    let span = system[system.len() - 1].duration_since(system[0]);
    let mean = span / (system.len() as u32 - 1);
    let deviation = (mean.as_secs_f64() - period.as_secs_f64()).abs() / period.as_secs_f64();
    let note = format!(
        "{} messages, mean interval {:.1} ms (expected {:.1} ms)",
        system.len(),
        mean.as_secs_f64() * 1000.0,
        period.as_secs_f64() * 1000.0
    );
    if deviation <= 0.10 {
        pass(id, note)
    } else {
        info(
            id,
            format!(
                "{note}: not the reference interval (pass --interval if the server runs another)"
            ),
        )
    }
}
