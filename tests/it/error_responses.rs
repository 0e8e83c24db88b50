//! Every endpoint's error answers, in one table: the status, the `error` code, the
//! `WWW-Authenticate` challenge, and whether the answer is a JSON error, a redirect to
//! the relying party or a page for the person (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3,
//! RFC 7009, RFC 7662, OpenID Connect Core §3.1.2.6). The admin API's challenge is in
//! `admin.rs`.

use crate::support;

use gatehouse::Clock;
use support::TestServer;
use support::config::{REDIRECT, TestClient, TestConfig};

/// What an error answer must look like.
enum Expect {
    /// A JSON body with this `error`; `challenge` starts the `WWW-Authenticate` header.
    Json(u16, &'static str, Option<&'static str>),
    /// A 303 to the relying party's redirect URI with this `error` in the query.
    Redirect(&'static str),
    /// An HTML page with this status, never a redirect.
    Page(u16),
    /// A bare challenge: this status and `WWW-Authenticate` start, no error body.
    Challenge(u16, &'static str),
}

struct Case {
    name: &'static str,
    post: bool,
    path: String,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    expect: Expect,
}

fn get(name: &'static str, path: &str, expect: Expect) -> Case {
    Case {
        name,
        post: false,
        path: path.to_string(),
        headers: &[],
        body: "",
        expect,
    }
}

fn post(name: &'static str, path: &str, body: &'static str, expect: Expect) -> Case {
    Case {
        name,
        post: true,
        path: path.to_string(),
        headers: &[("content-type", "application/x-www-form-urlencoded")],
        body,
        expect,
    }
}

/// `app:app-secret`, base64.
const APP_BASIC: (&str, &str) = ("authorization", "Basic YXBwOmFwcC1zZWNyZXQ=");
/// `app:wrong`, base64.
const WRONG_BASIC: (&str, &str) = ("authorization", "Basic YXBwOndyb25n");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn with_app(mut case: Case) -> Case {
    case.headers = &[FORM, APP_BASIC];
    case
}

fn cases() -> Vec<Case> {
    let authorize = |extra: &str| format!("/authorize?client_id=app&redirect_uri={REDIRECT}{extra}");
    let code = "&response_type=code&scope=openid";
    vec![
        get(
            "unknown client",
            "/authorize?client_id=nope&response_type=code&scope=openid",
            Expect::Page(400),
        ),
        get(
            "unregistered redirect URI",
            "/authorize?client_id=app&redirect_uri=http://127.0.0.1:9/evil&response_type=code&scope=openid",
            Expect::Page(400),
        ),
        get(
            "missing response_type",
            &authorize("&scope=openid"),
            Expect::Redirect("invalid_request"),
        ),
        get(
            "unsupported response_type",
            &authorize("&response_type=token&scope=openid"),
            Expect::Redirect("unsupported_response_type"),
        ),
        get(
            "scope without openid",
            &authorize("&response_type=code&scope=profile"),
            Expect::Redirect("invalid_scope"),
        ),
        get(
            // Nothing of a request object that cannot be verified is trusted, its
            // redirect URI least: a page.
            "request object that is no signed JWT",
            &authorize(&format!("{code}&request=x")),
            Expect::Page(400),
        ),
        get(
            "request object by reference",
            &authorize(&format!("{code}&request_uri=https://rp.example/request.jwt")),
            Expect::Redirect("request_uri_not_supported"),
        ),
        get(
            "unknown prompt",
            &authorize(&format!("{code}&prompt=later")),
            Expect::Redirect("invalid_request"),
        ),
        get(
            "prompt=none without a session",
            &authorize(&format!("{code}&prompt=none")),
            Expect::Redirect("login_required"),
        ),
        post(
            "token: no client",
            "/token",
            "grant_type=client_credentials",
            Expect::Json(401, "invalid_client", Some("Basic")),
        ),
        Case {
            headers: &[FORM, WRONG_BASIC],
            ..post(
                "token: wrong secret",
                "/token",
                "grant_type=client_credentials",
                Expect::Json(401, "invalid_client", Some("Basic")),
            )
        },
        with_app(post(
            "token: no grant_type",
            "/token",
            "",
            Expect::Json(400, "invalid_request", None),
        )),
        with_app(post(
            "token: unknown grant_type",
            "/token",
            "grant_type=password",
            Expect::Json(400, "unsupported_grant_type", None),
        )),
        with_app(post(
            "token: grant_type twice",
            "/token",
            "grant_type=client_credentials&grant_type=client_credentials",
            Expect::Json(400, "invalid_request", None),
        )),
        with_app(post(
            "token: no code",
            "/token",
            "grant_type=authorization_code",
            Expect::Json(400, "invalid_request", None),
        )),
        with_app(post(
            "token: unknown code",
            "/token",
            "grant_type=authorization_code&code=nope",
            Expect::Json(400, "invalid_grant", None),
        )),
        with_app(post(
            "token: unknown refresh token",
            "/token",
            "grant_type=refresh_token&refresh_token=nope",
            Expect::Json(400, "invalid_grant", None),
        )),
        with_app(post(
            "token: grant the client may not use",
            "/token",
            "grant_type=client_credentials",
            Expect::Json(400, "unauthorized_client", None),
        )),
        Case {
            headers: &[("content-type", "application/json"), APP_BASIC],
            ..post(
                "token: not a form",
                "/token",
                "{}",
                Expect::Json(400, "invalid_request", None),
            )
        },
        with_app(post(
            "revoke: no token",
            "/revoke",
            "",
            Expect::Json(400, "invalid_request", None),
        )),
        Case {
            headers: &[FORM, WRONG_BASIC],
            ..post(
                "revoke: wrong secret",
                "/revoke",
                "token=x",
                Expect::Json(401, "invalid_client", Some("Basic")),
            )
        },
        with_app(post(
            "introspect: no token",
            "/introspect",
            "",
            Expect::Json(400, "invalid_request", None),
        )),
        post(
            "introspect: no client",
            "/introspect",
            "token=x",
            Expect::Json(401, "invalid_client", Some("Basic")),
        ),
        get(
            "userinfo: no token",
            "/userinfo",
            Expect::Challenge(401, "Bearer realm=\"gatehouse\""),
        ),
        Case {
            headers: &[("authorization", "Bearer not-a-token")],
            ..get(
                "userinfo: invalid token",
                "/userinfo",
                Expect::Json(
                    401,
                    "invalid_token",
                    Some("Bearer realm=\"gatehouse\", error=\"invalid_token\""),
                ),
            )
        },
        Case {
            headers: &[("authorization", "Basic YXBwOmFwcC1zZWNyZXQ=")],
            ..get(
                "userinfo: not a bearer token",
                "/userinfo",
                Expect::Json(400, "invalid_request", Some("Bearer")),
            )
        },
        get(
            "logout: unregistered post_logout_redirect_uri",
            "/end_session?client_id=app&post_logout_redirect_uri=http://127.0.0.1:9/evil",
            Expect::Page(400),
        ),
        get("login: unknown pending request", "/login/nope/demo", Expect::Page(400)),
        get("callback: no state", "/callback/demo", Expect::Page(400)),
        post(
            "consent: unknown pending request",
            "/consent",
            "pending=nope&csrf=x&decision=allow",
            Expect::Page(400),
        ),
        get("unknown path", "/nowhere", Expect::Page(404)),
    ]
}

#[tokio::test]
async fn every_endpoint_answers_errors_as_the_specs_say() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob()
        .build();
    let server = TestServer::start(dir.path(), &config, Clock::System).await;
    let http = support::client();
    for case in cases() {
        let url = format!("{}{}", server.base, case.path);
        let mut request = if case.post {
            http.post(&url).body(case.body)
        } else {
            http.get(&url)
        };
        for (name, value) in case.headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let (challenge, location, content_type) =
            (header("www-authenticate"), header("location"), header("content-type"));
        let body = response.text().await.unwrap();
        let name = case.name;
        match case.expect {
            Expect::Json(want_status, error, want_challenge) => {
                assert_eq!(status, want_status, "{name}: {body}");
                assert!(content_type.starts_with("application/json"), "{name}: {content_type}");
                let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(json["error"], error, "{name}: {body}");
                assert!(json["error_description"].is_string(), "{name}: {body}");
                match want_challenge {
                    Some(start) => assert!(challenge.starts_with(start), "{name}: {challenge}"),
                    None => assert!(challenge.is_empty(), "{name}: {challenge}"),
                }
            }
            Expect::Redirect(error) => {
                assert_eq!(status, 303, "{name}: {body}");
                let location = url::Url::parse(&location).unwrap();
                assert!(location.as_str().starts_with(REDIRECT), "{name}: {location}");
                let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
                assert_eq!(
                    params.get("error").map(String::as_str),
                    Some(error),
                    "{name}: {location}"
                );
                assert_eq!(params.get("iss"), Some(&server.base), "{name}: RFC 9207 iss");
            }
            Expect::Page(want_status) => {
                assert_eq!(status, want_status, "{name}: {body}");
                assert!(content_type.starts_with("text/html"), "{name}: {content_type}");
                assert!(location.is_empty(), "{name}: a page, never a redirect: {location}");
            }
            Expect::Challenge(want_status, start) => {
                assert_eq!(status, want_status, "{name}: {body}");
                assert_eq!(challenge, start, "{name}");
                assert!(!body.contains("error"), "{name}: no error code without a token: {body}");
            }
        }
    }
    server.stop().await;
}
