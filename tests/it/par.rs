//! Pushed Authorization Requests (RFC 9126): `/par` checks and keeps the request,
//! `/authorize` takes it once by its `request_uri`, and a client with `require_par` can
//! sign people in no other way.

use crate::support;

use gatehouse::Clock;
use serde_json::Value;
use support::browser::{Browser, local_login};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::{TestServer, post_form};

const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

fn config() -> String {
    TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .client(TestClient::confidential("other", "other-secret").no_consent())
        .client(
            TestClient::confidential("strict", "strict-secret")
                .no_consent()
                .with("require_par", "true"),
        )
        .bob()
        .build()
}

/// The pushed parameters of a good code request for `client_id` with `state`.
fn request<'a>(client_id: &'a str, state: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", REDIRECT),
        ("state", state),
    ]
}

async fn push(server: &TestServer, auth: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    post_form(server, "/par", auth, form).await
}

fn authorize_url(server: &TestServer, client_id: &str, request_uri: &str) -> String {
    let request_uri: String = url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect();
    format!(
        "{}/authorize?client_id={client_id}&request_uri={request_uri}",
        server.base
    )
}

#[tokio::test]
async fn a_pushed_request_signs_the_person_in_once_with_only_its_own_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let (status, body) = push(&server, ("app", "app-secret"), &request("app", "pushed-state")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(request_uri.starts_with(PREFIX), "{request_uri}");

    // What the query says besides client_id and request_uri is not read (RFC 9126 §4).
    let url = format!(
        "{}&state=from-the-query&scope=openid%20email",
        authorize_url(&server, "app", &request_uri)
    );
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    let params = answer.redirect_params();
    assert_eq!(params["state"], "pushed-state", "{params:?}");
    let tokens = server
        .redeem(("app", "app-secret"), &params["code"], REDIRECT, None)
        .await;
    assert_eq!(tokens["scope"], "openid", "{tokens}");

    // Used once: the same request_uri again is an error page, not a redirect.
    let again = Browser::default()
        .get(&authorize_url(&server, "app", &request_uri))
        .await;
    assert_eq!((again.status, again.location.as_deref()), (400, None), "{}", again.body);
    assert!(again.body.contains("expired or was used already"), "{}", again.body);

    let doc = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        format!("{}/par", server.base)
    );
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    server.stop().await;
}

#[tokio::test]
async fn a_request_uri_expires_after_a_minute_and_belongs_to_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_900_000_000);
    let server = TestServer::start(dir.path(), &config(), clock.clone()).await;
    let pushed = |state: &'static str| {
        let server = &server;
        async move {
            let (status, body) = push(server, ("app", "app-secret"), &request("app", state)).await;
            assert_eq!(status, 201, "{body}");
            body["request_uri"].as_str().unwrap().to_string()
        }
    };
    let late = pushed("late").await;
    clock.advance(61);
    let page = Browser::default().get(&authorize_url(&server, "app", &late)).await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (400, None),
        "expired: {}",
        page.body
    );

    let theirs = pushed("theirs").await;
    let page = Browser::default().get(&authorize_url(&server, "other", &theirs)).await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (400, None),
        "another client: {}",
        page.body
    );
    let page = Browser::default().get(&authorize_url(&server, "app", &theirs)).await;
    assert_eq!(page.status, 400, "tried by another client, it is gone");

    let made_up = format!("{PREFIX}not-one-of-ours");
    let page = Browser::default().get(&authorize_url(&server, "app", &made_up)).await;
    assert_eq!((page.status, page.location.as_deref()), (400, None));
    server.stop().await;
}

#[tokio::test]
async fn par_refuses_what_authorize_would_and_what_it_must_not_take() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let app = ("app", "app-secret");
    let refused = |answer: (u16, Value), error: &str, why: &str| {
        assert_eq!(
            (answer.0, answer.1["error"].as_str()),
            (400, Some(error)),
            "{why}: {}",
            answer.1
        );
    };

    let mut form = request("app", "s");
    form[3] = ("redirect_uri", "https://evil.example/cb");
    refused(
        push(&server, app, &form).await,
        "invalid_request",
        "an unregistered redirect_uri",
    );

    let mut form = request("app", "s");
    form[1] = ("response_type", "token");
    refused(
        push(&server, app, &form).await,
        "unsupported_response_type",
        "a response type the client may not use",
    );

    let mut form = request("app", "s");
    form.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
    refused(
        push(&server, app, &form).await,
        "invalid_request",
        "a request_uri inside a push",
    );

    refused(
        push(&server, app, &request("other", "s")).await,
        "invalid_request",
        "another client's id",
    );

    let mut form = request("app", "s");
    form.push(("state", "twice"));
    refused(
        push(&server, app, &form).await,
        "invalid_request",
        "a parameter sent twice",
    );

    let (status, body) = push(&server, ("app", "wrong"), &request("app", "s")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_client_with_require_par_cannot_send_its_request_through_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let direct = format!(
        "{}/authorize?client_id=strict&response_type=code&scope=openid&redirect_uri={REDIRECT}&state=s",
        server.base
    );
    let page = Browser::default().get(&direct).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let params = page.redirect_params();
    assert_eq!(
        (params["error"].as_str(), params["state"].as_str()),
        ("invalid_request", "s"),
        "{params:?}"
    );

    let (status, body) = push(&server, ("strict", "strict-secret"), &request("strict", "pushed")).await;
    assert_eq!(status, 201, "{body}");
    let url = authorize_url(&server, "strict", body["request_uri"].as_str().unwrap());
    let answer = local_login(&server.base, &Browser::default(), &url, "bob", "bob").await;
    assert!(
        answer.redirect_params().contains_key("code"),
        "{:?}",
        answer.redirect_params()
    );
    server.stop().await;
}
