//! Introspection (RFC 7662), revocation (RFC 7009) and the client_credentials grant.

use crate::support;

use gatehouse::Clock;
use serde_json::Value;
use support::browser::{Browser, local_login, local_login_tokens};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::{TestServer, client, post_form as post};

fn config() -> String {
    let machine = |id: &str, secret: &str| {
        TestClient::public(id)
            .with("secret", &format!("\"{secret}\""))
            .with("grant_types", "[\"client_credentials\"]")
    };
    TestConfig::new()
        .tables("[scopes.\"api:read\"]\nclaims = [\"name\"]\n[scopes.\"api:write\"]\nclaims = [\"name\"]\n")
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .client(TestClient::confidential("other", "other-secret").no_consent())
        .client(machine("resource-server", "rs-secret-rs-secret").with("introspect", "true"))
        .client(machine("machine", "machine-secret"))
        .client(machine("writer", "writer-secret").with("scopes", "[\"api:write\"]"))
        .client(
            TestClient::confidential("narrow", "narrow-secret")
                .no_consent()
                .with("scopes", "[\"profile\", \"offline_access\"]"),
        )
        .bob_with("name = \"Bob\"")
        .build()
}

/// Logs bob in for `app` with offline_access; returns the token response.
async fn tokens_for_app(server: &TestServer) -> Value {
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid%20profile%20offline_access&redirect_uri={REDIRECT}",
        server.base
    );
    let page = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let code = page.redirect_params()["code"].clone();
    server.redeem(("app", "app-secret"), &code, REDIRECT, None).await
}

