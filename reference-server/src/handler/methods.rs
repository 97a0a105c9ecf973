//! What the reference server answers: the request endpoints and the RPC methods
//! (PROFILES.md §1 "Reference behaviour"). Pure functions of the message and a view of the
//! server, so they are tested without sockets.

use serde_json::{json, Value};
use std::time::Duration;

/// A `response` to a `request`: `Ok(data)` or `Err(error)`.
pub fn answer_request(endpoint: &str, data: Option<&Value>) -> Result<Value, String> {
    match endpoint {
        // The seed's example: any city gets the seed's weather.
        "get_weather" => match data.and_then(|d| d.get("city")).and_then(Value::as_str) {
            Some(_) => Ok(json!({"temperature": 22, "condition": "sunny"})),
            None => Err("Missing data.city".to_owned()),
        },
        "echo" => Ok(data.cloned().unwrap_or(Value::Null)),
        other => Err(format!("Unknown endpoint: {other}")),
    }
}

/// What the RPC methods read of the server.
pub struct ServerView {
    pub version: &'static str,
    pub features: Value,
    pub uptime: Duration,
    pub connections: usize,
    /// Topics with at least one subscriber.
    pub topics: Vec<String>,
    /// The client streams as `streams.list` shows them.
    pub streams: Vec<Value>,
}

/// `streams.start`'s parameters (our decision: a server stream exposed over the wire).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRequest {
    pub stream_type: String,
    pub interval: Duration,
    pub duration: Duration,
    pub stream_id: Option<String>,
}

pub const MAX_STREAM_INTERVAL_MS: u64 = 60_000;
pub const MAX_STREAM_DURATION_MS: u64 = 3_600_000;

impl StreamRequest {
    /// Reads `{streamType?, intervalMs?, durationMs?, streamId?}`; `Err` says what is wrong.
    pub fn from_params(params: Option<&Value>) -> Result<Self, String> {
        let empty = serde_json::Map::new();
        let params = match params {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(map)) => map,
            Some(_) => return Err("streams.start takes an object of parameters".into()),
        };
        let text = |name: &str, default: Option<&str>| -> Result<Option<String>, String> {
            match params.get(name) {
                None => Ok(default.map(String::from)),
                Some(Value::String(s)) if (1..=256).contains(&s.chars().count()) => {
                    Ok(Some(s.clone()))
                }
                Some(_) => Err(format!("{name} must be a string of 1 to 256 characters")),
            }
        };
        let millis = |name: &str, default: u64, min: u64, max: u64| -> Result<u64, String> {
            match params.get(name) {
                None => Ok(default),
                Some(v) => v
                    .as_u64()
                    .filter(|ms| (min..=max).contains(ms))
                    .ok_or_else(|| format!("{name} must be an integer from {min} to {max}")),
            }
        };
        let stream_type = text("streamType", Some("sensor_data"))?.unwrap_or_default();
        if stream_type.chars().count() > 64 {
            return Err("streamType must be at most 64 characters".into());
        }
        Ok(StreamRequest {
            stream_type,
            interval: Duration::from_millis(millis("intervalMs", 1000, 1, MAX_STREAM_INTERVAL_MS)?),
            duration: Duration::from_millis(millis(
                "durationMs",
                60_000,
                0,
                MAX_STREAM_DURATION_MS,
            )?),
            stream_id: text("streamId", None)?,
        })
    }
}

/// An RPC method other than `streams.start` (which the session runs): `Ok(data)`, `Err(error)`,
/// or `None` when there is no such method.
/// `view` is asked for only by the methods that read the server (it takes the shared locks).
pub fn call(
    method: &str,
    params: Option<&Value>,
    view: &dyn Fn() -> ServerView,
) -> Option<Result<Value, String>> {
    match method {
        "calculateAverage" => return Some(average(params)),
        "echo" => return Some(Ok(params.cloned().unwrap_or(Value::Null))),
        "server.info" | "server.stats" | "pubsub.topics" | "streams.list" => {}
        _ => return None,
    }
    let view = view();
    let uptime_ms = view.uptime.as_millis() as u64;
    Some(match method {
        "server.info" => Ok(json!({
            "version": view.version,
            "features": view.features,
            "uptime": uptime_ms,
            "connections": view.connections,
        })),
        "server.stats" => Ok(json!({
            "totalConnections": view.connections,
            "activeStreams": view.streams.len(),
            "activeSubscriptions": view.topics.len(),
            "pendingRequests": 0,
            "uptime": uptime_ms,
        })),
        "pubsub.topics" => Ok(json!(view.topics)),
        "streams.list" => Ok(Value::Array(view.streams.clone())),
        _ => return None,
    })
}

