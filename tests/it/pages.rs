//! What browsers get besides the flow itself: cookies that a neighbouring subdomain cannot
//! plant, and Gatehouse's own page for a request that does not parse.

use crate::support;

use gatehouse::Clock;
use support::browser::{Browser, local_login};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::{TestServer, client};

fn config(issuer: &str) -> String {
    let rest = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob()
        .build();
    format!("{issuer}{rest}")
}

fn authorize_url(base: &str) -> String {
    format!("{base}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={REDIRECT}")
}

#[tokio::test]
async fn an_https_issuer_names_its_cookies_host_only_and_reads_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let config = config("issuer = \"https://login.example.test\"\n");
    let server = TestServer::start(dir.path(), &config, Clock::System).await;
    let browser = Browser::default();
    let first = browser.get(&authorize_url(&server.base)).await;
    let set_cookie = first.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("__Host-gatehouse_browser="), "{set_cookie}");
    assert!(
        set_cookie.contains("; Secure") && set_cookie.contains("; Path=/"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");

    // The same browser id without the prefix (as another subdomain could set it) does
    // not open this login.
    let planted = format!(
        "gatehouse_browser={}",
        browser.cookie("__Host-gatehouse_browser").unwrap()
    );
    let login = format!("{}{}", server.base, first.location.clone().unwrap());
    let response = client().get(&login).header("cookie", planted).send().await.unwrap();
    assert_eq!(response.status(), 400, "the login is not this browser's");

    let answer = local_login(&server.base, &browser, &authorize_url(&server.base), "bob", "bob").await;
    assert!(answer.redirect_params().contains_key("code"), "{:?}", answer.location);
    assert!(
        browser.cookie("__Host-gatehouse_session").is_some(),
        "the session cookie too"
    );
    assert!(browser.cookie("gatehouse_session").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_parameter_sent_twice_gets_the_styled_error_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let twice = format!("{}&state=a&state=b", authorize_url(&server.base));
    let cases = [
        (twice, "state is sent more than once"),
        (
            format!("{}/end_session?state=a&state=b", server.base),
            "duplicate field",
        ),
    ];
    for (url, says) in cases {
        let response = client().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 400);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let body = response.text().await.unwrap();
        assert!(body.contains("Invalid request") && body.contains(says), "{body}");
    }
    server.stop().await;
}
