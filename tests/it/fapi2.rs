//! Signed request objects (JAR, RFC 9101) for every client, and `profile = "fapi2"`: PAR,
//! a request object, private_key_jwt and DPoP together, each requirement refused alone.

use crate::support;

use gatehouse::Clock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::browser::{Browser, local_login};
use support::config::TestConfig;
use support::signing_key::ClientKey;
use support::{TestServer, client};

const BANK_REDIRECT: &str = "https://bank.example/cb";
const APP_REDIRECT: &str = "https://app.example/cb";
const APP_SECRET: &str = "an-app-secret-long-enough-for-hs256-signing";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const VERIFIER: &str = "a-code-verifier-that-is-long-enough-for-rfc-7636-yes";
const START: i64 = 1_900_000_000;

fn config(bank: &ClientKey, app: &ClientKey) -> String {
    let jwks = |key: &ClientKey| format!("'{}'", json!({ "keys": [key.jwk] }));
    TestConfig::new()
        .tables(&format!(
            "[[clients]]\nid = \"bank\"\nprofile = \"fapi2\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks = {}\nredirect_uris = [\"{BANK_REDIRECT}\"]\nconsent = false\ngrant_types = [\"authorization_code\", \"refresh_token\"]\n",
            jwks(bank)
        ))
        .tables(&format!(
            "[[clients]]\nid = \"app\"\nsecret = \"{APP_SECRET}\"\njwks = {}\nredirect_uris = [\"{APP_REDIRECT}\"]\nconsent = false\n",
            jwks(app)
        ))
        .tables(&format!(
            "[[clients]]\nid = \"strict\"\nsecret = \"{APP_SECRET}\"\nrequire_signed_request_object = true\nredirect_uris = [\"{APP_REDIRECT}\"]\nconsent = false\n"
        ))
        .bob()
        .build()
}

/// A request object of `client_id` for `aud`, with `params` among its claims.
fn request_claims(client_id: &str, aud: &str, now: i64, jti: &str, params: Value) -> Value {
    let mut claims = json!({ "iss": client_id, "aud": aud, "exp": now + 300, "nbf": now, "iat": now, "jti": jti, "client_id": client_id });
    if let (Value::Object(claims), Value::Object(params)) = (&mut claims, params) {
        claims.extend(params);
    }
    claims
}

fn signed_request(key: &ClientKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    header.typ = Some("oauth-authz-req+jwt".into());
    key.sign_with(header, claims)
}

fn code_request(redirect_uri: &str, state: &str) -> Value {
    json!({
        "response_type": "code", "redirect_uri": redirect_uri, "scope": "openid offline_access", "state": state,
        "code_challenge": gatehouse::secrets::s256(VERIFIER), "code_challenge_method": "S256",
    })
}

