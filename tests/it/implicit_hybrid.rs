//! The implicit and hybrid flows (OpenID Connect Core §3.2, §3.3) for clients that opted
//! in, with the openidconnect crate as the relying party: it verifies every ID token and
//! computes `at_hash` and `c_hash` from the access token and code that came with it.

use crate::support;

use gatehouse::Clock;
use gatehouse::response_type::ResponseType;
use openidconnect::core::{CoreAuthenticationFlow, CoreIdToken, CoreResponseType, CoreUserInfoClaims};
use openidconnect::{
    AccessToken, AccessTokenHash, AuthorizationCode, AuthorizationCodeHash, CsrfToken, Nonce, OAuth2TokenResponse,
    SubjectIdentifier, TokenResponse,
};
use std::collections::HashMap;
use support::TestServer;
use support::browser::{Browser, Page, local_login};
use support::config::{TestClient, TestConfig};
use support::rp::{Attempt, REDIRECT, Rp};

fn config(tokens: &str) -> String {
    let types = |list: &str| format!("[{list}]");
    TestConfig::new()
        .tables(tokens)
        .client(
            TestClient::public("spa")
                .no_consent()
                .with("name", "\"Single-page app\"")
                .with("response_types", &types("\"id_token\", \"id_token token\"")),
        )
        .client(TestClient::confidential("portal", "s3cret").no_consent().with(
            "response_types",
            &types("\"code\", \"code id_token\", \"code token\", \"code id_token token\""),
        ))
        .client(
            TestClient::public("widget")
                .with("name", "\"Widget\"")
                .with("response_types", &types("\"id_token token\"")),
        )
        .client(TestClient::confidential("classic", "s3cret").no_consent())
        .bob_with("name = \"Bob Example\"\nemail = \"bob@example.com\"")
        .build()
}

/// A response type, by its name in requests.
fn response_type(text: &str) -> ResponseType {
    ResponseType::parse(text).unwrap()
}

/// The openidconnect crate's name for the flow of `wants`.
fn flow(wants: ResponseType) -> CoreAuthenticationFlow {
    if !wants.code {
        return CoreAuthenticationFlow::Implicit(wants.token);
    }
    let mut types = vec![CoreResponseType::Code];
    if wants.id_token {
        types.push(CoreResponseType::IdToken);
    }
    if wants.token {
        types.push(CoreResponseType::Token);
    }
    CoreAuthenticationFlow::Hybrid(types)
}

/// The client that opted in to `wants`.
fn client_for(wants: ResponseType) -> &'static str {
    if wants.code { "portal" } else { "spa" }
}

fn attempt(rp: &Rp, wants: ResponseType, extra: &[(&str, &str)]) -> Attempt {
    rp.attempt(flow(wants), &["email"], extra)
}

