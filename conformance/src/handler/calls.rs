//! Messages that get one answer each: data (insertId, required fields), requests, RPC and
//! client streams; and the server stream `streams.start` starts.

use super::{payload, unique, Client, ANSWER_WITHIN, REQUEST_WITHIN};
use crate::cases::{fail, info, non_strict, pass, Ctx};
use crate::outcome::{CaseResult, Evidence};
use protocol::codec::same_json;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub async fn cases(ctx: &Ctx, seen: &mut Vec<Value>) -> Vec<CaseResult> {
    let mut client = match Client::open(ctx).await {
        Ok(client) => client,
        Err(e) => {
            let note = format!("cannot open an authenticated connection: {e}");
            return [
                "handler.ws.data",
                "handler.ws.data.insert_id",
                "handler.ws.data.required_fields",
                "handler.ws.request",
                "handler.ws.rpc",
                "handler.ws.streams.ack",
                "handler.ws.streams.server",
            ]
            .map(|id| info(id, note.clone()))
            .into();
        }
    };
    let results = vec![
        data(ctx, &mut client).await,
        insert_id(ctx, &mut client, seen).await,
        required_fields(ctx, &mut client).await,
        request(&mut client).await,
        rpc(&mut client).await,
        stream_ack(&mut client).await,
        server_stream(ctx, &mut client).await,
    ];
    seen.extend(client.close().await);
    results
}

async fn data(ctx: &Ctx, client: &mut Client) -> CaseResult {
    const ID: &str = "handler.ws.data";
    let request_id = unique("conf-data");
    let message = json!({"type": "data", "dataType": "sensor", "data": payload(ctx, json!({})), "requestId": request_id});
    let Some(reply) = client.ask(message, "data_response", ANSWER_WITHIN).await else {
        return fail(ID, Evidence::note("data got no data_response within 2 s"));
    };
    if reply["success"] != true {
        return fail(
            ID,
            Evidence::note("data got success:false").with_message(reply),
        );
    }
    if reply["requestId"] != request_id.as_str() {
        return fail(
            ID,
            Evidence::note(format!(
                "data_response does not echo requestId {request_id:?}"
            ))
            .with_message(reply),
        );
    }
    let mut reading = payload(
        ctx,
        json!({"sensor_id": "ESP32_DHT22_01", "battery_level": 85, "timestamp": 123456}),
    );
    reading["type"] = json!("sensor_data");
    let Some(reply) = client.ask(reading, "data_response", ANSWER_WITHIN).await else {
        return fail(
            ID,
            Evidence::note("sensor_data got no data_response within 2 s"),
        );
    };
    if reply["success"] != true {
        return fail(
            ID,
            Evidence::note("sensor_data got success:false").with_message(reply),
        );
    }
    pass(
        ID,
        "data (requestId echoed) and sensor_data each got data_response success:true",
    )
}

async fn insert_id(ctx: &Ctx, client: &mut Client, seen: &mut Vec<Value>) -> CaseResult {
    const ID: &str = "handler.ws.data.insert_id";
    let mut other = match Client::open(ctx).await {
        Ok(other) => other,
        Err(e) => return info(ID, format!("cannot open a second connection: {e}")),
    };
    let mut ids = Vec::new();
    for i in 0..6 {
        let conn = if i % 2 == 0 { &mut *client } else { &mut other };
        let message = json!({"type": "data", "data": payload(ctx, json!({"n": i}))});
        match conn.ask(message, "data_response", ANSWER_WITHIN).await {
            Some(reply) => ids.push(reply["insertId"].as_u64()),
            None => {
                seen.extend(other.close().await);
                return info(
                    ID,
                    "a data message got no data_response (see handler.ws.data)",
                );
            }
        }
    }
    seen.extend(other.close().await);
    let present: Vec<u64> = ids.iter().flatten().copied().collect();
    if present.is_empty() {
        return info(
            ID,
            "the server sends no insertId (a server without a store)",
        );
    }
    if present.len() != ids.len() {
        return non_strict(ID, format!("insertId only on some data_responses: {ids:?}"));
    }
    match present.windows(2).find(|w| w[1] <= w[0]) {
        Some(w) => fail(
            ID,
            Evidence::note(format!(
                "insertId {} after {} (sequence {present:?})",
                w[1], w[0]
            )),
        ),
        None => pass(ID, format!("insertIds {present:?} over two connections")),
    }
}

async fn required_fields(ctx: &Ctx, client: &mut Client) -> CaseResult {
    const ID: &str = "handler.ws.data.required_fields";
    let Some(field) = &ctx.declared.required_field else {
        return info(
            ID,
            "no required field declared (run with --required-field NAME)",
        );
    };
    for (what, value) in [
        ("missing", None),
        ("blank", Some(json!("  "))),
        ("null", Some(Value::Null)),
    ] {
        let mut data = payload(ctx, json!({}));
        match value {
            None => drop(data.as_object_mut().and_then(|d| d.remove(field))),
            Some(v) => data[field] = v,
        }
        let message = json!({"type": "data", "data": data});
        match client.ask(message, "data_response", ANSWER_WITHIN).await {
            None => return info(ID, "data got no data_response (see handler.ws.data)"),
            Some(reply) if reply["success"] == true => {
                return fail(
                    ID,
                    Evidence::note(format!("data with {field} {what} got success:true"))
                        .with_message(reply),
                )
            }
            Some(_) => {}
        }
    }
    pass(
        ID,
        format!("data with {field} missing, blank or null got success:false"),
    )
}

