//! The admin API, and the `keys` and `sessions` commands against a running server (through
//! the API) and a stopped one (the database itself).

use crate::support;

use gatehouse::Clock;
use support::browser::{Browser, local_login};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::{ADMIN_TOKEN, TestServer, client, gatehouse_async, jwks_kids, sign_test_token, verify_with_jwks};

fn config() -> String {
    TestConfig::new()
        .client(TestClient::public("app").no_consent())
        .bob()
        .build()
}

fn authorize(server: &TestServer, extra: &str) -> String {
    let challenge = gatehouse::secrets::s256("v".repeat(43).as_str());
    format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={REDIRECT}\
         &code_challenge={challenge}&code_challenge_method=S256{extra}",
        server.base
    )
}

#[tokio::test]
async fn every_admin_request_needs_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with_admin(dir.path(), &config(), Clock::System).await;
    let url = server.admin_url("/admin/keys");
    let refused = client().get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Bearer realm=\"gatehouse-admin\""
    );
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth("wrong-token-wrong-token")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let response = client().get(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let keys: serde_json::Value = response.json().await.unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(
        client()
            .get(format!("{}/admin/keys", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "not on the public port"
    );
    server.stop().await;
}

#[tokio::test]
async fn keys_rotate_reaches_the_running_server_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with_admin(dir.path(), &config(), Clock::System).await;
    let old_kid = jwks_kids(&server).await.remove(0);
    let old_token = sign_test_token(&server).await;
    let config = server.config_path.to_str().unwrap().to_string();

    let (code, stdout, stderr) = gatehouse_async(&["keys", "rotate", "--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("new active key"), "{stdout}");
    let kids = jwks_kids(&server).await;
    assert_eq!(kids.len(), 2, "published at once: {kids:?}");
    let new_token = sign_test_token(&server).await;
    let new_kid = jsonwebtoken::decode_header(&new_token).unwrap().kid.unwrap();
    assert_ne!(new_kid, old_kid, "new tokens carry the new kid");
    verify_with_jwks(&server, &old_token)
        .await
        .expect("old tokens still verify");

    let (code, stdout, stderr) = gatehouse_async(&["keys", "list", "--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.lines().nth(1).unwrap().starts_with(&new_kid));
    server.stop().await;
}

#[tokio::test]
async fn sessions_are_listed_and_ended_on_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with_admin(dir.path(), &config(), Clock::System).await;
    let browser = Browser::default();
    let page = local_login(&server.base, &browser, &authorize(&server, ""), "bob", "bob").await;
    assert!(page.redirect_params().contains_key("code"));
    let config = server.config_path.to_str().unwrap().to_string();

    let (code, stdout, stderr) = gatehouse_async(&["sessions", "list", "--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    let line = stdout.lines().nth(1).expect("one session");
    let mut fields = line.split_whitespace();
    let (sid, sub) = (fields.next().unwrap().to_string(), fields.next().unwrap().to_string());
    assert!(line.contains("demo") && line.ends_with("app"), "{line}");
    let (_, only_bob, _) = gatehouse_async(&["sessions", "list", "--config", &config, "--sub", &sub]).await;
    assert_eq!(only_bob.lines().count(), 2);
    let (_, nobody, _) = gatehouse_async(&["sessions", "list", "--config", &config, "--sub", "someone-else"]).await;
    assert_eq!(nobody.trim(), "no live sessions");

    let (code, _, stderr) = gatehouse_async(&["sessions", "revoke", "--config", &config, &sid]).await;
    assert_eq!(code, 0, "{stderr}");
    let params = browser.get(&authorize(&server, "&prompt=none")).await.redirect_params();
    assert_eq!(params["error"], "login_required", "the browser is logged out");
    let (code, _, stderr) = gatehouse_async(&["sessions", "revoke", "--config", &config, &sid]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("no live session"), "{stderr}");
    server.stop().await;
}

#[tokio::test]
async fn sessions_commands_open_the_database_when_the_server_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let browser = Browser::default();
    local_login(&server.base, &browser, &authorize(&server, ""), "bob", "bob").await;
    let config = server.config_path.to_str().unwrap().to_string();
    let (code, _, stderr) = gatehouse_async(&["sessions", "list", "--config", &config]).await;
    assert_ne!(code, 0, "no admin API: the running server holds the database");
    assert!(
        stderr.contains("admin_listen"),
        "the message says how to reach a running server: {stderr}"
    );
    server.stop().await;

    let (code, stdout, stderr) = gatehouse_async(&["sessions", "list", "--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    let sid = stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (code, stdout, stderr) = gatehouse_async(&["sessions", "revoke", "--config", &config, &sid]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("its clients are told by back-channel logout"),
        "{stdout}"
    );
    let (_, stdout, _) = gatehouse_async(&["sessions", "list", "--config", &config]).await;
    assert_eq!(stdout.trim(), "no live sessions");
    // Session ids and subs are base64url: one in 32 begins with `-`, and is still an id.
    let (code, _, stderr) = gatehouse_async(&["sessions", "revoke", "--config", &config, "-no-such-sid"]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("no live session -no-such-sid"), "{stderr}");
    let (code, stdout, stderr) = gatehouse_async(&["sessions", "list", "--config", &config, "--sub", "-x"]).await;
    assert_eq!((code, stdout.trim()), (0, "no live sessions"), "{stderr}");
}
