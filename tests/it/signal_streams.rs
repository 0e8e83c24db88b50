//! Gatehouse as a Shared Signals transmitter, on its own: the stream management API as
//! SSF 1.0 §8.1 shapes it, for clients with `shared_signals = true` and their `ssf`
//! tokens only; a paused stream holds its events; a removed subject is not told of;
//! verification events on request (spaced out); and pushes owed survive a kill -9.

use crate::support;

use gatehouse::Clock;
use serde_json::{Value, json};
use std::time::Duration;
use support::browser::{Browser, local_login_tokens};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::process::Server;
use support::ssf_chain::{PushEndpoint, SESSION_REVOKED, claims_of, ssf_token, ssf_token_at, until};
use support::{ADMIN_TOKEN, TestServer, admin_delete, admin_get, client};

const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

fn config() -> String {
    TestConfig::new()
        .tables("[shared_signals]\nallow_loopback = true\nstreams_per_client = 2\n")
        .client(
            TestClient::confidential("app", "app-secret")
                .no_consent()
                .with(
                    "grant_types",
                    "[\"authorization_code\", \"refresh_token\", \"client_credentials\"]",
                )
                .with("shared_signals", "true"),
        )
        .client(TestClient::confidential("plain", "plain-secret").with("grant_types", "[\"client_credentials\"]"))
        .bob()
        .build()
}

