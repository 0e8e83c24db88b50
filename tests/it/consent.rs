//! Remembered consent: it lasts `consent_ttl` (the client's own, or `[tokens]`), and a
//! withdrawal (admin API or `gatehouse accounts withdraw-consent`) forgets it, revokes
//! the client's refresh families for the person and ends its access tokens for them.

use crate::support;

use gatehouse::Clock;
use support::browser::{Browser, Page};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::{ADMIN_TOKEN, TestServer, client, post_form};

const START: i64 = 1_900_000_000;

fn config() -> String {
    TestConfig::new()
        .tables("[tokens]\nconsent_ttl = \"30d\"\n")
        .client(TestClient::confidential("app", "s3cret").with("consent_ttl", "\"1h\""))
        .client(TestClient::confidential("other", "s3cret"))
        .bob()
        .build()
}

fn authorize(server: &TestServer, client_id: &str, scope: &str) -> String {
    format!(
        "{}/authorize?client_id={client_id}&response_type=code&scope={scope}&redirect_uri={REDIRECT}",
        server.base
    )
}

/// Sends `browser` to `url`, signing bob in when asked; returns whether the consent page
/// came (it is answered with allow) and the code the application got.
async fn sign_in(server: &TestServer, browser: &Browser, url: &str) -> (bool, String) {
    let mut page = browser.follow(&server.base, browser.get(url).await).await;
    if page.body.contains("name=\"password\"") {
        let action = format!("{}{}", server.base, page.form_action());
        let form = [
            ("csrf", page.field("csrf")),
            ("username", "bob".into()),
            ("password", "bob".into()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        page = browser.post(&action, &form).await;
    }
    let asked = page.body.contains("name=\"decision\"");
    if asked {
        let form = [
            ("pending", page.field("pending")),
            ("csrf", page.field("csrf")),
            ("decision", "allow".to_string()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        page = browser.post(&format!("{}/consent", server.base), &form).await;
    }
    (asked, code_of(&page))
}

fn code_of(page: &Page) -> String {
    page.redirect_params()
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code: {page:?}"))
}

#[tokio::test]
async fn consent_is_remembered_for_its_lifetime_and_then_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(), clock.clone()).await;
    let browser = Browser::default();
    assert!(sign_in(&server, &browser, &authorize(&server, "app", "openid")).await.0);
    assert!(
        sign_in(&server, &browser, &authorize(&server, "other", "openid"))
            .await
            .0
    );
    clock.advance(3500);
    assert!(
        !sign_in(&server, &browser, &authorize(&server, "app", "openid")).await.0,
        "remembered"
    );
    clock.advance(200);
    assert!(
        sign_in(&server, &browser, &authorize(&server, "app", "openid")).await.0,
        "the client's consent_ttl of an hour is over"
    );
    assert!(
        !sign_in(&server, &browser, &authorize(&server, "other", "openid"))
            .await
            .0,
        "the other client's consent lasts [tokens] consent_ttl"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_withdrawn_consent_is_asked_again_and_revokes_the_clients_refresh_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with_admin(dir.path(), &config(), Clock::System).await;
    let browser = Browser::default();
    let (asked, code) = sign_in(&server, &browser, &authorize(&server, "app", "openid%20offline_access")).await;
    assert!(asked);
    let tokens = server.redeem(("app", "s3cret"), &code, REDIRECT, None).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let sub = support::verify_jwt(&server, tokens["id_token"].as_str().unwrap(), "app")
        .await
        .unwrap()["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, other_code) = sign_in(
        &server,
        &browser,
        &authorize(&server, "other", "openid%20offline_access"),
    )
    .await;
    let other = server.redeem(("other", "s3cret"), &other_code, REDIRECT, None).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let other_access_token = other["access_token"].as_str().unwrap();
    assert_eq!(server.userinfo_status(access_token).await, 200);

    let url = server.admin_url(&format!("/admin/accounts/{sub}/consents/app"));
    let answer = client().delete(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let withdrawn: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(withdrawn["revoked_families"], 1, "{withdrawn}");
    assert_eq!(withdrawn["scopes"], serde_json::json!(["openid", "offline_access"]));
    assert_eq!(server.refresh(("app", "s3cret"), &refresh_token).await.status(), 400);
    assert_eq!(
        server.userinfo_status(access_token).await,
        401,
        "the client's access token for the person is ended too"
    );
    let (_, introspected) = post_form(&server, "/introspect", ("app", "s3cret"), &[("token", access_token)]).await;
    assert_eq!(introspected["active"], false, "{introspected}");
    assert_eq!(server.userinfo_status(other_access_token).await, 200);
    let other_refresh = other["refresh_token"].as_str().unwrap();
    assert_eq!(
        server.refresh(("other", "s3cret"), other_refresh).await.status(),
        200,
        "another client's tokens are not touched"
    );
    assert!(
        sign_in(&server, &browser, &authorize(&server, "app", "openid")).await.0,
        "asked again"
    );
    let again = client().delete(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(again.status(), 200, "consent was given again");

    // The command, through the admin API of the running server.
    let config = server.config_path.to_str().unwrap().to_string();
    let command = [
        "accounts",
        "withdraw-consent",
        "--config",
        &config,
        &sub,
        "--client",
        "other",
    ];
    let (code, out, err) = support::gatehouse_async(&command).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 refresh family revoked"), "{out}");
    assert_eq!(server.userinfo_status(other_access_token).await, 401);
    let (code, _, err) = support::gatehouse_async(&command).await;
    assert_ne!(code, 0, "nothing is left to withdraw");
    assert!(err.contains("no consent"), "{err}");
    server.stop().await;
}