async fn introspect(server: &TestServer, auth: (&str, &str), token: &str) -> Value {
    let (status, body) = post(server, "/introspect", auth, &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn introspection_tells_the_owner_and_resource_servers_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let tokens = tokens_for_app(&server).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let own = introspect(&server, ("app", "app-secret"), access).await;
    assert_eq!(own["active"], true);
    assert_eq!(own["client_id"], "app");
    assert_eq!(own["scope"], "openid profile offline_access");
    assert_eq!(own["token_type"], "Bearer");
    assert!(own["sub"].is_string() && own["exp"].is_i64() && own["iat"].is_i64());

    let by_rs = introspect(&server, ("resource-server", "rs-secret-rs-secret"), access).await;
    assert_eq!(
        by_rs["active"], true,
        "a client with introspect = true sees other clients' tokens"
    );
    assert_eq!(
        introspect(&server, ("other", "other-secret"), access).await,
        serde_json::json!({ "active": false })
    );

    let refresh_info = introspect(&server, ("app", "app-secret"), refresh).await;
    assert_eq!(refresh_info["active"], true);
    assert_eq!(refresh_info["token_type"], "refresh_token");
    assert_eq!(
        introspect(&server, ("other", "other-secret"), refresh).await["active"],
        false
    );
    assert_eq!(
        introspect(&server, ("app", "app-secret"), "garbage").await,
        serde_json::json!({ "active": false })
    );

    let (status, body) = post(&server, "/introspect", ("app", "wrong"), &[("token", access)]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    server.stop().await;
}

#[tokio::test]
async fn expired_access_tokens_are_inactive() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(Clock::System.now());
    let server = TestServer::start(dir.path(), &config(), clock.clone()).await;
    let tokens = tokens_for_app(&server).await;
    let access = tokens["access_token"].as_str().unwrap();
    clock.advance(15 * 60);
    assert_eq!(
        introspect(&server, ("app", "app-secret"), access).await["active"],
        false
    );
    server.stop().await;
}

#[tokio::test]
async fn revoking_an_access_token_stops_it_at_userinfo_and_introspection() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let tokens = tokens_for_app(&server).await;
    let access = tokens["access_token"].as_str().unwrap();
    server.userinfo(access).await;

    let (status, _) = post(&server, "/revoke", ("other", "other-secret"), &[("token", access)]).await;
    assert_eq!(status, 400, "another client may not revoke it");
    assert_eq!(introspect(&server, ("app", "app-secret"), access).await["active"], true);

    let (status, _) = post(
        &server,
        "/revoke",
        ("app", "app-secret"),
        &[("token", access), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        introspect(&server, ("app", "app-secret"), access).await["active"],
        false
    );
    let response = client()
        .get(format!("{}/userinfo", server.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let (status, _) = post(&server, "/revoke", ("app", "app-secret"), &[("token", "never-issued")]).await;
    assert_eq!(status, 200, "unknown tokens answer 200 (RFC 7009 §2.2)");
    server.stop().await;
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let tokens = tokens_for_app(&server).await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let (status, rotated) = post(
        &server,
        "/token",
        ("app", "app-secret"),
        &[("grant_type", "refresh_token"), ("refresh_token", first)],
    )
    .await;
    assert_eq!(status, 200);
    let second = rotated["refresh_token"].as_str().unwrap();

    let (status, _) = post(&server, "/revoke", ("app", "app-secret"), &[("token", second)]).await;
    assert_eq!(status, 200);
    let (status, body) = post(
        &server,
        "/token",
        ("app", "app-secret"),
        &[("grant_type", "refresh_token"), ("refresh_token", second)],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        introspect(&server, ("app", "app-secret"), second).await["active"],
        false
    );
    server.stop().await;
}

#[tokio::test]
async fn client_credentials_gives_an_access_token_for_the_client_itself() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let (status, body) = post(
        &server,
        "/token",
        ("machine", "machine-secret"),
        &[("grant_type", "client_credentials"), ("scope", "api:read")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("id_token").is_none() && body.get("refresh_token").is_none(),
        "{body}"
    );
    assert_eq!(body["scope"], "api:read");
    let info = introspect(
        &server,
        ("machine", "machine-secret"),
        body["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(info["sub"], "machine");
    assert_eq!(info["client_id"], "machine");

    let (status, body) = post(
        &server,
        "/token",
        ("machine", "machine-secret"),
        &[("grant_type", "client_credentials"), ("scope", "openid")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, body) = post(
        &server,
        "/token",
        ("app", "app-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "app does not have the grant"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_client_with_a_scope_list_gets_only_those_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let writer = ("writer", "writer-secret");
    let (status, body) = post(
        &server,
        "/token",
        writer,
        &[("grant_type", "client_credentials"), ("scope", "api:read")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    let (status, body) = post(
        &server,
        "/token",
        writer,
        &[("grant_type", "client_credentials"), ("scope", "api:write")],
    )
    .await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("api:write")), "{body}");

    let url = format!(
        "{}/authorize?client_id=narrow&response_type=code&scope=openid%20profile%20email%20api:read%20offline_access&redirect_uri={REDIRECT}",
        server.base
    );
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let code = answer.redirect_params()["code"].clone();
    let tokens = server.redeem(("narrow", "narrow-secret"), &code, REDIRECT, None).await;
    assert_eq!(tokens["scope"], "openid profile offline_access", "{tokens}");
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_a_form_gets_an_oauth_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    for path in ["/token", "/revoke", "/introspect"] {
        let response = client()
            .post(format!("{}{path}", server.base))
            .basic_auth("app", Some("app-secret"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}");
    }
    server.stop().await;
}

/// `token` with its header or payload replaced (base64url of `json`), signature kept.
fn forged(token: &str, part: usize, json: &Value, signature: Option<&str>) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    parts[part] = b64.encode(serde_json::to_vec(json).unwrap());
    if let Some(signature) = signature {
        parts[2] = signature.to_string();
    }
    parts.join(".")
}

#[tokio::test]
async fn a_token_whose_header_or_claims_were_changed_is_refused() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let access = tokens_for_app(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let part = |i: usize| -> Value {
        serde_json::from_slice(&b64.decode(access.split('.').nth(i).unwrap()).unwrap()).unwrap()
    };
    let (header, claims) = (part(0), part(1));
    let with = |value: &Value, key: &str, new: &str| {
        let mut value = value.clone();
        value[key] = Value::String(new.into());
        value
    };
    assert_eq!(server.userinfo_status(&access).await, 200);
    let forgeries = [
        ("alg none", forged(&access, 0, &with(&header, "alg", "none"), Some(""))),
        ("alg HS256", forged(&access, 0, &with(&header, "alg", "HS256"), None)),
        (
            "another kid",
            forged(&access, 0, &with(&header, "kid", "not-ours"), None),
        ),
        (
            "typ of an ID token",
            forged(&access, 0, &with(&header, "typ", "JWT"), None),
        ),
        (
            "another sub",
            forged(&access, 1, &with(&claims, "sub", "someone-else"), None),
        ),
        ("no signature", forged(&access, 1, &claims, Some(""))),
    ];
    for (name, token) in forgeries {
        assert_eq!(server.userinfo_status(&token).await, 401, "{name}");
        let answer = introspect(&server, ("app", "app-secret"), &token).await;
        assert_eq!(answer["active"], false, "{name}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_remembered_hashed_secret_lets_only_that_secret_in_and_is_forgotten_in_time() {
    let dir = tempfile::tempdir().unwrap();
    // BOB_HASH is the argon2 hash of "bob".
    let hashed = TestClient::public("hashed")
        .with("secret_hash", &format!("\"{}\"", support::BOB_HASH))
        .with("grant_types", "[\"client_credentials\"]");
    let config = TestConfig::new().client(hashed).bob().build();
    let clock = Clock::manual(1_800_000_000);
    let server = TestServer::start(dir.path(), &config, clock.clone()).await;
    let grant = [("grant_type", "client_credentials")];
    let status = |(status, _): (u16, Value)| status;
    assert_eq!(status(post(&server, "/token", ("hashed", "wrong"), &grant).await), 401);
    assert_eq!(status(post(&server, "/token", ("hashed", "bob"), &grant).await), 200);
    assert_eq!(
        server.app.state().verified_secrets.len(),
        1,
        "the success is remembered"
    );
    assert_eq!(status(post(&server, "/token", ("hashed", "bob"), &grant).await), 200);
    assert_eq!(
        status(post(&server, "/token", ("hashed", "wrong"), &grant).await),
        401,
        "a remembered success lets no other secret in"
    );
    assert_eq!(status(post(&server, "/token", ("hashed", "bobx"), &grant).await), 401);
    clock.advance(gatehouse::verified_secrets::TRUSTED_FOR_SECS);
    assert_eq!(
        status(post(&server, "/token", ("hashed", "bob"), &grant).await),
        200,
        "once forgotten, the secret is checked again"
    );
    assert_eq!(
        server.app.state().verified_secrets.len(),
        1,
        "wrong secrets are never kept"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_refresh_family_ends_at_its_absolute_lifetime_however_often_it_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::new()
        .tables("[tokens]\nrefresh_token_ttl = \"2d\"\nrefresh_token_absolute_ttl = \"3d\"\n")
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob()
        .build();
    let clock = Clock::manual(Clock::System.now());
    let server = TestServer::start(dir.path(), &config, clock.clone()).await;
    let login_time = clock.now();
    let mut refresh = tokens_for_app(&server).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let rotate = |token: String| {
        let server = &server;
        async move {
            post(
                server,
                "/token",
                ("app", "app-secret"),
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    };
    for day in 1..=2 {
        clock.advance(86_400);
        let (status, body) = rotate(refresh).await;
        assert_eq!(status, 200, "day {day}: {body}");
        refresh = body["refresh_token"].as_str().unwrap().to_string();
    }
    let info = introspect(&server, ("app", "app-secret"), &refresh).await;
    assert_eq!(info["active"], true);
    assert_eq!(
        info["exp"],
        login_time + 3 * 86_400,
        "the absolute end comes before the idle one"
    );
    clock.advance(86_400);
    let (status, body) = rotate(refresh).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    server.stop().await;
}

/// A refresh_token grant by `app`; the status and the JSON answer.
async fn refresh_answer(server: &TestServer, token: &str) -> (u16, serde_json::Value) {
    let response = server.refresh(("app", "app-secret"), token).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_rotation_whose_answer_was_lost_is_answered_again_within_the_retry_window() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_900_000_000);
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob()
        .build();
    let server = TestServer::start(dir.path(), &config, clock.clone()).await;
    let login = || async {
        let tokens = local_login_tokens(&server.base, &Browser::default(), "bob", "bob", REDIRECT).await;
        tokens["refresh_token"].as_str().unwrap().to_string()
    };

    // The answer to the first rotation is lost; the client presents its token again.
    let t0 = login().await;
    let (status, lost) = refresh_answer(&server, &t0).await;
    assert_eq!(status, 200);
    let t1 = lost["refresh_token"].as_str().unwrap().to_string();
    clock.advance(20);
    let (status, retried) = refresh_answer(&server, &t0).await;
    assert_eq!(status, 200, "a retry within the window: {retried}");
    let t2 = retried["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(t2, t1);
    // The family lives on with the new successor; the one never delivered is retired.
    let (status, next) = refresh_answer(&server, &t2).await;
    assert_eq!(status, 200, "{next}");
    let t3 = next["refresh_token"].as_str().unwrap().to_string();
    let (status, _) = refresh_answer(&server, &t1).await;
    assert_eq!(status, 400, "the retired successor is reuse");
    let (status, _) = refresh_answer(&server, &t3).await;
    assert_eq!(status, 400, "and reuse revoked the family");

    // After the window, presenting the old token again is reuse.
    let t0 = login().await;
    let (_, rotated) = refresh_answer(&server, &t0).await;
    clock.advance(31);
    let (status, _) = refresh_answer(&server, &t0).await;
    assert_eq!(status, 400);
    let (status, _) = refresh_answer(&server, rotated["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the family is revoked");

    // Once the successor was used, the old token is reuse, however soon.
    let t0 = login().await;
    let (_, first) = refresh_answer(&server, &t0).await;
    let (status, second) = refresh_answer(&server, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let (status, _) = refresh_answer(&server, &t0).await;
    assert_eq!(status, 400);
    let (status, _) = refresh_answer(&server, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the family is revoked");
    server.stop().await;
}