async fn call(method: reqwest::Method, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Signs bob in for the app and ends that session as the admin would; returns bob's sub.
async fn session_ended(server: &TestServer) -> String {
    let tokens = local_login_tokens(&server.base, &Browser::default(), "bob", "bob", REDIRECT).await;
    let id_token = claims_of(tokens["id_token"].as_str().unwrap()).1;
    let sid = id_token["sid"].as_str().unwrap();
    assert_eq!(
        admin_delete(&server.admin_url(&format!("/admin/sessions/{sid}"))).await,
        204
    );
    id_token["sub"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn streams_are_managed_as_ssf_says_by_their_own_apps_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with_admin(dir.path(), &config(), Clock::System).await;
    let streams = format!("{}/signals/streams", server.base);
    let push = PushEndpoint::start().await;

    // Who may: the app, with an ssf token. Not without a token, not with another scope,
    // and a client without shared_signals cannot get one.
    let anonymous = client().post(&streams).json(&json!({})).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let no_ssf = client()
        .post(format!("{}/token", server.base))
        .basic_auth("plain", Some("plain-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "ssf")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_ssf.status(), 400);
    let plain: Value = client()
        .post(format!("{}/token", server.base))
        .basic_auth("plain", Some("plain-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let plain = plain["access_token"].as_str().unwrap();
    assert_eq!(
        call(reqwest::Method::POST, streams.clone(), plain, Some(json!({})))
            .await
            .0,
        403
    );
    let token = ssf_token(&server, ("app", "app-secret")).await;

    // Made: a push stream (an endpoint on a private address is refused) and a poll one;
    // a third is one too many.
    let private = json!({ "delivery": { "method": "urn:ietf:rfc:8935", "endpoint_url": "https://10.0.0.1/events" } });
    let (status, body) = call(reqwest::Method::POST, streams.clone(), &token, Some(private)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    let (status, pushed) = call(
        reqwest::Method::POST,
        streams.clone(),
        &token,
        Some(json!({
            "delivery": { "method": "urn:ietf:rfc:8935", "endpoint_url": push.url },
            "events_requested": [SESSION_REVOKED, VERIFICATION], "description": "push",
        })),
    )
    .await;
    assert_eq!(status, 201, "{pushed}");
    let push_id = pushed["stream_id"].as_str().unwrap().to_string();
    let (status, polled) = call(
        reqwest::Method::POST,
        streams.clone(),
        &token,
        Some(json!({ "events_requested": [SESSION_REVOKED] })),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        polled["delivery"]["method"], "urn:ietf:rfc:8936",
        "poll when no delivery is given"
    );
    let poll_id = polled["stream_id"].as_str().unwrap().to_string();
    let poll_url = polled["delivery"]["endpoint_url"].as_str().unwrap().to_string();
    assert_eq!(
        call(reqwest::Method::POST, streams.clone(), &token, Some(json!({})))
            .await
            .0,
        409
    );

    // Read, one and all; changed (PATCH keeps what it does not name, PUT resets it).
    let (status, one) = call(
        reqwest::Method::GET,
        format!("{streams}?stream_id={push_id}"),
        &token,
        None,
    )
    .await;
    assert_eq!((status, &one["description"]), (200, &json!("push")));
    let (_, all) = call(reqwest::Method::GET, streams.clone(), &token, None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (status, patched) = call(
        reqwest::Method::PATCH,
        streams.clone(),
        &token,
        Some(json!({ "stream_id": push_id, "description": "pushed" })),
    )
    .await;
    assert_eq!((status, &patched["description"]), (200, &json!("pushed")));
    assert_eq!(patched["events_requested"], json!([SESSION_REVOKED, VERIFICATION]));
    let (status, put) = call(
        reqwest::Method::PUT,
        streams.clone(),
        &token,
        Some(json!({ "stream_id": poll_id, "events_requested": [SESSION_REVOKED] })),
    )
    .await;
    assert_eq!(status, 200);
    assert!(put.get("description").is_none());
    let other = format!("{streams}?stream_id=not-a-stream");
    assert_eq!(call(reqwest::Method::GET, other, &token, None).await.0, 404);

    // Paused: the push is held (the outbox says why) until the stream is enabled again.
    let status_url = format!("{}/signals/status", server.base);
    let pause = json!({ "stream_id": push_id, "status": "paused", "reason": "maintenance" });
    let (status, paused) = call(reqwest::Method::POST, status_url.clone(), &token, Some(pause)).await;
    assert_eq!((status, &paused["status"]), (200, &json!("paused")));
    let sub = session_ended(&server).await;
    until("the push is held", || async {
        let queued = admin_get(&server.admin_url("/admin/backchannel")).await;
        queued[0]["last_error"] == "the stream is paused"
    })
    .await;
    assert!(push.received.lock().unwrap().is_empty());
    let enable = json!({ "stream_id": push_id, "status": "enabled" });
    assert_eq!(
        call(reqwest::Method::POST, status_url.clone(), &token, Some(enable))
            .await
            .0,
        200
    );
    until("the held push arrives", || async { !push.events().is_empty() }).await;
    let metrics = support::metrics::scrape(&server).await;
    let pushed = |outcome: &str| {
        support::metrics::metric(
            &metrics,
            &format!("gatehouse_shared_signals_pushed_total{{outcome=\"{outcome}\"}}"),
        )
    };
    assert!(pushed("retried") >= 1.0, "the held attempts count as retried");
    until("the delivery is counted", || async {
        let metrics = support::metrics::scrape(&server).await;
        support::metrics::metric(&metrics, "gatehouse_shared_signals_pushed_total{outcome=\"sent\"}") >= 1.0
    })
    .await;
    assert_eq!(push.events()[0]["sub_id"]["user"]["sub"], json!(sub));
    let (_, waiting) = call(reqwest::Method::POST, poll_url.clone(), &token, Some(json!({}))).await;
    let jtis: Vec<String> = waiting["sets"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(jtis.len(), 1);
    call(
        reqwest::Method::POST,
        poll_url.clone(),
        &token,
        Some(json!({ "ack": jtis })),
    )
    .await;

    // A subject removed from the poll stream is not told of.
    let bob = json!({ "stream_id": poll_id, "subject": { "format": "iss_sub", "iss": server.base, "sub": sub } });
    let removed = call(
        reqwest::Method::POST,
        format!("{}/signals/subjects/remove", server.base),
        &token,
        Some(bob.clone()),
    )
    .await;
    assert_eq!(removed.0, 204);
    session_ended(&server).await;
    let (_, nothing) = call(reqwest::Method::POST, poll_url.clone(), &token, Some(json!({}))).await;
    assert_eq!(nothing["sets"], json!({}));
    let added = call(
        reqwest::Method::POST,
        format!("{}/signals/subjects/add", server.base),
        &token,
        Some(bob),
    )
    .await;
    assert_eq!(added.0, 200);
    session_ended(&server).await;
    let (_, told) = call(reqwest::Method::POST, poll_url.clone(), &token, Some(json!({}))).await;
    assert_eq!(told["sets"].as_object().unwrap().len(), 1);

    // Verification, on request, carrying the state back; not again at once.
    let verify_url = format!("{}/signals/verify", server.base);
    let verify = json!({ "stream_id": push_id, "state": "check-1" });
    assert_eq!(
        call(reqwest::Method::POST, verify_url.clone(), &token, Some(verify.clone()))
            .await
            .0,
        204
    );
    until("the verification event arrives", || async {
        push.events()
            .iter()
            .any(|e| e["events"][VERIFICATION]["state"] == "check-1")
    })
    .await;
    let (status, body) = call(reqwest::Method::POST, verify_url, &token, Some(verify)).await;
    assert_eq!((status, body["error"].as_str()), (429, Some("too_many_requests")));

    // Its status read; deleted, it is gone.
    let (status, status_body) = call(
        reqwest::Method::GET,
        format!("{status_url}?stream_id={push_id}"),
        &token,
        None,
    )
    .await;
    assert_eq!((status, &status_body["status"]), (200, &json!("enabled")));
    let delete = format!("{streams}?stream_id={push_id}");
    assert_eq!(call(reqwest::Method::DELETE, delete.clone(), &token, None).await.0, 204);
    assert_eq!(call(reqwest::Method::GET, delete, &token, None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_owed_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let config = Server::configure_with_tables(dir.path(), "5s", "[shared_signals]\nallow_loopback = true\n");
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "id = \"app\"",
        "id = \"app\"\nshared_signals = true\ngrant_types = [\"authorization_code\", \"refresh_token\", \"client_credentials\"]",
        1,
    );
    let admin = format!("admin_listen = \"127.0.0.1:{admin_port}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n");
    std::fs::write(&config, format!("{admin}{text}")).unwrap();
    let admin_url = |path: &str| format!("http://127.0.0.1:{admin_port}{path}");
    let mut server = Server::start(&config).await;
    let push = PushEndpoint::start().await;
    push.status.store(503, std::sync::atomic::Ordering::SeqCst);

    let token = ssf_token_at(&server.base, ("app", "app-secret")).await;
    let stream = json!({
        "delivery": { "method": "urn:ietf:rfc:8935", "endpoint_url": push.url },
        "events_requested": [SESSION_REVOKED],
    });
    let (status, _) = call(
        reqwest::Method::POST,
        format!("{}/signals/streams", server.base),
        &token,
        Some(stream),
    )
    .await;
    assert_eq!(status, 201);
    let tokens = local_login_tokens(&server.base, &Browser::default(), "bob", "bob", REDIRECT).await;
    let sid = claims_of(tokens["id_token"].as_str().unwrap()).1["sid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(admin_delete(&admin_url(&format!("/admin/sessions/{sid}"))).await, 204);
    // The app's endpoint is down: the first attempt fails and is recorded for a retry.
    until("the failed attempt is recorded", || async {
        let queued = admin_get(&admin_url("/admin/backchannel")).await;
        queued[0]["last_error"].as_str().is_some_and(|e| e.contains("503"))
    })
    .await;

    server.signal("-KILL");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());
    push.status.store(202, std::sync::atomic::Ordering::SeqCst);
    let _server = Server::start(&config).await;
    until("the restarted server delivers what it owed", || async {
        push.received.lock().unwrap().len() >= 2
    })
    .await;
    let jtis: Vec<Value> = push.events().iter().map(|e| e["jti"].clone()).collect();
    assert!(
        jtis.iter().all(|jti| *jti == jtis[0]),
        "the same event, tried again: {jtis:?}"
    );
    assert_eq!(push.events()[0]["sub_id"]["session"]["id"], json!(sid));
}