fn assertion(key: &ClientKey, client_id: &str, aud: Value, now: i64) -> String {
    key.sign(&json!({ "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60, "jti": gatehouse::secrets::random_token() }))
}

/// Posts `form` to `path` with the client's assertion and, when given, a DPoP proof.
async fn post(
    server: &TestServer,
    path: &str,
    form: &[(&str, &str)],
    assertion: &str,
    dpop: Option<&str>,
) -> (u16, Value) {
    let mut form = form.to_vec();
    form.extend([
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ]);
    let mut request = client().post(format!("{}{path}", server.base)).form(&form);
    if let Some(proof) = dpop {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

struct Bank {
    key: ClientKey,
    dpop: ClientKey,
}

impl Bank {
    /// Pushes a signed code request with a DPoP proof; the `request_uri`.
    async fn push(&self, server: &TestServer, now: i64, jti: &str) -> (u16, Value) {
        let request = signed_request(
            &self.key,
            &request_claims(
                "bank",
                &server.base,
                now,
                jti,
                code_request(BANK_REDIRECT, "bank-state"),
            ),
        );
        let proof = self
            .dpop
            .dpop_proof("POST", &format!("{}/par", server.base), now, json!({}));
        let assertion = assertion(&self.key, "bank", json!(server.base), now);
        post(server, "/par", &[("request", &request)], &assertion, Some(&proof)).await
    }

    async fn token(&self, server: &TestServer, form: &[(&str, &str)], now: i64, dpop: &ClientKey) -> (u16, Value) {
        let proof = dpop.dpop_proof("POST", &format!("{}/token", server.base), now, json!({}));
        let assertion = assertion(&self.key, "bank", json!(server.base), now);
        post(server, "/token", form, &assertion, Some(&proof)).await
    }
}

#[tokio::test]
async fn a_fapi2_client_signs_in_by_par_a_request_object_private_key_jwt_and_dpop_and_its_refresh_token_does_not_rotate()
 {
    let bank = Bank {
        key: ClientKey::new("bank-1"),
        dpop: ClientKey::new("bank-dpop"),
    };
    let app = ClientKey::new("app-1");
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(&bank.key, &app), clock.clone()).await;
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["request_parameter_supported"], true);

    let (status, pushed) = bank.push(&server, START, "push-1").await;
    assert_eq!(status, 201, "{pushed}");
    let url = format!(
        "{}/authorize?client_id=bank&request_uri={}",
        server.base,
        encoded(pushed["request_uri"].as_str().unwrap())
    );
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let params = answer.redirect_params();
    assert_eq!(params["state"], "bank-state", "{params:?}");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", BANK_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, tokens) = bank.token(&server, &form, START, &bank.dpop).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    assert_eq!(
        support::jwt_claims(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"],
        bank.dpop.thumbprint()
    );

    // No rotation (FAPI 2.0 §5.3.2.1): the same refresh token, again and again.
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let (status, refreshed) = bank
            .token(
                &server,
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)],
                START,
                &bank.dpop,
            )
            .await;
        assert_eq!(status, 200, "{refreshed}");
        assert_eq!(refreshed["refresh_token"], refresh_token.as_str());
    }
    // Presented with another DPoP key, it was stolen: the family ends.
    let thief = ClientKey::new("thief");
    let (status, body) = bank
        .token(
            &server,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)],
            START,
            &thief,
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, body) = bank
        .token(
            &server,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)],
            START,
            &bank.dpop,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "revoked: {body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn each_fapi2_requirement_is_refused_alone() {
    let bank = Bank {
        key: ClientKey::new("bank-1"),
        dpop: ClientKey::new("bank-dpop"),
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(&bank.key, &ClientKey::new("app-1")), clock.clone()).await;
    let now = START;

    // A direct /authorize: PAR is required.
    let direct = format!(
        "{}/authorize?client_id=bank&response_type=code&scope=openid&redirect_uri={BANK_REDIRECT}&code_challenge={}&code_challenge_method=S256",
        server.base,
        gatehouse::secrets::s256(VERIFIER)
    );
    let page = Browser::default().get(&direct).await;
    let params = page.redirect_params();
    assert_eq!(params["error"], "invalid_request", "{params:?}");
    assert!(params["error_description"].contains("PAR"), "{params:?}");

    let request =
        |jti: &str, params: Value| signed_request(&bank.key, &request_claims("bank", &server.base, now, jti, params));
    let good_assertion = || assertion(&bank.key, "bank", json!(server.base), now);
    let proof = || {
        bank.dpop
            .dpop_proof("POST", &format!("{}/par", server.base), now, json!({}))
    };
    // No DPoP at /par.
    let (status, body) = post(
        &server,
        "/par",
        &[("request", &request("a", code_request(BANK_REDIRECT, "s")))],
        &good_assertion(),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    // No PKCE.
    let mut no_pkce = code_request(BANK_REDIRECT, "s");
    no_pkce.as_object_mut().unwrap().remove("code_challenge");
    no_pkce.as_object_mut().unwrap().remove("code_challenge_method");
    let (status, body) = post(
        &server,
        "/par",
        &[("request", &request("b", no_pkce))],
        &good_assertion(),
        Some(&proof()),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    // A client assertion for the PAR endpoint's URL, or with an array, or RS256.
    for aud in [json!(format!("{}/par", server.base)), json!([server.base])] {
        let (status, body) = post(
            &server,
            "/par",
            &[("request", &request("c", code_request(BANK_REDIRECT, "s")))],
            &assertion(&bank.key, "bank", aud.clone(), now),
            Some(&proof()),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{aud}: {body}"
        );
    }
    // A request object signed with RS256 (a key the client does not have, but the alg is refused first).
    let rsa = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&rsa, rsa::pkcs8::LineEnding::LF).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("bank-1".into());
    let rs256 = jsonwebtoken::encode(
        &header,
        &request_claims("bank", &server.base, now, "d", code_request(BANK_REDIRECT, "s")),
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let (status, body) = post(
        &server,
        "/par",
        &[("request", &rs256)],
        &good_assertion(),
        Some(&proof()),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request_object")),
        "{body}"
    );

    // A code lives a minute at most.
    let (status, pushed) = bank.push(&server, now, "e").await;
    assert_eq!(status, 201, "{pushed}");
    let url = format!(
        "{}/authorize?client_id=bank&request_uri={}",
        server.base,
        encoded(pushed["request_uri"].as_str().unwrap())
    );
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let code = answer.redirect_params()["code"].clone();
    clock.advance(61);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", BANK_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, body) = bank.token(&server, &form, now + 61, &bank.dpop).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    // And the token endpoint wants DPoP.
    let (status, body) = post(
        &server,
        "/token",
        &form,
        &assertion(&bank.key, "bank", json!(server.base), now + 61),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
    server.stop().await;
}

/// What `/authorize` shows for `request` sent by `client_id`: a page, never a redirect.
async fn refused_page(server: &TestServer, client_id: &str, request: &str) -> String {
    let url = format!(
        "{}/authorize?client_id={client_id}&request={}",
        server.base,
        encoded(request)
    );
    let page = Browser::default().get(&url).await;
    assert_eq!((page.status, page.location.as_deref()), (400, None), "{}", page.body);
    page.body
}

#[tokio::test]
async fn a_request_object_is_the_whole_request_and_forgeries_get_an_error_page() {
    let app = ClientKey::new("app-1");
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(&ClientKey::new("bank-1"), &app), Clock::System).await;
    let now = Clock::System.now();
    let claims = |jti: &str| {
        request_claims(
            "app",
            &server.base,
            now,
            jti,
            code_request(APP_REDIRECT, "signed-state"),
        )
    };

    // Only the request object's parameters count: the query's state is not read.
    let request = signed_request(&app, &claims("one"));
    let url = format!(
        "{}/authorize?client_id=app&state=query-state&request={}",
        server.base,
        encoded(&request)
    );
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    assert_eq!(answer.redirect_params()["state"], "signed-state");
    // Taken once.
    assert!(refused_page(&server, "app", &request).await.contains("used before"));

    // An HMAC of the client's secret will do for a client without private_key_jwt.
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("hmac"),
        &EncodingKey::from_secret(APP_SECRET.as_bytes()),
    )
    .unwrap();
    let answer = local_login(
        &server.base,
        &Browser::default(),
        &format!("{}/authorize?client_id=app&request={}", server.base, encoded(&hmac)),
        "bob",
        "bob",
    )
    .await;
    assert!(answer.redirect_params().contains_key("code"));

    let with = |jti: &str, name: &str, value: Value| {
        let mut claims = claims(jti);
        claims[name] = value;
        claims
    };
    let unsigned = format!(
        "{}.{}.",
        base64_json(&json!({ "alg": "none" })),
        base64_json(&claims("none"))
    );
    let mut nested = claims("nested");
    nested["request"] = json!("x.y.z");
    let cases = [
        (unsigned, "alg"),
        (
            signed_request(&ClientKey::new("app-1"), &claims("stranger")),
            "signature",
        ),
        (signed_request(&app, &with("iss", "iss", json!("bank"))), "iss"),
        (
            signed_request(&app, &with("aud", "aud", json!("https://elsewhere.example"))),
            "aud",
        ),
        (
            signed_request(&app, &with("exp", "exp", json!(now + 7200))),
            "hour ahead",
        ),
        (signed_request(&app, &with("old", "exp", json!(now - 600))), "expired"),
        (signed_request(&app, &with("nbf", "nbf", json!(now - 7200))), "nbf"),
        (
            signed_request(&app, &with("cid", "client_id", json!("bank"))),
            "client_id",
        ),
        (signed_request(&app, &nested), "cannot carry request"),
    ];
    for (request, says) in cases {
        let body = refused_page(&server, "app", &request).await;
        assert!(body.contains(says), "{says}: {body}");
    }
    // At /par the same refusal is JSON.
    let response = client()
        .post(format!("{}/par", server.base))
        .basic_auth("app", Some(APP_SECRET))
        .form(&[(
            "request",
            signed_request(&app, &with("par", "aud", json!("https://elsewhere.example"))),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request_object", "{body}");

    // A client that must sign its requests cannot send them in the clear.
    let plain = format!(
        "{}/authorize?client_id=strict&response_type=code&scope=openid&redirect_uri={APP_REDIRECT}&state=s",
        server.base
    );
    let page = Browser::default().get(&plain).await;
    assert_eq!(page.redirect_params()["error"], "invalid_request");
    server.stop().await;
}

fn base64_json(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn jarm_answers_in_one_jwt_gatehouse_signed_errors_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        dir.path(),
        &config(&ClientKey::new("bank-1"), &ClientKey::new("app-1")),
        Clock::System,
    )
    .await;
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    for mode in ["jwt", "query.jwt", "fragment.jwt", "form_post.jwt"] {
        assert!(
            discovery["response_modes_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == mode),
            "{mode}"
        );
    }
    assert_eq!(
        discovery["authorization_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let authorize = |mode: &str, scope: &str| {
        format!(
            "{}/authorize?client_id=app&response_type=code&scope={scope}&redirect_uri={APP_REDIRECT}&state=jarm-state&response_mode={mode}",
            server.base
        )
    };
    let now = Clock::System.now();

    // jwt for a code: in the query, and nothing beside it.
    let answer = local_login(
        &server.base,
        &Browser::default(),
        &authorize("jwt", "openid"),
        "bob",
        "bob",
    )
    .await;
    let params = answer.redirect_params();
    assert_eq!(params.keys().collect::<Vec<_>>(), vec!["response"], "{params:?}");
    let claims = support::verify_jwt(&server, &params["response"], "app").await.unwrap();
    assert_eq!(claims["state"], "jarm-state");
    assert!(claims["code"].is_string(), "{claims}");
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > now && exp <= now + 610, "{claims}");
    let header = jsonwebtoken::decode_header(&params["response"]).unwrap();
    assert_eq!(header.typ.as_deref(), Some("oauth-authz-resp+jwt"));

    // An error is signed too.
    let page = Browser::default()
        .get(&authorize("query.jwt", "openid&prompt=none"))
        .await;
    let params = page.redirect_params();
    let claims = support::verify_jwt(&server, &params["response"], "app").await.unwrap();
    assert_eq!(claims["error"], "login_required", "{claims}");
    assert_eq!(claims["iss"], server.base);

    // In the fragment.
    let page = Browser::default()
        .get(&authorize("fragment.jwt", "openid&prompt=none"))
        .await;
    let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
    let fragment: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(location.fragment().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert!(location.query().is_none(), "{location}");
    let claims = support::verify_jwt(&server, &fragment["response"], "app")
        .await
        .unwrap();
    assert_eq!(claims["error"], "login_required");

    // By a form.
    let page = Browser::default()
        .get(&authorize("form_post.jwt", "openid&prompt=none"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let fields = page.hidden_fields();
    assert_eq!(
        fields.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        vec!["response"],
        "{fields:?}"
    );
    let claims = support::verify_jwt(&server, &fields[0].1, "app").await.unwrap();
    assert_eq!(claims["error"], "login_required");
    server.stop().await;
}

#[tokio::test]
async fn introspection_answers_as_a_signed_jwt_when_asked_to() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        dir.path(),
        &config(&ClientKey::new("bank-1"), &ClientKey::new("app-1")),
        Clock::System,
    )
    .await;
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={APP_REDIRECT}",
        server.base
    );
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let code = answer.redirect_params()["code"].clone();
    let tokens = server.redeem(("app", APP_SECRET), &code, APP_REDIRECT, None).await;
    let introspect = |accept: &'static str| {
        client()
            .post(format!("{}/introspect", server.base))
            .basic_auth("app", Some(APP_SECRET))
            .header("accept", accept)
            .form(&[("token", tokens["access_token"].as_str().unwrap())])
            .send()
    };
    let response = introspect("application/token-introspection+jwt").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/token-introspection+jwt"
    );
    let jwt = response.text().await.unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&jwt).unwrap().typ.as_deref(),
        Some("token-introspection+jwt")
    );
    let claims = support::verify_jwt_with(&server, &jwt, "app", false).await.unwrap();
    assert_eq!(claims["token_introspection"]["active"], true, "{claims}");
    assert_eq!(claims["token_introspection"]["client_id"], "app");
    // Plain JSON otherwise.
    let response = introspect("application/json").await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    server.stop().await;
}

