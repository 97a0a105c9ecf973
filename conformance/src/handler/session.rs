//! Session start: the welcome, the handshake and token auth.

use super::{payload, Client, ANSWER_WITHIN};
use crate::cases::{fail, info, non_strict, pass, Ctx};
use crate::outcome::{CaseResult, Evidence};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long the welcome may take after the upgrade.
const WELCOME_WITHIN: Duration = Duration::from_secs(1);
/// How long after refusing a token the close may take (upstream: 1 s).
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

pub async fn cases(ctx: &Ctx, seen: &mut Vec<Value>) -> Vec<CaseResult> {
    let mut results = vec![welcome(ctx, seen).await, handshake(ctx, seen).await];
    results.push(good_token(ctx, seen).await);
    results.push(bad_token(ctx, seen).await);
    results.push(data_before_auth(ctx, seen).await);
    results
}

async fn welcome(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    const ID: &str = "handler.ws.welcome";
    let mut ids = Vec::new();
    for _ in 0..2 {
        let client = match Client::connect(ctx, WELCOME_WITHIN).await {
            Ok(client) => client,
            Err(e) => return fail(ID, Evidence::note(e)),
        };
        let welcome = client.welcome.clone();
        seen.extend(client.close().await);
        if welcome["type"] != "welcome" {
            return fail(
                ID,
                Evidence::note("the first message is not a welcome").with_message(welcome),
            );
        }
        match welcome["clientId"].as_str() {
            Some(id) => ids.push(id.to_owned()),
            None => {
                return fail(
                    ID,
                    Evidence::note("the welcome has no clientId").with_message(welcome),
                )
            }
        }
    }
    if ids[0] == ids[1] {
        return fail(
            ID,
            Evidence::note(format!(
                "two connections got the same clientId {:?}",
                ids[0]
            )),
        );
    }
    pass(
        ID,
        format!(
            "welcome first on two connections, clientIds {} and {}",
            ids[0], ids[1]
        ),
    )
}

async fn handshake(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    const ID: &str = "handler.ws.handshake";
    let mut client = match Client::connect(ctx, ANSWER_WITHIN).await {
        Ok(client) => client,
        Err(e) => return info(ID, format!("cannot connect: {e}")),
    };
    let message = json!({"type": "handshake", "clientType": "microcontroller", "capabilities": ["sensor_data", "remote_control"], "version": "1.0.0"});
    let reply = client
        .ask(message, "handshake_response", ANSWER_WITHIN)
        .await;
    let welcome_id = client.welcome["clientId"].clone();
    seen.extend(client.close().await);
    let Some(reply) = reply else {
        return fail(ID, Evidence::note("no handshake_response within 2 s"));
    };
    match reply.get("clientId") {
        Some(id) if *id != welcome_id => fail(
            ID,
            Evidence::note(format!(
                "handshake_response.clientId {id} is not the welcome's {welcome_id}"
            ))
            .with_message(reply),
        ),
        Some(_) => pass(ID, "handshake_response with the welcome's clientId"),
        None => pass(
            ID,
            "handshake_response (without a clientId, which is optional)",
        ),
    }
}

async fn good_token(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    const ID: &str = "handler.ws.auth.good_token";
    let mut client = match Client::connect(ctx, ANSWER_WITHIN).await {
        Ok(client) => client,
        Err(e) => return info(ID, format!("cannot connect: {e}")),
    };
    if client.welcome["type"] != "welcome" {
        seen.extend(client.close().await);
        return info(ID, "the first message is not a welcome, so whether auth is required is unknown (see handler.ws.welcome)");
    }
    let required = client.auth_required();
    if required && ctx.secret.is_empty() {
        seen.extend(client.close().await);
        return info(ID, "the server requires auth; give its token with --secret");
    }
    let token = if required {
        ctx.secret.clone()
    } else {
        "any-token".to_owned()
    };
    let reply = client
        .ask(
            json!({"type": "auth", "token": token}),
            "auth_response",
            ANSWER_WITHIN,
        )
        .await;
    seen.extend(client.close().await);
    match reply {
        None => fail(ID, Evidence::note("no auth_response within 2 s")),
        Some(reply) if reply["success"] == true => pass(
            ID,
            if required {
                "the token was accepted"
            } else {
                "auth is off and auth succeeds"
            },
        ),
        // The reply is not quoted back: it follows a message that carried the token.
        Some(_) => fail(
            ID,
            Evidence::note(if required {
                "the good token got auth_response success:false"
            } else {
                "auth is off (welcome.authRequired false) yet auth got success:false"
            }),
        ),
    }
}

async fn bad_token(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    const ID: &str = "handler.ws.auth.bad_token";
    let mut client = match Client::connect(ctx, ANSWER_WITHIN).await {
        Ok(client) => client,
        Err(e) => return info(ID, format!("cannot connect: {e}")),
    };
    if !client.auth_required() {
        seen.extend(client.close().await);
        return info(
            ID,
            "the server does not require auth (welcome.authRequired false)",
        );
    }
    let wrong = format!("{}-wrong", ctx.secret);
    let Some(reply) = client
        .ask(
            json!({"type": "auth", "token": wrong}),
            "auth_response",
            ANSWER_WITHIN,
        )
        .await
    else {
        seen.extend(client.close().await);
        return fail(ID, Evidence::note("no auth_response within 2 s"));
    };
    if reply["success"] != false {
        seen.extend(client.close().await);
        return fail(
            ID,
            Evidence::note("a wrong token got auth_response success:true"),
        );
    }
    let refused = Instant::now();
    let closed = client
        .conn
        .close_code(CLOSE_WITHIN + Duration::from_millis(500))
        .await;
    let after = refused.elapsed();
    seen.extend(client.received);
    match closed {
        Some(Some((1008, _))) if after <= CLOSE_WITHIN + Duration::from_millis(200) => {
            pass(ID, format!("success:false, then 1008 after {} ms", after.as_millis()))
        }
        Some(Some((code, reason))) => non_strict(
            ID,
            format!("success:false, then close {code} {reason:?} after {} ms (1008 within 2 s expected)", after.as_millis()),
        ),
        Some(None) => non_strict(ID, "success:false, then the connection ended without a close frame"),
        None => fail(ID, Evidence::note("success:false, but the connection stayed open for 2.5 s")),
    }
}

async fn data_before_auth(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    const ID: &str = "handler.ws.auth.data_before_auth";
    let mut client = match Client::connect(ctx, ANSWER_WITHIN).await {
        Ok(client) => client,
        Err(e) => return info(ID, format!("cannot connect: {e}")),
    };
    if !client.auth_required() {
        seen.extend(client.close().await);
        return info(
            ID,
            "the server does not require auth (welcome.authRequired false)",
        );
    }
    client
        .send(&json!({"type": "data", "dataType": "sensor", "data": payload(ctx, json!({}))}))
        .await;
    let reply = loop {
        match client.next(ANSWER_WITHIN).await {
            Some(m) if m["type"] == "error" || m["type"] == "data_response" => break Some(m),
            Some(_) => continue,
            None => break None,
        }
    };
    seen.extend(client.close().await);
    match reply {
        None => fail(
            ID,
            Evidence::note("data before auth got neither an error nor a data_response"),
        ),
        Some(m) if m["type"] == "data_response" && m["success"] == true => fail(
            ID,
            Evidence::note("data before auth was stored").with_message(m),
        ),
        Some(m) => pass(ID, format!("refused with {}", m["type"])),
    }
}
