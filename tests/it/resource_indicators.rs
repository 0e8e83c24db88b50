//! Resource indicators (RFC 8707): `resource` at `/authorize`, `/par` and `/token` names
//! the APIs the access token is for; its `aud` says them; a token request or a refresh
//! may narrow them, never widen them; unknown ones are `invalid_target`.

use crate::support;

use gatehouse::Clock;
use serde_json::{Value, json};
use support::browser::{Browser, local_login};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::{TestServer, client, post_form};

const API: &str = "https://api.example/";
const MCP: &str = "https://mcp.example/mcp";

fn config() -> String {
    TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .client(
            TestClient::confidential("machine", "machine-secret")
                .with("grant_types", "[\"client_credentials\"]")
                .with("scopes", "[]"),
        )
        .tables(&format!(
            "[[resource_servers]]\naudience = \"{API}\"\n\n[resource_indicators]\nallowed_hosts = [\"mcp.example\"]\n"
        ))
        .bob()
        .build()
}

fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn authorize_url(server: &TestServer, resources: &[&str]) -> String {
    let mut url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid%20offline_access&redirect_uri={REDIRECT}&state=s",
        server.base
    );
    for resource in resources {
        url.push_str(&format!("&resource={}", encoded(resource)));
    }
    url
}

async fn token(server: &TestServer, auth: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    post_form(server, "/token", auth, form).await
}

fn audience(token: &Value) -> Value {
    support::jwt_claims(token["access_token"].as_str().unwrap())["aud"].clone()
}

#[tokio::test]
async fn the_access_token_is_for_the_resources_asked_for_and_a_token_request_may_narrow_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let answer = local_login(
        &server.base,
        &Browser::default(),
        &authorize_url(&server, &[API, MCP]),
        "bob",
        "bob",
    )
    .await;
    let code = answer.redirect_params()["code"].clone();
    let (status, tokens) = token(
        &server,
        ("app", "app-secret"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(audience(&tokens), json!([API, MCP]));
    let id_token = support::jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], "app", "the ID token stays the client's");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();

    // A refresh narrows to one of them.
    let (status, narrowed) = token(
        &server,
        ("app", "app-secret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("resource", MCP),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(audience(&narrowed), json!(MCP));
    // The family keeps both: the next refresh may ask for the other one.
    let next = narrowed["refresh_token"].as_str().unwrap().to_string();
    let (status, other) = token(
        &server,
        ("app", "app-secret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &next),
            ("resource", API),
        ],
    )
    .await;
    assert_eq!(status, 200, "{other}");
    assert_eq!(audience(&other), json!(API));
    // Never one that was not granted.
    let (status, body) = token(
        &server,
        ("app", "app-secret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", other["refresh_token"].as_str().unwrap()),
            ("resource", "https://mcp.example/other"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );

    // At the code exchange too.
    let answer = local_login(
        &server.base,
        &Browser::default(),
        &authorize_url(&server, &[API, MCP]),
        "bob",
        "bob",
    )
    .await;
    let code = answer.redirect_params()["code"].clone();
    let (status, tokens) = token(
        &server,
        ("app", "app-secret"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("resource", API),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(audience(&tokens), json!(API));

    // Without resources the token is the client's, as before.
    let answer = local_login(
        &server.base,
        &Browser::default(),
        &authorize_url(&server, &[]),
        "bob",
        "bob",
    )
    .await;
    let code = answer.redirect_params()["code"].clone();
    let (_, tokens) = token(
        &server,
        ("app", "app-secret"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(audience(&tokens), json!("app"));
    server.stop().await;
}

#[tokio::test]
async fn unknown_resources_are_invalid_target_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    for resource in [
        "https://elsewhere.example/",
        "http://mcp.example/mcp",
        "https://mcp.example/mcp#part",
        "/relative",
    ] {
        let page = Browser::default().get(&authorize_url(&server, &[resource])).await;
        let params = page.redirect_params();
        assert_eq!(params["error"], "invalid_target", "{resource}: {params:?}");
        assert_eq!(params["state"], "s");

        let (status, body) = post_form(
            &server,
            "/par",
            ("app", "app-secret"),
            &[
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", REDIRECT),
                ("resource", API),
                ("resource", resource),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{resource}: {body}"
        );

        let (status, body) = token(
            &server,
            ("machine", "machine-secret"),
            &[("grant_type", "client_credentials"), ("resource", resource)],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{resource}: {body}"
        );
    }
    // Pushed with two resources, the request carries both.
    let (status, body) = post_form(
        &server,
        "/par",
        ("app", "app-secret"),
        &[
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", REDIRECT),
            ("resource", API),
            ("resource", MCP),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let url = format!(
        "{}/authorize?client_id=app&request_uri={}",
        server.base,
        encoded(body["request_uri"].as_str().unwrap())
    );
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let code = answer.redirect_params()["code"].clone();
    let (_, tokens) = token(
        &server,
        ("app", "app-secret"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(audience(&tokens), json!([API, MCP]));

    // A machine's token for a resource.
    let (status, tokens) = token(
        &server,
        ("machine", "machine-secret"),
        &[("grant_type", "client_credentials"), ("resource", MCP)],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(audience(&tokens), json!(MCP));
    let response = client()
        .get(format!("{}/.well-known/oauth-authorization-server", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}
