//! Property tests: arbitrary query strings, form bodies, cookies, authorization headers and
//! JWTs at every handler a stranger can reach, and arbitrary documents through every
//! shipped claim mapping. Each answer must be shaped as the specs say (a page or a
//! redirect for the browser endpoints, an OAuth error object for the token endpoints, a
//! Bearer challenge for userinfo), never a 5xx, and nothing may panic: a panicking
//! handler resets the connection, which fails the request here.

use crate::support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestCaseError, TestRunner};
use serde_json::{Value, json};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::mock_op::MockOp;
use support::{TestServer, client};

/// Cases per property: enough to reach the odd corners, few enough for a 2-core machine.
const CASES: u32 = 96;

/// `cases` random cases, and no regression files written into the source tree.
fn cases(cases: u32) -> Cases {
    Cases {
        cases,
        failure_persistence: None,
        ..Cases::default()
    }
}

const PARAMETERS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "login_hint",
    "code_challenge",
    "code_challenge_method",
    "upstream",
    "request",
    "request_uri",
    "id_token_hint",
    "post_logout_redirect_uri",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "token",
    "token_type_hint",
    "csrf",
    "username",
    "password",
    "decision",
    "pending",
    "error",
    "error_description",
    "iss",
];

/// Any text: printable, control characters, multi-byte, or a value Gatehouse knows.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,30}",
        ".{0,12}",
        Just("app".to_string()),
        Just(REDIRECT.to_string()),
        Just("code".to_string()),
        Just("openid profile email offline_access".to_string()),
        Just("authorization_code".to_string()),
        Just("refresh_token".to_string()),
        Just("S256".to_string()),
        Just("none login consent".to_string()),
        Just("form_post".to_string()),
        Just("demo".to_string()),
        jwt(),
    ]
}

/// Something shaped like a JWT: arbitrary segments, or a header and claims that try the
/// usual tricks (alg none, HS256, a kid that is a path, claims of the wrong type).
fn jwt() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just(json!({ "alg": "none" })),
        Just(json!({ "alg": "HS256", "typ": "JWT" })),
        Just(json!({ "alg": "RS256", "kid": "../../etc/passwd" })),
        Just(json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": 7 })),
        "\\PC{0,10}".prop_map(|alg| json!({ "alg": alg })),
    ];
    let claims = prop_oneof![
        Just(json!({ "sub": "bob", "exp": 9_999_999_999u64, "aud": "app" })),
        Just(json!({ "sub": 1, "exp": "soon", "aud": ["app", 2], "sid": null })),
        "\\PC{0,20}".prop_map(|s| json!({ "sub": s, "iss": s })),
    ];
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    prop_oneof![
        "[A-Za-z0-9_=-]{0,20}(\\.[A-Za-z0-9_=-]{0,30}){0,4}",
        (header, claims, "[A-Za-z0-9_-]{0,40}").prop_map(move |(h, c, sig)| format!(
            "{}.{}.{sig}",
            encode(&h),
            encode(&c)
        )),
    ]
}

/// Parameters, named as Gatehouse's or otherwise, each possibly twice.
fn parameters() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        4 => proptest::sample::select(PARAMETERS).prop_map(str::to_string),
        1 => "[a-z_]{0,8}",
    ];
    proptest::collection::vec((name, text()), 0..10)
}

fn encoded(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Request headers a stranger may send: cookies, an authorization header.
fn cookie() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        "[ -~]{0,60}",
        ("[A-Za-z0-9_-]{0,43}", "[A-Za-z0-9_-]{0,43}")
            .prop_map(|(s, b)| format!("gatehouse_session={s}; gatehouse_browser={b}")),
    ])
}

fn authorization() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        "[ -~]{0,60}",
        jwt().prop_map(|t| format!("Bearer {t}")),
        "[A-Za-z0-9+/=]{0,40}".prop_map(|b| format!("Basic {b}")),
        Just(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("app:app-secret")
        )),
    ])
}

