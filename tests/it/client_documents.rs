//! Client ID Metadata Documents: a client whose id is the URL of its metadata signs a
//! person in (consent asked every time, its host shown), and every document that cannot
//! be trusted is refused before anyone logs in: one that names another client, is slow,
//! huge, redirects, holds a secret, or sits on an address Gatehouse must not reach.

use crate::support;

use gatehouse::Clock;
use serde_json::{Value, json};
use support::browser::Browser;
use support::config::{REDIRECT, TestConfig};
use support::document_host::{DocumentHost, Served};
use support::signing_key::ClientKey;
use support::{TestServer, client};

const VERIFIER: &str = "a-code-verifier-that-is-long-enough-for-rfc-7636-yes";

fn config(allow_loopback: bool) -> String {
    TestConfig::new()
        .tables(&format!(
            "[client_id_metadata_documents]\nenabled = true\nallow_loopback = {allow_loopback}\n"
        ))
        .bob()
        .build()
}

/// A good document for the client at `url`.
fn document(url: &str) -> Value {
    json!({
        "client_id": url,
        "client_name": "Doc Client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "scope": "openid offline_access",
    })
}

fn authorize_url(server: &TestServer, client_id: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let challenge = gatehouse::secrets::s256(VERIFIER);
    format!(
        "{}/authorize?client_id={id}&response_type=code&scope=openid%20offline_access&redirect_uri={REDIRECT}&code_challenge={challenge}&code_challenge_method=S256",
        server.base
    )
}

