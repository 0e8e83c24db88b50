//! A database outage as the relying parties see it: every answer that needs the store is
//! a 503 (JSON with Retry-After at the token endpoint and resources, the app told
//! `temporarily_unavailable` at `/authorize`), none a 500 nor a token called inactive,
//! and the same requests work again soon after the database is back.

use crate::support;

use gatehouse::Clock;
use serde_json::Value;
use support::browser::local_login_tokens;
use support::config::{REDIRECT, TestClient, TestConfig};
use support::tcp_cut::TcpCut;
use support::{TestServer, client};

/// Gatehouse on a database of its own, reached through a line the test can cut, and bob
/// logged in to `app` once.
struct Behind {
    line: TcpCut,
    server: TestServer,
    browser: support::browser::Browser,
    tokens: Value,
    _dir: tempfile::TempDir,
}

async fn behind_a_line(test: &str) -> Option<Behind> {
    let url = support::postgres::new_database(test).await?;
    let parsed = url::Url::parse(&url).unwrap();
    let target: std::net::SocketAddr = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap())
        .parse()
        .unwrap();
    let line = TcpCut::start(target).await;
    let mut through = parsed.clone();
    through.set_port(Some(line.addr.port())).unwrap();
    let rest = format!(
        "{}\n{}",
        support::postgres::store_table(through.as_str()),
        TestConfig::new()
            .client(TestClient::confidential("app", "app-secret").no_consent())
            .bob()
            .build()
    );
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &rest, Clock::System).await;
    let browser = support::browser::Browser::default();
    let tokens = local_login_tokens(&server.base, &browser, "bob", "bob", REDIRECT).await;
    Some(Behind {
        line,
        server,
        browser,
        tokens,
        _dir: dir,
    })
}

#[tokio::test]
async fn a_database_outage_is_a_clean_503_and_service_resumes_when_it_is_back() {
    let Some(Behind {
        line,
        server,
        browser,
        tokens,
        _dir,
    }) = behind_a_line("a_database_outage_is_a_clean_503").await
    else {
        return;
    };
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let access_token = tokens["access_token"].as_str().unwrap().to_string();

    line.cut();
    let refreshed = server.refresh(("app", "app-secret"), &refresh_token).await;
    assert_eq!(refreshed.status(), 503);
    assert!(refreshed.headers().contains_key("retry-after"));
    let body: Value = refreshed.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let userinfo = client()
        .get(format!("{}/userinfo", server.base))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 503, "not 401: the token was not found inactive");
    let introspected = client()
        .post(format!("{}/introspect", server.base))
        .basic_auth("app", Some("app-secret"))
        .form(&[("token", access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), 503, "not active: false");
    // A valid authorization request from a browser with a session: the app is told.
    let page = browser
        .get(&format!(
            "{}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={REDIRECT}&state=s",
            server.base
        ))
        .await;
    let params = page.redirect_params();
    assert_eq!(params["error"], "temporarily_unavailable", "{params:?}");
    assert_eq!(params["state"], "s");
    // A page: the styled 503, to be tried again.
    let page = browser.get(&format!("{}/end_session", server.base)).await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.headers.contains_key("retry-after"));
    assert!(page.body.contains("Temporarily unavailable"), "{}", page.body);

    // Back: the same refresh token works (the outage rotated nothing).
    line.mend();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        let status = server.refresh(("app", "app-secret"), &refresh_token).await.status();
        if status != 503 || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(status, 200);
    server.stop().await;
}

/// A rotation PostgreSQL committed whose answer never reached Gatehouse (the line drops
/// right after the COMMIT went out): the client is told 503, presents the same token
/// again, and is answered — no reuse, no revoked family.
#[tokio::test]
async fn a_committed_rotation_whose_answer_was_lost_is_retried_without_revoking() {
    let Some(Behind {
        line,
        server,
        tokens,
        _dir,
        ..
    }) = behind_a_line("a_committed_rotation_whose_answer_was_lost").await
    else {
        return;
    };
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();

    // The rotation's write names the refresh-families table; its COMMIT's answer is lost.
    line.lose_answer(b"refresh-families", b"COMMIT\0");
    let refreshed = server.refresh(("app", "app-secret"), &refresh_token).await;
    assert!(line.answer_lost(), "the rotation's COMMIT went by");
    assert_eq!(refreshed.status(), 503, "{}", refreshed.text().await.unwrap());
    // PostgreSQL did commit it: the token presented is no longer the family's current one.
    let introspected = client()
        .post(format!("{}/introspect", server.base))
        .basic_auth("app", Some("app-secret"))
        .form(&[("token", refresh_token.as_str())])
        .send()
        .await
        .unwrap();
    let body: Value = introspected.json().await.unwrap();
    assert_eq!(body["active"], false, "the rotation was committed: {body}");

    // The client's retry is answered, and the family lives on.
    let retried = server.refresh(("app", "app-secret"), &refresh_token).await;
    assert_eq!(retried.status(), 200, "{}", retried.text().await.unwrap());
    let retried: Value = retried.json().await.unwrap();
    let next = retried["refresh_token"].as_str().unwrap();
    let after = server.refresh(("app", "app-secret"), next).await;
    assert_eq!(after.status(), 200, "{}", after.text().await.unwrap());
    server.stop().await;
}
