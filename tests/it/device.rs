//! The device authorization grant (RFC 8628): a device gets a device code and a user code,
//! the person enters the code at `/device`, confirms the application and signs in, and the
//! device's polls hear `authorization_pending`, `slow_down`, `access_denied` or
//! `expired_token` until they get the tokens, once.

use crate::support;

use gatehouse::Clock;
use serde_json::Value;
use support::browser::{Browser, Page, local_login_from};
use support::config::{TestClient, TestConfig};
use support::{TestServer, client};

const START: i64 = 1_900_000_000;
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn config() -> String {
    config_with("")
}

/// [`config`], with `tables` (TOML) after the rest.
fn config_with(tables: &str) -> String {
    TestConfig::new()
        .client(TestClient::public("tv").no_consent().with(
            "grant_types",
            &format!("[\"authorization_code\", \"{DEVICE_GRANT}\", \"refresh_token\"]"),
        ))
        .client(
            TestClient::confidential("console", "console-secret").with("grant_types", &format!("[\"{DEVICE_GRANT}\"]")),
        )
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob()
        .tables(tables)
        .build()
}

/// Posts `form` to `path`, as the public client named in it or as `auth`.
async fn post(server: &TestServer, path: &str, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut request = client().post(format!("{}{path}", server.base)).form(form);
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn start_tv(server: &TestServer, scope: &str) -> Value {
    let (status, body) = post(
        server,
        "/device_authorization",
        None,
        &[("client_id", "tv"), ("scope", scope)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn poll_tv(server: &TestServer, device_code: &str) -> (u16, Value) {
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("client_id", "tv"),
        ("device_code", device_code),
    ];
    post(server, "/token", None, &form).await
}

/// Opens the code's link, which shows the code filled in, and submits it: the page that
/// asks to confirm the application.
async fn enter_code(browser: &Browser, authorization: &Value) -> Page {
    let link = authorization["verification_uri_complete"].as_str().unwrap();
    let form = browser.get(link).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let user_code = authorization["user_code"].as_str().unwrap();
    assert_eq!(form.field("user_code"), user_code, "the link fills the code in");
    let csrf = form.field("csrf");
    browser
        .post(
            authorization["verification_uri"].as_str().unwrap(),
            &[("csrf", &csrf), ("user_code", &user_code.to_lowercase())],
        )
        .await
}

/// Confirms (or cancels) the application on `confirm`, the page [`enter_code`] ends at.
async fn decide(server: &TestServer, browser: &Browser, confirm: &Page, decision: &str) -> Page {
    let mut form: Vec<(String, String)> = confirm.hidden_fields();
    form.push(("decision".into(), decision.into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser.post(&format!("{}/device", server.base), &form).await
}

#[tokio::test]
async fn a_device_gets_tokens_once_the_person_enters_its_code_and_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(), clock.clone()).await;
    let authorization = start_tv(&server, "openid profile offline_access").await;
    assert_eq!(authorization["expires_in"], 600);
    assert_eq!(authorization["interval"], 5);
    assert_eq!(authorization["verification_uri"], format!("{}/device", server.base));
    let user_code = authorization["user_code"].as_str().unwrap();
    assert!(
        user_code.len() == 9
            && user_code.chars().enumerate().all(|(i, c)| if i == 4 {
                c == '-'
            } else {
                "BCDFGHJKLMNPQRSTVWXZ".contains(c)
            }),
        "{user_code}"
    );
    let device_code = authorization["device_code"].as_str().unwrap();

    let (status, body) = poll_tv(&server, device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending")),
        "{body}"
    );
    // Again at once: too soon, and each slow_down adds five seconds to the interval.
    let (_, body) = poll_tv(&server, device_code).await;
    assert_eq!(body["error"], "slow_down", "{body}");
    clock.advance(5);
    let (_, body) = poll_tv(&server, device_code).await;
    assert_eq!(
        body["error"], "slow_down",
        "5 s is too soon once the interval is 10 s: {body}"
    );
    clock.advance(15);
    let (_, body) = poll_tv(&server, device_code).await;
    assert_eq!(body["error"], "authorization_pending", "{body}");

    // Another client cannot poll with this device code.
    let stolen = [("grant_type", DEVICE_GRANT), ("device_code", device_code)];
    let (status, body) = post(&server, "/token", Some(("console", "console-secret")), &stolen).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    let browser = Browser::default();
    let confirm = enter_code(&browser, &authorization).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm.body.contains("Sign in to tv on your device?"),
        "{}",
        confirm.body
    );
    let started = decide(&server, &browser, &confirm, "continue").await;
    let answer = local_login_from(&server.base, &browser, started, "bob", "bob").await;
    let done_url = answer.location.clone().expect("the sign-in answers /device/done");
    assert!(
        done_url.starts_with(&format!("{}/device/done?", server.base)),
        "{done_url}"
    );
    let done = browser.get(&done_url).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("You are signed in on your device"), "{}", done.body);

    // The code is used up: the link to it works no more.
    let again = enter_code(&browser, &authorization).await;
    assert_eq!(again.status, 400, "{}", again.body);

    clock.advance(15);
    let (status, tokens) = poll_tv(&server, device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile offline_access");
    let claims = support::verify_jwt(&server, tokens["id_token"].as_str().unwrap(), "tv")
        .await
        .unwrap();
    assert!(claims["sub"].is_string(), "{claims}");
    let access_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(server.userinfo_status(access_token).await, 200);
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access with refresh_token: {tokens}"
    );

    // A second redemption is a replay: refused, and it revokes what the first one issued.
    clock.advance(15);
    let (status, body) = poll_tv(&server, device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(server.userinfo_status(access_token).await, 401);
}

#[tokio::test]
async fn a_cancelled_or_denied_device_hears_access_denied_and_a_late_one_expired_token() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(), clock.clone()).await;

    // Cancelled on the confirmation page.
    let authorization = start_tv(&server, "openid").await;
    let browser = Browser::default();
    let confirm = enter_code(&browser, &authorization).await;
    let cancelled = decide(&server, &browser, &confirm, "cancel").await;
    assert!(
        cancelled.body.contains("The device was not signed in"),
        "{}",
        cancelled.body
    );
    let (status, body) = poll_tv(&server, authorization["device_code"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "{body}");

    // Denied on the consent page of a client that asks for it.
    let (status, authorization) = post(
        &server,
        "/device_authorization",
        Some(("console", "console-secret")),
        &[("scope", "openid email")],
    )
    .await;
    assert_eq!(status, 200, "{authorization}");
    let browser = Browser::default();
    let confirm = enter_code(&browser, &authorization).await;
    let started = decide(&server, &browser, &confirm, "continue").await;
    let login = browser.follow(&server.base, started).await;
    let consent = browser
        .post(
            &format!("{}{}", server.base, login.form_action()),
            &[("csrf", &login.field("csrf")), ("username", "bob"), ("password", "bob")],
        )
        .await;
    assert!(
        consent.body.contains("name=\"decision\""),
        "consent is asked: {}",
        consent.body
    );
    let denied = browser
        .post(
            &format!("{}/consent", server.base),
            &[
                ("pending", &consent.field("pending")),
                ("csrf", &consent.field("csrf")),
                ("decision", "deny"),
            ],
        )
        .await;
    let done = browser.follow(&server.base, denied).await;
    assert!(done.body.contains("Access was not allowed"), "{}", done.body);
    let poll = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", authorization["device_code"].as_str().unwrap()),
    ];
    let (_, body) = post(&server, "/token", Some(("console", "console-secret")), &poll).await;
    assert_eq!(body["error"], "access_denied", "{body}");

    // Nobody answers in ten minutes.
    let late = start_tv(&server, "openid").await;
    clock.advance(600);
    let (status, body) = poll_tv(&server, late["device_code"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("expired_token")), "{body}");
    let expired = enter_code(&Browser::default(), &late).await;
    assert_eq!(expired.status, 400, "an expired code is not taken: {}", expired.body);
}