/// The replies to `messages` (sent pipelined) of type `ty`, within `within` of the last send.
async fn replies(
    client: &mut Client,
    messages: &[Value],
    ty: &str,
    within: Duration,
) -> Vec<Value> {
    for message in messages {
        client.send(message).await;
    }
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < messages.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_of(ty, left).await {
            Some(reply) => got.push(reply),
            None => break,
        }
    }
    got
}

/// The reply whose `requestId` is `id`.
fn by_id<'a>(replies: &'a [Value], id: &str) -> Option<&'a Value> {
    replies.iter().find(|r| r["requestId"] == id)
}

async fn request(client: &mut Client) -> CaseResult {
    const ID: &str = "handler.ws.request";
    let (weather, echo, unknown) = (
        unique("req-weather"),
        unique("req-echo"),
        unique("req-unknown"),
    );
    let sent = [
        json!({"type": "request", "requestId": weather, "endpoint": "get_weather", "data": {"city": "New York"}}),
        json!({"type": "request", "requestId": echo, "endpoint": "echo", "data": {"k": [1, "two", null]}}),
        json!({"type": "request", "requestId": unknown, "endpoint": "conformance_no_such_endpoint", "data": {}}),
    ];
    let got = replies(client, &sent, "response", REQUEST_WITHIN).await;
    if got.is_empty() {
        return fail(
            ID,
            Evidence::note("no response to three requests within 10 s"),
        );
    }
    let ids = [&weather, &echo, &unknown];
    for reply in &got {
        if !ids.iter().any(|id| reply["requestId"] == id.as_str()) {
            return fail(
                ID,
                Evidence::note("a response carries a requestId no request had")
                    .with_message(reply.clone()),
            );
        }
    }
    let Some(unknown_reply) = by_id(&got, &unknown) else {
        return fail(
            ID,
            Evidence::note(format!(
                "no response with requestId {unknown:?} (unknown endpoint)"
            )),
        );
    };
    if unknown_reply["success"] != false || !unknown_reply["error"].is_string() {
        return fail(
            ID,
            Evidence::note("an unknown endpoint did not get success:false with an error string")
                .with_message(unknown_reply.clone()),
        );
    }
    let (Some(weather_reply), Some(echo_reply)) = (by_id(&got, &weather), by_id(&got, &echo))
    else {
        return fail(
            ID,
            Evidence::note(format!("{} of 3 responses within 10 s", got.len())),
        );
    };
    let expected = json!({"temperature": 22, "condition": "sunny"});
    if weather_reply["success"] != true || !same_json(&weather_reply["data"], &expected) {
        return non_strict(
            ID,
            format!(
                "correlated, but get_weather answered {} (the seed's example is {expected})",
                weather_reply["data"]
            ),
        );
    }
    if echo_reply["success"] != true || !same_json(&echo_reply["data"], &sent[1]["data"]) {
        return non_strict(
            ID,
            format!("correlated, but echo answered {}", echo_reply["data"]),
        );
    }
    pass(
        ID,
        "3 pipelined requests answered by requestId; the unknown endpoint refused with an error",
    )
}

async fn rpc(client: &mut Client) -> CaseResult {
    const ID: &str = "handler.ws.rpc";
    let (average, missing) = (unique("rpc-average"), unique("rpc-missing"));
    let sent = [
        json!({"type": "rpc_call", "requestId": average, "method": "calculateAverage", "params": {"values": [10, 20, 30, 40, 50]}}),
        json!({"type": "rpc_call", "requestId": missing, "method": "conformance.noSuchMethod", "params": {}}),
    ];
    let got = replies(client, &sent, "rpc_response", REQUEST_WITHIN).await;
    let Some(reply) = by_id(&got, &average) else {
        return fail(
            ID,
            Evidence::note(format!(
                "no rpc_response with requestId {average:?} within 10 s ({} others)",
                got.len()
            )),
        );
    };
    if reply["success"] != true || !same_json(&reply["data"], &json!(30)) {
        return fail(
            ID,
            Evidence::note("calculateAverage of [10,20,30,40,50] is not 30")
                .with_message(reply.clone()),
        );
    }
    let Some(reply) = by_id(&got, &missing) else {
        return fail(
            ID,
            Evidence::note(format!(
                "no rpc_response with requestId {missing:?} (unknown method)"
            )),
        );
    };
    if reply["success"] != false || !reply["error"].is_string() {
        return fail(
            ID,
            Evidence::note("an unknown method did not get success:false with an error")
                .with_message(reply.clone()),
        );
    }
    pass(
        ID,
        "calculateAverage returned 30; an unknown method was refused; both by requestId",
    )
}

