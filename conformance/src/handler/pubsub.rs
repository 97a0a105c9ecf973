//! Pub/sub between two connections: delivery with deep-equal data, no echo to the publisher,
//! unsubscribe, and cleanup of a subscriber that disconnected.

use super::{unique, Client, ANSWER_WITHIN};
use crate::cases::{fail, info, pass, Ctx};
use crate::outcome::{CaseResult, Evidence};
use protocol::codec::same_json;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const DELIVERY: &str = "handler.ws.pubsub.delivery";
const NO_ECHO: &str = "handler.ws.pubsub.no_self_echo";
const UNSUBSCRIBE: &str = "handler.ws.pubsub.unsubscribe";
const CLEANUP: &str = "handler.ws.pubsub.cleanup";

/// A payload that a careless relay would change: nesting, unicode, floats, null, big ints.
fn tricky_payload(n: u32) -> Value {
    json!({"message": "High temperature detected! — 35 °C ✓", "value": 35.25, "n": n, "location": "server-room",
           "nested": {"list": [1, -2.5e-3, null, true, "x"], "empty": {}, "big": 9007199254740991i64}})
}

fn publishes_of<'a>(messages: &'a [Value], topic: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|m| m["type"] == "publish" && m["topic"] == topic)
        .collect()
}

/// How long after a barrier a case still listens: a server that forwards publishes from a
/// queue may deliver one after it answered the heartbeat.
const GRACE: Duration = Duration::from_millis(200);

/// What arrived before the barrier's answer and within [`GRACE`] after it.
async fn with_grace(client: &mut Client) -> Option<Vec<Value>> {
    let mut seen = client.barrier().await?;
    let until = Instant::now() + GRACE;
    while let Some(message) = client
        .next(until.saturating_duration_since(Instant::now()))
        .await
    {
        seen.push(message);
    }
    Some(seen)
}

pub async fn cases(ctx: &Ctx, seen: &mut Vec<Value>) -> Vec<CaseResult> {
    let mut results = exchange(ctx, seen).await;
    results.push(cleanup(ctx, seen).await);
    results
}

async fn exchange(ctx: &Ctx, seen: &mut Vec<Value>) -> Vec<CaseResult> {
    let all_info = |note: String| {
        [DELIVERY, NO_ECHO, UNSUBSCRIBE]
            .map(|id| info(id, note.clone()))
            .into()
    };
    let (mut subscriber, mut publisher) = match (Client::open(ctx).await, Client::open(ctx).await) {
        (Ok(s), Ok(p)) => (s, p),
        (Err(e), _) | (_, Err(e)) => return all_info(format!("cannot open two connections: {e}")),
    };
    let topic = unique("conformance-topic");
    let mut barred = false;
    for client in [&mut subscriber, &mut publisher] {
        client
            .send(&json!({"type": "subscribe", "topic": topic}))
            .await;
        barred |= client.barrier().await.is_none();
    }
    if barred {
        seen.extend(subscriber.close().await);
        seen.extend(publisher.close().await);
        return all_info(
            "no heartbeat_response to use as a barrier (see handler.ws.heartbeat)".into(),
        );
    }
    let data = tricky_payload(1);
    publisher
        .send(&json!({"type": "publish", "topic": topic, "data": data}))
        .await;
    // Delivery: the subscriber's next publish of the topic.
    let deadline = Instant::now() + ANSWER_WITHIN;
    let delivered = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match subscriber.next(left).await {
            Some(m) if m["type"] == "publish" && m["topic"] == topic.as_str() => break Some(m),
            Some(_) => continue,
            None => break None,
        }
    };
    let delivery = match &delivered {
        None => fail(
            DELIVERY,
            Evidence::note("the subscriber got no publish within 2 s"),
        ),
        Some(m) if !same_json(&m["data"], &data) => fail(
            DELIVERY,
            Evidence::note("the delivered data differs from the published data")
                .with_message(m.clone()),
        ),
        Some(_) => pass(
            DELIVERY,
            "publish {topic, data} delivered with data deep-equal",
        ),
    };
    let echo = match with_grace(&mut publisher).await {
        None => info(NO_ECHO, "no heartbeat_response to use as a barrier"),
        Some(before) => match publishes_of(&before, &topic).first() {
            Some(m) => fail(
                NO_ECHO,
                Evidence::note("the publisher received its own publish").with_message((*m).clone()),
            ),
            None => pass(
                NO_ECHO,
                "nothing of its own publish reached the publisher (subscribed to the topic itself)",
            ),
        },
    };
    let unsubscribe = if delivered.is_none() {
        info(UNSUBSCRIBE, "publishes are not delivered at all, so unsubscribe cannot be told (see handler.ws.pubsub.delivery)")
    } else {
        unsubscribed(&mut subscriber, &mut publisher, &topic).await
    };
    seen.extend(subscriber.close().await);
    seen.extend(publisher.close().await);
    vec![delivery, echo, unsubscribe]
}