/// The mean of `params.values` (the seed's example: `[10,20,30,40,50]` → 30), written as an
/// integer when it is one, as JavaScript would.
fn average(params: Option<&Value>) -> Result<Value, String> {
    let values = params
        .and_then(|p| p.get("values"))
        .and_then(Value::as_array)
        .ok_or("calculateAverage needs params.values, a list of numbers")?;
    if values.is_empty() {
        return Err("calculateAverage needs at least one value".into());
    }
    let numbers: Option<Vec<f64>> = values.iter().map(Value::as_f64).collect();
    let numbers = numbers.ok_or("calculateAverage takes numbers only")?;
    let mean = numbers.iter().sum::<f64>() / numbers.len() as f64;
    if !mean.is_finite() {
        return Err("the average is not a finite number".into());
    }
    Ok(js_number(mean))
}

/// A number as JavaScript's `JSON.stringify` writes it: `30`, not `30.0`.
pub fn js_number(value: f64) -> Value {
    const SAFE: f64 = 9_007_199_254_740_991.0;
    if value.fract() == 0.0 && value.abs() <= SAFE {
        Value::from(value as i64)
    } else {
        Value::from(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> ServerView {
        ServerView {
            version: "2.0.0",
            features: json!({}),
            uptime: Duration::from_millis(1500),
            connections: 2,
            topics: vec!["a".into()],
            streams: vec![],
        }
    }

    #[test]
    fn the_seeds_average_is_exactly_30() {
        let params = json!({"values": [10, 20, 30, 40, 50]});
        let got = call("calculateAverage", Some(&params), &view);
        assert_eq!(got, Some(Ok(json!(30))));
        let written = got.expect("a method").expect("an average");
        assert_eq!(written.to_string(), "30");
        let half = call("calculateAverage", Some(&json!({"values": [1, 2]})), &view);
        assert_eq!(half, Some(Ok(json!(1.5))));
        for bad in [json!({}), json!({"values": []}), json!({"values": ["x"]})] {
            assert!(
                matches!(call("calculateAverage", Some(&bad), &view), Some(Err(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_methods_and_endpoints_are_told() {
        assert_eq!(call("nope", None, &view), None);
        assert_eq!(
            answer_request("nope", None),
            Err("Unknown endpoint: nope".into())
        );
        assert_eq!(
            answer_request("get_weather", Some(&json!({"city": "New York"}))),
            Ok(json!({"temperature": 22, "condition": "sunny"}))
        );
        assert!(answer_request("get_weather", Some(&json!({}))).is_err());
        assert_eq!(answer_request("echo", Some(&json!([1]))), Ok(json!([1])));
        assert_eq!(call("pubsub.topics", None, &view), Some(Ok(json!(["a"]))));
        assert_eq!(call("echo", None, &view), Some(Ok(Value::Null)));
    }

    #[test]
    fn stream_requests_have_defaults_and_bounds() {
        let d = StreamRequest::from_params(None).expect("defaults");
        assert_eq!(d.stream_type, "sensor_data");
        assert_eq!(
            (d.interval, d.duration),
            (Duration::from_secs(1), Duration::from_secs(60))
        );
        let p = json!({"intervalMs": 16, "durationMs": 0, "streamId": "s1", "streamType": "x"});
        let r = StreamRequest::from_params(Some(&p)).expect("valid");
        assert_eq!(r.stream_id.as_deref(), Some("s1"));
        assert_eq!(r.interval, Duration::from_millis(16));
        for bad in [
            json!({"intervalMs": 0}),
            json!({"durationMs": -1}),
            json!({"streamId": ""}),
            json!(3),
        ] {
            assert!(StreamRequest::from_params(Some(&bad)).is_err(), "{bad}");
        }
    }
}
