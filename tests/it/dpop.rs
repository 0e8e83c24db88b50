//! DPoP (RFC 9449): a proof at the token endpoint binds the tokens to the client's key,
//! `/userinfo` takes a bound token only with a proof of that key for that request, the
//! code can be bound ahead (`dpop_jkt`, a DPoP header at `/par`), and each way a proof is
//! refused.

use crate::support;

use gatehouse::Clock;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use support::browser::{Browser, local_login};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::signing_key::ClientKey;
use support::{TestServer, client, post_form};

const START: i64 = 1_900_000_000;
const VERIFIER: &str = "a-code-verifier-of-at-least-forty-three-characters";

fn config(extra: &str) -> String {
    TestConfig::new()
        .client(
            TestClient::public("spa")
                .no_consent()
                .with("grant_types", "[\"authorization_code\", \"refresh_token\"]"),
        )
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .client(TestClient::confidential("machine", "machine-secret").with("grant_types", "[\"client_credentials\"]"))
        .client(
            TestClient::confidential("strict", "strict-secret")
                .with("grant_types", "[\"client_credentials\"]")
                .with("require_dpop", "true"),
        )
        .client(TestClient::confidential("rs", "rs-secret").with("introspect", "true"))
        .bob()
        .tables(extra)
        .build()
}

fn ath(token: &str) -> Value {
    json!({ "ath": gatehouse::secrets::s256(token) })
}

/// Posts `form` to the token endpoint (or `path`) with `dpop` proofs; the status, the
/// JSON answer and the response's DPoP-Nonce.
async fn post(
    server: &TestServer,
    path: &str,
    auth: Option<(&str, &str)>,
    dpop: &[&str],
    form: &[(&str, &str)],
) -> (u16, Value, Option<String>) {
    let mut request = client().post(format!("{}{path}", server.base)).form(form);
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    for proof in dpop {
        request = request.header("DPoP", *proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let nonce = response
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), nonce)
}

