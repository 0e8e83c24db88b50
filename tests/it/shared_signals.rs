//! Shared Signals end to end, with one Gatehouse (A) as the `oidc` upstream of another
//! (B): B makes its push stream at A's transmitter by client credentials; a session
//! revoked at A ends B's session that came from it, and B tells its app's push endpoint
//! and poll stream; forged, replayed, wrong-audience and unknown-subject events change
//! nothing.

use crate::support;

use gatehouse::Clock;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::browser::{Browser, local_login_from};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::signing_key::ClientKey;
use support::{ADMIN_TOKEN, TestServer, client};

const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const APP_PUSH_AUTHORIZATION: &str = "Bearer app-push-secret-0123456789";

/// The app's push endpoint: the tokens it received with the Authorization header sent.
struct PushEndpoint {
    url: String,
    received: Arc<Mutex<Vec<(String, String)>>>,
    arrived: Arc<tokio::sync::Notify>,
}

async fn push_endpoint() -> PushEndpoint {
    let received = Arc::new(Mutex::new(Vec::new()));
    let arrived = Arc::new(tokio::sync::Notify::new());
    let (r, n) = (received.clone(), arrived.clone());
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| async move {
            let authorization = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            assert_eq!(headers["content-type"], "application/secevent+jwt");
            r.lock().unwrap().push((authorization, body));
            n.notify_one();
            axum::http::StatusCode::ACCEPTED
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/events", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    PushEndpoint { url, received, arrived }
}

fn claims_of(jwt: &str) -> (Value, Value) {
    use base64::Engine;
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    let mut parts = jwt.split('.');
    (decode(parts.next().unwrap()), decode(parts.next().unwrap()))
}

struct Chain {
    a: TestServer,
    b: TestServer,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// A with bob and B's client there; B with A as its upstream `a` (push delivery) and
/// the app `app`, which takes Shared Signals.
async fn chain() -> Chain {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let listener_b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_b = format!("http://127.0.0.1:{}", listener_b.local_addr().unwrap().port());
    let gatehouse_b = TestClient::confidential("gatehouse-b", "b-secret-0123456789")
        .no_consent()
        .with("redirect_uris", &format!("[\"{base_b}/callback/a\"]"))
        .with(
            "grant_types",
            "[\"authorization_code\", \"refresh_token\", \"client_credentials\"]",
        )
        .with("shared_signals", "true");
    let config_a = TestConfig::new()
        .tables("[shared_signals]\nallow_loopback = true\n")
        .client(gatehouse_b)
        .bob()
        .build();
    let a = TestServer::start_with_admin(dir_a.path(), &config_a, Clock::System).await;
    let app = TestClient::confidential("app", "app-secret")
        .no_consent()
        .with(
            "grant_types",
            "[\"authorization_code\", \"refresh_token\", \"client_credentials\"]",
        )
        .with("shared_signals", "true");
    let upstream = format!(
        "[[upstreams]]\nid = \"a\"\nkind = \"oidc\"\nissuer = \"{}\"\nclient_id = \"gatehouse-b\"\n\
         client_secret = \"b-secret-0123456789\"\nscopes = [\"openid\"]\nssf = {{ delivery = \"push\" }}\n",
        a.base
    );
    let config_b = TestConfig::new()
        .tables("[shared_signals]\nallow_loopback = true\n")
        .tables(&upstream)
        .client(app)
        .build();
    let b = TestServer::start_listening(listener_b, dir_b.path(), &config_b, Clock::System, false).await;
    // Ready once B's stream at A is made (B's receiver task does it at start).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = b.clock.now();
        if b.app
            .state()
            .store
            .signal_receivers
            .get("a", now)
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "B never made its stream at A");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Chain {
        a,
        b,
        _dirs: (dir_a, dir_b),
    }
}

/// An access token of `client` at `server` for the `ssf` scope.
async fn ssf_token(server: &TestServer, (id, secret): (&str, &str)) -> String {
    let response = client()
        .post(format!("{}/token", server.base))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "ssf")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Logs bob in at B through A; returns B's tokens for the app.
async fn log_in(chain: &Chain, browser: &Browser) -> Value {
    let challenge = gatehouse::secrets::s256(&"v".repeat(43));
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid%20offline_access&redirect_uri={REDIRECT}\
         &code_challenge={challenge}&code_challenge_method=S256",
        chain.b.base
    );
    // B sends the browser to A, whose login form bob fills in; A sends it back to B.
    let start = browser.get(&url).await;
    let to_a = browser.follow(&chain.b.base, start).await;
    let back = local_login_from(&chain.a.base, browser, to_a, "bob", "bob").await;
    let answer = browser.follow_while(back, |next| !next.starts_with(REDIRECT)).await;
    let code = answer.redirect_params()["code"].clone();
    chain
        .b
        .redeem(("app", "app-secret"), &code, REDIRECT, Some(&"v".repeat(43)))
        .await
}

async fn a_session(chain: &Chain) -> String {
    let sessions: Value = client()
        .get(chain.a.admin_url("/admin/sessions"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    sessions[0]["sid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_session_revoked_upstream_ends_the_session_here_and_tells_the_apps_streams() {
    let chain = chain().await;
    let configuration = chain.b.get_json("/.well-known/ssf-configuration").await;
    assert_eq!(configuration["issuer"], chain.b.base);
    assert_eq!(configuration["spec_version"], "1_0");
    let token = ssf_token(&chain.b, ("app", "app-secret")).await;
    let pushed = push_endpoint().await;
    let created = client()
        .post(format!("{}/signals/streams", chain.b.base))
        .bearer_auth(&token)
        .json(&json!({
            "delivery": { "method": "urn:ietf:rfc:8935", "endpoint_url": pushed.url, "authorization_header": APP_PUSH_AUTHORIZATION },
            "events_requested": [SESSION_REVOKED],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let push_stream: Value = created.json().await.unwrap();
    assert_eq!(push_stream["events_delivered"], json!([SESSION_REVOKED]));
    assert_eq!(push_stream["aud"], "app");
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

    let browser = Browser::default();
    let tokens = log_in(&chain, &browser).await;
    let id_token = claims_of(tokens["id_token"].as_str().unwrap()).1;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    // The security team revokes bob's session at A.
    let sid_a = a_session(&chain).await;
    let ended = client()
        .delete(chain.a.admin_url(&format!("/admin/sessions/{sid_a}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);

    // A pushes session-revoked to B, which ends its session and pushes to the app.
    let arrived = pushed.arrived.notified();
    if pushed.received.lock().unwrap().is_empty() {
        tokio::time::timeout(std::time::Duration::from_secs(20), arrived)
            .await
            .expect("the app's push endpoint got nothing");
    }
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

async fn push_to_b(chain: &Chain, authorization: &str, set: &str) -> (u16, Value) {
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

#[tokio::test]
async fn forged_replayed_misaddressed_and_unknown_events_change_nothing() {
    let chain = chain().await;
    let browser = Browser::default();
    let tokens = log_in(&chain, &browser).await;
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
    assert_eq!((status, body["err"].as_str()), (400, Some("invalid_request")), "{body}");

    // For another audience: refused.
    let misaddressed = signed_by_a(&chain, &event("someone-else", nobody.clone(), "jti-3")).await;
    assert_eq!(push_to_b(&chain, &header, &misaddressed).await.0, 400);

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
}
