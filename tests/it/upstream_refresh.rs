//! `refresh = "on_refresh"`: refreshing an app's tokens refreshes at the upstream (its
//! refresh token kept sealed, never passed on), re-reads and re-maps the person, and a
//! refusal there ends the app's refresh family. Concurrent refreshes call it once.

use crate::support;

use gatehouse::Clock;
use serde_json::{Value, json};
use support::TestServer;
use support::browser::Browser;
use support::config::REDIRECT;
use support::config::TestClient;
use support::corp::{VERIFIER, authorize_url, id_token_claims, run, start_at};
use support::mock_op::MockOp;

const KEK: &str = "[store]\nkey_encryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";

struct Refreshing {
    server: TestServer,
    upstream: MockOp,
    /// Gatehouse's clock: the real time when it starts, moved on by the tests.
    clock: Clock,
    dir: tempfile::TempDir,
}

/// A Gatehouse whose `corp` refreshes when what it said is older than `interval`.
async fn started(interval: &str) -> Refreshing {
    started_with(interval, TestClient::confidential("app", "s3cret")).await
}

/// [`started`], with the client `app` made from `app`.
async fn started_with(interval: &str, app: TestClient) -> Refreshing {
    let upstream = MockOp::start().await;
    *upstream.state.person.lock().unwrap() =
        json!({ "sub": "u-1", "person": { "name": { "first": "Grace", "last": "Hopper" } } });
    let dir = tempfile::tempdir().unwrap();
    // The upstream table's lines, then `[store]` after it.
    // No window for retries: a token rotated by a concurrent refresh is reuse at once.
    let extra = format!(
        "refresh = \"on_refresh\"\nrefresh_interval = \"{interval}\"\n{KEK}\n[tokens]\nrefresh_retry_window = \"0s\"\n"
    );
    let clock = Clock::manual(jsonwebtoken::get_current_timestamp() as i64);
    let server = start_at(dir.path(), &upstream, &extra, app, clock.clone()).await;
    Refreshing {
        server,
        upstream,
        clock,
        dir,
    }
}

async fn log_in(server: &TestServer) -> Value {
    let page = run(
        &Browser::default(),
        &authorize_url(server, "openid profile offline_access", ""),
    )
    .await;
    let code = page.redirect_params()["code"].clone();
    server.redeem(("app", "s3cret"), &code, REDIRECT, Some(VERIFIER)).await
}

async fn refresh(server: &TestServer, refresh_token: &str) -> (u16, Value) {
    let response = server.refresh(("app", "s3cret"), refresh_token).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn calls(upstream: &MockOp) -> usize {
    *upstream.state.refresh_calls.lock().unwrap()
}

fn rename(upstream: &MockOp, first: &str) {
    upstream.state.person.lock().unwrap()["person"]["name"]["first"] = json!(first);
}

#[tokio::test]
async fn an_app_refresh_refreshes_at_the_upstream_and_carries_what_it_says_now() {
    let Refreshing {
        server,
        upstream,
        clock,
        dir,
    } = started("60s").await;
    let tokens = log_in(&server).await;
    assert_eq!(id_token_claims(&tokens)["name"], "Grace Hopper");
    clock.advance(61);
    assert!(
        !tokens.to_string().contains("upstream-refresh-token"),
        "never passed on"
    );

    rename(&upstream, "Amazing Grace");
    let (status, refreshed) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(id_token_claims(&refreshed)["name"], "Amazing Grace Hopper");
    assert_eq!(calls(&upstream), 1);
    let userinfo = server.userinfo(refreshed["access_token"].as_str().unwrap()).await;
    assert_eq!(userinfo["name"], "Amazing Grace Hopper");

    // The upstream rotated its refresh token: the next refresh uses the new one.
    clock.advance(61);
    let (status, again) = refresh(&server, refreshed["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, calls(&upstream)), (200, 2), "{again}");
    assert!(!again.to_string().contains("upstream-refresh-token"));

    // Kept sealed: no upstream refresh token is in the database files.
    server.stop().await;
    for file in walk(dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("upstream-refresh-token"),
            "{} holds an upstream token",
            file.display()
        );
    }
}

#[tokio::test]
async fn within_the_interval_the_upstream_is_not_asked() {
    let Refreshing { server, upstream, .. } = started("1h").await;
    let tokens = log_in(&server).await;
    rename(&upstream, "Amazing Grace");
    let (status, refreshed) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        id_token_claims(&refreshed)["name"],
        "Grace Hopper",
        "the login's claims"
    );
    assert_eq!(calls(&upstream), 0);
    server.stop().await;
}

#[tokio::test]
async fn an_upstream_that_revoked_the_person_ends_the_apps_refresh_family() {
    let Refreshing {
        server,
        upstream,
        clock,
        ..
    } = started("60s").await;
    let tokens = log_in(&server).await;
    upstream.state.refresh_tokens.lock().unwrap().clear();
    clock.advance(61);
    let (status, body) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(calls(&upstream), 1);
    // The family is revoked: the token is refused from now on without asking the upstream.
    let (status, _) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, calls(&upstream)), (400, 1));
    server.stop().await;
}

