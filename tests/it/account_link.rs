//! Account linking: a person signed in through `corp` links their `partner` identity by
//! logging in there from `/account/link`, and then either signs them in to one account.
//! Never without a fresh login at both, never from another page or browser, and never
//! an identity that belongs to another account.

use crate::support;

use gatehouse::Clock;
use serde_json::json;
use support::TestServer;
use support::browser::{Browser, Page};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::mock_op::{Misbehaviour, MockOp};

struct Linking {
    corp: MockOp,
    partner: MockOp,
    server: TestServer,
    clock: Clock,
    _dir: tempfile::TempDir,
}

async fn start() -> Linking {
    start_with_admin(false).await
}

async fn start_with_admin(admin: bool) -> Linking {
    start_configured(admin, "", "").await
}

/// Gatehouse with `corp_lines` in corp's table and `tables` after the upstreams.
async fn start_configured(admin: bool, corp_lines: &str, tables: &str) -> Linking {
    let (corp, partner) = (MockOp::start().await, MockOp::start().await);
    *partner.state.person.lock().unwrap() = json!({ "sub": "partner-7" });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mock.toml"), "subject = \"{{sub}}\"\n").unwrap();
    let upstream = |mock: &MockOp, name: &str| {
        format!(
            "name = \"{name}\"\nissuer = \"{}\"\nmapping = \"mock.toml\"",
            mock.issuer()
        )
    };
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "s3cret").no_consent())
        .mock_upstream("corp", "oidc", &format!("{}\n{corp_lines}", upstream(&corp, "Corp")))
        .mock_upstream("partner", "oidc", &upstream(&partner, "Partner"))
        .tables(tables)
        .build();
    let clock = Clock::manual(jsonwebtoken::get_current_timestamp() as i64);
    let server = if admin {
        TestServer::start_with_admin(dir.path(), &config, clock.clone()).await
    } else {
        TestServer::start(dir.path(), &config, clock.clone()).await
    };
    Linking {
        corp,
        partner,
        server,
        clock,
        _dir: dir,
    }
}

/// Signs in through `upstream` in `browser`; returns the account's `sub`.
async fn sign_in(server: &TestServer, browser: &Browser, upstream: &str) -> String {
    let tokens = sign_in_for(server, browser, upstream, "openid").await;
    let payload = tokens["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_string();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sub"].as_str().unwrap().to_string()
}

/// Signs in through `upstream` in `browser` for `scope`; returns the app's tokens.
async fn sign_in_for(server: &TestServer, browser: &Browser, upstream: &str, scope: &str) -> serde_json::Value {
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope={scope}&redirect_uri={REDIRECT}&state=s&upstream={upstream}",
        server.base
    );
    let page = follow(browser, browser.get(&url).await).await;
    let code = page.redirect_params()["code"].clone();
    server.redeem(("app", "s3cret"), &code, REDIRECT, None).await
}

async fn follow(browser: &Browser, page: Page) -> Page {
    browser.follow_while(page, |next| !next.starts_with(REDIRECT)).await
}

/// Opens the link page and presses "Link Partner"; returns where that ends.
async fn link_partner(linking: &Linking, browser: &Browser) -> Page {
    let page = browser.get(&format!("{}/account/link", linking.server.base)).await;
    assert!(page.body.contains("Link Partner"), "{}", page.body);
    let action = format!("{}{}", linking.server.base, page.form_action());
    let answer = browser.post(&action, &[("csrf", &page.field("csrf"))]).await;
    follow(browser, answer).await
}

#[tokio::test]
async fn a_person_links_a_second_upstream_and_then_either_signs_them_in() {
    let linking = start().await;
    let browser = Browser::default();
    let sub = sign_in(&linking.server, &browser, "corp").await;
    let page = link_partner(&linking, &browser).await;
    assert!(
        page.body.contains("You can now sign in here with Partner as well"),
        "{}",
        page.body
    );
    let sent = linking.partner.last_authorize_request();
    assert_eq!(
        (sent["prompt"].as_str(), sent["max_age"].as_str()),
        ("login", "0"),
        "a fresh login there"
    );

    let elsewhere = Browser::default();
    assert_eq!(
        sign_in(&linking.server, &elsewhere, "partner").await,
        sub,
        "the same account"
    );
    let page = browser.get(&format!("{}/account/link", linking.server.base)).await;
    assert!(page.body.contains("linked to your account already"), "{}", page.body);
    linking.server.stop().await;
}

