//! Client authentication with JWTs (RFC 7523, OpenID Connect Core §9): private_key_jwt
//! with inline keys and with a jwks_uri, client_secret_jwt, at every endpoint that
//! authenticates clients, and each way an assertion is refused.

use crate::support;

use gatehouse::Clock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::config::{TestClient, TestConfig};
use support::signing_key::ClientKey;
use support::{TestServer, client};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const HMAC_SECRET: &str = "a-shared-secret-of-more-than-32-bytes";
const START: i64 = 1_900_000_000;

fn hmac_assertion(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The claims of a good assertion from `client_id` for `aud`, unique by `jti`.
fn claims(client_id: &str, aud: &str, now: i64, jti: &str) -> Value {
    json!({ "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60, "jti": jti })
}

fn machine(id: &str) -> TestClient {
    TestClient::public(id).with("grant_types", "[\"client_credentials\"]")
}

fn config(key: &ClientKey, jwks_uri: Option<&str>) -> String {
    let keys = match jwks_uri {
        Some(uri) => ("jwks_uri", format!("\"{uri}\"")),
        None => ("jwks", format!("'{}'", json!({ "keys": [key.jwk] }))),
    };
    TestConfig::new()
        .client(
            machine("signed")
                .with("token_endpoint_auth_method", "\"private_key_jwt\"")
                .with(keys.0, &keys.1)
                .with("introspect", "true"),
        )
        .client(
            machine("hmac")
                .with("token_endpoint_auth_method", "\"client_secret_jwt\"")
                .with("secret", &format!("\"{HMAC_SECRET}\"")),
        )
        .client(machine("basic").with("secret", &format!("\"{HMAC_SECRET}\"")))
        .bob()
        .build()
}

/// Posts `form` with `assertion` to `path`; returns the status and the JSON answer.
async fn post_with(server: &TestServer, path: &str, assertion: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.extend([
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ]);
    let response = client()
        .post(format!("{}{path}", server.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn client_credentials(server: &TestServer, assertion: &str) -> (u16, Value) {
    post_with(server, "/token", assertion, &[("grant_type", "client_credentials")]).await
}

#[tokio::test]
async fn private_key_jwt_authenticates_at_the_token_introspection_and_revocation_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let key = ClientKey::new("k1");
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(&key, None), clock.clone()).await;
    let token_endpoint = format!("{}/token", server.base);

    let (status, body) = client_credentials(&server, &key.sign(&claims("signed", &token_endpoint, START, "a"))).await;
    assert_eq!(status, 200, "{body}");
    let access_token = body["access_token"].as_str().unwrap().to_string();

    // The issuer is an audience too (RFC 7523 §3, as FAPI 2.0 asks); so is the endpoint.
    let (status, body) = post_with(
        &server,
        "/introspect",
        &key.sign(&claims("signed", &server.base, START, "b")),
        &[("token", &access_token)],
    )
    .await;
    assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
    let (status, _) = post_with(
        &server,
        "/revoke",
        &key.sign(&claims("signed", &format!("{}/revoke", server.base), START, "c")),
        &[("token", &access_token)],
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = post_with(
        &server,
        "/introspect",
        &key.sign(&claims("signed", &server.base, START, "d")),
        &[("token", &access_token)],
    )
    .await;
    assert_eq!(body["active"], false, "revoked by an authenticated client: {body}");

    let doc = server.get_json("/.well-known/openid-configuration").await;
    for endpoint in ["token", "introspection", "revocation"] {
        assert_eq!(
            doc[format!("{endpoint}_endpoint_auth_methods_supported")],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "client_secret_jwt",
                "private_key_jwt",
                "none"
            ])
        );
        let algs = doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")]
            .as_array()
            .unwrap()
            .clone();
        for alg in ["HS256", "RS256", "PS256", "ES256", "EdDSA"] {
            assert!(algs.contains(&json!(alg)), "{alg} in {algs:?}");
        }
        assert!(!algs.contains(&json!("none")));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_assertion_is_refused_when_replayed_misaddressed_stale_or_not_the_clients() {
    let dir = tempfile::tempdir().unwrap();
    let key = ClientKey::new("k1");
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(&key, None), clock.clone()).await;
    let token_endpoint = format!("{}/token", server.base);
    let refused = |status: u16, body: &Value, why: &str| {
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{why}: {body}"
        );
    };

    let good = key.sign(&claims("signed", &token_endpoint, START, "once"));
    assert_eq!(client_credentials(&server, &good).await.0, 200);
    let (status, body) = client_credentials(&server, &good).await;
    refused(status, &body, "a replayed jti");
    assert!(body["error_description"].as_str().unwrap().contains("jti"), "{body}");

    let (status, body) = client_credentials(
        &server,
        &key.sign(&claims("signed", "https://elsewhere.test/token", START, "aud")),
    )
    .await;
    refused(status, &body, "another audience");

    let mut stale = claims("signed", &token_endpoint, START - 600, "stale");
    stale["exp"] = json!(START - 120);
    let (status, body) = client_credentials(&server, &key.sign(&stale)).await;
    refused(status, &body, "an expired assertion");

    let mut long = claims("signed", &token_endpoint, START, "long");
    long["exp"] = json!(START + 24 * 3600);
    let (status, body) = client_credentials(&server, &key.sign(&long)).await;
    refused(
        status,
        &body,
        "an assertion that lives a day (its jti would be kept that long)",
    );

    let mut other_sub = claims("signed", &token_endpoint, START, "sub");
    other_sub["sub"] = json!("hmac");
    let (status, body) = client_credentials(&server, &key.sign(&other_sub)).await;
    refused(status, &body, "iss and sub differ");

    let stranger = ClientKey::new("k1");
    let (status, body) = client_credentials(
        &server,
        &stranger.sign(&claims("signed", &token_endpoint, START, "key")),
    )
    .await;
    refused(status, &body, "signed by a key the client does not have");

    // Algorithm confusion: an HMAC keyed with the client's public key material.
    let confused = hmac_assertion(
        &key.jwk["x"].to_string(),
        &claims("signed", &token_endpoint, START, "hmac"),
    );
    let (status, body) = client_credentials(&server, &confused).await;
    refused(status, &body, "an HMAC for a private_key_jwt client");

    // The same client by a secret, or by nothing: not the way it is registered.
    let response = client()
        .post(&token_endpoint)
        .basic_auth("signed", Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let response = client()
        .post(&token_endpoint)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", good.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        400,
        "an unknown assertion type is a malformed request"
    );

    let response = client()
        .post(&token_endpoint)
        .basic_auth("basic", Some(HMAC_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", good.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "two authentication methods at once");

    // Within the window and the leeway, a fresh jti still works after all of that.
    clock.advance(20);
    let (status, body) =
        client_credentials(&server, &key.sign(&claims("signed", &token_endpoint, START, "later"))).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn client_secret_jwt_is_an_hmac_with_the_secret_and_only_for_clients_registered_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = ClientKey::new("k1");
    let server = TestServer::start(dir.path(), &config(&key, None), Clock::manual(START)).await;
    let token_endpoint = format!("{}/token", server.base);

    let good = hmac_assertion(HMAC_SECRET, &claims("hmac", &token_endpoint, START, "1"));
    let (status, body) = client_credentials(&server, &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(client_credentials(&server, &good).await.0, 401, "replayed");

    let wrong = hmac_assertion(
        "another-secret-of-more-than-32-bytes",
        &claims("hmac", &token_endpoint, START, "2"),
    );
    assert_eq!(
        client_credentials(&server, &wrong).await.0,
        401,
        "signed with another secret"
    );

    // "basic" has the same secret, but is registered for client_secret_basic.
    let basic = hmac_assertion(HMAC_SECRET, &claims("basic", &token_endpoint, START, "3"));
    assert_eq!(
        client_credentials(&server, &basic).await.0,
        401,
        "not the client's method"
    );

    // And "hmac" cannot send its secret in clear instead.
    let response = client()
        .post(&token_endpoint)
        .basic_auth("hmac", Some(HMAC_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.stop().await;
}

/// A client's own server publishing its JWK set; counts the fetches.
struct KeyServer {
    url: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl KeyServer {
    async fn start(keys: &[&ClientKey]) -> KeyServer {
        let jwks = Arc::new(Mutex::new(
            json!({ "keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>() }),
        ));
        let fetches = Arc::new(Mutex::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/jwks", listener.local_addr().unwrap().port());
        let (served, counted) = (jwks.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                *counted.lock().unwrap() += 1;
                let body = served.lock().unwrap().clone();
                async move { axum::Json(body) }
            }),
        );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        KeyServer {
            url,
            jwks,
            fetches,
            task,
        }
    }

    fn publish(&self, keys: &[&ClientKey]) {
        *self.jwks.lock().unwrap() = json!({ "keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>() });
    }

    fn fetches(&self) -> usize {
        *self.fetches.lock().unwrap()
    }
}

#[tokio::test]
async fn keys_at_a_jwks_uri_are_cached_and_fetched_again_when_the_client_rotates_at_most_once_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (ClientKey::new("old"), ClientKey::new("new"));
    let keys = KeyServer::start(&[&old]).await;
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(&old, Some(&keys.url)), clock.clone()).await;
    let token_endpoint = format!("{}/token", server.base);
    let sign = |key: &ClientKey, jti: &str| key.sign(&claims("signed", &token_endpoint, clock.now(), jti));

    for jti in ["1", "2", "3"] {
        let (status, body) = client_credentials(&server, &sign(&old, jti)).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(keys.fetches(), 1, "fetched once, then cached");

    // The client rotates: the first assertion with the new kid makes Gatehouse look again.
    keys.publish(&[&new]);
    clock.advance(61);
    let (status, body) = client_credentials(&server, &sign(&new, "4")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys.fetches(), 2);

    // Made-up kids do not make it fetch again within the minute.
    let stranger = ClientKey::new("made-up");
    for jti in ["5", "6", "7"] {
        assert_eq!(client_credentials(&server, &sign(&stranger, jti)).await.0, 401);
    }
    assert_eq!(keys.fetches(), 2, "a refetch at most once a minute");

    // The cached set expires after five minutes and is fetched again.
    clock.advance(301);
    assert_eq!(client_credentials(&server, &sign(&new, "8")).await.0, 200);
    assert_eq!(keys.fetches(), 3);
    keys.task.abort();
    server.stop().await;
}
