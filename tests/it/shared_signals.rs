//! Shared Signals end to end, with one Gatehouse (A) as the `oidc` upstream of another
//! (B): B makes its stream at A's transmitter by client credentials; a session revoked
//! at A ends B's session that came from it, and B tells its app's push endpoint and poll
//! stream; forged, replayed, wrong-audience and unknown-subject events change nothing; a
//! transmitter that is down is polled less and less often until it is back.

use crate::support;

use serde_json::{Value, json};
use support::browser::Browser;
use support::client;
use support::signing_key::ClientKey;
use support::ssf_chain::{Chain, PushEndpoint, SESSION_REVOKED, chain, claims_of, ssf_token};

const APP_PUSH_AUTHORIZATION: &str = "Bearer app-push-secret-0123456789";
const PUSH: &str = "{ delivery = \"push\" }";

/// Makes the app's push stream at B to `endpoint`, and a poll stream; returns the
/// app's token and the poll stream's endpoint.
async fn app_streams(chain: &Chain, endpoint: &PushEndpoint) -> (String, String) {
    let token = ssf_token(&chain.b, ("app", "app-secret")).await;
    let created = client()
        .post(format!("{}/signals/streams", chain.b.base))
        .bearer_auth(&token)
        .json(&json!({
            "delivery": { "method": "urn:ietf:rfc:8935", "endpoint_url": endpoint.url, "authorization_header": APP_PUSH_AUTHORIZATION },
            "events_requested": [SESSION_REVOKED],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let push_stream: Value = created.json().await.unwrap();
    assert_eq!(push_stream["events_delivered"], json!([SESSION_REVOKED]));
    assert_eq!(push_stream["aud"], "app");
    assert!(
        push_stream["delivery"].get("authorization_header").is_none(),
        "never shown again"
    );
    let polled_stream: Value = client()
        .post(format!("{}/signals/streams", chain.b.base))
        .bearer_auth(&token)
        .json(&json!({ "delivery": { "method": "urn:ietf:rfc:8936" }, "events_requested": [SESSION_REVOKED] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let poll_url = polled_stream["delivery"]["endpoint_url"].as_str().unwrap().to_string();
    (token, poll_url)
}

#[tokio::test]
async fn a_session_revoked_upstream_ends_the_session_here_and_tells_the_apps_streams() {
    let chain = chain(PUSH, false, "").await;
    let configuration = chain.b.get_json("/.well-known/ssf-configuration").await;
    assert_eq!(configuration["issuer"], chain.b.base);
    assert_eq!(configuration["spec_version"], "1_0");
    assert_eq!(configuration["jwks_uri"], format!("{}/jwks", chain.b.base));
    // B's push stream at A is verified: A's verification event came through.
    chain
        .until("B's stream at A is verified", || async {
            chain.receiver_health().await["delivering"] == true
        })
        .await;
    let metrics = support::metrics::scrape(&chain.b).await;
    assert_eq!(
        support::metrics::metric(&metrics, "gatehouse_shared_signals_receiver_up{upstream=\"a\"}"),
        1.0
    );
    let pushed = PushEndpoint::start().await;
    let (token, poll_url) = app_streams(&chain, &pushed).await;

    let browser = Browser::default();
    let tokens = chain.log_in(&browser).await;
    let id_token = claims_of(tokens["id_token"].as_str().unwrap()).1;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    // The security team revokes bob's session at A: A pushes session-revoked to B, which
    // ends its session and pushes to the app.
    chain.end_sessions_at_a().await;
    chain
        .until("the app's push endpoint gets the event", || async {
            !pushed.received.lock().unwrap().is_empty()
        })
        .await;
    let (authorization, set) = pushed.received.lock().unwrap()[0].clone();
    assert_eq!(authorization, APP_PUSH_AUTHORIZATION);
    let (header, claims) = claims_of(&set);
    assert_eq!(header["typ"], "secevent+jwt");
    assert_eq!(claims["iss"], chain.b.base);
    assert_eq!(claims["aud"], "app");
    assert!(claims["events"][SESSION_REVOKED].is_object());
    assert_eq!(claims["sub_id"]["format"], "complex");
    assert_eq!(claims["sub_id"]["user"]["sub"], id_token["sub"]);
    assert_eq!(claims["sub_id"]["session"]["id"], id_token["sid"]);
    support::verify_jwt_with(&chain.b, &set, "app", false)
        .await
        .expect("signed by B");
    let refreshed = chain.b.refresh(("app", "app-secret"), refresh_token).await;
    assert_eq!(refreshed.status(), 400, "B's session ended with A's");

    // The poller gets the same event, and once acknowledged it is gone.
    let poll = |body: Value| {
        let (url, token) = (poll_url.clone(), token.clone());
        async move {
            let response = client().post(url).bearer_auth(token).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let first = poll(json!({ "returnImmediately": true })).await;
    let sets = first["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "{first}");
    let (jti, polled_set) = sets.iter().next().unwrap();
    let polled_claims = claims_of(polled_set.as_str().unwrap()).1;
    assert_eq!(polled_claims["sub_id"]["session"]["id"], id_token["sid"]);
    assert_eq!(&polled_claims["jti"], jti);
    let after_ack = poll(json!({ "ack": [jti], "returnImmediately": true })).await;
    assert_eq!(after_ack["sets"], json!({}));
    assert_eq!(after_ack["moreAvailable"], false);
}

/// The Authorization header A pushes to B with, as A's stream keeps it.
async fn push_header(chain: &Chain) -> String {
    let now = chain.a.clock.now();
    let streams = chain.a.app.state().store.signal_streams.entries(now).await.unwrap();
    streams[0].1.authorization_header.clone().unwrap()
}

pub async fn push_to_b(chain: &Chain, authorization: &str, set: &str) -> (u16, Value) {
    let response = client()
        .post(format!("{}/ssf/a", chain.b.base))
        .header("authorization", authorization)
        .header("content-type", "application/secevent+jwt")
        .body(set.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An event as A would send it: `claims`, signed with A's key.
async fn signed_by_a(chain: &Chain, claims: &Value) -> String {
    chain
        .a
        .app
        .state()
        .keys
        .sign(claims, gatehouse::keys::TokenType::SecurityEvent)
        .await
        .unwrap()
}

/// A pushes `event` about `subject` to B, signed with A's key; returns B's answer.
pub async fn a_tells_b(chain: &Chain, event: &str, subject: Value, payload: Value) -> (u16, Value) {
    let now = chain.a.clock.now();
    let claims = json!({
        "iss": chain.a.base, "aud": "gatehouse-b", "iat": now, "jti": gatehouse::secrets::random_token(),
        "sub_id": subject, "events": { event: payload },
    });
    let set = signed_by_a(chain, &claims).await;
    push_to_b(chain, &push_header(chain).await, &set).await
}

#[tokio::test]
async fn forged_replayed_misaddressed_and_unknown_events_change_nothing() {
    let chain = chain(PUSH, false, "").await;
    let browser = Browser::default();
    let tokens = chain.log_in(&browser).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let header = push_header(&chain).await;
    let now = chain.a.clock.now();
    let event = |aud: &str, subject: Value, jti: &str| {
        json!({
            "iss": chain.a.base, "aud": aud, "iat": now, "jti": jti, "sub_id": subject,
            "events": { SESSION_REVOKED: { "event_timestamp": now } },
        })
    };
    let nobody = json!({ "format": "iss_sub", "iss": chain.a.base, "sub": "nobody-here" });

    // Without the stream's Authorization header: 401.
    let genuine = signed_by_a(&chain, &event("gatehouse-b", nobody.clone(), "jti-1")).await;
    assert_eq!(push_to_b(&chain, "Bearer guessed", &genuine).await.0, 401);

    // Signed by another key under A's kid: refused.
    let kid = claims_of(&genuine).0["kid"].as_str().unwrap().to_string();
    let mut forged_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    forged_header.kid = Some(kid);
    forged_header.typ = Some("secevent+jwt".into());
    let forged = ClientKey::new("x").sign_with(forged_header, &event("gatehouse-b", nobody.clone(), "jti-2"));
    let (status, body) = push_to_b(&chain, &header, &forged).await;
    assert_eq!((status, body["err"].as_str()), (400, Some("invalid_key")), "{body}");

    // For another audience, or from another issuer: refused, saying so (RFC 8935 §2.4).
    let misaddressed = signed_by_a(&chain, &event("someone-else", nobody.clone(), "jti-3")).await;
    let (status, body) = push_to_b(&chain, &header, &misaddressed).await;
    assert_eq!(
        (status, body["err"].as_str()),
        (400, Some("invalid_audience")),
        "{body}"
    );
    let mut elsewhere = event("gatehouse-b", nobody.clone(), "jti-5");
    elsewhere["iss"] = json!("https://elsewhere.example");
    let (status, body) = push_to_b(&chain, &header, &signed_by_a(&chain, &elsewhere).await).await;
    assert_eq!((status, body["err"].as_str()), (400, Some("invalid_issuer")), "{body}");

    // A subject in a format that cannot name anyone here: refused.
    let phone = json!({ "format": "phone_number", "phone_number": "+12065550100" });
    let unnamable = signed_by_a(&chain, &event("gatehouse-b", phone, "jti-4")).await;
    assert_eq!(push_to_b(&chain, &header, &unnamable).await.0, 400);

    // Someone who never logged in here: taken, and nobody's session ends.
    assert_eq!(push_to_b(&chain, &header, &genuine).await.0, 202);
    // The same event again: refused as a replay.
    let (status, body) = push_to_b(&chain, &header, &genuine).await;
    assert_eq!(status, 400);
    assert!(body["description"].as_str().unwrap().contains("before"), "{body}");

    let refreshed = chain.b.refresh(("app", "app-secret"), &refresh_token).await;
    assert_eq!(refreshed.status(), 200, "bob's session at B lives on");
    let metrics = support::metrics::scrape(&chain.b).await;
    let count = |outcome: &str| {
        support::metrics::metric(
            &metrics,
            &format!("gatehouse_shared_signals_received_total{{upstream=\"a\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(count("replayed"), 1.0);
    assert!(count("refused") >= 4.0);
}

#[tokio::test]
async fn polled_events_end_sessions_and_a_transmitter_that_is_down_is_polled_less_often_until_it_is_back() {
    let chain = chain("{ delivery = \"poll\", poll_interval = \"1s\" }", true, "").await;
    let relay = chain.relay.as_ref().unwrap();
    let browser = Browser::default();
    let tokens = chain.log_in(&browser).await;
    let access_token = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(chain.b.userinfo_status(&access_token).await, 200);
    chain.end_sessions_at_a().await;
    chain
        .until("B polls the revocation and ends the session", || async {
            chain.b.userinfo_status(&access_token).await == 401
        })
        .await;
    assert_eq!(chain.receiver_health().await["delivering"], true);

    // A's transmitter goes away: B's polls fail, each pause twice the last.
    relay.cut();
    chain
        .until("three polls have failed", || async {
            chain.receiver_health().await["failures"].as_u64().unwrap_or(0) >= 3
        })
        .await;
    let health = chain.receiver_health().await;
    assert_eq!(health["delivering"], false);
    let failures = health["failures"].as_u64().unwrap();
    let expected = 1u64 << (failures - 1);
    assert_eq!(health["retry_in_secs"].as_u64(), Some(expected), "{health}");
    assert!(expected >= 4, "{health}");

    // Back: the next poll goes through, and events flow again.
    relay.mend();
    let browser = Browser::default();
    let tokens = chain.log_in(&browser).await;
    let access_token = tokens["access_token"].as_str().unwrap().to_string();
    chain.end_sessions_at_a().await;
    chain
        .until("B polls again and ends the new session", || async {
            chain.b.userinfo_status(&access_token).await == 401
        })
        .await;
    assert_eq!(chain.receiver_health().await["delivering"], true);
}