/// Signs bob in (logging in when the browser has no session); the consent page on the
/// way, and the answer to the app.
async fn login_with_consent(
    server: &TestServer,
    browser: &Browser,
    client_id: &str,
) -> (String, support::browser::Page) {
    let page = browser.get(&authorize_url(server, client_id)).await;
    let mut page = browser.follow(&server.base, page).await;
    // Signed in already, the person goes straight to the consent page.
    if !page.body.contains("name=\"decision\"") {
        page = browser
            .post(
                &format!("{}{}", server.base, page.form_action()),
                &[("csrf", &page.field("csrf")), ("username", "bob"), ("password", "bob")],
            )
            .await;
    }
    let consent = page.body.clone();
    let answer = browser
        .post(
            &format!("{}/consent", server.base),
            &[
                ("pending", &page.field("pending")),
                ("csrf", &page.field("csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    (consent, answer)
}

#[tokio::test]
async fn a_client_known_by_its_document_signs_a_person_in_and_is_asked_every_time() {
    let host = DocumentHost::start().await;
    let id = host.url("/client.json");
    host.serve("/client.json", Served::Json(document(&id)));
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_900_000_000);
    let server = TestServer::start(dir.path(), &config(true), clock.clone()).await;

    let discovery = server.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(discovery["client_id_metadata_document_supported"], true);
    let browser = Browser::default();
    let (consent, answer) = login_with_consent(&server, &browser, &id).await;
    assert!(consent.contains("Allow Doc Client to use your account?"), "{consent}");
    assert!(consent.contains("described by a document at 127.0.0.1"), "{consent}");
    let code = answer.redirect_params()["code"].clone();
    let response = client()
        .post(format!("{}/token", server.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", id.as_str()),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let claims = support::verify_jwt(&server, tokens["id_token"].as_str().unwrap(), &id)
        .await
        .unwrap();
    assert_eq!(claims["aud"], id);

    // The person is asked again: a document is no lasting relationship.
    let (consent, _) = login_with_consent(&server, &browser, &id).await;
    assert!(consent.contains("Allow Doc Client"), "{consent}");
    assert_eq!(
        host.requests("/client.json"),
        1,
        "kept for [client_id_metadata_documents] cache"
    );

    // Past the cache it is fetched again, and a change shows.
    let mut renamed = document(&id);
    renamed["client_name"] = json!("Renamed Client");
    host.serve("/client.json", Served::JsonCached(renamed, "max-age=120"));
    clock.advance(301);
    let (consent, _) = login_with_consent(&server, &browser, &id).await;
    assert!(consent.contains("Allow Renamed Client"), "{consent}");
    assert_eq!(host.requests("/client.json"), 2);
    // Its Cache-Control is honoured: two minutes.
    clock.advance(100);
    login_with_consent(&server, &browser, &id).await;
    assert_eq!(host.requests("/client.json"), 2);
    clock.advance(30);
    login_with_consent(&server, &browser, &id).await;
    assert_eq!(host.requests("/client.json"), 3);
    server.stop().await;
}

/// What `/authorize` answers for the client `id`: an error page, never a redirect.
async fn refused(server: &TestServer, id: &str) {
    let page = Browser::default().get(&authorize_url(server, id)).await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (400, None),
        "{id}: {}",
        page.body
    );
    assert!(page.body.contains("Unknown application"), "{}", page.body);
}

#[tokio::test]
async fn documents_that_cannot_be_trusted_are_refused_before_anyone_logs_in() {
    let host = DocumentHost::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(true), Clock::System).await;
    let url = |path: &str| host.url(path);

    host.serve("/other.json", Served::Json(document(&url("/someone-else.json"))));
    host.serve("/huge.json", Served::Huge(6 * 1024));
    host.serve("/redirect.json", Served::Redirect(url("/good.json")));
    host.serve("/good.json", Served::Json(document(&url("/good.json"))));
    let mut with_secret = document(&url("/secret.json"));
    with_secret["client_secret"] = json!("shh");
    host.serve("/secret.json", Served::Json(with_secret));
    let mut basic = document(&url("/basic.json"));
    basic["token_endpoint_auth_method"] = json!("client_secret_basic");
    host.serve("/basic.json", Served::Json(basic));
    let mut http_redirect = document(&url("/http-redirect.json"));
    http_redirect["redirect_uris"] = json!(["http://app.example/cb"]);
    host.serve("/http-redirect.json", Served::Json(http_redirect));
    host.serve("/slow.json", Served::Slow(8));

    for path in [
        "/other.json",
        "/huge.json",
        "/redirect.json",
        "/secret.json",
        "/basic.json",
        "/http-redirect.json",
        "/missing.json",
        "/slow.json",
    ] {
        refused(&server, &url(path)).await;
    }
    // A URL not in its normal form, or without a path, is not fetched at all.
    refused(&server, &format!("{}/a/../good.json", host.base)).await;
    refused(&server, &format!("{}/", host.base)).await;
    assert_eq!(
        host.requests("/good.json"),
        0,
        "neither by a redirect nor by a path with dots"
    );

    // A failure is remembered: asking again does not make Gatehouse fetch again.
    let before = host.requests("/other.json");
    refused(&server, &url("/other.json")).await;
    assert_eq!(host.requests("/other.json"), before);
    // A good document on the same host works.
    let page = Browser::default()
        .get(&authorize_url(&server, &url("/good.json")))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    server.stop().await;
}

#[tokio::test]
async fn a_document_on_an_address_gatehouse_must_not_reach_is_refused_without_connecting() {
    // Something listens on loopback, counting the connections it is offered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    let accepting = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(false), Clock::System).await;
    for id in [
        // A name that resolves to loopback: resolved, checked, refused.
        format!("https://localhost:{port}/client.json"),
        format!("https://127.0.0.1:{port}/client.json"),
        format!("https://[::1]:{port}/client.json"),
        format!("http://127.0.0.1:{port}/client.json"),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "https://10.0.0.1/client.json".to_string(),
        "https://[fd00::1]/client.json".to_string(),
    ] {
        refused(&server, &id).await;
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0);
    accepting.abort();
    server.stop().await;
}

#[tokio::test]
async fn a_private_key_jwt_client_names_its_jwks_uri_in_its_registration() {
    let host = DocumentHost::start().await;
    let key = ClientKey::new("k1");
    host.serve("/jwks.json", Served::Json(json!({ "keys": [key.jwk] })));
    let dir = tempfile::tempdir().unwrap();
    let rest = TestConfig::new()
        .tables("[registration]\nenabled = true\nopen = true\nallowed_grant_types = [\"client_credentials\"]\n")
        .tables("[client_id_metadata_documents]\nallow_loopback = true\n")
        .bob()
        .build();
    let server = TestServer::start(dir.path(), &rest, Clock::System).await;
    let metadata = json!({
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": host.url("/jwks.json"),
    });
    let response = client()
        .post(format!("{}/register", server.base))
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let registered: Value = response.json().await.unwrap();
    let id = registered["client_id"].as_str().unwrap();
    let now = Clock::System.now();
    let assertion =
        key.sign(&json!({ "iss": id, "sub": id, "aud": server.base, "iat": now, "exp": now + 60, "jti": "a" }));
    let response = client()
        .post(format!("{}/token", server.base))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert_eq!(host.requests("/jwks.json"), 1);
    server.stop().await;

    // Without allow_loopback, a jwks_uri on loopback is refused at registration.
    let dir = tempfile::tempdir().unwrap();
    let rest = TestConfig::new()
        .tables("[registration]\nenabled = true\nopen = true\nallowed_grant_types = [\"client_credentials\"]\n")
        .bob()
        .build();
    let server = TestServer::start(dir.path(), &rest, Clock::System).await;
    let response = client()
        .post(format!("{}/register", server.base))
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
    server.stop().await;
}
