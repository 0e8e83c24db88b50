//! The README's Shared Signals examples, run: the Okta-style receiver table makes its push
//! stream at a real transmitter (another Gatehouse, standing in for Okta) and takes its
//! events; the app's curl script makes a push stream that then hears of a revoked session.

use crate::support;

use serde_json::Value;
use support::browser::Browser;
use support::ssf_chain::{ISSUER_A, PushEndpoint, SECRET_AT_A, SESSION_REVOKED, chain_from, claims_of};

#[tokio::test]
async fn the_readme_receiver_and_stream_setup_work_as_printed() {
    let tomls = support::readme_blocks("Shared Signals", "toml");
    assert_eq!(tomls.len(), 1, "the Okta-style receiver");
    // As printed, it is a valid config.
    let dir = tempfile::tempdir().unwrap();
    let printed = tomls[0].replace("${OKTA_CLIENT_SECRET}", "not-the-real-one");
    let path = support::write_config(dir.path(), 0, &printed);
    if let Err(e) = gatehouse::Config::load(&path, gatehouse::upstream::KINDS) {
        panic!("the README's receiver example does not load: {e}");
    }
    // Pointed at a transmitter here, it receives: Okta's names become A's.
    let upstream = tomls[0]
        .replace("id = \"okta\"", "id = \"a\"")
        .replace("https://example.okta.com", ISSUER_A)
        .replace("0oa-gatehouse", "gatehouse-b")
        .replace("${OKTA_CLIENT_SECRET}", SECRET_AT_A);
    let chain = chain_from(&upstream, false, "").await;

    // The app's script, with B as login.example.com and a test endpoint as the app's.
    let scripts = support::readme_blocks("Shared Signals", "sh");
    assert_eq!(scripts.len(), 1, "the app's stream setup");
    let push = PushEndpoint::start().await;
    let script = scripts[0]
        .replace("https://login.example.com", &chain.b.base)
        .replace("https://app.example.com/ssf/events", &push.url);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .env("APP_SECRET", "app-secret")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stream: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(stream["stream_id"].is_string(), "{stream}");

    let tokens = chain.log_in(&Browser::default()).await;
    let sid = claims_of(tokens["id_token"].as_str().unwrap()).1["sid"].clone();
    chain.end_sessions_at_a().await;
    chain
        .until("the app hears that the session was revoked", || async {
            !push.events().is_empty()
        })
        .await;
    let (authorization, set) = push.received.lock().unwrap()[0].clone();
    assert_eq!(authorization, "Bearer the-apps-own-secret");
    let claims = claims_of(&set).1;
    assert!(claims["events"][SESSION_REVOKED].is_object());
    assert_eq!(claims["sub_id"]["session"]["id"], sid);
}
