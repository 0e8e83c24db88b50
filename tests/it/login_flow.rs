//! Logging in end to end through a `local` upstream, with the openidconnect crate as a
//! strict relying party (it validates the ID token: signature, iss, aud, nonce, at_hash).

use crate::support;

use gatehouse::Clock;
use openidconnect::core::{CoreAuthenticationFlow, CoreUserInfoClaims};
use openidconnect::{AccessToken, OAuth2TokenResponse, Scope, TokenResponse};
use support::browser::{Browser, Page, local_login};
use support::config::{TestClient, TestConfig};
use support::rp::{Attempt, REDIRECT, Rp};
use support::{BOB_HASH, TestServer, client};

const ALICE_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$aQFj0jTUZMtHsG+aJTkNsg$fh8CTh/zu2okcTbnh+r4C7GP/lmelsPBbnSK9nIY9uI";

fn config() -> String {
    let only_demo = "[\"demo\"]";
    TestConfig::new()
        .tables("[scopes.tenant]\nclaims = [\"tenant_name\"]\n")
        .client(
            TestClient::confidential("confidential", "s3cret")
                .with("name", "\"Confidential App\"")
                .with("upstreams", only_demo),
        )
        .client(
            TestClient::public("public")
                .no_consent()
                .with("name", "\"Public App\"")
                .with("upstreams", only_demo),
        )
        .client(
            TestClient::confidential("everywhere", "s3cret")
                .no_consent()
                .with("name", "\"Choosy <App>\""),
        )
        .tables(&format!(
            r#"
[[upstreams]]
id = "staff"
name = "Staff directory"
kind = "local"

[[upstreams]]
id = "demo"
name = "Demo accounts"
kind = "local"
mapping = "mapping.toml"

[[upstreams.users]]
username = "alice"
password_hash = "{ALICE_HASH}"
[upstreams.users.attributes]
name = "Alice Example"
email = "alice@example.com"
email_verified = true

[[upstreams.users]]
username = "bob"
password_hash = "{BOB_HASH}"
[upstreams.users.attributes]
name = "Bob Example"
email = "bob@example.com"
"#
        ))
        .build()
}

const MAPPING: &str = r#"
[claims]
name = "{{name}}"
email = { from = "email" }
email_verified = { from = "email_verified", type = "bool", default = false }
tenant_name = { value = "Acme" }
"#;

/// A server on this file's config in a folder of its own (kept as long as the server).
async fn start(clock: Clock) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mapping.toml"), MAPPING).unwrap();
    let server = TestServer::start(dir.path(), &config(), clock).await;
    (dir, server)
}

fn attempt(rp: &Rp, scopes: &[&str], extra: &[(&str, &str)]) -> Attempt {
    rp.attempt(CoreAuthenticationFlow::AuthorizationCode, scopes, extra)
}

/// Logs in through the local form (and allows on the consent page if it is shown);
/// returns the redirect to the relying party.
async fn log_in(server: &TestServer, browser: &Browser, url: &str, user: &str, password: &str) -> Page {
    local_login(&server.base, browser, url, user, password).await
}

async fn allow(server: &TestServer, browser: &Browser, consent: &Page) -> Page {
    let pending = consent.field("pending");
    let csrf = consent.field("csrf");
    browser
        .post(
            &format!("{}/consent", server.base),
            &[("pending", &pending), ("csrf", &csrf), ("decision", "allow")],
        )
        .await
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap() + start.len();
    &text[from..from + text[from..].find(end).unwrap()]
}

fn code_of(page: &Page, attempt: &Attempt, server: &TestServer) -> String {
    assert!(
        page.location.as_deref().unwrap_or_default().starts_with(REDIRECT),
        "{page:?}"
    );
    let params = page.redirect_params();
    assert_eq!(params.get("state"), Some(attempt.state.secret()), "state comes back");
    assert_eq!(params.get("iss"), Some(&server.base), "RFC 9207 iss");
    params
        .get("code")
        .unwrap_or_else(|| panic!("no code: {params:?}"))
        .clone()
}

