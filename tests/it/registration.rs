//! Dynamic Client Registration (RFC 7591) and the client configuration endpoint
//! (RFC 7592): a registered client signs people in like a configured one, every bad
//! registration is refused by name, the registration access token guards the client's
//! configuration, and anonymous registration cannot grow the store without bound.

use crate::support;

use gatehouse::Clock;
use serde_json::{Value, json};
use support::browser::{Browser, local_login};
use support::config::{REDIRECT, TestConfig};
use support::signing_key::ClientKey;
use support::{TestServer, client};

const INITIAL_TOKEN: &str = "an-initial-access-token-for-tests";

fn config(registration: &str) -> String {
    TestConfig::new()
        .tables(&format!("[registration]\nenabled = true\n{registration}\n"))
        .bob()
        .build()
}

fn open() -> String {
    config("open = true")
}

/// Posts `body` to `/register` with `token` as Bearer; the status, the headers and the
/// JSON answer (`null` when it is not JSON).
async fn register_with(
    server: &TestServer,
    token: Option<&str>,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = client().post(format!("{}/register", server.base)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    read_answer(request.send().await.unwrap()).await
}

async fn read_answer(response: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn register(server: &TestServer, body: &Value) -> (u16, Value) {
    let (status, _, body) = register_with(server, None, body).await;
    (status, body)
}

fn web_app() -> Value {
    json!({
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "client_name": "Web App",
        "scope": "openid profile offline_access",
    })
}

fn authorize_url(server: &TestServer, client_id: &str, extra: &str) -> String {
    format!(
        "{}/authorize?client_id={client_id}&response_type=code&scope=openid%20offline_access&redirect_uri={REDIRECT}{extra}",
        server.base
    )
}

async fn token_call(server: &TestServer, auth: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .post(format!("{}/token", server.base))
        .basic_auth(auth.0, Some(auth.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let (status, _, body) = read_answer(response).await;
    (status, body)
}

#[tokio::test]
async fn a_registered_client_signs_a_person_in_like_a_configured_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_900_000_000);
    let server = TestServer::start(dir.path(), &open(), clock.clone()).await;
    let (status, headers, body) = register_with(&server, None, &web_app()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let id = body["client_id"].as_str().unwrap().to_string();
    let secret = body["client_secret"].as_str().unwrap().to_string();
    assert!(id.starts_with("dyn."), "{id}");
    assert_eq!(body["client_id_issued_at"], 1_900_000_000);
    assert_eq!(body["client_secret_expires_at"], 1_900_000_000 + 90 * 86_400);
    // The defaults of RFC 7591 §2, as registered.
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["client_name"], "Web App");
    assert_eq!(
        body["registration_client_uri"],
        format!("{}/register/{id}", server.base)
    );
    assert!(
        body["registration_access_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 43)
    );

    // Nobody vouched for it: the consent page says so and names where the answer goes.
    let browser = Browser::default();
    let page = browser.get(&authorize_url(&server, &id, "")).await;
    let page = browser.follow(&server.base, page).await;
    let page = browser
        .post(
            &format!("{}{}", server.base, page.form_action()),
            &[("csrf", &page.field("csrf")), ("username", "bob"), ("password", "bob")],
        )
        .await;
    assert!(
        page.body.contains("Allow Web App to use your account?"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("This application registered itself"),
        "{}",
        page.body
    );
    let host = url::Url::parse(REDIRECT).unwrap().host_str().unwrap().to_string();
    assert!(page.body.contains(&format!("you go to {host}.")), "{}", page.body);
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
    let code = answer.redirect_params()["code"].clone();
    let (status, tokens) = token_call(
        &server,
        (&id, &secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = support::verify_jwt(&server, tokens["id_token"].as_str().unwrap(), &id)
        .await
        .unwrap();
    assert_eq!(claims["aud"], id);
    assert_eq!(
        server.userinfo_status(tokens["access_token"].as_str().unwrap()).await,
        200
    );
    let (status, refreshed) = token_call(
        &server,
        (&id, &secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");

    // A wrong secret is a wrong secret.
    let (status, body) = token_call(
        &server,
        (&id, "not-the-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );

    // At the end of its lifetime the client is gone: no tokens, its access token inactive.
    clock.advance(90 * 86_400);
    let (status, body) = token_call(
        &server,
        (&id, &secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    assert_eq!(
        server
            .userinfo_status(refreshed["access_token"].as_str().unwrap())
            .await,
        401
    );
    let page = Browser::default().get(&authorize_url(&server, &id, "")).await;
    assert_eq!((page.status, page.location.as_deref()), (400, None), "{}", page.body);
    server.stop().await;
}

#[tokio::test]
async fn a_public_client_registers_with_none_and_must_use_pkce() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &open(), Clock::System).await;
    let mut metadata = web_app();
    metadata["token_endpoint_auth_method"] = json!("none");
    metadata["grant_types"] = json!(["authorization_code", "refresh_token"]);
    let (status, body) = register(&server, &metadata).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("client_secret").is_none(), "{body}");
    let id = body["client_id"].as_str().unwrap().to_string();

    let refused = Browser::default().get(&authorize_url(&server, &id, "")).await;
    let params = refused.redirect_params();
    assert_eq!(params["error"], "invalid_request", "{params:?}");

    let verifier = "a-code-verifier-that-is-long-enough-for-rfc-7636-yes";
    let challenge = gatehouse::secrets::s256(verifier);
    let url = authorize_url(
        &server,
        &id,
        &format!("&code_challenge={challenge}&code_challenge_method=S256"),
    );
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let code = answer.redirect_params()["code"].clone();
    let response = client()
        .post(format!("{}/token", server.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    let (status, _, tokens) = read_answer(response).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    server.stop().await;
}

#[tokio::test]
async fn a_private_key_jwt_client_registers_its_keys_and_authenticates_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        dir.path(),
        &config("open = true\nallowed_grant_types = [\"client_credentials\"]"),
        Clock::System,
    )
    .await;
    let key = ClientKey::new("k1");
    let metadata = json!({
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.jwk] },
    });
    let (status, body) = register(&server, &metadata).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("client_secret").is_none(), "{body}");
    let id = body["client_id"].as_str().unwrap();
    let now = Clock::System.now();
    let assertion = key.sign(&json!({
        "iss": id, "sub": id, "aud": server.base, "iat": now, "exp": now + 60, "jti": "one",
    }));
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
    let (status, _, tokens) = read_answer(response).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = support::jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], id);
    server.stop().await;
}

#[tokio::test]
async fn registration_needs_an_initial_access_token_unless_open_and_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let guarded = config(&format!("initial_access_tokens = [\"{INITIAL_TOKEN}\"]"));
    let server = TestServer::start(dir.path(), &guarded, Clock::System).await;
    for token in [None, Some("not-the-initial-access-token")] {
        let (status, headers, body) = register_with(&server, token, &web_app()).await;
        assert_eq!(status, 401, "{body}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("invalid_token"),
            "{challenge}"
        );
    }
    let (status, _, body) = register_with(&server, Some(INITIAL_TOKEN), &web_app()).await;
    assert_eq!(status, 201, "{body}");
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["registration_endpoint"], format!("{}/register", server.base));
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &TestConfig::new().bob().build(), Clock::System).await;
    let (status, _, _) = register_with(&server, Some(INITIAL_TOKEN), &web_app()).await;
    assert_eq!(status, 404);
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert!(discovery.get("registration_endpoint").is_none(), "{discovery}");
    server.stop().await;
}

#[tokio::test]
async fn bad_metadata_is_refused_by_name_and_nothing_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &open(), Clock::System).await;
    let with = |key: &str, value: Value| {
        let mut metadata = web_app();
        metadata[key] = value;
        metadata
    };
    let private_key = json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] });
    let cases = [
        (
            with("redirect_uris", json!(["http://app.example/cb"])),
            "invalid_redirect_uri",
            "https",
        ),
        (
            with("redirect_uris", json!(["https://app.example/cb#x"])),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            with("redirect_uris", json!(["javascript:alert(1)"])),
            "invalid_redirect_uri",
            "scheme",
        ),
        (with("redirect_uris", json!([])), "invalid_redirect_uri", "at least one"),
        (
            with("post_logout_redirect_uris", json!(["http://evil.example/"])),
            "invalid_redirect_uri",
            "post_logout",
        ),
        (
            with(
                "grant_types",
                json!(["urn:ietf:params:oauth:grant-type:token-exchange"]),
            ),
            "invalid_client_metadata",
            "token-exchange",
        ),
        (
            with("response_types", json!(["token"])),
            "invalid_client_metadata",
            "\"token\"",
        ),
        (
            with("token_endpoint_auth_method", json!("client_secret_jwt")),
            "invalid_client_metadata",
            "client_secret_jwt",
        ),
        (
            with("token_endpoint_auth_method", json!("private_key_jwt")),
            "invalid_client_metadata",
            "jwks",
        ),
        (
            {
                let mut m = with("token_endpoint_auth_method", json!("private_key_jwt"));
                m["jwks"] = private_key;
                m
            },
            "invalid_client_metadata",
            "private or symmetric",
        ),
        (
            with("scope", json!("openid payroll")),
            "invalid_client_metadata",
            "payroll",
        ),
        (
            with("client_name", json!("x".repeat(101))),
            "invalid_client_metadata",
            "client_name",
        ),
        (
            with("logo_uri", json!("javascript:x")),
            "invalid_client_metadata",
            "logo_uri",
        ),
        (
            with("redirect_uris", json!("https://app.example/cb")),
            "invalid_client_metadata",
            "RFC 7591",
        ),
        (
            with("software_statement", json!("eyJhbGciOi.x.y")),
            "unapproved_software_statement",
            "software statement",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata", "object"),
    ];
    for (metadata, error, mentions) in cases {
        let (status, body) = register(&server, &metadata).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{metadata}: {body}"
        );
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(mentions), "{metadata}: {description}");
    }
    // A client_credentials client must be able to prove who it is.
    let machine = json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none" });
    let (status, body) = register(&server, &machine).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );

    let raw = |content_type: &'static str, body: Vec<u8>| {
        client()
            .post(format!("{}/register", server.base))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let (status, _, body) = read_answer(raw("application/json", b"{not json".to_vec()).await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")));
    let (status, _, body) = read_answer(raw("text/plain", b"{}".to_vec()).await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")));
    let huge = serde_json::to_vec(&with(
        "client_uri",
        json!(format!("https://app.example/{}", "a".repeat(20_000))),
    ))
    .unwrap();
    let (status, _, _) = read_answer(raw("application/json", huge).await.unwrap()).await;
    assert_eq!(status, 413);

    let kept = server.app.state().store.registered_clients.stored_len().await.unwrap();
    assert_eq!(kept, 0);
    server.stop().await;
}

#[tokio::test]
async fn the_defaults_of_rfc_7591_fill_what_a_registration_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &open(), Clock::System).await;
    let (status, body) = register(&server, &json!({ "redirect_uris": [REDIRECT] })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    assert_eq!(body["response_types"], json!(["code"]));
    assert!(body["client_secret"].is_string(), "{body}");
    server.stop().await;
}

