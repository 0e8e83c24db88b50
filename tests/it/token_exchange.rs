//! Token exchange (RFC 8693): an upstream's token (an app's own ID token or JWT access
//! token from the mock OP) becomes Gatehouse's for the same account a browser login
//! reaches; a Gatehouse access token becomes one for a resource server, narrower, with
//! `act` for an actor; and each refusal.

use crate::support;

use serde_json::{Value, json};
use support::browser::Browser;
use support::config::TestClient;
use support::corp::{id_token_claims, log_in, start_with};
use support::mock_op::{Misbehaviour, MockOp};
use support::signing_key::ClientKey;
use support::{TestServer, client, post_form};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const BILLING: &str = "https://billing.example.com";

/// Gatehouse with the mock as upstream `corp` (exchange on, for the mobile app's tokens
/// too), `partner` (another mock, exchange off), the client `app` that may exchange corp's
/// tokens, the API `orders` (a client and a resource server), the resource server billing,
/// and the machine clients plain and agent.
/// The Gatehouse of [`start`], with the mocks and the folder it needs; `app_keys` are
/// more `key = value` (TOML) for app's table.
async fn exchanging(app_keys: &[(&str, &str)]) -> Exchanging {
    let (corp, partner) = (MockOp::start().await, MockOp::start().await);
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &corp, &partner, app_keys).await;
    Exchanging {
        server,
        corp,
        partner,
        _dir: dir,
    }
}

struct Exchanging {
    server: TestServer,
    corp: MockOp,
    partner: MockOp,
    _dir: tempfile::TempDir,
}

impl Exchanging {
    async fn stop(self) {
        self.server.stop().await;
    }
}

async fn start(dir: &std::path::Path, corp: &MockOp, partner: &MockOp, app_keys: &[(&str, &str)]) -> TestServer {
    let extra = format!(
        "exchange = true\nexchange_audiences = [\"mobile-app\"]\n\n\
         [[upstreams]]\nid = \"partner\"\nkind = \"oidc\"\nissuer = \"{}\"\nclient_id = \"gatehouse\"\n\n\
         [[resource_servers]]\naudience = \"{BILLING}\"\nscopes = [\"org\", \"email\"]\n\n\
         [[resource_servers]]\naudience = \"orders\"\n\n\
         [[clients]]\nid = \"orders\"\nsecret = \"orders-secret\"\n\
         grant_types = [\"client_credentials\", \"{EXCHANGE}\"]\n\n\
         [[clients]]\nid = \"plain\"\nsecret = \"plain-secret\"\ngrant_types = [\"client_credentials\"]\n\n\
         [[clients]]\nid = \"agent\"\nsecret = \"agent-secret\"\ngrant_types = [\"client_credentials\"]\n",
        partner.issuer()
    );
    let app = TestClient::confidential("app", "s3cret")
        .with(
            "grant_types",
            &format!("[\"authorization_code\", \"refresh_token\", \"{EXCHANGE}\", \"{JWT_BEARER}\"]"),
        )
        .with("token_exchange", "[\"corp\"]")
        .with("upstreams", "[\"corp\"]");
    let app = app_keys.iter().fold(app, |app, (key, value)| app.with(key, value));
    start_with(dir, corp, &extra, app).await
}

async fn exchange(server: &TestServer, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let mut all = vec![("grant_type", EXCHANGE)];
    all.extend_from_slice(form);
    post_form(server, "/token", client, &all).await
}