#[tokio::test]
async fn a_confidential_client_logs_in_with_pkce_and_consent() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "confidential", Some("s3cret")).await;
    let browser = Browser::default();
    let attempt = attempt(&rp, &["email"], &[]);
    let redirect = log_in(&server, &browser, &attempt.url, "alice", "alice").await;
    let code = code_of(&redirect, &attempt, &server);

    let tokens = rp.exchange(code, attempt.verifier).await;
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.client.id_token_verifier(), &attempt.nonce)
        .expect("a valid ID token");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("alice@example.com"));
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.name().is_none(), "profile was not granted, so no name");
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert_eq!(amr, ["pwd"], "a local login is a password");
    assert!(tokens.refresh_token().is_none(), "no offline_access, no refresh token");
    let sub = claims.subject().clone();

    let userinfo: CoreUserInfoClaims = rp
        .client
        .user_info(tokens.access_token().clone(), Some(sub.clone()))
        .unwrap()
        .request_async(&rp.http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject(), &sub);
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some("alice@example.com"));
    assert!(userinfo.name().is_none());
    server.stop().await;
}

#[tokio::test]
async fn consent_is_remembered_and_the_session_skips_the_login() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "confidential", Some("s3cret")).await;
    let browser = Browser::default();
    let first = attempt(&rp, &["profile"], &[]);
    let redirect = log_in(&server, &browser, &first.url, "alice", "alice").await;
    code_of(&redirect, &first, &server);

    let second = attempt(&rp, &["profile"], &[]);
    let page = browser.get(&second.url).await;
    code_of(&page, &second, &server);

    // A scope not yet allowed asks again; prompt=consent asks again too.
    let wider = attempt(&rp, &["profile", "email"], &[]);
    let page = browser.get(&wider.url).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Your email address"), "{}", page.body);
    let again = attempt(&rp, &["profile"], &[("prompt", "consent")]);
    let page = browser.get(&again.url).await;
    assert!(page.body.contains("Allow Confidential App"), "{}", page.body);
    let redirect = allow(&server, &browser, &page).await;
    code_of(&redirect, &again, &server);
    server.stop().await;
}

#[tokio::test]
async fn a_public_client_must_use_pkce_and_authenticates_with_none() {
    let (_dir, server) = start(Clock::System).await;
    let browser = Browser::default();
    let without_pkce = format!(
        "{}/authorize?client_id=public&response_type=code&scope=openid&redirect_uri={REDIRECT}&state=xyz",
        server.base
    );
    let page = browser.get(&without_pkce).await;
    let params = page.redirect_params();
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], server.base);

    let rp = Rp::discover(&server, "public", None).await;
    let attempt = attempt(&rp, &["email"], &[]);
    let redirect = log_in(&server, &browser, &attempt.url, "bob", "bob").await;
    let code = code_of(&redirect, &attempt, &server);
    let tokens = rp.exchange(code, attempt.verifier).await;
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&rp.client.id_token_verifier(), &attempt.nonce)
        .unwrap();
    assert_eq!(claims.email_verified(), Some(false), "the mapping's default");
    server.stop().await;
}

#[tokio::test]
async fn prompt_none_answers_login_required_without_a_session_and_a_code_with_one() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let browser = Browser::default();
    let silent = attempt(&rp, &[], &[("prompt", "none")]);
    let params = browser.get(&silent.url).await.redirect_params();
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], *silent.state.secret());

    let login = attempt(&rp, &[], &[]);
    code_of(
        &log_in(&server, &browser, &login.url, "bob", "bob").await,
        &login,
        &server,
    );
    let silent = attempt(&rp, &[], &[("prompt", "none")]);
    code_of(&browser.get(&silent.url).await, &silent, &server);

    // A client with consent = true gets consent_required when nothing was allowed yet.
    let confidential = Rp::discover(&server, "confidential", Some("s3cret")).await;
    let silent = attempt(&confidential, &[], &[("prompt", "none")]);
    assert_eq!(
        browser.get(&silent.url).await.redirect_params()["error"],
        "consent_required"
    );
    server.stop().await;
}