#[tokio::test]
async fn concurrent_refreshes_of_one_family_call_the_upstream_once() {
    let Refreshing {
        server,
        upstream,
        clock,
        ..
    } = started("60s").await;
    let tokens = log_in(&server).await;
    let token = tokens["refresh_token"].as_str().unwrap().to_string();
    clock.advance(61);
    let gate = upstream.state.refresh_gate.lock().await;
    let first = {
        let (base, token) = (server.base.clone(), token.clone());
        tokio::spawn(async move {
            support::refresh_at(&base, ("app", "s3cret"), &token)
                .await
                .status()
                .as_u16()
        })
    };
    upstream.state.refresh_arrived.notified().await;
    // The first is at the upstream: the second goes on with what is known.
    let (status, _) = refresh(&server, &token).await;
    assert_eq!(status, 200);
    drop(gate);
    // The first then finds its token rotated by the second: a reuse, refused.
    assert_eq!(first.await.unwrap(), 400);
    assert_eq!(calls(&upstream), 1, "the upstream was asked once");
    server.stop().await;
}

#[test]
fn refresh_needs_a_key_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(
        &path,
        "issuer = \"https://login.example.com\"\n[[upstreams]]\nid = \"corp\"\nkind = \"oidc\"\n\
         issuer = \"https://idp.example.com\"\nclient_id = \"gatehouse\"\nrefresh = \"on_refresh\"\n",
    )
    .unwrap();
    let (code, _, stderr) = support::gatehouse(&["check", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(
            "upstreams[0].refresh: keeps the upstream's refresh tokens, which needs store.key_encryption_key"
        ),
        "{stderr}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn claims_an_upstream_refresh_changed_are_told_to_the_apps_stream() {
    const CHANGED: &str = "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";
    let app = TestClient::confidential("app", "s3cret")
        .with(
            "grant_types",
            "[\"authorization_code\", \"refresh_token\", \"client_credentials\"]",
        )
        .with("shared_signals", "true");
    let Refreshing {
        server,
        upstream,
        clock,
        ..
    } = started_with("60s", app).await;
    let token = support::ssf_chain::ssf_token(&server, ("app", "s3cret")).await;
    let stream: Value = support::client()
        .post(format!("{}/signals/streams", server.base))
        .bearer_auth(&token)
        .json(&json!({ "events_requested": [CHANGED] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let poll_url = stream["delivery"]["endpoint_url"].as_str().unwrap().to_string();
    let poll = |ack: Vec<String>| {
        let (url, token) = (poll_url.clone(), token.clone());
        async move {
            let answer: Value = support::client()
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "ack": ack }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["sets"].as_object().unwrap().clone()
        }
    };
    let tokens = log_in(&server).await;
    let sid = id_token_claims(&tokens)["sid"].clone();

    clock.advance(61);
    rename(&upstream, "Amazing Grace");
    let (status, refreshed) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let sets = poll(Vec::new()).await;
    assert_eq!(sets.len(), 1, "{sets:?}");
    let (jti, set) = sets.iter().next().unwrap();
    let claims = support::ssf_chain::claims_of(set.as_str().unwrap()).1;
    assert_eq!(
        claims["events"][CHANGED]["claims"],
        json!({ "name": "Amazing Grace Hopper" })
    );
    assert_eq!(claims["sub_id"]["session"]["id"], sid);

    // Refreshed again with nothing changed: nothing to tell.
    clock.advance(61);
    let (status, _) = refresh(&server, refreshed["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, calls(&upstream)), (200, 2));
    assert!(poll(vec![jti.clone()]).await.is_empty());
}