/// The client configuration endpoint's answer to `method` with `token`.
async fn configure(
    server: &TestServer,
    method: reqwest::Method,
    id: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = client()
        .request(method, format!("{}/register/{id}", server.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let (status, _, body) = read_answer(request.send().await.unwrap()).await;
    (status, body)
}

#[tokio::test]
async fn the_registration_access_token_reads_updates_and_deletes_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &open(), Clock::System).await;
    let (_, registered) = register(&server, &web_app()).await;
    let id = registered["client_id"].as_str().unwrap().to_string();
    let secret = registered["client_secret"].as_str().unwrap().to_string();
    let token = registered["registration_access_token"].as_str().unwrap().to_string();
    use reqwest::Method;

    let (status, read) = configure(&server, Method::GET, &id, &token, None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["redirect_uris"], registered["redirect_uris"]);
    assert_eq!(read["client_secret_expires_at"], registered["client_secret_expires_at"]);
    assert!(read.get("client_secret").is_none(), "kept only as a hash: {read}");
    for (wrong_id, wrong_token) in [(id.as_str(), "not-the-token"), ("dyn.nobody", token.as_str())] {
        let (status, body) = configure(&server, Method::GET, wrong_id, wrong_token, None).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
    }

    // A person signs in, so that there is a consent and a refresh family to end later.
    let answer = local_login(
        &server.base,
        &Browser::default(),
        &authorize_url(&server, &id, ""),
        "bob",
        "bob",
    )
    .await;
    let code = answer.redirect_params()["code"].clone();
    let (_, tokens) = token_call(
        &server,
        (&id, &secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();

    let mut changed = web_app();
    changed["client_id"] = json!(id);
    changed["client_name"] = json!("Renamed App");
    changed["redirect_uris"] = json!(["https://app.example/other"]);
    let mut other_id = changed.clone();
    other_id["client_id"] = json!("dyn.someone-else");
    let mut wrong_secret = changed.clone();
    wrong_secret["client_secret"] = json!("not-the-secret");
    for body in [&other_id, &wrong_secret] {
        let (status, answer) = configure(&server, Method::PUT, &id, &token, Some(body)).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{answer}"
        );
    }
    let mut with_secret = changed.clone();
    with_secret["client_secret"] = json!(secret);
    let (status, updated) = configure(&server, Method::PUT, &id, &token, Some(&with_secret)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Renamed App");
    assert_eq!(updated["redirect_uris"], json!(["https://app.example/other"]));
    assert_eq!(
        updated["client_secret_expires_at"], registered["client_secret_expires_at"],
        "no new lifetime"
    );
    assert!(updated.get("client_secret").is_none(), "the secret stays: {updated}");
    let new_token = updated["registration_access_token"].as_str().unwrap().to_string();
    assert_ne!(new_token, token, "the token rotates");
    let (status, _) = configure(&server, Method::GET, &id, &token, None).await;
    assert_eq!(status, 401, "the old token is gone");
    // The old redirect URI is no longer the client's.
    let page = Browser::default().get(&authorize_url(&server, &id, "")).await;
    assert_eq!((page.status, page.location.as_deref()), (400, None), "{}", page.body);

    let (status, _) = configure(&server, Method::DELETE, &id, &token, None).await;
    assert_eq!(status, 401, "a delete needs the current token");
    let (status, _) = configure(&server, Method::DELETE, &id, &new_token, None).await;
    assert_eq!(status, 204);
    let (status, _) = configure(&server, Method::GET, &id, &new_token, None).await;
    assert_eq!(status, 401);
    let (status, body) = token_call(
        &server,
        (&id, &secret),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    let data_dir = server.app.state().config.data_dir.clone();
    server.stop().await;

    // Its refresh families are revoked and the consent to it is gone.
    let store = support::open_when_released(&data_dir);
    let now = Clock::System.now();
    let families = store.refresh_families.entries(now).await.unwrap();
    let of_client: Vec<_> = families.iter().filter(|(_, f)| f.client_id == id).collect();
    assert!(
        !of_client.is_empty() && of_client.iter().all(|(_, f)| f.revoked),
        "{of_client:?}"
    );
    let consents = store.consents.entries(now).await.unwrap();
    assert!(consents.iter().all(|(key, _)| !key.ends_with(&id)), "{consents:?}");
}

#[tokio::test]
async fn a_flood_of_anonymous_registrations_is_bounded_per_address_and_in_all() {
    let dir = tempfile::tempdir().unwrap();
    let limits = "[limits]\nregistrations_per_ip_per_hour = 3\nregistered_clients = 1000";
    let server = TestServer::start(dir.path(), &format!("{}\n{limits}", open()), Clock::System).await;
    for _ in 0..3 {
        assert_eq!(register(&server, &web_app()).await.0, 201);
    }
    let (status, headers, body) = register_with(&server, None, &web_app()).await;
    assert_eq!(status, 429, "{body}");
    let wait: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3000..=3600).contains(&wait), "{wait}");
    server.stop().await;

    // Many at once from many places: no more are kept than the bound.
    let dir = tempfile::tempdir().unwrap();
    let limits = "[limits]\nregistrations_per_ip_per_hour = 1000\nregistered_clients = 5";
    let server = TestServer::start(dir.path(), &format!("{}\n{limits}", open()), Clock::System).await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let request = client().post(format!("{}/register", server.base)).json(&web_app());
        attempts.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let statuses = attempts.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| [201, 503].contains(s)), "{statuses:?}");
    let kept = server.app.state().store.registered_clients.stored_len().await.unwrap();
    assert_eq!(kept, 5);
    server.stop().await;
}