#[tokio::test]
async fn the_readme_fapi2_client_loads_and_must_push() {
    let blocks = support::readme_blocks("Modern OAuth", "toml");
    let example = blocks
        .iter()
        .find(|block| block.contains("profile = \"fapi2\""))
        .expect("the README's fapi2 client");
    let dir = tempfile::tempdir().unwrap();
    let rest = format!("{example}\n{}", TestConfig::new().bob().build());
    let server = TestServer::start(dir.path(), &rest, Clock::System).await;
    let url = format!(
        "{}/authorize?client_id=bank-app&response_type=code&scope=openid&redirect_uri=https://bank-app.example.com/callback&code_challenge={}&code_challenge_method=S256",
        server.base,
        gatehouse::secrets::s256(VERIFIER)
    );
    let page = Browser::default().get(&url).await;
    assert_eq!(page.redirect_params()["error"], "invalid_request", "PAR is required");
    server.stop().await;
}

/// An RSA key as a JWK with `kid`, and its PKCS#8 PEM.
fn rsa_key(kid: &str) -> (Value, String) {
    use base64::Engine;
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&private, rsa::pkcs8::LineEnding::LF).unwrap();
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwk = json!({
        "kty": "RSA", "kid": kid, "use": "sig",
        "n": b64(private.n().to_bytes_be()), "e": b64(private.e().to_bytes_be()),
    });
    (jwk, pem.to_string())
}