#[tokio::test]
async fn max_age_and_prompt_login_send_the_person_to_log_in_again() {
    let clock = Clock::manual(1_800_000_000);
    let (_dir, server) = start(clock.clone()).await;
    let rp = Rp::discover(&server, "public", None).await;
    let browser = Browser::default();
    let first = attempt(&rp, &[], &[]);
    code_of(
        &log_in(&server, &browser, &first.url, "bob", "bob").await,
        &first,
        &server,
    );
    clock.advance(120);

    let fresh_enough = attempt(&rp, &[], &[("max_age", "300")]);
    code_of(&browser.get(&fresh_enough.url).await, &fresh_enough, &server);
    for extra in [("max_age", "60"), ("prompt", "login")] {
        let again = attempt(&rp, &[], &[extra]);
        let page = browser.follow(&server.base, browser.get(&again.url).await).await;
        assert!(page.body.contains("Sign in to Public App"), "{extra:?}: {}", page.body);
    }
    server.stop().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let browser = Browser::default();
    let attempt = attempt(&rp, &["offline_access", "email", "profile"], &[]);
    let code = code_of(
        &log_in(&server, &browser, &attempt.url, "bob", "bob").await,
        &attempt,
        &server,
    );
    let tokens = rp.exchange(code, attempt.verifier).await;
    let first = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();

    let refreshed = rp
        .client
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&rp.http)
        .await
        .unwrap();
    let second = refreshed.refresh_token().expect("a rotated refresh token").clone();
    assert_ne!(second.secret(), first.secret());
    let narrower = rp
        .client
        .exchange_refresh_token(&second)
        .unwrap()
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("email".into()))
        .request_async(&rp.http)
        .await
        .unwrap();
    assert_eq!(narrower.scopes().unwrap().len(), 2, "a narrower scope may be asked for");
    let third = narrower.refresh_token().unwrap().clone();

    // Reusing a rotated token fails and revokes the family: the newest one fails too.
    let reuse = post_token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first.secret()),
            ("client_id", "public"),
        ],
    )
    .await;
    assert_eq!((reuse.0, reuse.1["error"].as_str()), (400, Some("invalid_grant")));
    let newest = post_token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", third.secret()),
            ("client_id", "public"),
        ],
    )
    .await;
    assert_eq!((newest.0, newest.1["error"].as_str()), (400, Some("invalid_grant")));
    server.stop().await;
}

#[tokio::test]
async fn each_login_has_its_own_refresh_family() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let browser = Browser::default();
        let attempt = attempt(&rp, &["offline_access"], &[]);
        let code = code_of(
            &log_in(&server, &browser, &attempt.url, "bob", "bob").await,
            &attempt,
            &server,
        );
        let response = rp.exchange(code, attempt.verifier).await;
        tokens.push(response.refresh_token().unwrap().clone());
    }
    for token in &tokens {
        rp.client
            .exchange_refresh_token(token)
            .unwrap()
            .request_async(&rp.http)
            .await
            .expect("both devices keep working");
    }
    server.stop().await;
}

async fn post_token(
    server: &TestServer,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let response = client()
        .post(format!("{}/token", server.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().await.unwrap(), headers)
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_what_it_issued() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let browser = Browser::default();
    let attempt = attempt(&rp, &["offline_access"], &[]);
    let code = code_of(
        &log_in(&server, &browser, &attempt.url, "bob", "bob").await,
        &attempt,
        &server,
    );
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", "public"),
        ("code_verifier", attempt.verifier.secret().as_str()),
    ];
    let (status, first, _) = post_token(&server, &form).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["token_type"], "Bearer");
    let access = first["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(access).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(server.userinfo_status(access).await, 200);

    let (status, second, _) = post_token(&server, &form).await;
    assert_eq!((status, second["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        server.userinfo_status(access).await,
        401,
        "the first access token is revoked"
    );
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, _, _) = post_token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "public"),
        ],
    )
    .await;
    assert_eq!(status, 400, "and so is its refresh token");
    server.stop().await;
}