/// A server with a confidential and a public client, a `local` upstream and an `oidc`
/// one (a mock), in a runtime of its own that the property runner blocks on.
struct Target {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
    _upstream: MockOp,
    _dir: tempfile::TempDir,
}

impl Target {
    fn start() -> Target {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (server, upstream) = runtime.block_on(async {
            let upstream = MockOp::start().await;
            let config = TestConfig::new()
                .client(TestClient::confidential("app", "app-secret"))
                .client(TestClient::public("public").no_consent())
                .bob()
                .mock_upstream("mock", "oidc", &format!("issuer = \"{}\"", upstream.issuer()))
                .build();
            (
                TestServer::start(dir.path(), &config, gatehouse::Clock::System).await,
                upstream,
            )
        });
        Target {
            runtime,
            server,
            _upstream: upstream,
            _dir: dir,
        }
    }

    /// Runs `property` on `CASES` generated inputs; fails with the smallest input found.
    fn check<S: Strategy>(&self, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>)
    where
        S::Value: std::fmt::Debug,
    {
        let mut runner = TestRunner::new(cases(CASES));
        if let Err(e) = runner.run(&strategy, property) {
            panic!("{e}");
        }
        let health = self.runtime.block_on(self.server.get("/healthz"));
        assert_eq!(health.status(), 200, "the server still answers");
    }

    /// Sends one request; its status, headers and body. A reset connection (a panic in a
    /// handler) fails the case.
    fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<String>,
        headers: &[(&str, Option<String>)],
    ) -> Result<(u16, reqwest::header::HeaderMap, String), TestCaseError> {
        self.runtime.block_on(async {
            let url = format!("{}{path_and_query}", self.server.base);
            let mut request = client().request(method, &url);
            for (name, value) in headers {
                if let Some(value) = value {
                    request = request.header(*name, value);
                }
            }
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("{path_and_query}: no answer: {e}")))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .text()
                .await
                .map_err(|e| TestCaseError::fail(format!("{path_and_query}: the answer broke off: {e}")))?;
            Ok((status, headers, body))
        })
    }
}

/// A browser endpoint's answer: a redirect with a Location, or a page, and no 5xx.
fn browser_answer(
    what: &str,
    (status, headers, body): &(u16, reqwest::header::HeaderMap, String),
) -> Result<(), TestCaseError> {
    prop_assert!(*status < 500 || *status == 503, "{what}: {status} {body}");
    if (300..400).contains(status) {
        prop_assert!(headers.contains_key("location"), "{what}: a redirect without Location");
    } else {
        let html = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        prop_assert!(html, "{what}: {status} is not a page: {body}");
    }
    Ok(())
}

/// A token, revocation or introspection answer: JSON, and an RFC 6749 §5.2 error
/// object whenever it is not a success.
fn oauth_answer(
    what: &str,
    (status, _, body): &(u16, reqwest::header::HeaderMap, String),
) -> Result<(), TestCaseError> {
    prop_assert!([200, 400, 401].contains(status), "{what}: {status} {body}");
    if what == "/revoke" && *status == 200 {
        // RFC 7009 §2.2: a revocation's success has no content to read.
        return Ok(());
    }
    let answer: Value =
        serde_json::from_str(body).map_err(|_| TestCaseError::fail(format!("{what}: not JSON: {body}")))?;
    if *status != 200 {
        let codes = [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
            "unsupported_token_type",
        ];
        let code = answer["error"].as_str().unwrap_or_default();
        prop_assert!(codes.contains(&code), "{what}: {status} {body}");
    }
    Ok(())
}

