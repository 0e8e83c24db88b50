//! Home-realm discovery: an upstream lists email `domains`, and a `login_hint` or the
//! email typed on the chooser goes straight to it, hint passed on. Unknown domains fall
//! back to the chooser, a client's allow-list still rules, and `hidden` upstreams are
//! reached only that way.

use crate::support;

use gatehouse::Clock;
use support::TestServer;
use support::browser::{Browser, Page};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::mock_op::MockOp;

struct Realms {
    corp: MockOp,
    partner: MockOp,
    server: TestServer,
    _dir: tempfile::TempDir,
}

/// `corp` (hidden, corp.example) and `partner` (partner.example, Partner.Example.ORG)
/// in front of two mocks, and the local `demo`; client `app` may use them all,
/// `restricted` not corp.
async fn start(chooser: &str) -> Realms {
    let (corp, partner) = (MockOp::start().await, MockOp::start().await);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mock.toml"), "subject = \"{{sub}}\"\n").unwrap();
    let upstream = |mock: &MockOp, name: &str, rest: &str| {
        format!(
            "name = \"{name}\"\nissuer = \"{}\"\nmapping = \"mock.toml\"\n{rest}",
            mock.issuer()
        )
    };
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "s3cret").no_consent())
        .client(
            TestClient::confidential("restricted", "s3cret")
                .no_consent()
                .with("upstreams", "[\"demo\", \"partner\"]"),
        )
        .mock_upstream(
            "corp",
            "oidc",
            &upstream(&corp, "Corp", "domains = [\"corp.example\"]\nhidden = true"),
        )
        .mock_upstream(
            "partner",
            "oidc",
            &upstream(
                &partner,
                "Partner",
                "domains = [\"partner.example\", \"Partner.Example.ORG\"]",
            ),
        )
        .bob()
        .tables(chooser)
        .build();
    let server = TestServer::start(dir.path(), &config, Clock::System).await;
    Realms {
        corp,
        partner,
        server,
        _dir: dir,
    }
}

fn authorize(server: &TestServer, client: &str, extra: &str) -> String {
    format!(
        "{}/authorize?client_id={client}&response_type=code&scope=openid&redirect_uri={REDIRECT}&state=s{extra}",
        server.base
    )
}

/// Follows Gatehouse's and the upstreams' redirects until a page or the answer to the RP.
async fn run(browser: &Browser, page: Page) -> Page {
    browser.follow_while(page, |next| !next.starts_with(REDIRECT)).await
}

fn requests(mock: &MockOp) -> usize {
    mock.state.authorize_requests.lock().unwrap().len()
}

/// Types `email` on the chooser `page`.
async fn continue_with_email(realms: &Realms, browser: &Browser, page: &Page, email: &str) -> Page {
    let action = format!("{}{}", realms.server.base, page.form_action());
    let csrf = page.field("csrf");
    let answer = browser.post(&action, &[("csrf", &csrf), ("email", email)]).await;
    run(browser, answer).await
}

#[tokio::test]
async fn a_login_hint_of_a_listed_domain_goes_straight_to_its_upstream_hidden_or_not() {
    let realms = start("").await;
    for (hint, mock) in [
        ("grace@Corp.Example", &realms.corp),
        ("ada@partner.example.org", &realms.partner),
    ] {
        let browser = Browser::default();
        let url = authorize(&realms.server, "app", &format!("&login_hint={hint}"));
        let page = run(&browser, browser.get(&url).await).await;
        assert!(page.redirect_params().contains_key("code"), "{hint}: {page:?}");
        assert_eq!(
            mock.last_authorize_request()["login_hint"],
            hint,
            "the hint is passed on"
        );
    }
    server_stops(realms).await;
}

#[tokio::test]
async fn the_chooser_leaves_hidden_upstreams_off_and_takes_an_email() {
    let realms = start("").await;
    let browser = Browser::default();
    let chooser = run(&browser, browser.get(&authorize(&realms.server, "app", "")).await).await;
    assert_eq!(chooser.status, 200);
    assert!(chooser.body.contains("Continue with Partner") && chooser.body.contains("Continue with demo"));
    assert!(!chooser.body.contains("Continue with Corp"), "corp is hidden");
    assert!(chooser.body.contains("name=\"email\""), "some upstream lists domains");

    let before = requests(&realms.corp);
    let page = continue_with_email(&realms, &browser, &chooser, " grace@corp.example ").await;
    assert!(page.redirect_params().contains_key("code"), "{page:?}");
    assert_eq!(requests(&realms.corp), before + 1);
    assert_eq!(realms.corp.last_authorize_request()["login_hint"], "grace@corp.example");
    server_stops(realms).await;
}

#[tokio::test]
async fn an_unknown_domain_or_one_the_client_may_not_use_falls_back_to_the_chooser() {
    let realms = start("").await;
    let browser = Browser::default();
    let chooser = run(&browser, browser.get(&authorize(&realms.server, "app", "")).await).await;
    let again = continue_with_email(&realms, &browser, &chooser, "someone@elsewhere.example").await;
    assert_eq!(again.status, 200);
    assert!(
        again.body.contains("There is no sign-in for elsewhere.example here"),
        "{}",
        again.body
    );
    assert!(again.body.contains("Continue with Partner"));
    let not_an_email = continue_with_email(&realms, &browser, &again, "grace").await;
    assert!(not_an_email.body.contains("Enter your email address"));

    // corp.example belongs to an upstream `restricted` may not use.
    let browser = Browser::default();
    let url = authorize(&realms.server, "restricted", "&login_hint=grace@corp.example");
    let chooser = run(&browser, browser.get(&url).await).await;
    assert_eq!(chooser.status, 200, "the chooser, not corp");
    assert!(!chooser.body.contains("Corp"));
    let refused = continue_with_email(&realms, &browser, &chooser, "grace@corp.example").await;
    assert!(refused.body.contains("There is no sign-in for corp.example here"));
    assert_eq!(requests(&realms.corp), 0, "corp was never asked");

    // A wrong CSRF token, or another browser, finds the login expired.
    let forged = Browser::default()
        .post(
            &format!("{}{}", realms.server.base, chooser.form_action()),
            &[("csrf", &chooser.field("csrf")), ("email", "ada@partner.example")],
        )
        .await;
    assert!(forged.body.contains("expired"), "{}", forged.body);
    server_stops(realms).await;
}

#[tokio::test]
async fn ask_email_false_leaves_the_email_field_off() {
    let realms = start("[chooser]\nask_email = false\n").await;
    let browser = Browser::default();
    let chooser = run(&browser, browser.get(&authorize(&realms.server, "app", "")).await).await;
    assert!(!chooser.body.contains("name=\"email\""));
    assert!(chooser.body.contains("Continue with Partner"));
    server_stops(realms).await;
}

async fn server_stops(realms: Realms) {
    realms.server.stop().await;
}