#[tokio::test]
async fn wrong_verifier_and_wrong_secret_are_refused() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "confidential", Some("s3cret")).await;
    let browser = Browser::default();
    let attempt = attempt(&rp, &[], &[]);
    let code = code_of(
        &log_in(&server, &browser, &attempt.url, "alice", "alice").await,
        &attempt,
        &server,
    );

    let response = client()
        .post(format!("{}/token", server.base))
        .basic_auth("confidential", Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", attempt.verifier.secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let wrong_verifier = "x".repeat(43);
    let response = client()
        .post(format!("{}/token", server.base))
        .basic_auth("confidential", Some("s3cret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &wrong_verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    let (status, body, _) = post_token(&server, &[("grant_type", "password"), ("client_id", "public")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
    server.stop().await;
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirect_uris_get_a_page_not_a_redirect() {
    let (_dir, server) = start(Clock::System).await;
    let browser = Browser::default();
    for query in [
        format!("client_id=nobody&response_type=code&scope=openid&redirect_uri={REDIRECT}"),
        "client_id=confidential&response_type=code&scope=openid&redirect_uri=https://evil.example/cb".to_string(),
        format!("client_id=confidential&response_type=code&scope=openid&redirect_uri={REDIRECT}/extra"),
    ] {
        let page = browser.get(&format!("{}/authorize?{query}", server.base)).await;
        assert_eq!(page.status, 400, "{query}");
        assert!(page.location.is_none(), "{query}: redirected to {:?}", page.location);
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    }
    server.stop().await;
}

#[tokio::test]
async fn userinfo_takes_the_token_by_get_and_post() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let browser = Browser::default();
    let attempt = attempt(&rp, &["tenant", "profile"], &[]);
    let code = code_of(
        &log_in(&server, &browser, &attempt.url, "bob", "bob").await,
        &attempt,
        &server,
    );
    let tokens = rp.exchange(code, attempt.verifier).await;
    let access = tokens.access_token().secret().clone();
    let url = format!("{}/userinfo", server.base);
    let by_get: serde_json::Value = client()
        .get(&url)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by_post: serde_json::Value = client()
        .post(&url)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by_body: serde_json::Value = client()
        .post(&url)
        .form(&[("access_token", &access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_get, by_post);
    assert_eq!(by_get, by_body);
    assert_eq!(by_get["tenant_name"], "Acme", "the custom scope releases its claim");
    assert_eq!(by_get["name"], "Bob Example");
    assert!(by_get.get("email").is_none(), "email was not granted");

    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"gatehouse\"");
    let response = client().get(&url).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let _ = AccessToken::new(access);
    server.stop().await;
}

#[tokio::test]
async fn the_same_person_gets_the_same_sub_and_another_person_another() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let mut subs = Vec::new();
    for user in ["alice", "alice", "bob"] {
        let browser = Browser::default();
        let attempt = attempt(&rp, &[], &[]);
        let code = code_of(
            &log_in(&server, &browser, &attempt.url, user, user).await,
            &attempt,
            &server,
        );
        let tokens = rp.exchange(code, attempt.verifier).await;
        let claims = tokens
            .id_token()
            .unwrap()
            .claims(&rp.client.id_token_verifier(), &attempt.nonce)
            .unwrap();
        subs.push(claims.subject().to_string());
    }
    assert_eq!(subs[0], subs[1], "alice twice: the same sub");
    assert_ne!(subs[0], subs[2], "bob: another sub");
    assert_ne!(subs[0], "alice", "the sub is Gatehouse's own, not the upstream's");
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_and_issues_nothing() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let browser = Browser::default();
    let attempt = attempt(&rp, &[], &[]);
    let page = browser.follow(&server.base, browser.get(&attempt.url).await).await;
    let action = format!("{}{}", server.base, between(&page.body, "action=\"", "\""));
    let csrf = page.field("csrf");
    let page = browser
        .post(&action, &[("csrf", &csrf), ("username", "bob"), ("password", "nope")])
        .await;
    assert_eq!(page.status, 401);
    assert!(page.location.is_none());
    assert!(page.body.contains("Wrong username or password."), "{}", page.body);
    assert!(browser.cookie("gatehouse_session").is_none(), "no session");

    // Another browser cannot use this login's form (login CSRF).
    let other = Browser::default();
    let page = other
        .post(&action, &[("csrf", &csrf), ("username", "bob"), ("password", "bob")])
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    server.stop().await;
}

#[tokio::test]
async fn form_post_answers_with_an_auto_submitting_form() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let browser = Browser::default();
    let attempt = attempt(&rp, &[], &[("response_mode", "form_post")]);
    let page = log_in(&server, &browser, &attempt.url, "bob", "bob").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("action=\"{REDIRECT}\"")), "{}", page.body);
    assert!(
        page.body.contains("<button type=\"submit\">Continue</button>"),
        "works without JavaScript"
    );
    assert_eq!(page.field("state"), *attempt.state.secret());
    assert_eq!(page.field("iss"), server.base);
    assert_eq!(page.field("code").len(), 43);
    server.stop().await;
}