#[tokio::test]
async fn a_fapi2_client_may_not_sign_with_rs256_though_the_key_is_its_own() {
    let bank = ClientKey::new("bank-1");
    let (rsa_jwk, rsa_pem) = rsa_key("bank-rsa");
    let rsa_signing = EncodingKey::from_rsa_pem(rsa_pem.as_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rest = TestConfig::new()
        .tables(&format!(
            "[[clients]]\nid = \"bank\"\nprofile = \"fapi2\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks = '{}'\nredirect_uris = [\"{BANK_REDIRECT}\"]\nconsent = false\n",
            json!({ "keys": [bank.jwk, rsa_jwk] })
        ))
        .bob()
        .build();
    let server = TestServer::start(dir.path(), &rest, Clock::System).await;
    let now = Clock::System.now();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("bank-rsa".into());
    let dpop = ClientKey::new("dpop");
    let proof = || dpop.dpop_proof("POST", &format!("{}/par", server.base), now, json!({}));
    let request = |jti: &str| {
        signed_request(
            &bank,
            &request_claims("bank", &server.base, now, jti, code_request(BANK_REDIRECT, "s")),
        )
    };

    // A client assertion with its own RSA key.
    let rs256_assertion = jsonwebtoken::encode(
        &header,
        &json!({ "iss": "bank", "sub": "bank", "aud": server.base, "iat": now, "exp": now + 60, "jti": "rs" }),
        &rsa_signing,
    )
    .unwrap();
    let (status, body) = post(
        &server,
        "/par",
        &[("request", &request("a"))],
        &rs256_assertion,
        Some(&proof()),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );

    // A request object with its own RSA key.
    let mut request_header = header.clone();
    request_header.typ = Some("oauth-authz-req+jwt".into());
    let rs256_request = jsonwebtoken::encode(
        &request_header,
        &request_claims("bank", &server.base, now, "b", code_request(BANK_REDIRECT, "s")),
        &rsa_signing,
    )
    .unwrap();
    let good_assertion = assertion(&bank, "bank", json!(server.base), now);
    let (status, body) = post(
        &server,
        "/par",
        &[("request", &rs256_request)],
        &good_assertion,
        Some(&proof()),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request_object")),
        "{body}"
    );

    // A DPoP proof signed with RS256.
    let mut proof_header = Header::new(Algorithm::RS256);
    proof_header.typ = Some("dpop+jwt".into());
    let (proof_jwk, proof_pem) = rsa_key("proof");
    proof_header.jwk = Some(serde_json::from_value(proof_jwk).unwrap());
    let rs256_proof = jsonwebtoken::encode(
        &proof_header,
        &json!({ "jti": "p", "htm": "POST", "htu": format!("{}/par", server.base), "iat": now }),
        &EncodingKey::from_rsa_pem(proof_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let good_assertion = assertion(&bank, "bank", json!(server.base), now);
    let (status, body) = post(
        &server,
        "/par",
        &[("request", &request("c"))],
        &good_assertion,
        Some(&rs256_proof),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );

    // The same client with EdDSA throughout is fine.
    let good_assertion = assertion(&bank, "bank", json!(server.base), now);
    let (status, body) = post(
        &server,
        "/par",
        &[("request", &request("d"))],
        &good_assertion,
        Some(&proof()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;
}