/// GET /userinfo with `authorization` and the proofs; status, body, WWW-Authenticate,
/// DPoP-Nonce.
async fn userinfo(server: &TestServer, authorization: &str, dpop: &[&str]) -> (u16, Value, String, Option<String>) {
    let mut request = client()
        .get(format!("{}/userinfo", server.base))
        .header("authorization", authorization);
    for proof in dpop {
        request = request.header("DPoP", *proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    let (challenge, nonce) = (header("www-authenticate").unwrap_or_default(), header("dpop-nonce"));
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        challenge,
        nonce,
    )
}

/// Logs bob in for the public client `spa` (with `extra` authorization parameters);
/// returns the code.
async fn spa_code(server: &TestServer, extra: &str) -> String {
    let challenge = gatehouse::secrets::s256(VERIFIER);
    let url = format!(
        "{}/authorize?client_id=spa&response_type=code&scope=openid%20offline_access&redirect_uri={REDIRECT}\
         &code_challenge={challenge}&code_challenge_method=S256{extra}",
        server.base
    );
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let params = answer.redirect_params();
    params
        .get("code")
        .unwrap_or_else(|| panic!("no code: {params:?}"))
        .clone()
}

fn code_form(code: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", "spa"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]
}

fn assert_refused(status: u16, body: &Value, error: &str, why: &str) {
    assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{why}: {body}");
}

#[tokio::test]
async fn a_proof_binds_a_public_clients_tokens_and_userinfo_takes_them_only_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let (key, stranger) = (ClientKey::new("k"), ClientKey::new("s"));
    let token_url = format!("{}/token", server.base);
    let userinfo_url = format!("{}/userinfo", server.base);
    let now = || Clock::System.now();

    let code = spa_code(&server, "").await;
    let (status, tokens, _) = post(
        &server,
        "/token",
        None,
        &[&key.dpop_proof("POST", &token_url, now(), json!({}))],
        &code_form(&code),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(support::jwt_claims(&access)["cnf"], json!({ "jkt": key.thumbprint() }));

    // Introspection tells the binding (RFC 9449 §6.2), for the refresh token too.
    let (_, seen) = post_form(&server, "/introspect", ("rs", "rs-secret"), &[("token", &access)]).await;
    assert_eq!(
        (&seen["token_type"], &seen["cnf"]["jkt"]),
        (&json!("DPoP"), &json!(key.thumbprint())),
        "{seen}"
    );
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let (_, seen) = post_form(&server, "/introspect", ("rs", "rs-secret"), &[("token", &refresh)]).await;
    assert_eq!(seen["cnf"]["jkt"], json!(key.thumbprint()), "{seen}");

    let dpop = format!("DPoP {access}");
    let good = || key.dpop_proof("GET", &userinfo_url, now(), ath(&access));
    let (status, body, _, _) = userinfo(&server, &dpop, &[&good()]).await;
    assert_eq!((status, &body["sub"].is_string()), (200, &true), "{body}");

    let refused = |(status, body, challenge, _): (u16, Value, String, Option<String>), error: &str, why: &str| {
        assert_eq!((status, body["error"].as_str()), (401, Some(error)), "{why}: {body}");
        assert!(challenge.starts_with("DPoP algs=\""), "{why}: {challenge}");
        assert!(challenge.contains(&format!("error=\"{error}\"")), "{why}: {challenge}");
    };
    let bearer = format!("Bearer {access}");
    refused(
        userinfo(&server, &bearer, &[&good()]).await,
        "invalid_token",
        "a bound token as Bearer",
    );
    refused(userinfo(&server, &dpop, &[]).await, "invalid_dpop_proof", "no proof");
    let reused = good();
    assert_eq!(userinfo(&server, &dpop, &[&reused]).await.0, 200);
    refused(
        userinfo(&server, &dpop, &[&reused]).await,
        "invalid_dpop_proof",
        "a replayed proof",
    );
    let cases = [
        (
            key.dpop_proof("POST", &userinfo_url, now(), ath(&access)),
            "another method",
        ),
        (key.dpop_proof("GET", &token_url, now(), ath(&access)), "another URL"),
        (key.dpop_proof("GET", &userinfo_url, now(), json!({})), "no ath"),
        (
            key.dpop_proof("GET", &userinfo_url, now(), ath("another token")),
            "the ath of another token",
        ),
        (
            stranger.dpop_proof("GET", &userinfo_url, now(), ath(&access)),
            "another key",
        ),
        (
            key.dpop_proof("GET", &userinfo_url, now() - 300, ath(&access)),
            "made five minutes ago",
        ),
    ];
    for (proof, why) in &cases {
        refused(userinfo(&server, &dpop, &[proof]).await, "invalid_dpop_proof", why);
    }
    refused(
        userinfo(&server, &dpop, &[&good(), &good()]).await,
        "invalid_dpop_proof",
        "two proofs",
    );

    // The refresh token is bound too: it needs a proof of the same key.
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("client_id", "spa"),
        ("refresh_token", &refresh),
    ];
    let (status, body, _) = post(&server, "/token", None, &[], &refresh_form).await;
    assert_refused(
        status,
        &body,
        "invalid_dpop_proof",
        "a bound refresh token without a proof",
    );
    let other = stranger.dpop_proof("POST", &token_url, now(), json!({}));
    let (status, body, _) = post(&server, "/token", None, &[&other], &refresh_form).await;
    assert_refused(status, &body, "invalid_grant", "a bound refresh token with another key");
    let own = key.dpop_proof("POST", &token_url, now(), json!({}));
    let (status, renewed, _) = post(&server, "/token", None, &[&own], &refresh_form).await;
    assert_eq!((status, &renewed["token_type"]), (200, &json!("DPoP")), "{renewed}");

    let doc = server.get_json("/.well-known/openid-configuration").await;
    let algs = doc["dpop_signing_alg_values_supported"].as_array().unwrap().clone();
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&json!(alg)), "{alg} in {algs:?}");
    }
    assert!(!algs.iter().any(|a| a.as_str().unwrap().starts_with("HS")), "{algs:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_confidential_clients_access_tokens_are_bound_and_its_refresh_tokens_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let key = ClientKey::new("k");
    let token_url = format!("{}/token", server.base);
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid%20offline_access&redirect_uri={REDIRECT}",
        server.base
    );
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let code = answer.redirect_params()["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
    ];
    let at_token = key.dpop_proof("POST", &token_url, Clock::System.now(), json!({}));
    let (status, tokens, _) = post(&server, "/token", Some(("app", "app-secret")), &[&at_token], &form).await;
    assert_eq!((status, &tokens["token_type"]), (200, &json!("DPoP")), "{tokens}");

    // The client's authentication binds its refresh token (RFC 9449 §5): no proof needed,
    // and the token it gets then is a bearer token.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let renewed = server.refresh(("app", "app-secret"), refresh).await;
    assert_eq!(renewed.status(), 200);
    let renewed: Value = renewed.json().await.unwrap();
    assert_eq!(renewed["token_type"], "Bearer", "{renewed}");
    assert!(support::jwt_claims(renewed["access_token"].as_str().unwrap())["cnf"].is_null());
    let access = renewed["access_token"].as_str().unwrap();
    assert_eq!(server.userinfo_status(access).await, 200);
    // An unbound token is not taken as DPoP.
    let (status, body, _, _) = userinfo(&server, &format!("DPoP {access}"), &[]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_refuses_proofs_that_are_malformed_misaddressed_stale_or_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(""), clock.clone()).await;
    let key = ClientKey::new("k");
    let token_url = format!("{}/token", server.base);
    let machine = Some(("machine", "machine-secret"));
    let form = [("grant_type", "client_credentials")];

    let good = key.dpop_proof("POST", &token_url, START, json!({}));
    let (status, body, _) = post(&server, "/token", machine, &[&good], &form).await;
    assert_eq!((status, &body["token_type"]), (200, &json!("DPoP")), "{body}");
    assert_eq!(
        support::jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        json!(key.thumbprint())
    );
    let (status, body, _) = post(&server, "/token", machine, &[&good], &form).await;
    assert_refused(status, &body, "invalid_dpop_proof", "a replayed proof");
    assert!(body["error_description"].as_str().unwrap().contains("jti"), "{body}");

    let with_header = |change: &dyn Fn(&mut Header)| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(key.jwk.clone()).unwrap());
        change(&mut header);
        let claims =
            json!({ "jti": gatehouse::secrets::random_token(), "htm": "POST", "htu": token_url, "iat": START });
        key.sign_with(header, &claims)
    };
    let stranger = ClientKey::new("s");
    let mut private = key.jwk.clone();
    private["d"] = json!("AAAA");
    let (mut first, second) = (
        good.split('.').map(String::from).collect::<Vec<_>>(),
        ClientKey::new("x"),
    );
    first[2] = second
        .dpop_proof("POST", &token_url, START, json!({}))
        .split('.')
        .nth(2)
        .unwrap()
        .to_string();
    let cases = [
        (with_header(&|h| h.typ = Some("JWT".into())), "typ JWT"),
        (with_header(&|h| h.jwk = None), "no jwk"),
        (
            with_header(&|h| h.jwk = Some(serde_json::from_value(stranger.jwk.clone()).unwrap())),
            "a jwk that did not sign it",
        ),
        (key.dpop_proof("GET", &token_url, START, json!({})), "another method"),
        (
            key.dpop_proof("POST", &format!("{}/par", server.base), START, json!({})),
            "another URL",
        ),
        (
            key.dpop_proof("POST", &token_url, START - 120, json!({})),
            "two minutes old",
        ),
        (
            key.dpop_proof("POST", &token_url, START + 120, json!({})),
            "two minutes ahead",
        ),
        (
            key.dpop_proof("POST", &token_url, START, json!({ "jti": "" })),
            "an empty jti",
        ),
        (first.join("."), "another key's signature"),
        ("not-a-jwt".to_string(), "not a JWT"),
    ];
    for (proof, why) in &cases {
        let (status, body, _) = post(&server, "/token", machine, &[proof], &form).await;
        assert_refused(status, &body, "invalid_dpop_proof", why);
    }
    // A private key in the header is refused without being used (RFC 9449 §4.3).
    let unsigned = format!(
        "{}.{}.sig",
        b64(&json!({ "alg": "EdDSA", "typ": "dpop+jwt", "jwk": private })),
        b64(&json!({ "jti": "p", "htm": "POST", "htu": token_url, "iat": START }))
    );
    let (status, body, _) = post(&server, "/token", machine, &[&unsigned], &form).await;
    assert_refused(status, &body, "invalid_dpop_proof", "a private key in the jwk");
    assert!(
        body["error_description"].as_str().unwrap().contains("private"),
        "{body}"
    );
    let (status, body, _) = post(&server, "/token", machine, &[&good, &good], &form).await;
    assert_refused(status, &body, "invalid_dpop_proof", "two DPoP headers");

    // Without a proof: a bearer token, unless the client must use DPoP.
    let (status, body, _) = post(&server, "/token", machine, &[], &form).await;
    assert_eq!((status, &body["token_type"]), (200, &json!("Bearer")), "{body}");
    let (status, body, _) = post(&server, "/token", Some(("strict", "strict-secret")), &[], &form).await;
    assert_refused(status, &body, "invalid_dpop_proof", "require_dpop without a proof");
    let strict = key.dpop_proof("POST", &token_url, START, json!({}));
    let (status, body, _) = post(&server, "/token", Some(("strict", "strict-secret")), &[&strict], &form).await;
    assert_eq!((status, &body["token_type"]), (200, &json!("DPoP")), "{body}");
    server.stop().await;
}