/// The parameters the relying party received: from the redirect's fragment (never its
/// query), or from the fields of the auto-submitting form.
fn received(page: &Page, form_post: bool) -> HashMap<String, String> {
    if form_post {
        assert_eq!(page.status, 200, "{page:?}");
        assert!(page.body.contains(&format!("action=\"{REDIRECT}\"")), "{}", page.body);
        return page.hidden_fields().into_iter().collect();
    }
    let location = page
        .location
        .as_deref()
        .unwrap_or_else(|| panic!("no redirect: {page:?}"));
    let url = url::Url::parse(location).unwrap();
    assert!(location.starts_with(&format!("{REDIRECT}#")), "{location}");
    assert_eq!(url.query(), None, "nothing travels in the query");
    url::form_urlencoded::parse(url.fragment().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// Logs bob in for `wants` (in a new browser) and checks the answer as a strict relying
/// party would: the ID token, its hashes, the access token at userinfo, the code at the
/// token endpoint. Returns the subject.
async fn log_in_and_check(server: &TestServer, wants: ResponseType, form_post: bool) -> SubjectIdentifier {
    let secret = wants.code.then_some("s3cret");
    let rp = Rp::discover(server, client_for(wants), secret).await;
    let extra: &[(&str, &str)] = if form_post {
        &[("response_mode", "form_post")]
    } else {
        &[]
    };
    let attempt = attempt(&rp, wants, extra);
    let page = local_login(&server.base, &Browser::default(), &attempt.url, "bob", "bob").await;
    let params = received(&page, form_post);
    let case = format!("{wants}, form_post: {form_post}");
    assert_eq!(params.get("state"), Some(attempt.state.secret()), "{case}");
    assert_eq!(params.get("iss"), Some(&server.base), "RFC 9207 iss: {case}");
    assert_eq!(params.contains_key("code"), wants.code, "{case}: {params:?}");
    assert_eq!(params.contains_key("id_token"), wants.id_token, "{case}: {params:?}");
    assert_eq!(params.contains_key("access_token"), wants.token, "{case}: {params:?}");
    assert!(
        !params.contains_key("refresh_token"),
        "never from the authorization endpoint"
    );

    let mut subject = None;
    if wants.id_token {
        let id_token: CoreIdToken = params["id_token"].parse().expect("an ID token");
        let verifier = rp.client.id_token_verifier();
        let claims = id_token.claims(&verifier, &attempt.nonce).expect("a valid ID token");
        let alg = id_token.signing_alg().unwrap();
        let key = id_token.signing_key(&verifier).unwrap();
        let at_hash = wants
            .token
            .then(|| AccessTokenHash::from_token(&AccessToken::new(params["access_token"].clone()), alg, key).unwrap());
        assert_eq!(claims.access_token_hash(), at_hash.as_ref(), "at_hash: {case}");
        let c_hash = wants.code.then(|| {
            AuthorizationCodeHash::from_code(&AuthorizationCode::new(params["code"].clone()), alg, key).unwrap()
        });
        assert_eq!(claims.code_hash(), c_hash.as_ref(), "c_hash: {case}");
        assert_eq!(
            claims.email().map(|e| e.as_str()),
            Some("bob@example.com"),
            "the granted claims are in the ID token: {case}"
        );
        subject = Some(claims.subject().clone());
    }
    if wants.token {
        assert_eq!(params["token_type"], "Bearer");
        let expires_in: i64 = params["expires_in"].parse().unwrap();
        assert!(expires_in > 0);
        assert_eq!(params["scope"], "openid email");
        let userinfo: CoreUserInfoClaims = rp
            .client
            .user_info(AccessToken::new(params["access_token"].clone()), subject.clone())
            .unwrap()
            .request_async(&rp.http)
            .await
            .unwrap_or_else(|e| panic!("userinfo with the front-channel access token ({case}): {e:?}"));
        assert_eq!(userinfo.email().map(|e| e.as_str()), Some("bob@example.com"));
        subject.get_or_insert_with(|| userinfo.subject().clone());
    }
    if wants.code {
        let tokens = rp.exchange(params["code"].clone(), attempt.verifier).await;
        let claims = tokens
            .id_token()
            .expect("an ID token from the token endpoint")
            .claims(&rp.client.id_token_verifier(), &attempt.nonce)
            .expect("a valid ID token");
        if let Some(subject) = &subject {
            assert_eq!(claims.subject(), subject, "the same person on both channels: {case}");
        }
        if wants.token {
            assert_ne!(
                tokens.access_token().secret(),
                &params["access_token"],
                "the code brings its own access token"
            );
        }
        subject.get_or_insert_with(|| claims.subject().clone());
    }
    subject.unwrap()
}

#[tokio::test]
async fn every_response_type_works_in_the_fragment_and_by_form_post() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let mut subjects = Vec::new();
    for text in [
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ] {
        let wants = response_type(text);
        for form_post in [false, true] {
            subjects.push(log_in_and_check(&server, wants, form_post).await);
        }
    }
    subjects.dedup();
    assert_eq!(subjects.len(), 1, "one person, one sub across every flow");

    // Clients that received tokens from the authorization endpoint are told when the session ends.
    let sessions = gatehouse::domain::sessions::list(&server.app.state().store, None, server.clock.now())
        .await
        .unwrap();
    assert!(
        sessions.iter().any(|s| s.clients == ["spa"]),
        "an implicit-only login is noted for back-channel logout: {sessions:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn eddsa_signed_id_tokens_carry_sha512_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config("[tokens]\nsigning_alg = \"EdDSA\""), Clock::System).await;
    log_in_and_check(&server, response_type("code id_token token"), false).await;
    log_in_and_check(&server, response_type("id_token token"), true).await;
    server.stop().await;
}

/// Sends an authorization request by hand (no RP library adds what the test leaves out).
async fn authorize(server: &TestServer, query: &str) -> Page {
    Browser::default()
        .get(&format!(
            "{}/authorize?redirect_uri={REDIRECT}&scope=openid&state=s-1&{query}",
            server.base
        ))
        .await
}