#[tokio::test]
async fn the_chooser_lists_the_upstreams_a_client_may_use() {
    let (_dir, server) = start(Clock::System).await;
    let browser = Browser::default();
    let url = format!(
        "{}/authorize?client_id=everywhere&response_type=code&scope=openid&redirect_uri={REDIRECT}",
        server.base
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Sign in to Choosy &lt;App&gt;"),
        "the client's name, escaped: {}",
        page.body
    );
    assert!(page.body.contains("Continue with Demo accounts") && page.body.contains("Continue with Staff directory"));

    // upstream=<id> skips the chooser.
    let page = browser
        .follow(&server.base, browser.get(&format!("{url}&upstream=staff")).await)
        .await;
    assert!(
        page.body.contains("<p class=\"muted\">with Staff directory</p>"),
        "{}",
        page.body
    );

    // A client limited to one upstream never sees the chooser, and may not ask for another.
    let limited = format!(
        "{}/authorize?client_id=confidential&response_type=code&scope=openid&redirect_uri={REDIRECT}&state=s",
        server.base
    );
    let page = browser.follow(&server.base, browser.get(&limited).await).await;
    assert!(
        page.body.contains("<p class=\"muted\">with Demo accounts</p>"),
        "{}",
        page.body
    );
    let params = browser
        .get(&format!("{limited}&upstream=staff"))
        .await
        .redirect_params();
    assert_eq!(params["error"], "invalid_request");
    server.stop().await;
}

