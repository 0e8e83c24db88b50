//! `idp_metadata_url`: the IdP's metadata fetched when the upstream starts, fetched again
//! when the copy is due, and the last good copy kept when a fetch fails.

use super::{app_error, config_from, start_login};
use crate::support::TestServer;
use crate::support::metrics::{metric, scrape};
use crate::support::saml_idp::{Answer, MetadataServer, TestIdp};
use gatehouse::Clock;
use std::time::{Duration, Instant};

const NOW: i64 = super::NOW;

async fn start(metadata: &MetadataServer) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_from(&format!("idp_metadata_url = \"{}\"", metadata.url), "");
    let server = TestServer::start_with_admin(dir.path(), &config, Clock::manual(NOW)).await;
    (dir, server)
}

/// Logs in at the server's time with an answer `signer` signed: the code, or the error
/// the app got.
async fn log_in(server: &TestServer, signer: &TestIdp, nth: usize) -> Result<String, String> {
    let login = start_login(server, "openid").await;
    let mut answer = Answer::to(&login.request_id, &login.sp_entity_id, &login.acs, server.clock.now());
    answer.assertion_id = format!("_assertion-{nth}");
    let page = login.post(server, &answer.signed_by(signer)).await;
    match page.redirect_params().get("code") {
        Some(code) => Ok(code.clone()),
        None => Err(app_error(&page).unwrap_or(page.body)),
    }
}

#[tokio::test]
async fn the_metadata_is_fetched_again_when_due_and_a_failed_fetch_keeps_the_last_good_copy() {
    let idp = TestIdp::new();
    let metadata = MetadataServer::start(Some(idp.metadata_with(r#"cacheDuration="PT1H""#))).await;
    let (_dir, server) = start(&metadata).await;
    server.until_ready().await;
    log_in(&server, &idp, 1).await.unwrap();
    log_in(&server, &idp, 2).await.unwrap();
    assert_eq!(
        metadata.fetches(),
        1,
        "within its cacheDuration the copy is used as it is"
    );

    // Due, and the IdP's server is down: its logins go on with the copy Gatehouse has.
    metadata.serve(None);
    server.clock.advance(2 * 3600);
    log_in(&server, &idp, 3).await.unwrap();
    assert_eq!(metadata.fetches(), 2);

    // The IdP rolls its key. Gatehouse tries again five minutes after the failure, and
    // from then on takes the new key only.
    let rolled = TestIdp::new();
    metadata.serve(Some(rolled.metadata_with(r#"cacheDuration="PT1H""#)));
    assert_eq!(log_in(&server, &rolled, 4).await, Err("access_denied".into()));
    server.clock.advance(301);
    log_in(&server, &rolled, 5).await.unwrap();
    assert_eq!(log_in(&server, &idp, 6).await, Err("access_denied".into()));
    assert_eq!(metadata.fetches(), 3);

    let scraped = scrape(&server).await;
    let fetched = |outcome: &str| {
        metric(
            &scraped,
            &format!(r#"gatehouse_upstream_requests_total{{upstream="uni",endpoint="metadata",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!((fetched("ok"), fetched("error_status")), (2.0, 1.0), "{scraped}");
    server.stop().await;
}

#[tokio::test]
async fn not_ready_until_the_url_gives_metadata_that_reads_and_has_not_expired() {
    let idp = TestIdp::new();
    let metadata = MetadataServer::start(None).await;
    let (_dir, server) = start(&metadata).await;
    let (status, body) = server.ready().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["waiting_for"], serde_json::json!(["upstream uni"]));
    // A login meanwhile is told to come back later, not failed for good.
    let browser = crate::support::browser::Browser::default();
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={}",
        server.base,
        crate::support::config::REDIRECT
    );
    let page = browser.follow(&server.base, browser.get(&url).await).await;
    assert_eq!(
        app_error(&page).as_deref(),
        Some("temporarily_unavailable"),
        "{:?}",
        page.location
    );

    // Metadata that says it expired before now is not taken.
    let expired = format!(r#"validUntil="{}""#, gatehouse::clock::iso8601(NOW - 1));
    metadata.serve(Some(idp.metadata_with(&expired)));
    let fetches = metadata.fetches();
    let deadline = Instant::now() + Duration::from_secs(60);
    while metadata.fetches() <= fetches + 1 {
        assert!(Instant::now() < deadline, "Gatehouse stopped trying");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.ready().await.0, 503);

    let valid = format!(r#"validUntil="{}""#, gatehouse::clock::iso8601(NOW + 86_400));
    metadata.serve(Some(idp.metadata_with(&valid)));
    server.until_ready().await;
    log_in(&server, &idp, 1).await.unwrap();
    server.stop().await;
}