/// The error a redirect carries, and whether it came in the fragment.
fn error_of(page: &Page) -> (String, bool) {
    let location = page
        .location
        .as_deref()
        .unwrap_or_else(|| panic!("no redirect: {page:?}"));
    assert!(location.starts_with(REDIRECT), "{location}");
    let url = url::Url::parse(location).unwrap();
    let in_fragment = url.fragment().is_some();
    let text = url.fragment().or(url.query()).unwrap_or_default();
    let params: HashMap<String, String> = url::form_urlencoded::parse(text.as_bytes()).into_owned().collect();
    assert_eq!(
        params.get("state").map(String::as_str),
        Some("s-1"),
        "state comes back: {location}"
    );
    (params.get("error").cloned().unwrap_or_default(), in_fragment)
}

#[tokio::test]
async fn clients_that_did_not_opt_in_get_unsupported_response_type_with_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let cases = [
        // A client with the default ["code"] asking for tokens: answered where it would get them.
        (
            "client_id=classic&response_type=id_token&nonce=n",
            ("unsupported_response_type", true),
        ),
        (
            "client_id=classic&response_type=code%20id_token&nonce=n",
            ("unsupported_response_type", true),
        ),
        (
            "client_id=classic&response_type=code%20token",
            ("unsupported_response_type", true),
        ),
        // An implicit-only client asking for a code.
        (
            "client_id=spa&response_type=code&code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ("unsupported_response_type", false),
        ),
        // Not a response type at all (OAuth's implicit `token` alone is not OpenID Connect).
        (
            "client_id=spa&response_type=token",
            ("unsupported_response_type", false),
        ),
        (
            "client_id=spa&response_type=id_token%20id_token&nonce=n",
            ("unsupported_response_type", false),
        ),
        ("client_id=spa&nonce=n", ("invalid_request", false)),
    ];
    for (query, expected) in cases {
        let page = authorize(&server, query).await;
        assert_eq!(page.status, 303, "{query}: {page:?}");
        let (error, in_fragment) = error_of(&page);
        assert_eq!((error.as_str(), in_fragment), expected, "{query}");
    }
    server.stop().await;
}

#[tokio::test]
async fn nonce_is_required_when_an_id_token_comes_from_the_authorization_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    for query in [
        "client_id=spa&response_type=id_token",
        "client_id=spa&response_type=id_token%20token",
        "client_id=portal&response_type=code%20id_token",
        "client_id=portal&response_type=code%20id_token%20token",
    ] {
        let (error, in_fragment) = error_of(&authorize(&server, query).await);
        assert_eq!((error.as_str(), in_fragment), ("invalid_request", true), "{query}");
    }
    // `code token` returns no ID token from the authorization endpoint: nonce stays optional.
    let page = authorize(&server, "client_id=portal&response_type=code%20token").await;
    assert!(
        page.location.as_deref().unwrap_or_default().starts_with("/login/"),
        "accepted, on to the login: {page:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn tokens_never_travel_in_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    for query in [
        "client_id=spa&response_type=id_token%20token&nonce=n&response_mode=query",
        "client_id=portal&response_type=code%20token&response_mode=query",
        "client_id=spa&response_type=id_token&nonce=n&response_mode=jsonp",
    ] {
        let (error, in_fragment) = error_of(&authorize(&server, query).await);
        assert_eq!((error.as_str(), in_fragment), ("invalid_request", true), "{query}");
    }
    // An explicit fragment mode is honoured for errors, and for a code alone too.
    let page = authorize(
        &server,
        "client_id=spa&response_type=id_token&nonce=n&prompt=none&response_mode=fragment",
    )
    .await;
    assert_eq!(
        error_of(&page),
        ("login_required".to_string(), true),
        "prompt=none, no session"
    );
    let page = authorize(
        &server,
        "client_id=classic&response_type=code&prompt=none&response_mode=fragment",
    )
    .await;
    assert_eq!(error_of(&page), ("login_required".to_string(), true));
    server.stop().await;
}