async fn unsubscribed(subscriber: &mut Client, publisher: &mut Client, topic: &str) -> CaseResult {
    subscriber
        .send(&json!({"type": "unsubscribe", "topic": topic}))
        .await;
    let Some(_) = subscriber.barrier().await else {
        return info(UNSUBSCRIBE, "no heartbeat_response after unsubscribe");
    };
    publisher
        .send(&json!({"type": "publish", "topic": topic, "data": tricky_payload(2)}))
        .await;
    if publisher.barrier().await.is_none() {
        return info(
            UNSUBSCRIBE,
            "no heartbeat_response after the second publish",
        );
    }
    // The publish was handled before the publisher's barrier; anything it sent the
    // subscriber is queued before the subscriber's next barrier reply.
    match with_grace(subscriber).await {
        None => info(UNSUBSCRIBE, "no heartbeat_response on the subscriber"),
        Some(before) => match publishes_of(&before, topic).first() {
            Some(m) => fail(
                UNSUBSCRIBE,
                Evidence::note("a publish arrived after unsubscribe").with_message((*m).clone()),
            ),
            None => pass(UNSUBSCRIBE, "nothing arrived after unsubscribe"),
        },
    }
}

/// How long a server may take to forget a closed subscriber.
const CLEANUP_WITHIN: Duration = Duration::from_secs(2);

async fn cleanup(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    let topic = unique("conformance-private");
    let mut leaving = match Client::open(ctx).await {
        Ok(c) => c,
        Err(e) => return info(CLEANUP, format!("cannot connect: {e}")),
    };
    leaving
        .send(&json!({"type": "subscribe", "topic": topic}))
        .await;
    if leaving.barrier().await.is_none() {
        seen.extend(leaving.close().await);
        return info(CLEANUP, "no heartbeat_response to use as a barrier");
    }
    let mut asking = match Client::open(ctx).await {
        Ok(c) => c,
        Err(e) => {
            seen.extend(leaving.close().await);
            return info(CLEANUP, format!("cannot open a second connection: {e}"));
        }
    };
    let listed = |reply: &Value| {
        reply["data"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == topic.as_str()))
    };
    let ask = json!({"type": "rpc_call", "requestId": unique("topics"), "method": "pubsub.topics"});
    match asking.ask(ask.clone(), "rpc_response", ANSWER_WITHIN).await {
        Some(reply) if reply["success"] == true && listed(&reply) => {}
        Some(reply) if reply["success"] == true => {
            seen.extend(leaving.close().await);
            seen.extend(asking.close().await);
            return info(
                CLEANUP,
                format!(
                    "pubsub.topics does not list a topic with a live subscriber: {}",
                    reply["data"]
                ),
            );
        }
        _ => {
            seen.extend(leaving.close().await);
            seen.extend(asking.close().await);
            return info(
                CLEANUP,
                "the server has no pubsub.topics to ask (upstream has it)",
            );
        }
    }
    seen.extend(leaving.close().await);
    let closed = Instant::now();
    let result =
        loop {
            match asking.ask(ask.clone(), "rpc_response", ANSWER_WITHIN).await {
                Some(reply) if !listed(&reply) => {
                    break pass(
                        CLEANUP,
                        format!(
                            "the topic was gone {} ms after its subscriber closed",
                            closed.elapsed().as_millis()
                        ),
                    )
                }
                Some(reply) if closed.elapsed() > CLEANUP_WITHIN => break fail(
                    CLEANUP,
                    Evidence::note(
                        "pubsub.topics still lists the topic 2 s after its only subscriber closed",
                    )
                    .with_message(reply),
                ),
                Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                None => break info(CLEANUP, "pubsub.topics stopped answering"),
            }
        };
    seen.extend(asking.close().await);
    result
}