#[test]
fn arbitrary_requests_to_the_browser_endpoints_get_a_page_or_a_redirect() {
    let target = Target::start();
    let paths = proptest::sample::select(vec![
        "/authorize",
        "/end_session",
        "/end_session/upstream",
        "/callback/mock",
        "/callback/demo",
        "/callback/nobody",
        "/login/abc/demo",
        "/login/abc/mock",
        "/consent",
    ]);
    let method = proptest::sample::select(vec![reqwest::Method::GET, reqwest::Method::POST]);
    let strategy = (paths, method, any::<bool>(), parameters(), "[ -~]{0,20}", cookie());
    target.check(strategy, |(path, method, valid_start, mut params, raw, cookie)| {
        // Half the time a request valid so far, so that the rest reaches deeper checks.
        if valid_start {
            let start = [
                ("client_id", "app"),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "openid"),
            ];
            params.splice(0..0, start.map(|(k, v)| (k.to_string(), v.to_string())));
        }
        let form = encoded(&params);
        let (path_and_query, body) = if method == reqwest::Method::GET {
            (format!("{path}?{form}&{raw}"), None)
        } else {
            (path.to_string(), Some(form))
        };
        let answer = target.send(method, &path_and_query, body, &[("cookie", cookie)])?;
        if answer.0 == 405 {
            return Ok(());
        }
        browser_answer(&path_and_query, &answer)
    });
}

#[test]
fn arbitrary_requests_to_the_token_endpoints_get_an_oauth_answer() {
    let target = Target::start();
    let paths = proptest::sample::select(vec!["/token", "/revoke", "/introspect"]);
    let strategy = (paths, parameters(), authorization());
    target.check(strategy, |(path, params, authorization)| {
        let answer = target.send(
            reqwest::Method::POST,
            path,
            Some(encoded(&params)),
            &[("authorization", authorization)],
        )?;
        oauth_answer(path, &answer)
    });
}

#[test]
fn arbitrary_tokens_at_userinfo_get_a_bearer_challenge() {
    let target = Target::start();
    let strategy = (authorization(), parameters());
    target.check(strategy, |(authorization, params)| {
        let path = format!("/userinfo?{}", encoded(&params));
        let (status, headers, body) =
            target.send(reqwest::Method::GET, &path, None, &[("authorization", authorization)])?;
        prop_assert!([400, 401].contains(&status), "{status} {body}");
        let challenge = headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        prop_assert!(challenge.starts_with("Bearer"), "{status}: {challenge:?}");
        Ok(())
    });
}

/// Documents like an upstream's: the names mappings look at, holding any JSON.
fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,60}".prop_map(Value::String),
        ".{0,8}".prop_map(Value::String),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let names = proptest::sample::select(vec![
        "sub",
        "id",
        "login",
        "email",
        "email_verified",
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "picture",
        "locale",
        "address",
        "phone_number",
        "updated_at",
        "oid",
        "upn",
        "hd",
        "groups",
        "person",
        "names",
        "contact",
        "birthdate",
        "avatar_url",
        "html_url",
    ]);
    // Mostly with an id under the names mappings take the subject from, so that
    // evaluation goes on to the claims.
    let id = prop_oneof![4 => "[a-z0-9]{1,12}".prop_map(Value::String), 1 => value.clone()];
    let ids = proptest::collection::btree_map(proptest::sample::select(vec!["sub", "id", "oid"]), id, 1..3);
    (ids, proptest::collection::btree_map(names, value, 0..12)).prop_map(|(ids, rest)| {
        let mut document: serde_json::Map<String, Value> = rest.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        document.extend(ids.into_iter().map(|(k, v)| (k.to_string(), v)));
        Value::Object(document)
    })
}

#[test]
fn every_shipped_mapping_takes_any_document_without_a_panic() {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/claim-mappings");
    let mappings: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            gatehouse::mapping::Mapping::parse(&path, &text).unwrap()
        })
        .collect();
    assert!(mappings.len() >= 7, "every shipped mapping");
    let mut runner = TestRunner::new(cases(CASES * 4));
    let outcome = runner.run(&document(), |document| {
        for mapping in &mappings {
            if let Ok(mapped) = mapping.evaluate(&document) {
                prop_assert!(!mapped.subject.is_empty());
                for claim in gatehouse::mapping::PROTECTED_CLAIMS {
                    prop_assert!(!mapped.claims.contains_key(*claim), "{claim} from a mapping");
                }
            }
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