#[tokio::test]
async fn wrong_user_codes_back_off_and_the_sign_in_code_is_for_the_device_only() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(), clock.clone()).await;
    let authorization = start_tv(&server, "openid").await;
    let browser = Browser::default();
    let form = browser.get(&format!("{}/device", server.base)).await;
    let csrf = form.field("csrf");
    let device = format!("{}/device", server.base);
    // Five free failures (the password limits' `password_failures_before_backoff`); after
    // the next one, each try waits.
    for _ in 0..6 {
        let wrong = browser
            .post(&device, &[("csrf", &csrf), ("user_code", "BBBB-BBBB")])
            .await;
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        assert!(wrong.body.contains("That code is not right"), "{}", wrong.body);
    }
    let code = authorization["user_code"].as_str().unwrap();
    let waiting = browser
        .post(&device, &[("csrf", &csrf), ("user_code", "BBBB-BBBB")])
        .await;
    assert_eq!(waiting.status, 429, "{}", waiting.body);
    let right_but_waiting = browser.post(&device, &[("csrf", &csrf), ("user_code", code)]).await;
    assert_eq!(
        right_but_waiting.status, 429,
        "even the right code waits: {}",
        right_but_waiting.body
    );
    clock.advance(60);
    // Without the form's token the code is not looked at.
    let forged = browser.post(&device, &[("csrf", "forged"), ("user_code", code)]).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(forged.body.contains("has expired"), "{}", forged.body);

    let confirm = browser.post(&device, &[("csrf", &csrf), ("user_code", code)]).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let started = decide(&server, &browser, &confirm, "continue").await;
    let answer = local_login_from(&server.base, &browser, started, "bob", "bob").await;
    let params = answer.redirect_params();
    let done_uri = format!("{}/device/done", server.base);
    // The code in the browser's address bar cannot be redeemed as an authorization code.
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", done_uri.as_str()),
        ("client_id", "tv"),
    ];
    let (status, body) = post(&server, "/token", None, &redeem).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, body) = post(&server, "/token", Some(("console", "console-secret")), &redeem[..3]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
    // Nor is the answer taken without the secret half of the sign-in's own state.
    let other = start_tv(&server, "openid").await;
    let (grant, _) = params["state"].split_once('.').unwrap();
    let forged_done = format!("{done_uri}?code={}&state={grant}.guessed", params["code"]);
    assert_eq!(browser.get(&forged_done).await.status, 400);
    browser.get(answer.location.as_deref().unwrap()).await;
    let (status, tokens) = poll_tv(&server, authorization["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, body) = poll_tv(&server, other["device_code"].as_str().unwrap()).await;
    assert_eq!(body["error"], "authorization_pending", "{body}");
}

/// What entering user codes at `/device` from one browser (one address) answers.
struct CodeEntry {
    browser: Browser,
    device: String,
    csrf: String,
}

impl CodeEntry {
    async fn new(server: &TestServer) -> CodeEntry {
        let browser = Browser::default();
        let device = format!("{}/device", server.base);
        let csrf = browser.get(&device).await.field("csrf");
        CodeEntry { browser, device, csrf }
    }

    /// The status of the answer to `code`.
    async fn enter(&self, code: &str) -> u16 {
        self.browser
            .post(&self.device, &[("csrf", &self.csrf), ("user_code", code)])
            .await
            .status
    }
}

#[tokio::test]
async fn a_right_code_of_the_guessers_own_resets_no_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START);
    let server = TestServer::start(dir.path(), &config(), clock.clone()).await;
    // The attacker's own device makes a code they know.
    let own = start_tv(&server, "openid").await;
    let own_code = own["user_code"].as_str().unwrap();
    let entry = CodeEntry::new(&server).await;
    for _ in 0..5 {
        assert_eq!(entry.enter("BBBB-BBBB").await, 400, "the free failures");
    }
    assert_eq!(
        entry.enter(own_code).await,
        200,
        "their own code is shown for confirmation"
    );
    assert_eq!(
        entry.enter("BBBB-BBBB").await,
        400,
        "the sixth wrong code counts as the sixth"
    );
    assert_eq!(
        entry.enter("BBBB-BBBB").await,
        429,
        "and the next one waits: the right code reset nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_address_has_few_wrong_codes_an_hour_however_paced() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START);
    let config = config_with("[limits]\nuser_code_failures_per_hour = 8\n");
    let server = TestServer::start(dir.path(), &config, clock.clone()).await;
    let own = start_tv(&server, "openid").await;
    let own_code = own["user_code"].as_str().unwrap();
    let entry = CodeEntry::new(&server).await;
    for _ in 0..6 {
        assert_eq!(entry.enter("BBBB-BBBB").await, 400);
    }
    // Paced to stay under the backoff, an address still has at most 8 wrong codes an hour.
    for _ in 0..2 {
        clock.advance(20);
        assert_eq!(entry.enter("BBBB-BBBB").await, 400);
    }
    clock.advance(20);
    let capped = entry
        .browser
        .post(&entry.device, &[("csrf", &entry.csrf), ("user_code", "BBBB-BBBB")])
        .await;
    assert_eq!(capped.status, 429, "the ninth in the hour: {}", capped.body);
    clock.advance(20);
    assert_eq!(entry.enter(own_code).await, 429, "even a right code waits for the hour");
    clock.advance(3600);
    assert_eq!(entry.enter("BBBB-BBBB").await, 400, "the next hour counts afresh");
    server.stop().await;
}

#[tokio::test]
async fn only_clients_with_the_grant_start_one_and_discovery_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(), Clock::System).await;
    let (status, body) = post(
        &server,
        "/device_authorization",
        Some(("app", "app-secret")),
        &[("scope", "openid")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
    let (status, body) = post(
        &server,
        "/device_authorization",
        Some(("console", "wrong")),
        &[("scope", "openid")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    let (status, body) = post(&server, "/device_authorization", None, &[("client_id", "tv")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    let metadata = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        metadata["device_authorization_endpoint"],
        format!("{}/device_authorization", server.base)
    );
    let grants: Vec<&str> = metadata["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(grants.contains(&DEVICE_GRANT), "{grants:?}");

    let plain = tempfile::tempdir().unwrap();
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob()
        .build();
    let server = TestServer::start(plain.path(), &config, Clock::System).await;
    let metadata = server.get_json("/.well-known/openid-configuration").await;
    assert!(metadata.get("device_authorization_endpoint").is_none(), "{metadata}");
}
