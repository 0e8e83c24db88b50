//! The store: expiry is enforced on read and by the sweeper, single use is atomic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use gatehouse::Clock;
use gatehouse::store::{
    AuthorizationCode, AuthorizationRequest, CompletedLogin, RevokedToken, Session, Store, StoreError,
};
use support::{TestServer, open_when_released};

const NOW: i64 = 1_800_000_000;

fn session(sid: &str) -> Session {
    Session {
        sid: sid.into(),
        secret_hash: "hash".into(),
        sub: "sub-1".into(),
        upstream: "corp".into(),
        auth_time: NOW,
        clients: Vec::new(),
    }
}

fn code() -> AuthorizationCode {
    AuthorizationCode {
        request: AuthorizationRequest {
            client_id: "demo".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: "openid".into(),
            state: None,
            nonce: None,
            code_challenge: None,
            response_type: Default::default(),
            response_mode: Default::default(),
            prompt: Vec::new(),
            max_age: None,
            login_hint: None,
        },
        login: CompletedLogin {
            sub: "sub-1".into(),
            sid: "sid-1".into(),
            auth_time: NOW,
        },
        issued_at: NOW,
        redeemed: None,
    }
}

#[test]
fn expired_records_are_invisible_before_the_sweeper_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.sessions.put("s1", &session("s1"), Some(NOW + 60)).unwrap();
    assert!(store.sessions.get("s1", NOW + 59).unwrap().is_some());
    assert!(
        store.sessions.get("s1", NOW + 60).unwrap().is_none(),
        "expired at its expiry"
    );
    assert!(store.sessions.entries(NOW + 60).unwrap().is_empty());
    assert!(
        store.sessions.take("s1", NOW + 60).unwrap().is_none(),
        "an expired record cannot be used"
    );
}

#[test]
fn the_sweeper_removes_expired_records_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.sessions.put("old", &session("old"), Some(NOW + 10)).unwrap();
    store.sessions.put("new", &session("new"), Some(NOW + 1000)).unwrap();
    store.sessions.put("forever", &session("forever"), None).unwrap();
    store
        .revoked_tokens
        .put("jti-1", &RevokedToken { revoked_at: NOW }, Some(NOW + 5))
        .unwrap();
    assert_eq!(store.expiry_index_len(), 3, "only expiring records are indexed");

    assert_eq!(store.sweep(NOW + 4).unwrap(), 0);
    assert_eq!(store.sweep(NOW + 10).unwrap(), 2, "the session and the revoked jti");
    assert_eq!(store.sessions.stored_len(), 2);
    assert_eq!(store.revoked_tokens.stored_len(), 0);
    assert_eq!(store.expiry_index_len(), 1);
    let left: Vec<String> = store
        .sessions
        .entries(NOW + 10)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(left, ["forever", "new"]);

    assert_eq!(store.sweep(NOW + 1000).unwrap(), 1);
    assert_eq!(store.sessions.stored_len(), 1);
    assert_eq!(store.expiry_index_len(), 0);
}

#[test]
fn a_record_whose_expiry_moved_is_swept_at_the_new_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.sessions.put("s", &session("s"), Some(NOW + 10)).unwrap();
    store.sessions.put("s", &session("s"), Some(NOW + 100)).unwrap();
    assert_eq!(store.expiry_index_len(), 1, "the old index entry was replaced");
    assert_eq!(store.sweep(NOW + 50).unwrap(), 0);
    assert!(store.sessions.get("s", NOW + 50).unwrap().is_some());

    // Made permanent: no longer indexed, never swept.
    store.sessions.update("s", NOW + 50, |s| s.map(|s| (s, None))).unwrap();
    assert_eq!(store.expiry_index_len(), 0);
    assert_eq!(store.sweep(NOW + 10_000).unwrap(), 0);
    assert!(store.sessions.get("s", NOW + 10_000).unwrap().is_some());
}

#[test]
fn take_hands_a_record_out_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.codes.put("hash-of-code", &code(), Some(NOW + 60)).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || store.codes.take("hash-of-code", NOW).unwrap().is_some())
        })
        .collect();
    let winners = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(winners, 1, "exactly one taker gets the code");
    assert_eq!(store.expiry_index_len(), 0, "taking removes the index entry too");
}

#[test]
fn insert_new_refuses_a_live_record_but_replaces_an_expired_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(
        store
            .sessions
            .insert_new("s", &session("s"), Some(NOW + 10), NOW)
            .unwrap()
    );
    assert!(
        !store
            .sessions
            .insert_new("s", &session("s"), Some(NOW + 10), NOW)
            .unwrap()
    );
    assert!(
        store
            .sessions
            .insert_new("s", &session("s"), Some(NOW + 20), NOW + 10)
            .unwrap()
    );
    assert_eq!(store.expiry_index_len(), 1);
}

#[test]
fn records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.sessions.put("s", &session("s"), None).unwrap();
        store.flush_blocking().unwrap();
    }
    let store = open_when_released(dir.path());
    assert_eq!(store.sessions.get("s", NOW).unwrap().unwrap().sub, "sub-1");
}

#[test]
fn a_second_open_of_the_same_database_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Store::open(dir.path()).unwrap();
    match Store::open(dir.path()) {
        Err(e @ StoreError::Locked(_)) => assert!(e.to_string().contains("in use by another process"), "{e}"),
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("opened a database that is in use"),
    }
}

#[tokio::test]
async fn the_running_server_sweeps_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let now = Clock::System.now();
    {
        let store = Store::open(&dir.path().join("data")).unwrap();
        store.sessions.put("stale", &session("stale"), Some(now - 1)).unwrap();
        store
            .sessions
            .put("fresh", &session("fresh"), Some(now + 3600))
            .unwrap();
        store.flush_blocking().unwrap();
    }
    // Wait for this test's own handle to be released before the server opens the database.
    drop(open_when_released(&dir.path().join("data")));
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let store = &server.app.state().store;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.sessions.stored_len() != 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        store.sessions.stored_len(),
        1,
        "the maintenance task swept the stale session"
    );
    assert!(store.sessions.get("fresh", now).unwrap().is_some());
    server.stop().await;
}