#[tokio::test]
async fn authorize_accepts_post_and_refuses_what_it_does_not_support() {
    let (_dir, server) = start(Clock::System).await;
    let browser = Browser::default();
    let page = browser
        .post(
            &format!("{}/authorize", server.base),
            &[
                ("client_id", "confidential"),
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    let page = browser.follow(&server.base, page).await;
    assert!(
        page.body.contains("Sign in to Confidential App"),
        "POST works: {}",
        page.body
    );

    let base = format!(
        "{}/authorize?client_id=confidential&redirect_uri={REDIRECT}&state=s",
        server.base
    );
    for (query, error) in [
        ("&response_type=token&scope=openid", "unsupported_response_type"),
        ("&response_type=code&scope=profile", "invalid_scope"),
        (
            "&response_type=code&scope=openid&code_challenge=abc&code_challenge_method=plain",
            "invalid_request",
        ),
        (
            "&response_type=code&scope=openid&prompt=none%20login",
            "invalid_request",
        ),
        ("&response_type=code&scope=openid&max_age=soon", "invalid_request"),
        (
            "&response_type=code&scope=openid&request_uri=https://rp.example/r",
            "request_uri_not_supported",
        ),
    ] {
        let params = browser.get(&format!("{base}{query}")).await.redirect_params();
        assert_eq!(params.get("error").map(String::as_str), Some(error), "{query}");
        assert_eq!(params["state"], "s");
        assert_eq!(params["iss"], server.base);
        assert!(params.contains_key("error_description"));
    }
    server.stop().await;
}

#[tokio::test]
async fn cookies_are_http_only_and_same_site_lax() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let browser = Browser::default();
    let attempt = attempt(&rp, &[], &[]);
    let first = browser.get(&attempt.url).await;
    let page = browser.follow(&server.base, first).await;
    let action = format!("{}{}", server.base, between(&page.body, "action=\"", "\""));
    let done = browser
        .post(
            &action,
            &[("csrf", &page.field("csrf")), ("username", "bob"), ("password", "bob")],
        )
        .await;
    let cookie = done
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("gatehouse_session="));
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "http issuer on loopback: not Secure ({cookie})"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_attribute_that_fails_its_mapping_type_ends_the_login_with_an_answer() {
    use support::config::REDIRECT;
    // Not JSON text, and the default mapping reads `address` as JSON: the error's preview
    // is cut inside "é" (the 37th byte of the value's JSON text).
    let address = format!("{}éééé, Île-de-France", "a".repeat(35));
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob_with(&format!("address = \"{address}\""))
        .build();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config, Clock::System).await;
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid%20address&redirect_uri={REDIRECT}&state=s1",
        server.base
    );
    let params = local_login(&server.base, &Browser::default(), &url, "bob", "bob")
        .await
        .redirect_params();
    assert!(params.contains_key("error"), "the app is told: {params:?}");
    assert!(!params.contains_key("code"), "{params:?}");
    assert_eq!(params.get("state").map(String::as_str), Some("s1"));
    server.stop().await;
}

#[tokio::test]
async fn another_client_presenting_a_used_code_revokes_nothing() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let attempt = attempt(&rp, &["offline_access"], &[]);
    let code = code_of(
        &log_in(&server, &Browser::default(), &attempt.url, "bob", "bob").await,
        &attempt,
        &server,
    );
    let verifier = attempt.verifier.secret().as_str();
    let redeem = |client_id: &'static str| {
        [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ]
    };
    let (status, first, _) = post_token(&server, &redeem("public")).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap();

    // Another (authenticated) client that got hold of the used code.
    let response = client()
        .post(format!("{}/token", server.base))
        .basic_auth("confidential", Some("s3cret"))
        .form(&redeem("confidential"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(
        server.userinfo_status(access).await,
        200,
        "the code's own client keeps its tokens"
    );
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, body, _) = post_token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "public"),
        ],
    )
    .await;
    assert_eq!(status, 200, "the refresh family lives on: {body}");
    server.stop().await;
}

#[tokio::test]
async fn pages_send_no_referrer_and_allow_no_script_nor_base() {
    let (_dir, server) = start(Clock::System).await;
    let rp = Rp::discover(&server, "public", None).await;
    let attempt = attempt(&rp, &[], &[]);
    let browser = Browser::default();
    let page = browser.follow(&server.base, browser.get(&attempt.url).await).await;
    assert!(page.body.contains("<form"), "a page with a form: {}", page.body);
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    for directive in ["default-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("script-src"), "no script on ordinary pages: {policy}");
    // The login form posts to Gatehouse, whose answer ends at the app's redirect URI.
    assert!(policy.ends_with("; form-action 'self' http://127.0.0.1:9"), "{policy}");
    let error = client().get(format!("{}/authorize", server.base)).send().await.unwrap();
    let policy = error.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.ends_with("; form-action 'none'"),
        "a page without a form: {policy}"
    );
    server.stop().await;
}