fn b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn dpop_jkt_and_a_proof_at_par_bind_the_code_to_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let (key, stranger) = (ClientKey::new("k"), ClientKey::new("s"));
    let token_url = format!("{}/token", server.base);
    let now = || Clock::System.now();

    let code = spa_code(&server, &format!("&dpop_jkt={}", key.thumbprint())).await;
    let (status, body, _) = post(&server, "/token", None, &[], &code_form(&code)).await;
    assert_refused(status, &body, "invalid_dpop_proof", "a bound code without a proof");
    let other = stranger.dpop_proof("POST", &token_url, now(), json!({}));
    let (status, body, _) = post(&server, "/token", None, &[&other], &code_form(&code)).await;
    assert_refused(status, &body, "invalid_grant", "a bound code with another key");
    // Neither spent the code.
    let own = key.dpop_proof("POST", &token_url, now(), json!({}));
    let (status, body, _) = post(&server, "/token", None, &[&own], &code_form(&code)).await;
    assert_eq!((status, &body["token_type"]), (200, &json!("DPoP")), "{body}");

    let answer = Browser::default()
        .get(&format!(
            "{}/authorize?client_id=spa&response_type=code&scope=openid&redirect_uri={REDIRECT}\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&dpop_jkt=short",
            server.base
        ))
        .await;
    assert_eq!(
        answer.redirect_params()["error"],
        "invalid_request",
        "a malformed dpop_jkt"
    );

    // A DPoP header at /par binds the code it leads to (RFC 9449 §10.1).
    let challenge = gatehouse::secrets::s256(VERIFIER);
    let pushed = [
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let par_url = format!("{}/par", server.base);
    let at_par = key.dpop_proof("POST", &par_url, now(), json!({}));
    let auth = Some(("app", "app-secret"));
    let (status, body, _) = post(&server, "/par", auth, &[&at_par], &pushed).await;
    assert_eq!(status, 201, "{body}");
    let request_uri: String =
        url::form_urlencoded::byte_serialize(body["request_uri"].as_str().unwrap().as_bytes()).collect();
    let url = format!("{}/authorize?client_id=app&request_uri={request_uri}", server.base);
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let code = answer.redirect_params()["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, body, _) = post(&server, "/token", auth, &[], &form).await;
    assert_refused(
        status,
        &body,
        "invalid_dpop_proof",
        "a code pushed with a proof, redeemed without",
    );
    let own = key.dpop_proof("POST", &token_url, now(), json!({}));
    let (status, body, _) = post(&server, "/token", auth, &[&own], &form).await;
    assert_eq!((status, &body["token_type"]), (200, &json!("DPoP")), "{body}");

    let other_jkt = stranger.thumbprint();
    let mismatch = [&pushed[..], &[("dpop_jkt", other_jkt.as_str())]].concat();
    let at_par = key.dpop_proof("POST", &par_url, now(), json!({}));
    let (status, body, _) = post(&server, "/par", auth, &[&at_par], &mismatch).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn with_require_nonce_a_proof_must_carry_the_servers_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config("[dpop]\nrequire_nonce = true\n"), clock.clone()).await;
    let key = ClientKey::new("k");
    let token_url = format!("{}/token", server.base);
    let userinfo_url = format!("{}/userinfo", server.base);
    let machine = Some(("machine", "machine-secret"));
    let form = [("grant_type", "client_credentials")];

    let (status, body, nonce) = post(
        &server,
        "/token",
        machine,
        &[&key.dpop_proof("POST", &token_url, START, json!({}))],
        &form,
    )
    .await;
    assert_refused(status, &body, "use_dpop_nonce", "no nonce");
    let nonce = nonce.expect("the nonce to use");
    let with_nonce = |iat: i64, nonce: &str| key.dpop_proof("POST", &token_url, iat, json!({ "nonce": nonce }));
    let (status, body, _) = post(&server, "/token", machine, &[&with_nonce(START, "made-up")], &form).await;
    assert_refused(status, &body, "use_dpop_nonce", "a made-up nonce");
    let (status, body, handed) = post(&server, "/token", machine, &[&with_nonce(START, &nonce)], &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        handed.as_deref(),
        Some(nonce.as_str()),
        "the current nonce comes with the answer"
    );

    // The resource asks for it too.
    let code = spa_code(&server, "").await;
    let spa_proof = key.dpop_proof("POST", &token_url, START, json!({ "nonce": nonce }));
    let (status, tokens, _) = post(&server, "/token", None, &[&spa_proof], &code_form(&code)).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let dpop = format!("DPoP {access}");
    let (status, body, challenge, given) = userinfo(
        &server,
        &dpop,
        &[&key.dpop_proof("GET", &userinfo_url, START, ath(&access))],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("use_dpop_nonce")),
        "{body}"
    );
    assert!(challenge.contains("error=\"use_dpop_nonce\""), "{challenge}");
    assert_eq!(given.as_deref(), Some(nonce.as_str()));
    let mut claims = ath(&access);
    claims["nonce"] = json!(nonce);
    let (status, body, _, _) = userinfo(&server, &dpop, &[&key.dpop_proof("GET", &userinfo_url, START, claims)]).await;
    assert_eq!(status, 200, "{body}");

    // A nonce lasts its five-minute window and the next one.
    clock.advance(301);
    let (status, body, newer) = post(&server, "/token", machine, &[&with_nonce(START + 301, &nonce)], &form).await;
    assert_eq!(status, 200, "the last window's nonce: {body}");
    let newer = newer.unwrap();
    assert_ne!(newer, nonce);
    clock.advance(300);
    let (status, body, _) = post(&server, "/token", machine, &[&with_nonce(START + 601, &nonce)], &form).await;
    assert_refused(status, &body, "use_dpop_nonce", "a nonce two windows old");
    server.stop().await;
}