#[tokio::test]
async fn the_operator_lists_shows_and_deletes_registered_clients() {
    let dir = tempfile::tempdir().unwrap();
    let rest = TestConfig::new()
        .client(support::config::TestClient::confidential("app", "app-secret"))
        .tables("[registration]\nenabled = true\nopen = true\n")
        .bob()
        .build();
    let server = TestServer::start_with_admin(dir.path(), &rest, Clock::System).await;
    let (_, registered) = register(&server, &web_app()).await;
    let id = registered["client_id"].as_str().unwrap().to_string();
    let config = server.config_path.to_str().unwrap().to_string();

    // Through the admin API while the server runs.
    let (code, stdout, stderr) = support::gatehouse_async(&["clients", "list", "--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.lines().any(|l| l.starts_with("app ") && l.contains("config")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("registered") && l.contains("Web App")),
        "{stdout}"
    );
    let (code, stdout, stderr) = support::gatehouse_async(&["clients", "show", "--config", &config, &id]).await;
    assert_eq!(code, 0, "{stderr}");
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["metadata"]["client_name"], "Web App");
    assert!(!stdout.contains("hash"), "no secret's hash is shown: {stdout}");
    let (code, _, stderr) = support::gatehouse_async(&["clients", "delete", "--config", &config, "app"]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("client of the config"), "{stderr}");
    let (code, stdout, stderr) = support::gatehouse_async(&["clients", "delete", "--config", &config, &id]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("deleted"), "{stdout}");
    let (code, _, stderr) = support::gatehouse_async(&["clients", "show", "--config", &config, &id]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("no registered client"), "{stderr}");
    let (_, second) = register(&server, &web_app()).await;
    let second_id = second["client_id"].as_str().unwrap().to_string();
    server.stop().await;

    // On the database itself when no server runs.
    let (code, stdout, stderr) = support::gatehouse_async(&["clients", "list", "--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&second_id) && !stdout.contains(&id), "{stdout}");
    let (code, _, stderr) = support::gatehouse_async(&["clients", "delete", "--config", &config, &second_id]).await;
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test]
async fn the_readme_examples_load_and_register_a_client() {
    let toml = support::readme_blocks("Clients that register themselves", "toml");
    let json = support::readme_blocks("Clients that register themselves", "json");
    assert_eq!((toml.len(), json.len()), (4, 2), "the README's examples");
    let request: Value = serde_json::from_str(&json[0]).unwrap();
    let metadata: Value = serde_json::from_str(&json[1]).unwrap();
    assert_eq!(metadata["authorization_servers"][0], "https://login.example.com");

    // The registration, document and resource examples together, the token as printed
    // but from the test rather than the environment.
    let rest = format!(
        "{}\n{}\n{}\n{}",
        toml[0].replace("${GATEHOUSE_REGISTRATION_TOKEN}", INITIAL_TOKEN),
        toml[1],
        toml[2],
        TestConfig::new().bob().build()
    );
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &rest, Clock::System).await;
    let discovery = server.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(discovery["registration_endpoint"], format!("{}/register", server.base));
    assert_eq!(discovery["client_id_metadata_document_supported"], true);
    let (status, _, registered) = register_with(&server, Some(INITIAL_TOKEN), &request).await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["client_name"], "Example Agent");
    assert_eq!(
        registered["client_secret_expires_at"].as_i64().unwrap() - registered["client_id_issued_at"].as_i64().unwrap(),
        30 * 86_400
    );
    server.stop().await;

    // The MCP server's authorization server, on the test's own issuer.
    let mcp = toml[3]
        .lines()
        .filter(|line| !line.starts_with("issuer = "))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &mcp, Clock::System).await;
    let (status, registered) = register(&server, &request).await;
    assert_eq!(status, 201, "{registered}");
    let id = registered["client_id"].as_str().unwrap();
    let redirect = registered["redirect_uris"][0].as_str().unwrap();
    let challenge = gatehouse::secrets::s256("a-code-verifier-that-is-long-enough-for-rfc-7636-yes");
    let authorize = |resource: &str| {
        format!(
            "{}/authorize?client_id={id}&response_type=code&scope=openid&redirect_uri={redirect}&code_challenge={challenge}&code_challenge_method=S256&resource={resource}",
            server.base
        )
    };
    let page = Browser::default().get(&authorize("https://mcp.example.com/mcp")).await;
    assert_eq!(page.status, 303, "on to the login: {}", page.body);
    let page = Browser::default()
        .get(&authorize("https://elsewhere.example.com/mcp"))
        .await;
    assert_eq!(page.redirect_params()["error"], "invalid_target");
    server.stop().await;
}
