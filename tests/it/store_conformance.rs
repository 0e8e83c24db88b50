//! The Store API's contract, written once and run against every backend: sled, and
//! PostgreSQL when `GATEHOUSE_TEST_POSTGRES` names one (CI always does). A new backend
//! passes this suite before it is wired in: add its harness to `conformance!` at the
//! bottom.

use crate::support;

use gatehouse::Clock;
use gatehouse::store::{
    AuthContext, AuthorizationCode, AuthorizationRequest, Commit, CompletedLogin, RevokedToken, Session, Store,
    StoreError,
};
use std::sync::Arc;
use support::{TestServer, open_when_released};

const NOW: i64 = 1_800_000_000;

/// Opens a backend's store; `open` again gives a new handle on the same data, as after
/// a restart.
pub(crate) trait Harness: Send + Sync {
    async fn open(&self) -> Store;
}

pub(crate) struct SledHarness {
    dir: tempfile::TempDir,
}

impl SledHarness {
    pub(crate) async fn new(_test: &str) -> Option<SledHarness> {
        Some(SledHarness {
            dir: tempfile::tempdir().unwrap(),
        })
    }
}

impl Harness for SledHarness {
    async fn open(&self) -> Store {
        open_when_released(self.dir.path())
    }
}

/// A database of its own in the tests' PostgreSQL.
pub(crate) struct PostgresHarness {
    url: String,
}

impl PostgresHarness {
    pub(crate) async fn new(test: &str) -> Option<PostgresHarness> {
        let url = support::postgres::new_database(test).await?;
        Some(PostgresHarness { url })
    }
}

impl Harness for PostgresHarness {
    async fn open(&self) -> Store {
        let settings = support::postgres::settings(&self.url);
        Store::connect(&settings, std::path::Path::new("unused")).await.unwrap()
    }
}

fn session(sid: &str) -> Session {
    Session {
        sid: sid.into(),
        secret_hash: "hash".into(),
        sub: "sub-1".into(),
        upstream: "corp".into(),
        auth: auth_context(),
        upstream_subject: Some("upstream-user".into()),
        upstream_sid: None,
        clients: Vec::new(),
        must_reauthenticate: false,
    }
}

fn auth_context() -> AuthContext {
    AuthContext {
        auth_time: NOW - 600,
        acr: Some("urn:gatehouse:mfa".into()),
        amr: vec!["pwd".into(), "otp".into()],
        idp: Some("corp".into()),
        session_started_at: Some(NOW),
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
            prompt: gatehouse::store::Prompt::default(),
            max_age: None,
            login_hint: None,
            acr_values: vec!["urn:gatehouse:mfa".into()],
            acr_essential: true,
            ui_locales: None,
            dpop_jkt: Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".into()),
            device_grant: Some("device-grant-key".into()),
            resources: vec!["https://api.example/".into()],
        },
        login: CompletedLogin {
            sub: "sub-1".into(),
            sid: "sid-1".into(),
            auth: auth_context(),
        },
        issued_at: NOW,
        redeemed: None,
        front_channel_access_token: Some(gatehouse::store::IssuedJti {
            jti: "front-jti".into(),
            exp: NOW + 60,
        }),
    }
}

async fn expired_records_are_invisible_before_the_sweeper_runs(h: &impl Harness) {
    let store = h.open().await;
    store.sessions.put("s1", &session("s1"), Some(NOW + 60)).await.unwrap();
    assert!(store.sessions.get("s1", NOW + 59).await.unwrap().is_some());
    assert!(
        store.sessions.get("s1", NOW + 60).await.unwrap().is_none(),
        "expired at its expiry"
    );
    assert!(store.sessions.entries(NOW + 60).await.unwrap().is_empty());
    assert!(
        store.sessions.take("s1", NOW + 60).await.unwrap().is_none(),
        "an expired record cannot be used"
    );
    let updated = store.sessions.update("s1", NOW + 60, |current| {
        assert!(current.is_none(), "update sees an expired record as absent");
        None
    });
    assert!(updated.await.unwrap().is_none());
}