#[tokio::test]
async fn an_upstream_token_of_the_app_becomes_gatehouse_tokens_for_the_same_account() {
    let ex = exchanging(&[]).await;
    let (server, corp, partner) = (&ex.server, &ex.corp, &ex.partner);
    let metadata = server.get_json("/.well-known/openid-configuration").await;
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(EXCHANGE)),
        "{metadata}"
    );
    let browser_sub = id_token_claims(&log_in(server, &Browser::default(), "openid").await)["sub"].clone();

    // The mobile app's own ID token from corp (aud: its client id there).
    let mobile = corp.app_token(
        json!({ "sub": "upstream-user-1", "aud": "mobile-app", "person": { "name": { "first": "Una", "last": "Mobile" } } }),
        "JWT",
        Misbehaviour::None,
    );
    let form = [
        ("subject_token", mobile.as_str()),
        ("subject_token_type", ID_TOKEN),
        ("scope", "openid profile offline_access"),
    ];
    let (status, tokens) = exchange(server, ("app", "s3cret"), &form).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(
        tokens["scope"], "openid profile",
        "no refresh token comes from an exchange"
    );
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let id = support::verify_jwt(server, tokens["id_token"].as_str().unwrap(), "app")
        .await
        .unwrap();
    assert_eq!(id["sub"], browser_sub, "the same account as the browser login");
    assert_eq!(id["name"], "Una Mobile", "the exchanged token's claims, mapped");
    let access_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(server.userinfo(access_token).await["sub"], browser_sub);

    // A JWT access token of corp's, presented as one: verified as an at+jwt.
    let at = corp.app_token(
        json!({ "sub": "upstream-user-1", "aud": "gatehouse", "client_id": "mobile-app" }),
        "at+jwt",
        Misbehaviour::None,
    );
    let form = [("subject_token", at.as_str()), ("subject_token_type", ACCESS_TOKEN)];
    let (status, tokens) = exchange(server, ("app", "s3cret"), &form).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        support::jwt_claims(tokens["access_token"].as_str().unwrap())["sub"],
        browser_sub
    );

    // The refusals: each is invalid_grant, and issues nothing.
    let wrong_aud = corp.app_token(
        json!({ "sub": "upstream-user-1", "aud": "another-app" }),
        "JWT",
        Misbehaviour::None,
    );
    let forged = corp.app_token(
        json!({ "sub": "upstream-user-1", "aud": "mobile-app" }),
        "JWT",
        Misbehaviour::BadSignature,
    );
    let expired = corp.app_token(
        json!({ "sub": "upstream-user-1", "aud": "mobile-app", "exp": 1_000_000_000 }),
        "JWT",
        Misbehaviour::None,
    );
    let unmarked = partner.app_token(
        json!({ "sub": "upstream-user-1", "aud": "gatehouse" }),
        "JWT",
        Misbehaviour::None,
    );
    // A back-channel logout token addressed to Gatehouse, without a typ: "X logged out"
    // must not become tokens for X (Back-Channel Logout 1.0 §2.4).
    let logout_token = corp.app_token(
        json!({ "sub": "upstream-user-1", "aud": "gatehouse", "jti": "lt-1", "sid": "up-session-1",
                "events": { "http://schemas.openid.net/event/backchannel-logout": {} } }),
        "",
        Misbehaviour::None,
    );
    // A JWS of another use than an ID token.
    let other_type = corp.app_token(
        json!({ "sub": "upstream-user-1", "aud": "mobile-app" }),
        "application/jose",
        Misbehaviour::None,
    );
    for (token, what) in [
        (&logout_token, "a logout token (events, no typ)"),
        (&other_type, "a typ other than JWT"),
        (&wrong_aud, "an audience that is not accepted"),
        (&forged, "a signature of nobody's key"),
        (&expired, "an expired token"),
        (&unmarked, "an upstream without exchange = true"),
    ] {
        let form = [("subject_token", token.as_str()), ("subject_token_type", ID_TOKEN)];
        let (status, body) = exchange(server, ("app", "s3cret"), &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what}: {body}"
        );
    }
    // Only a client with the grant, and only for the upstreams it names.
    let form = [("subject_token", mobile.as_str()), ("subject_token_type", ID_TOKEN)];
    let (status, body) = exchange(server, ("plain", "plain-secret"), &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
    let (status, body) = exchange(server, ("orders", "orders-secret"), &form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    ex.stop().await;
}

#[tokio::test]
async fn the_jwt_bearer_grant_takes_an_upstream_token_as_token_exchange_does() {
    let ex = exchanging(&[]).await;
    let (server, corp, partner) = (&ex.server, &ex.corp, &ex.partner);
    let metadata = server.get_json("/.well-known/openid-configuration").await;
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(JWT_BEARER)),
        "{metadata}"
    );
    let browser_sub = id_token_claims(&log_in(server, &Browser::default(), "openid").await)["sub"].clone();
    let bearer = |assertion: &str, client: (&'static str, &'static str), scope: Option<&'static str>| {
        let assertion = assertion.to_string();
        async move {
            let mut form = vec![("grant_type", JWT_BEARER), ("assertion", assertion.as_str())];
            form.extend(scope.map(|scope| ("scope", scope)));
            post_form(server, "/token", client, &form).await
        }
    };

    let mobile = corp.app_token(
        json!({ "sub": "upstream-user-1", "aud": "mobile-app", "person": { "name": { "first": "Una", "last": "Mobile" } } }),
        "JWT",
        Misbehaviour::None,
    );
    let (status, tokens) = bearer(&mobile, ("app", "s3cret"), Some("openid profile offline_access")).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(
        tokens.get("issued_token_type").is_none(),
        "a plain token response: {tokens}"
    );
    assert_eq!(tokens["scope"], "openid profile", "no refresh token: {tokens}");
    let id = support::verify_jwt(server, tokens["id_token"].as_str().unwrap(), "app")
        .await
        .unwrap();
    assert_eq!(id["sub"], browser_sub, "the same account as the browser login");
    assert_eq!(id["name"], "Una Mobile");

    // Refused as token exchange refuses: forged, for another audience, from an upstream
    // without exchange = true; and Gatehouse's own tokens are no assertion.
    let forged = corp.app_token(
        json!({ "sub": "upstream-user-1", "aud": "mobile-app" }),
        "JWT",
        Misbehaviour::BadSignature,
    );
    let wrong_aud = corp.app_token(
        json!({ "sub": "upstream-user-1", "aud": "another-app" }),
        "JWT",
        Misbehaviour::None,
    );
    let unmarked = partner.app_token(
        json!({ "sub": "upstream-user-1", "aud": "gatehouse" }),
        "JWT",
        Misbehaviour::None,
    );
    let own = tokens["access_token"].as_str().unwrap().to_string();
    for (assertion, what) in [
        (forged.as_str(), "forged"),
        (wrong_aud.as_str(), "another audience"),
        (unmarked.as_str(), "an upstream without exchange"),
        (own.as_str(), "Gatehouse's own token"),
        ("not a jwt", "not a JWT"),
    ] {
        let (status, body) = bearer(assertion, ("app", "s3cret"), None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what}: {body}"
        );
    }
    let (status, body) = post_form(server, "/token", ("app", "s3cret"), &[("grant_type", JWT_BEARER)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    // Only a client with the grant.
    let (status, body) = bearer(&mobile, ("plain", "plain-secret"), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
    ex.stop().await;
}

#[tokio::test]
async fn an_access_token_narrows_to_a_resource_server_and_an_actor_is_named() {
    let ex = exchanging(&[]).await;
    let server = &ex.server;
    let tokens = log_in(server, &Browser::default(), "openid email org").await;
    let person = id_token_claims(&tokens)["sub"].clone();
    let access_token = tokens["access_token"].as_str().unwrap();

    // For billing, with a scope of its own: the same person, aud billing, no wider.
    let form = [
        ("subject_token", access_token),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", BILLING),
    ];
    let (status, narrowed) = exchange(server, ("app", "s3cret"), &form).await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "email org", "what billing takes of what was granted");
    let billing = support::verify_jwt(server, narrowed["access_token"].as_str().unwrap(), BILLING)
        .await
        .unwrap();
    assert_eq!((&billing["sub"], &billing["client_id"]), (&person, &json!("app")));
    assert!(
        billing["exp"].as_i64() <= support::jwt_claims(access_token)["exp"].as_i64(),
        "no longer lived"
    );
    let wider = [
        ("subject_token", access_token),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", BILLING),
        ("scope", "email profile"),
    ];
    let (_, body) = exchange(server, ("app", "s3cret"), &wider).await;
    assert_eq!(body["error"], "invalid_scope", "profile was never granted: {body}");
    for audience in ["https://elsewhere.example.com", ""] {
        let form = [
            ("subject_token", access_token),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", audience),
        ];
        let (status, body) = exchange(server, ("app", "s3cret"), &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{audience}: {body}"
        );
    }

    // Delegation: the app hands a token for `orders` to that API, which exchanges it for
    // billing, acting as itself (its client_credentials token is the actor token).
    let form = [
        ("subject_token", access_token),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", "orders"),
    ];
    let (_, for_orders) = exchange(server, ("app", "s3cret"), &form).await;
    let for_orders = for_orders["access_token"].as_str().unwrap().to_string();
    // The app's own token was never for orders.
    let (_, body) = exchange(
        server,
        ("orders", "orders-secret"),
        &[
            ("subject_token", access_token),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", BILLING),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let (_, own) = post_form(
        server,
        "/token",
        ("orders", "orders-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let actor = own["access_token"].as_str().unwrap();
    let form = [
        ("subject_token", for_orders.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", actor),
        ("actor_token_type", ACCESS_TOKEN),
        ("audience", BILLING),
        ("scope", "org"),
    ];
    let (status, delegated) = exchange(server, ("orders", "orders-secret"), &form).await;
    assert_eq!(status, 200, "{delegated}");
    let claims = support::jwt_claims(delegated["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], person);
    assert_eq!(claims["act"], json!({ "sub": "orders" }));
    assert_eq!((&claims["aud"], &claims["scope"]), (&json!(BILLING), &json!("org")));

    // A revoked subject token is exchanged no more, and what was exchanged from it, one
    // exchange or two away, is active no more.
    let delegated = delegated["access_token"].as_str().unwrap();
    let active = async |client: (&str, &str), token: &str| {
        let (_, answer) = post_form(server, "/introspect", client, &[("token", token)]).await;
        answer["active"].as_bool().unwrap()
    };
    assert!(active(("app", "s3cret"), &for_orders).await);
    assert!(active(("orders", "orders-secret"), delegated).await);
    let (status, _) = post_form(server, "/revoke", ("app", "s3cret"), &[("token", access_token)]).await;
    assert_eq!(status, 200);
    let again = [
        ("subject_token", access_token),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", BILLING),
    ];
    let (_, body) = exchange(server, ("app", "s3cret"), &again).await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(!active(("app", "s3cret"), &for_orders).await, "exchanged from it");
    assert!(
        !active(("orders", "orders-secret"), delegated).await,
        "exchanged from that"
    );
    let (_, body) = exchange(
        server,
        ("orders", "orders-secret"),
        &[
            ("subject_token", &for_orders),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", BILLING),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    ex.stop().await;
}

/// A token exchange with an actor, by `app`, for billing; the status and answer.
async fn exchange_with_actor(
    server: &TestServer,
    subject: &str,
    actor: &str,
    dpop: Option<&ClientKey>,
) -> (u16, Value) {
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", actor),
        ("actor_token_type", ACCESS_TOKEN),
        ("audience", BILLING),
    ];
    let mut request = client()
        .post(format!("{}/token", server.base))
        .basic_auth("app", Some("s3cret"))
        .form(&form);
    if let Some(key) = dpop {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let proof = key.dpop_proof("POST", &format!("{}/token", server.base), now, json!({}));
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A client_credentials token of `client`, bound to `key` when given.
async fn machine_token(server: &TestServer, client_id: (&str, &str), key: Option<&ClientKey>) -> String {
    let mut request = client()
        .post(format!("{}/token", server.base))
        .basic_auth(client_id.0, Some(client_id.1))
        .form(&[("grant_type", "client_credentials")]);
    if let Some(key) = key {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        request = request.header(
            "DPoP",
            key.dpop_proof("POST", &format!("{}/token", server.base), now, json!({})),
        );
    }
    let answer: Value = request.send().await.unwrap().json().await.unwrap();
    answer["access_token"].as_str().expect("a token").to_string()
}

#[tokio::test]
async fn another_clients_token_is_no_actor_bound_or_not() {
    let ex = exchanging(&[]).await;
    let server = &ex.server;
    let tokens = log_in(server, &Browser::default(), "openid email org").await;
    let subject = tokens["access_token"].as_str().unwrap();
    let key = ClientKey::new("agent-key");
    // A token that leaked from another client, and one bound to that client's DPoP key.
    let leaked = machine_token(server, ("agent", "agent-secret"), None).await;
    let bound = machine_token(server, ("agent", "agent-secret"), Some(&key)).await;
    assert!(support::jwt_claims(&bound)["cnf"]["jkt"].is_string());
    for (actor, what) in [
        (&leaked, "another client's token"),
        (&bound, "another client's bound token"),
    ] {
        let (status, body) = exchange_with_actor(server, subject, actor, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what}: {body}"
        );
    }
    ex.stop().await;
}

#[tokio::test]
async fn a_named_clients_token_is_an_actor_with_a_proof_when_bound() {
    let ex = exchanging(&[("exchange_actors", "[\"plain\"]")]).await;
    let server = &ex.server;
    let tokens = log_in(server, &Browser::default(), "openid email org").await;
    let subject = tokens["access_token"].as_str().unwrap();

    // Still not a client app's exchange_actors leaves out.
    let agents = machine_token(server, ("agent", "agent-secret"), None).await;
    let (status, body) = exchange_with_actor(server, subject, &agents, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    // A named client's token bound to its DPoP key: only with a proof of that key.
    let (key, stranger) = (ClientKey::new("plain-key"), ClientKey::new("stranger"));
    let plains = machine_token(server, ("plain", "plain-secret"), Some(&key)).await;
    for (proof, what) in [(None, "no proof"), (Some(&stranger), "another key's proof")] {
        let (status, body) = exchange_with_actor(server, subject, &plains, proof).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what}: {body}"
        );
    }
    let (status, body) = exchange_with_actor(server, subject, &plains, Some(&key)).await;
    assert_eq!(status, 200, "{body}");
    let claims = support::jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["act"], json!({ "sub": "plain" }));
    assert_eq!(claims["cnf"]["jkt"], json!(key.thumbprint()), "bound to the proven key");

    // A named client's unbound token needs no proof.
    let unbound = machine_token(server, ("plain", "plain-secret"), None).await;
    let (status, body) = exchange_with_actor(server, subject, &unbound, None).await;
    assert_eq!(status, 200, "a named client's unbound token: {body}");
    ex.stop().await;
}

#[tokio::test]
async fn a_token_comes_from_at_most_four_exchanges() {
    let ex = exchanging(&[]).await;
    let server = &ex.server;
    let tokens = log_in(server, &Browser::default(), "openid email").await;
    let mut token = tokens["access_token"].as_str().unwrap().to_string();
    let mut caller = ("app", "s3cret");
    for exchanges in 1..=4 {
        let form = [
            ("subject_token", token.as_str()),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", "orders"),
        ];
        let (status, body) = exchange(server, caller, &form).await;
        assert_eq!(status, 200, "exchange {exchanges}: {body}");
        token = body["access_token"].as_str().unwrap().to_string();
        caller = ("orders", "orders-secret");
    }
    let form = [
        ("subject_token", token.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", "orders"),
    ];
    let (status, body) = exchange(server, caller, &form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("4 exchanges"),
        "{body}"
    );
    ex.stop().await;
}
