//! What the server logs, read from the real process: one event per line, whatever a
//! request carries, and no terminal escape codes.

use crate::support;

use support::client;
use support::config::REDIRECT;
use support::process::Server;

#[tokio::test]
async fn a_line_break_in_a_request_parameter_cannot_forge_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = Server::configure(dir.path());
    let server = Server::start(&config).await;
    let forged = "ERROR forged: the admin logged in";
    let response_type = format!("code\r\n{forged}\x1b[2J");
    let url = reqwest::Url::parse_with_params(
        &format!("{}/authorize", server.base),
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("response_type", response_type.as_str()),
        ],
    )
    .unwrap();
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 303, "refused back to the client");
    let log = server.settled_log().await;
    let refusal = log
        .lines()
        .find(|l| l.contains("authorization request refused"))
        .unwrap_or_else(|| panic!("the refusal is logged: {log}"));
    assert!(refusal.contains("forged"), "the text is kept, escaped: {refusal}");
    assert!(!log.lines().any(|l| l.starts_with(forged)), "{log}");
    assert!(!log.contains('\x1b'), "no escape codes: {log:?}");
    assert!(!log.contains('\r'), "{log:?}");
}

#[tokio::test]
async fn a_refused_redirect_uri_is_logged_with_the_client_escaped_and_capped() {
    let dir = tempfile::tempdir().unwrap();
    let config = Server::configure(dir.path());
    let server = Server::start(&config).await;
    let long = format!("https://elsewhere.example/cb\r\nERROR forged{}", "x".repeat(1000));
    let url = reqwest::Url::parse_with_params(
        &format!("{}/authorize", server.base),
        &[
            ("client_id", "app"),
            ("redirect_uri", long.as_str()),
            ("scope", "openid"),
            ("response_type", "code"),
        ],
    )
    .unwrap();
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 400, "an error page, never a redirect");
    let log = server.settled_log().await;
    let line = log
        .lines()
        .find(|l| l.contains("redirect_uri the client has not registered"))
        .unwrap_or_else(|| panic!("the refused address is logged: {log}"));
    let event: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        (&event["client"], &event["truncated"]),
        (&"app".into(), &true.into()),
        "{line}"
    );
    let logged = event["redirect_uri"].as_str().unwrap();
    assert!(
        logged.starts_with("https://elsewhere.example/cb\r\nERROR forged"),
        "{line}"
    );
    assert_eq!(logged.chars().count(), 256, "capped: {line}");
    assert!(!log.lines().any(|l| l.starts_with("ERROR forged")), "{log}");
}