#[tokio::test]
async fn linking_needs_a_recent_sign_in_here_and_a_fresh_one_there() {
    let linking = start().await;
    let page = Browser::default()
        .get(&format!("{}/account/link", linking.server.base))
        .await;
    assert!(page.body.contains("Sign in first"));

    let browser = Browser::default();
    sign_in(&linking.server, &browser, "corp").await;
    // The partner's login is one it made long ago, whatever Gatehouse asks.
    *linking.partner.state.authenticated_at.lock().unwrap() = Some(linking.clock.now() - 3600);
    linking.partner.misbehave(Misbehaviour::IgnoresFreshness);
    let page = link_partner(&linking, &browser).await;
    assert!(page.body.contains("was not made just now"), "{}", page.body);
    assert_ne!(
        sign_in(&linking.server, &Browser::default(), "partner").await,
        sign_in(&linking.server, &browser, "corp").await,
        "not linked"
    );

    linking.clock.advance(601);
    let page = browser.get(&format!("{}/account/link", linking.server.base)).await;
    assert!(page.body.contains("Sign in again"), "{}", page.body);
    let _ = &linking.corp;
    linking.server.stop().await;
}

#[tokio::test]
async fn a_link_from_another_page_or_another_browser_or_of_anothers_identity_is_refused() {
    let linking = start().await;
    let browser = Browser::default();
    let sub = sign_in(&linking.server, &browser, "corp").await;
    let page = browser.get(&format!("{}/account/link", linking.server.base)).await;
    let action = format!("{}{}", linking.server.base, page.form_action());
    let forged = browser.post(&action, &[("csrf", "guessed")]).await;
    assert!(
        forged.location.is_none() && forged.body.contains("expired"),
        "{}",
        forged.body
    );

    // The login at the partner comes back in another browser.
    let started = browser.post(&action, &[("csrf", &page.field("csrf"))]).await;
    let at_partner = Browser::default().get(started.location.as_deref().unwrap()).await;
    let back = Browser::default().get(at_partner.location.as_deref().unwrap()).await;
    assert!(back.body.contains("expired"), "{}", back.body);

    // The partner identity signs in to an account of its own first: it is not moved.
    let other = sign_in(&linking.server, &Browser::default(), "partner").await;
    assert_ne!(other, sub);
    let page = link_partner(&linking, &browser).await;
    assert!(page.body.contains("belongs to another account here"), "{}", page.body);
    assert_eq!(sign_in(&linking.server, &Browser::default(), "partner").await, other);
    linking.server.stop().await;
}

#[tokio::test]
async fn gatehouse_accounts_lists_an_accounts_links_and_unlinks_one() {
    let linking = start_with_admin(true).await;
    let browser = Browser::default();
    let sub = sign_in(&linking.server, &browser, "corp").await;
    link_partner(&linking, &browser).await;
    let config = linking.server.config_path.to_str().unwrap().to_string();

    // The server runs: through the admin API.
    let (code, out, err) = support::gatehouse_async(&["accounts", "links", "--config", &config, &sub]).await;
    assert_eq!(code, 0, "{err}");
    let upstreams: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(upstreams, ["corp", "partner"], "{out}");
    assert!(out.contains("partner-7"));
    let (code, out, err) =
        support::gatehouse_async(&["accounts", "unlink", "--config", &config, &sub, "--upstream", "partner"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("partner-7 at partner no longer signs in"), "{out}");
    assert_ne!(
        sign_in(&linking.server, &Browser::default(), "partner").await,
        sub,
        "a login there makes an account of its own"
    );
    let (code, _, err) =
        support::gatehouse_async(&["accounts", "unlink", "--config", &config, &sub, "--upstream", "corp"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("only identity"), "{err}");

    // Stopped: the database itself.
    linking.server.stop().await;
    let (code, out, err) = support::gatehouse_async(&["accounts", "links", "--config", &config, &sub]).await;
    assert_eq!((code, out.lines().count()), (0, 2), "{out}{err}");
    let (code, _, err) = support::gatehouse_async(&["accounts", "links", "--config", &config, "nobody"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("no account nobody"), "{err}");
}

#[tokio::test]
async fn a_session_keeps_its_upstream_refresh_after_the_person_signs_in_through_another_identity() {
    // corp refreshes at the upstream when an app refreshes a minute after the last time.
    let refreshing = "refresh = \"on_refresh\"\nrefresh_interval = \"60s\"";
    let kek = "[store]\nkey_encryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";
    let linking = start_configured(false, refreshing, kek).await;
    let browser = Browser::default();
    let tokens = sign_in_for(&linking.server, &browser, "corp", "openid%20offline_access").await;
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token").to_string();
    link_partner(&linking, &browser).await;
    // On a second device, through the other identity: the account's latest login is now
    // partner's, which must not make corp's refreshed answer look like someone else's.
    sign_in(&linking.server, &Browser::default(), "partner").await;
    linking.clock.advance(61);
    let response = linking.server.refresh(("app", "s3cret"), &refresh_token).await;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 200, "the corp session still refreshes: {body}");
    assert_eq!(
        *linking.corp.state.refresh_calls.lock().unwrap(),
        1,
        "and it was refreshed at corp"
    );
    linking.server.stop().await;
}
