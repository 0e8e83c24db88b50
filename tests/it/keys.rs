//! Signing keys: persistence, rotation by command and by schedule, retirement.

use crate::support;

use gatehouse::Clock;
use support::*;

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn the_kid_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let before = jwks_kids(&server).await;
    assert_eq!(before.len(), 1);
    server.stop().await;

    let server = TestServer::start(dir.path(), "", Clock::System).await;
    assert_eq!(jwks_kids(&server).await, before, "the same key after a restart");
    assert_eq!(kid_of(&sign_test_token(&server)), before[0]);
    server.stop().await;
}

#[tokio::test]
async fn keys_rotate_publishes_both_keys_and_new_tokens_use_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let old_kid = jwks_kids(&server).await.remove(0);
    let old_token = sign_test_token(&server);
    let config = server.config_path.to_str().unwrap().to_string();
    server.stop().await;

    let (code, stdout, stderr) = gatehouse(&["keys", "rotate", "--config", &config]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("new active key"), "{stdout}");

    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let kids = jwks_kids(&server).await;
    assert_eq!(kids.len(), 2, "both keys are published: {kids:?}");
    assert!(kids.contains(&old_kid));
    let new_token = sign_test_token(&server);
    let new_kid = kid_of(&new_token);
    assert_ne!(new_kid, old_kid, "new tokens are signed with the new key");
    assert!(kids.contains(&new_kid));
    verify_with_jwks(&server, &old_token)
        .await
        .expect("a token signed before rotation still verifies");
    verify_with_jwks(&server, &new_token)
        .await
        .expect("a token signed after rotation verifies");
    let config = server.config_path.to_str().unwrap().to_string();
    server.stop().await;

    let (code, stdout, stderr) = gatehouse(&["keys", "list", "--config", &config]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two keys: {stdout}");
    assert!(lines[1].starts_with(&new_kid) && lines[1].contains("RS256") && lines[1].ends_with("active"));
    assert!(lines[2].starts_with(&old_kid) && lines[2].contains("retired, published until"));
}

#[tokio::test]
async fn a_retired_key_leaves_the_jwks_once_its_tokens_have_expired() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_800_000_000);
    let config = "[tokens]\nid_token_ttl = \"1h\"\naccess_token_ttl = \"10m\"\n";
    let server = TestServer::start(dir.path(), config, clock.clone()).await;
    let keys = &server.app.state().keys;
    let old_kid = keys.active_kid();
    let new_kid = keys.rotate(clock.now()).await.unwrap();
    assert_eq!(jwks_kids(&server).await.len(), 2);

    // The longest-lived token the old key signed (an ID token, 1h) is still valid.
    clock.advance(3600 - 1);
    assert!(jwks_kids(&server).await.contains(&old_kid));

    clock.advance(1);
    assert_eq!(
        jwks_kids(&server).await,
        std::slice::from_ref(&new_kid),
        "the old key is gone once its tokens expired"
    );
    server.app.maintain().await.unwrap();
    assert_eq!(
        server.app.state().store.keys.stored_len().await.unwrap(),
        1,
        "and the sweeper removed it from the store"
    );
    assert_eq!(jwks_kids(&server).await, [new_kid]);
    server.stop().await;
}

#[tokio::test]
async fn keys_rotate_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_800_000_000);
    let server = TestServer::start(dir.path(), "[tokens]\nkey_rotation = \"2h\"\n", clock.clone()).await;
    let first = server.app.state().keys.active_kid();
    clock.advance(2 * 3600 - 1);
    server.app.maintain().await.unwrap();
    assert_eq!(
        server.app.state().keys.active_kid(),
        first,
        "not rotated before it is due"
    );

    clock.advance(1);
    server.app.maintain().await.unwrap();
    let second = server.app.state().keys.active_kid();
    assert_ne!(second, first, "rotated when due");
    assert_eq!(kid_of(&sign_test_token(&server)), second);
    assert_eq!(jwks_kids(&server).await.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn changing_signing_alg_makes_a_new_key_and_keeps_the_old_one_published() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let rsa_kid = jwks_kids(&server).await.remove(0);
    server.stop().await;

    let server = TestServer::start(dir.path(), "[tokens]\nsigning_alg = \"ES256\"\n", Clock::System).await;
    let jwks = server.get_json("/jwks").await;
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs.len(), 2);
    assert!(algs.contains(&"ES256") && algs.contains(&"RS256"), "{algs:?}");
    let token = sign_test_token(&server);
    assert_ne!(kid_of(&token), rsa_kid);
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().alg,
        jsonwebtoken::Algorithm::ES256
    );
    server.stop().await;
}

#[tokio::test]
async fn a_database_in_use_is_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let config = server.config_path.to_str().unwrap().to_string();
    for command in ["list", "rotate"] {
        let (code, stdout, stderr) = gatehouse(&["keys", command, "--config", &config]);
        assert_ne!(code, 0, "keys {command} opened a database in use: {stdout}");
        assert!(
            stderr.contains("is in use by another process"),
            "keys {command}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    server.stop().await;
}