#[tokio::test]
async fn form_post_escapes_every_value_and_works_without_javascript() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let hostile = "\"><script>alert(1)</script>&x='`=";
    let rp = Rp::discover(&server, "portal", Some("s3cret")).await;
    let (url, _, _) = rp
        .client
        .authorize_url(
            flow(response_type("code id_token")),
            || CsrfToken::new(hostile.into()),
            Nonce::new_random,
        )
        .add_extra_param("response_mode", "form_post")
        .url();
    let url = url.to_string();
    let page = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    let fields: HashMap<String, String> = page.hidden_fields().into_iter().collect();
    assert_eq!(fields["state"], hostile, "the value arrives unchanged once unescaped");
    assert!(fields.contains_key("code") && fields.contains_key("id_token"));
    // Without JavaScript the person sees a button that submits the form.
    let form = &page.body[page.body.find("<form method=\"post\"").unwrap()..];
    let without_noscript =
        form.split("<noscript>").next().unwrap().to_string() + form.split("</noscript>").nth(1).unwrap_or_default();
    assert!(without_noscript.contains("<button type=\"submit\">"), "{}", page.body);
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("base-uri 'none'"), "{policy}");
    assert!(!policy.contains("script-src 'unsafe-inline'"), "{policy}");
    assert!(
        policy.contains("form-action http://127.0.0.1:9"),
        "posts only to the app: {policy}"
    );
    // The one script on the page is allowed by its hash.
    let script = page
        .body
        .split("<script>")
        .nth(1)
        .unwrap()
        .split("</script>")
        .next()
        .unwrap();
    let hash = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()))
    };
    assert!(policy.contains(&format!("script-src 'sha256-{hash}'")), "{policy}");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");

    // An error goes the same way when form_post was asked for.
    let page = authorize(
        &server,
        "client_id=classic&response_type=id_token&nonce=n&response_mode=form_post",
    )
    .await;
    assert_eq!(page.status, 200);
    let fields: HashMap<String, String> = page.hidden_fields().into_iter().collect();
    assert_eq!(fields["error"], "unsupported_response_type");
    assert_eq!(fields["state"], "s-1");
    server.stop().await;
}

#[tokio::test]
async fn offline_access_is_granted_only_with_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let url = format!(
        "{}/authorize?client_id=spa&response_type=id_token%20token&nonce=n&state=s&scope=openid%20offline_access&redirect_uri={REDIRECT}",
        server.base
    );
    let page = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let params = received(&page, false);
    assert_eq!(params["scope"], "openid", "no refresh token can come of it");
    server.stop().await;
}

#[tokio::test]
async fn after_the_consent_page_the_tokens_go_to_the_fragment_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let query = "client_id=widget&response_type=id_token%20token&nonce=n&scope=openid%20email&state=s-1";
    let url = format!("{}/authorize?redirect_uri={REDIRECT}&{query}", server.base);
    let browser = Browser::default();
    let first = browser.follow(&server.base, browser.get(&url).await).await;
    assert!(first.body.contains("username"), "the login form: {}", first.body);
    let page = local_login(&server.base, &browser, &url, "bob", "bob").await;
    let params = received(&page, false);
    assert_eq!(params["state"], "s-1");
    assert!(
        params.contains_key("id_token") && params.contains_key("access_token"),
        "{params:?}"
    );

    // prompt=none for a scope not yet allowed: consent_required, where the tokens would have gone.
    let other = Browser::default();
    let page = local_login(
        &server.base,
        &other,
        &url.replace("client_id=widget", "client_id=spa"),
        "bob",
        "bob",
    )
    .await;
    received(&page, false);
    let page = other
        .get(&format!(
            "{}/authorize?redirect_uri={REDIRECT}&{query}&prompt=consent%20none",
            server.base
        ))
        .await;
    assert_eq!(
        error_of(&page),
        ("invalid_request".to_string(), true),
        "none with another value"
    );
    let page = other
        .get(&format!(
            "{}/authorize?redirect_uri={REDIRECT}&{}&prompt=none",
            server.base,
            query.replace("scope=openid%20email", "scope=openid%20email%20profile")
        ))
        .await;
    assert_eq!(error_of(&page), ("consent_required".to_string(), true));
    server.stop().await;
}

#[tokio::test]
async fn a_replayed_hybrid_code_revokes_the_access_token_of_the_front_channel_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let url = format!(
        "{}/authorize?client_id=portal&response_type=code%20token&state=s&scope=openid&redirect_uri={REDIRECT}",
        server.base
    );
    let page = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let params = received(&page, false);
    let front = params["access_token"].clone();
    assert_eq!(server.userinfo_status(&front).await, 200);
    let tokens = server
        .redeem(("portal", "s3cret"), &params["code"], REDIRECT, None)
        .await;
    let back = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        server.userinfo_status(&front).await,
        200,
        "the first redemption keeps it"
    );

    let form = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, replay) = support::post_form(&server, "/token", ("portal", "s3cret"), &form).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (400, Some("invalid_grant")),
        "{replay}"
    );
    assert_eq!(
        server.userinfo_status(&back).await,
        401,
        "what the redemption issued is revoked"
    );
    assert_eq!(server.userinfo_status(&front).await, 401, "and what came with the code");
    server.stop().await;
}