async fn the_sweeper_removes_expired_records_and_nothing_else(h: &impl Harness) {
    let store = h.open().await;
    store
        .sessions
        .put("old", &session("old"), Some(NOW + 10))
        .await
        .unwrap();
    store
        .sessions
        .put("new", &session("new"), Some(NOW + 1000))
        .await
        .unwrap();
    store.sessions.put("forever", &session("forever"), None).await.unwrap();
    let revoked = RevokedToken { revoked_at: NOW };
    store
        .revoked_tokens
        .put("jti-1", &revoked, Some(NOW + 5))
        .await
        .unwrap();
    assert_eq!(
        store.expiring_len().await.unwrap(),
        3,
        "only expiring records are indexed"
    );

    assert_eq!(store.sweep(NOW + 4).await.unwrap(), 0);
    assert_eq!(
        store.sweep(NOW + 10).await.unwrap(),
        2,
        "the session and the revoked jti"
    );
    assert_eq!(store.sessions.stored_len().await.unwrap(), 2);
    assert_eq!(store.revoked_tokens.stored_len().await.unwrap(), 0);
    assert_eq!(store.expiring_len().await.unwrap(), 1);
    let left: Vec<String> = store
        .sessions
        .entries(NOW + 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(left, ["forever", "new"]);

    assert_eq!(store.sweep(NOW + 1000).await.unwrap(), 1);
    assert_eq!(store.sessions.stored_len().await.unwrap(), 1);
    assert_eq!(store.expiring_len().await.unwrap(), 0);
}

async fn sweeping_many_records_runs_to_the_end_in_steps(h: &impl Harness) {
    let store = h.open().await;
    let puts = (0..2500).map(|i| {
        let store = store.clone();
        async move {
            let expires = if i % 5 == 0 { NOW + 100 } else { NOW + 1 };
            let revoked = RevokedToken { revoked_at: NOW };
            store
                .revoked_tokens
                .put(&format!("jti-{i}"), &revoked, Some(expires))
                .await
        }
    });
    for put in futures_join_all(puts).await {
        put.unwrap();
    }
    assert_eq!(store.sweep(NOW + 1).await.unwrap(), 2000, "more than one step's worth");
    assert_eq!(store.revoked_tokens.stored_len().await.unwrap(), 500);
    assert_eq!(store.expiring_len().await.unwrap(), 500);
}

async fn a_record_whose_expiry_moved_is_swept_at_the_new_time(h: &impl Harness) {
    let store = h.open().await;
    store.sessions.put("s", &session("s"), Some(NOW + 10)).await.unwrap();
    store.sessions.put("s", &session("s"), Some(NOW + 100)).await.unwrap();
    assert_eq!(store.expiring_len().await.unwrap(), 1, "the old expiry was replaced");
    assert_eq!(store.sweep(NOW + 50).await.unwrap(), 0);
    assert!(store.sessions.get("s", NOW + 50).await.unwrap().is_some());

    // Made permanent: never swept.
    store
        .sessions
        .update("s", NOW + 50, |s| s.map(|s| (s, None)))
        .await
        .unwrap();
    assert_eq!(store.expiring_len().await.unwrap(), 0);
    assert_eq!(store.sweep(NOW + 10_000).await.unwrap(), 0);
    assert!(store.sessions.get("s", NOW + 10_000).await.unwrap().is_some());
}

/// Runs `n` copies of `race` at once on the multi-threaded runtime; returns their results.
pub(crate) async fn race<F, Fut, T>(n: usize, race: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let run = race(i);
            tokio::spawn(async move {
                barrier.wait().await;
                run.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

async fn futures_join_all<Fut, T>(futures: impl Iterator<Item = Fut>) -> Vec<T>
where
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

async fn take_hands_a_record_out_once(h: &impl Harness) {
    let store = h.open().await;
    for round in 0..5 {
        let key = format!("hash-of-code-{round}");
        store.codes.put(&key, &code(), Some(NOW + 60)).await.unwrap();
        let won = race(16, |_| {
            let (store, key) = (store.clone(), key.clone());
            async move { store.codes.take(&key, NOW).await.unwrap().is_some() }
        })
        .await;
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "exactly one taker gets the code");
    }
    assert_eq!(store.expiring_len().await.unwrap(), 0, "taking removes the expiry too");
}

async fn concurrent_updates_lose_nothing(h: &impl Harness) {
    let store = h.open().await;
    store.sessions.put("s", &session("s"), Some(NOW + 60)).await.unwrap();
    race(16, |i| {
        let store = store.clone();
        async move {
            store
                .sessions
                .update("s", NOW, |s| {
                    s.map(|mut s| {
                        s.clients.push(format!("client-{i}"));
                        (s, Some(NOW + 60))
                    })
                })
                .await
                .unwrap()
        }
    })
    .await;
    let session = store.sessions.get("s", NOW).await.unwrap().unwrap();
    assert_eq!(
        session.auth,
        auth_context(),
        "how the person authenticated is kept whole"
    );
    let mut clients = session.clients;
    clients.sort();
    clients.dedup();
    assert_eq!(clients.len(), 16, "every update is applied on top of the others");
}

async fn insert_new_has_one_winner_and_replaces_only_expired_records(h: &impl Harness) {
    let store = h.open().await;
    let won = race(16, |i| {
        let store = store.clone();
        async move {
            let mut s = session("s");
            s.sub = format!("sub-{i}");
            let inserted = store.sessions.insert_new("s", &s, Some(NOW + 10), NOW).await.unwrap();
            (inserted, s.sub)
        }
    })
    .await;
    let winners: Vec<_> = won.iter().filter(|(inserted, _)| *inserted).collect();
    assert_eq!(winners.len(), 1, "exactly one first writer");
    let stored = store.sessions.get("s", NOW).await.unwrap().unwrap();
    assert_eq!(stored.sub, winners[0].1, "and its record is the one kept");
    assert!(
        store
            .sessions
            .insert_new("s", &session("s"), Some(NOW + 20), NOW + 10)
            .await
            .unwrap(),
        "an expired record counts as absent"
    );
    assert_eq!(store.expiring_len().await.unwrap(), 1);
}

async fn a_conditional_write_applies_whole_or_not_at_all(h: &impl Harness) {
    let store = h.open().await;
    store.sessions.put("a", &session("a"), None).await.unwrap();
    let read = store.sessions.read("a", NOW).await.unwrap().unwrap();

    // Someone else changes "a" after it was read.
    store.sessions.put("a", &session("a2"), None).await.unwrap();
    let mut write = store.write(NOW);
    store.sessions.expect(&mut write, "a", Some(&read));
    store
        .sessions
        .stage_put(&mut write, "a", &session("mine"), None)
        .unwrap();
    store.sessions.stage_put(&mut write, "b", &session("b"), None).unwrap();
    store.codes.stage_put(&mut write, "c", &code(), Some(NOW + 60)).unwrap();
    assert_eq!(store.commit(write).await.unwrap(), Commit::Conflict);
    assert_eq!(store.sessions.get("a", NOW).await.unwrap().unwrap().sid, "a2");
    assert!(
        store.sessions.get("b", NOW).await.unwrap().is_none(),
        "nothing of it applied"
    );
    assert!(store.codes.get("c", NOW).await.unwrap().is_none());

    // Read again: now it holds, and every change lands together.
    let read = store.sessions.read("a", NOW).await.unwrap().unwrap();
    let mut write = store.write(NOW);
    store.sessions.expect(&mut write, "a", Some(&read));
    store.sessions.expect(&mut write, "b", None);
    store.sessions.stage_delete(&mut write, "a");
    store.sessions.stage_put(&mut write, "b", &session("b"), None).unwrap();
    store.codes.stage_put(&mut write, "c", &code(), Some(NOW + 60)).unwrap();
    assert_eq!(store.commit(write).await.unwrap(), Commit::Done);
    assert!(store.sessions.get("a", NOW).await.unwrap().is_none());
    assert!(store.sessions.get("b", NOW).await.unwrap().is_some());
    assert!(store.codes.get("c", NOW).await.unwrap().is_some());
    assert_eq!(store.expiring_len().await.unwrap(), 1);
}

async fn prefix_listing_returns_live_records_in_key_order(h: &impl Harness) {
    let store = h.open().await;
    for (key, expires) in [
        ("sid-2:b", None),
        ("sid-1:z", None),
        ("sid-1:a", Some(NOW + 5)),
        ("sid-1:x", Some(NOW + 1)),
        ("sid-10:a", None),
    ] {
        store.sessions.put(key, &session(key), expires).await.unwrap();
    }
    let keys = |entries: Vec<(String, Session)>| entries.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    let listed = keys(store.sessions.entries_with_prefix("sid-1:", NOW + 1).await.unwrap());
    assert_eq!(listed, ["sid-1:a", "sid-1:z"], "no other prefix, no expired record");
    assert_eq!(
        keys(store.sessions.entries_with_prefix("sid-3:", NOW).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(store.sessions.entries(NOW).await.unwrap().len(), 5);
}

async fn a_batch_read_finds_each_live_record_of_any_table_in_its_place(h: &impl Harness) {
    let store = h.open().await;
    store.sessions.put("a", &session("a"), None).await.unwrap();
    store.sessions.put("old", &session("old"), Some(NOW)).await.unwrap();
    store.codes.put("a", &code(), Some(NOW + 60)).await.unwrap();
    let revoked = RevokedToken { revoked_at: NOW };
    store.revoked_tokens.put("r", &revoked, None).await.unwrap();
    let mut reads = store.reads();
    let session_a = reads.add(&store.sessions, "a");
    let missing = reads.add(&store.sessions, "missing");
    let expired = reads.add(&store.sessions, "old");
    let code_a = reads.add(&store.codes, "a");
    let not_revoked = reads.add(&store.revoked_tokens, "a");
    let revoked = reads.add(&store.revoked_tokens, "r");
    let mut found = reads.run(NOW).await.unwrap();
    assert_eq!(found.take(session_a).unwrap().unwrap().sid, "a");
    assert!(found.take(missing).unwrap().is_none());
    assert!(found.take(expired).unwrap().is_none(), "expired at NOW");
    assert_eq!(found.take(code_a).unwrap().unwrap().request.client_id, "demo");
    assert!(
        found.take(not_revoked).unwrap().is_none(),
        "the same key in another table"
    );
    assert_eq!(found.take(revoked).unwrap().unwrap().revoked_at, NOW);
    let empty = store.reads().run(NOW).await;
    assert!(empty.is_ok(), "nothing asked, nothing found");
}

async fn what_a_write_returned_survives_reopening(h: &impl Harness) {
    {
        let store = h.open().await;
        // No flush: a write that returned is on disk.
        store.sessions.put("s", &session("s"), None).await.unwrap();
        store.codes.put("c", &code(), Some(NOW + 60)).await.unwrap();
        store.codes.take("c", NOW).await.unwrap();
    }
    let store = h.open().await;
    assert_eq!(store.sessions.get("s", NOW).await.unwrap().unwrap().sub, "sub-1");
    assert!(store.codes.get("c", NOW).await.unwrap().is_none(), "a take stays taken");
}

macro_rules! conformance {
    ($harness:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(harness) = super::$harness::new(stringify!($case)).await else {
                    return;
                };
                super::$case(&harness).await;
            }
        )*
    };
}

macro_rules! every_case {
    ($harness:ident) => {
        conformance!($harness;
            expired_records_are_invisible_before_the_sweeper_runs,
            the_sweeper_removes_expired_records_and_nothing_else,
            sweeping_many_records_runs_to_the_end_in_steps,
            a_record_whose_expiry_moved_is_swept_at_the_new_time,
            take_hands_a_record_out_once,
            concurrent_updates_lose_nothing,
            insert_new_has_one_winner_and_replaces_only_expired_records,
            a_conditional_write_applies_whole_or_not_at_all,
            prefix_listing_returns_live_records_in_key_order,
            a_batch_read_finds_each_live_record_of_any_table_in_its_place,
            what_a_write_returned_survives_reopening,
        );
    };
}

mod sled_backend {
    every_case!(SledHarness);
}

mod postgres_backend {
    every_case!(PostgresHarness);
}

#[test]
fn a_second_open_of_the_same_sled_database_fails_clearly() {
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
        store
            .sessions
            .put("stale", &session("stale"), Some(now - 1))
            .await
            .unwrap();
        store
            .sessions
            .put("fresh", &session("fresh"), Some(now + 3600))
            .await
            .unwrap();
    }
    // Wait for this test's own handle to be released before the server opens the database.
    drop(open_when_released(&dir.path().join("data")));
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    // Held only until the assertions: a state held past stop keeps the database open.
    let state = server.app.state();
    let store = &state.store;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.sessions.stored_len().await.unwrap() != 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        store.sessions.stored_len().await.unwrap(),
        1,
        "the maintenance task swept the stale session"
    );
    assert!(store.sessions.get("fresh", now).await.unwrap().is_some());
    drop(state);
    server.stop().await;
}
