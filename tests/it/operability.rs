//! What an operator runs Gatehouse with: metrics on the admin listener, JSON logs with a
//! request id and security events, no secret in any log line, health checks, and live
//! reload of the config.

use crate::support;

use gatehouse::Clock;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::browser::{Browser, local_login, local_login_tokens};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::metrics::{metric, scrape};
use support::mock_op::{Misbehaviour, MockOp};
use support::process::Server;
use support::{ADMIN_TOKEN, TestServer, client, redeem_at};

fn config() -> String {
    TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob()
        .build()
}

async fn refresh(base: &str, refresh_token: &str) -> Value {
    let response = support::refresh_at(base, ("app", "app-secret"), refresh_token).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn authorize_url(base: &str, client_id: &str) -> String {
    // The scope last, so that a test may add to it.
    format!("{base}/authorize?client_id={client_id}&response_type=code&redirect_uri={REDIRECT}&scope=openid")
}

#[tokio::test]
async fn metrics_count_a_login_a_refresh_and_a_failed_login() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with_admin(dir.path(), &config(), Clock::System).await;
    let before = scrape(&server).await;
    let browser = Browser::default();
    let tokens = local_login_tokens(&server.base, &browser, "bob", "bob", REDIRECT).await;
    let rotated = refresh(&server.base, tokens["refresh_token"].as_str().unwrap()).await;
    let wrong = local_login(
        &server.base,
        &Browser::default(),
        &authorize_url(&server.base, "app"),
        "bob",
        "not-bobs-password",
    )
    .await;
    assert!(wrong.location.is_none(), "the form again");
    let after = scrape(&server).await;

    let moved = |series: &str| metric(&after, series) - metric(&before, series);
    assert_eq!(
        moved("gatehouse_logins_started_total{upstream=\"demo\"}"),
        2.0,
        "{after}"
    );
    assert_eq!(moved("gatehouse_logins_completed_total{upstream=\"demo\"}"), 1.0);
    assert_eq!(
        moved("gatehouse_logins_failed_total{upstream=\"demo\",reason=\"wrong_password\"}"),
        1.0
    );
    for (kind, grant, count) in [
        ("id", "authorization_code", 1.0),
        ("access", "authorization_code", 1.0),
        ("refresh", "authorization_code", 1.0),
        ("id", "refresh_token", 1.0),
        ("access", "refresh_token", 1.0),
        ("refresh", "refresh_token", 1.0),
    ] {
        let series = format!("gatehouse_tokens_issued_total{{kind=\"{kind}\",grant_type=\"{grant}\"}}");
        assert_eq!(moved(&series), count, "{series}");
    }
    assert_eq!(
        moved("gatehouse_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"}"),
        2.0
    );
    assert_eq!(
        moved("gatehouse_http_request_duration_seconds_count{route=\"/token\",method=\"POST\"}"),
        2.0
    );
    // Route patterns, never raw paths (which carry the pending login's id).
    assert!(after.contains("route=\"/login/{pending}/{upstream}\""), "{after}");
    assert_eq!(
        after.matches("route=\"/login/").count(),
        after.matches("route=\"/login/{pending}/{upstream}\"").count(),
        "no raw path"
    );
    assert!(metric(&after, "gatehouse_store_records{table=\"sessions\"}") >= 1.0);
    assert!(moved("gatehouse_store_operations_total{operation=\"commit\",outcome=\"ok\"}") >= 3.0);
    assert!(metric(&after, "gatehouse_store_batch_writes_count") >= 1.0);
    assert!(after.contains("gatehouse_signing_key_age_seconds "), "{after}");

    // A replayed refresh token is reuse once its successor was used (before, within
    // tokens.refresh_retry_window, it would be a retry of a lost answer).
    refresh(&server.base, rotated["refresh_token"].as_str().unwrap()).await;
    let reused = server
        .refresh(("app", "app-secret"), tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(reused.status(), 400);
    let last = scrape(&server).await;
    assert_eq!(metric(&last, "gatehouse_refresh_reuse_detected_total"), 1.0);

    assert_eq!(server.get("/metrics").await.status(), 404, "not on the public listener");
    server.stop().await;
}

/// Logs bob in, refreshes and logs out against a process; returns every credential that
/// was exchanged on the way.
async fn full_flow(server: &Server) -> Vec<String> {
    let browser = Browser::default();
    let url = format!("{}%20offline_access", authorize_url(&server.base, "app"));
    let page = local_login(&server.base, &browser, &url, "bob", "bob").await;
    let code = page.redirect_params()["code"].clone();
    let tokens = redeem_at(&server.base, ("app", "app-secret"), &code, REDIRECT, None).await;
    let rotated = refresh(&server.base, tokens["refresh_token"].as_str().unwrap()).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let logout = browser
        .get(&format!("{}/end_session?id_token_hint={id_token}", server.base))
        .await;
    assert!(logout.location.is_none() || logout.body.is_empty(), "logged out");
    let mut exchanged = vec![
        code,
        "app-secret".to_string(),
        id_token.rsplit('.').next().unwrap().to_string(),
        id_token,
        browser.cookie("gatehouse_browser").unwrap(),
    ];
    for answer in [&tokens, &rotated] {
        for field in ["access_token", "refresh_token", "id_token"] {
            if let Some(value) = answer[field].as_str() {
                exchanged.push(value.to_string());
            }
        }
    }
    exchanged
}

#[tokio::test]
async fn json_log_lines_carry_the_request_and_security_events_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = Server::configure_with_tables(dir.path(), "5s", "[log]\nformat = \"json\"\n");
    let server = Server::start(&config).await;
    let exchanged = full_flow(&server).await;
    let answer = client().get(format!("{}/jwks", server.base)).send().await.unwrap();
    let request_id = answer.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(request_id.len() >= 16, "a generated id: {request_id}");

    let log = server.settled_log().await;
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let answered = |route: &str| {
        lines
            .iter()
            .filter(|l| l["message"] == "answered" && l["route"] == route)
            .collect::<Vec<_>>()
    };
    let token = answered("/token");
    assert_eq!(token.len(), 2, "{log}");
    for line in &token {
        assert_eq!(line["method"], "POST");
        assert_eq!(line["client_id"], "app");
        assert_eq!(line["status"], 200);
        assert!(line["latency_ms"].as_f64().unwrap() > 0.0);
        assert!(line["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(line["level"], "INFO");
    }
    let login = answered("/login/{pending}/{upstream}");
    assert!(login.iter().any(|l| l["upstream"] == "demo"), "{log}");
    let jwks = answered("/jwks");
    assert_eq!(
        jwks.last().unwrap()["request_id"],
        request_id.as_str(),
        "the id echoed is the one logged"
    );

    let security: Vec<&Value> = lines.iter().filter(|l| l["target"] == "gatehouse::security").collect();
    assert!(
        security.iter().any(|l| l["event"] == "login_succeeded"
            && l["upstream"] == "demo"
            && l["client_id"] == "app"
            && l["request_id"].as_str().is_some()),
        "{log}"
    );

    for secret in &exchanged {
        assert!(!log.contains(secret.as_str()), "a log line holds {secret}:\n{log}");
    }
}

/// The `X-Request-Id` answered to a request that sent `sent`.
async fn echoed_request_id(server: &Server, sent: &str) -> String {
    let answer = client()
        .get(format!("{}/jwks", server.base))
        .header("x-request-id", sent)
        .send()
        .await
        .unwrap();
    answer.headers()["x-request-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn a_trusted_request_id_is_taken_over_and_an_untrusted_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    // No format: standard error is a file, so JSON.
    let trusted = Server::configure_with_tables(dir.path(), "5s", "[log]\ntrust_request_id = true\n");
    let server = Server::start(&trusted).await;
    assert_eq!(echoed_request_id(&server, "proxy-id-123").await, "proxy-id-123");
    let log = server.settled_log().await;
    assert!(log.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()), "{log}");
    assert!(log.contains("\"request_id\":\"proxy-id-123\""), "{log}");
    drop(server);

    let other = tempfile::tempdir().unwrap();
    let untrusted = Server::configure_with_tables(other.path(), "5s", "[log]\nformat = \"text\"\n");
    let server = Server::start(&untrusted).await;
    assert_ne!(echoed_request_id(&server, "proxy-id-123").await, "proxy-id-123");
    let log = server.settled_log().await;
    assert!(!log.contains("proxy-id-123"), "{log}");
    assert!(log.lines().all(|l| !l.starts_with('{')), "text when told: {log}");
    assert!(log.contains("request_id="), "{log}");
}

async fn ready(base: &str) -> (u16, Value) {
    let response = client().get(format!("{base}/healthz/ready")).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn ready_waits_for_the_upstreams_discovery_and_live_does_not() {
    let upstream = MockOp::start().await;
    upstream.misbehave(Misbehaviour::DiscoveryUnavailable);
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .mock_upstream("corp", "oidc", &format!("issuer = \"{}\"", upstream.issuer()))
        .build();
    let server = TestServer::start(dir.path(), &config, Clock::System).await;
    assert_eq!(server.get("/healthz/live").await.status(), 200);
    let (status, body) = ready(&server.base).await;
    assert_eq!(status, 503);
    assert_eq!(body["waiting_for"], serde_json::json!(["upstream corp"]));

    upstream.misbehave(Misbehaviour::None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready(&server.base).await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn an_optional_upstream_is_not_waited_for() {
    let upstream = MockOp::start().await;
    upstream.misbehave(Misbehaviour::DiscoveryUnavailable);
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .mock_upstream(
            "corp",
            "oidc",
            &format!("issuer = \"{}\"\noptional = true", upstream.issuer()),
        )
        .bob()
        .build();
    let server = TestServer::start(dir.path(), &config, Clock::System).await;
    assert_eq!(
        ready(&server.base).await,
        (200, serde_json::json!({ "status": "ready" }))
    );
    server.stop().await;
}

async fn reload(server: &TestServer) -> (u16, Value) {
    let response = client()
        .post(server.admin_url("/admin/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn second_client() -> String {
    format!(
        "\n[[clients]]\nid = \"second\"\nsecret = \"second-secret\"\nconsent = false\nredirect_uris = [\"{REDIRECT}\"]\n"
    )
}

/// Whether bob can log in to the client `second` (and it gets a code).
async fn second_logs_in(server: &TestServer) -> bool {
    let url = authorize_url(&server.base, "second");
    let page = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    page.redirect_params().contains_key("code")
}

#[tokio::test]
async fn a_reload_adds_a_client_and_a_broken_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with_admin(dir.path(), &config(), Clock::System).await;
    let original = std::fs::read_to_string(&server.config_path).unwrap();
    let before = Browser::default().get(&authorize_url(&server.base, "second")).await;
    assert!(before.body.contains("Unknown application"));

    std::fs::write(&server.config_path, format!("{original}{}", second_client())).unwrap();
    let (status, report) = reload(&server).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["applied"], true);
    assert!(second_logs_in(&server).await, "the new client logs in");

    let broken = format!(
        "{original}{}\n[[clients]]\nid = \"third\"\nredirect_uris = [\"not a url\"]\n[tokens]\nid_token_ttl = \"soon\"\n",
        second_client()
    );
    std::fs::write(&server.config_path, broken).unwrap();
    let (status, report) = reload(&server).await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["applied"], false);
    let problems: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        problems.iter().any(|p| p.contains("clients[2].redirect_uris[0]")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("tokens.id_token_ttl")),
        "{problems:?}"
    );
    assert!(second_logs_in(&server).await, "the running config stays");

    std::fs::write(
        &server.config_path,
        format!("{original}{}\n[limits]\nconnections = 7\n", second_client()),
    )
    .unwrap();
    let (status, report) = reload(&server).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["needs_restart"], serde_json::json!(["limits: needs a restart"]));
    let text = scrape(&server).await;
    assert_eq!(
        metric(&text, "gatehouse_config_reloads_total{outcome=\"applied\"}"),
        2.0
    );
    assert_eq!(
        metric(&text, "gatehouse_config_reloads_total{outcome=\"refused\"}"),
        1.0
    );
    server.stop().await;
}

#[tokio::test]
async fn the_access_tokens_of_a_client_removed_by_a_reload_are_active_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with_admin(dir.path(), &config(), Clock::System).await;
    let original = std::fs::read_to_string(&server.config_path).unwrap();
    std::fs::write(&server.config_path, format!("{original}{}", second_client())).unwrap();
    assert_eq!(reload(&server).await.0, 200);
    let url = authorize_url(&server.base, "second");
    let page = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let code = page.redirect_params()["code"].clone();
    let tokens = redeem_at(&server.base, ("second", "second-secret"), &code, REDIRECT, None).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(server.userinfo_status(access_token).await, 200);

    std::fs::write(&server.config_path, original).unwrap();
    assert_eq!(reload(&server).await.0, 200);
    assert_eq!(
        server.userinfo_status(access_token).await,
        401,
        "the client is gone, and its tokens with it"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_login_at_an_upstream_removed_by_a_reload_ends_with_a_clear_page() {
    let dir = tempfile::tempdir().unwrap();
    let other = format!(
        "[[upstreams]]\nid = \"other\"\nkind = \"local\"\n[[upstreams.users]]\nusername = \"bob\"\npassword_hash = \"{}\"\n",
        support::BOB_HASH
    );
    let with_other = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob()
        .tables(&other)
        .build();
    let server = TestServer::start_with_admin(dir.path(), &with_other, Clock::System).await;
    let browser = Browser::default();
    let url = format!("{}&upstream=other", authorize_url(&server.base, "app"));
    let form = browser.follow(&server.base, browser.get(&url).await).await;
    assert!(form.body.contains("name=\"password\""), "{}", form.body);

    let text = std::fs::read_to_string(&server.config_path).unwrap();
    let without_other = text.split("[[upstreams]]\nid = \"other\"").next().unwrap().to_string();
    std::fs::write(&server.config_path, without_other).unwrap();
    assert_eq!(reload(&server).await.0, 200);
    let action = form.form_action();
    let answer = browser
        .post(
            &format!("{}{action}", server.base),
            &[("csrf", &form.field("csrf")), ("username", "bob"), ("password", "bob")],
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("This sign-in has expired"), "{}", answer.body);
    server.stop().await;
}

#[tokio::test]
async fn sighup_reloads_the_config_of_a_running_process() {
    let dir = tempfile::tempdir().unwrap();
    let config = Server::configure(dir.path());
    let server = Server::start(&config).await;
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}{}", second_client())).unwrap();
    server.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = Browser::default().get(&authorize_url(&server.base, "second")).await;
        if !page.body.contains("Unknown application") {
            break;
        }
        assert!(Instant::now() < deadline, "not reloaded: {}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.settled_log().await.contains("config reloaded"));
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Ok(found) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: systemd-analyze is not installed here");
        return;
    };
    assert!(found.status.success());
    let unit = std::fs::read_to_string("examples/systemd/gatehouse.service").unwrap();
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    // verify checks that the binary exists: point it at the one just built.
    let unit = unit.replace("/usr/local/bin/gatehouse", env!("CARGO_BIN_EXE_gatehouse"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.service");
    std::fs::write(&path, unit).unwrap();
    let verified = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{said}");
    assert!(said.trim().is_empty(), "no warnings: {said}");
}