async fn stream_ack(client: &mut Client) -> CaseResult {
    const ID: &str = "handler.ws.streams.ack";
    let id = unique("conf-upload");
    let start = json!({"type": "stream_start", "streamId": id, "streamType": "file_upload", "metadata": {"filename": "a.bin", "size": 3, "mime_type": "application/octet-stream"}});
    let Some(ack) = client
        .ask(start, "stream_start_response", ANSWER_WITHIN)
        .await
    else {
        return fail(
            ID,
            Evidence::note("stream_start got no stream_start_response within 2 s"),
        );
    };
    if ack["success"] != true || ack["streamId"] != id.as_str() {
        return fail(
            ID,
            Evidence::note("stream_start_response is not success with the same streamId")
                .with_message(ack),
        );
    }
    client
        .send(&json!({"type": "stream_data", "streamId": id, "data": "AAEC", "sequenceNumber": 0}))
        .await;
    let Some(end) = client
        .ask(
            json!({"type": "stream_end", "streamId": id}),
            "stream_end_response",
            ANSWER_WITHIN,
        )
        .await
    else {
        return fail(
            ID,
            Evidence::note("stream_end got no stream_end_response within 2 s"),
        );
    };
    if end["success"] != true || end["streamId"] != id.as_str() {
        return fail(
            ID,
            Evidence::note("stream_end_response is not success with the same streamId")
                .with_message(end),
        );
    }
    pass(ID, "stream_start and stream_end acknowledged")
}

/// The interval the suite asks `streams.start` for, and how many messages.
const STREAM_INTERVAL: Duration = Duration::from_millis(50);
const STREAM_MESSAGES: u64 = 20;

async fn server_stream(_ctx: &Ctx, client: &mut Client) -> CaseResult {
    const ID: &str = "handler.ws.streams.server";
    let (request_id, stream_id) = (unique("rpc-stream"), unique("conf-stream"));
    let interval_ms = STREAM_INTERVAL.as_millis() as u64;
    let call = json!({"type": "rpc_call", "requestId": request_id, "method": "streams.start", "params": {"streamType": "sensor_data", "intervalMs": interval_ms, "durationMs": interval_ms * STREAM_MESSAGES, "streamId": stream_id}});
    let Some(reply) = client.ask(call, "rpc_response", REQUEST_WITHIN).await else {
        return info(ID, "streams.start got no rpc_response (see handler.ws.rpc)");
    };
    if reply["success"] != true {
        return info(
            ID,
            format!(
                "the server has no streams.start (a reference decision): {}",
                reply["error"]
            ),
        );
    }
    let deadline = Instant::now() + STREAM_INTERVAL * (STREAM_MESSAGES as u32 + 40);
    let (mut started, mut arrivals) = (false, Vec::new());
    let ended = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(message) = client.next(left).await else {
            break false;
        };
        if message["streamId"] != stream_id.as_str() {
            continue;
        }
        match message["type"].as_str() {
            Some("stream_start") => started = true,
            Some("stream_data") => {
                arrivals.push((Instant::now(), message["sequenceNumber"].as_u64()))
            }
            Some("stream_end") => break true,
            _ => {}
        }
    };
    if !started {
        return fail(ID, Evidence::note("no stream_start for the stream"));
    }
    let sequence: Vec<Option<u64>> = arrivals.iter().map(|(_, s)| *s).collect();
    let expected: Vec<Option<u64>> = (0..sequence.len() as u64).map(Some).collect();
    if sequence != expected {
        let at = sequence
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return fail(
            ID,
            Evidence::note(format!(
                "sequenceNumbers are not 0,1,2…: {:?} at position {at}",
                sequence[at]
            )),
        );
    }
    if !ended {
        return fail(
            ID,
            Evidence::note(format!(
                "no stream_end after {} stream_data",
                sequence.len()
            )),
        );
    }
    let n = sequence.len() as u64;
    if n + 1 < STREAM_MESSAGES || n > STREAM_MESSAGES + 1 {
        return fail(
            ID,
            Evidence::note(format!(
                "{n} stream_data in {} ms at {interval_ms} ms (≈{STREAM_MESSAGES} expected)",
                interval_ms * STREAM_MESSAGES
            )),
        );
    }
    let span = arrivals
        .last()
        .map(|l| l.0)
        .zip(arrivals.first().map(|f| f.0))
        .map(|(l, f)| l - f)
        .unwrap_or_default();
    let mean = span / (n.saturating_sub(1).max(1) as u32);
    let (low, high) = (STREAM_INTERVAL.mul_f64(0.8), STREAM_INTERVAL.mul_f64(1.25));
    if mean < low || mean > high {
        return fail(
            ID,
            Evidence::note(format!(
                "mean interval {} ms, asked {interval_ms} ms",
                mean.as_millis()
            )),
        );
    }
    pass(
        ID,
        format!(
            "{n} stream_data numbered 0..{} every {:.1} ms on average, then stream_end",
            n - 1,
            mean.as_secs_f64() * 1e3
        ),
    )
}
