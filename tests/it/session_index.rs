//! A person's sessions are found by the store's index, not by walking every session: with
//! 100,000 sessions of others, listing one person's reads one index range and their own
//! sessions, and nothing more.

use crate::support;

use gatehouse::store::{AuthContext, OperationLabels, Store};
use support::config::{TestClient, TestConfig};

const OTHERS: usize = 100_000;
/// How many sessions are being started at once (the writer commits them in groups).
const AT_ONCE: usize = 512;

const NOW: i64 = 1_900_000_000;

/// A config, its empty database, and a login's authentication at [`NOW`].
fn scratch() -> (tempfile::TempDir, gatehouse::config::Config, Store, AuthContext) {
    let dir = tempfile::tempdir().unwrap();
    let rest = TestConfig::new()
        .client(TestClient::confidential("app", "s"))
        .bob()
        .build();
    let config =
        gatehouse::config::Config::load(&support::write_config(dir.path(), 9, &rest), gatehouse::upstream::KINDS)
            .unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let auth = AuthContext {
        auth_time: NOW,
        ..AuthContext::default()
    };
    (dir, config, store, auth)
}

fn reads(store: &Store, operation: &'static str) -> u64 {
    store
        .metrics()
        .operations
        .get_or_create(&OperationLabels {
            operation,
            outcome: "ok",
        })
        .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_persons_sessions_are_listed_by_index_among_a_hundred_thousand() {
    let (_dir, config, store, auth) = scratch();
    let now = NOW;
    let started = std::time::Instant::now();
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..OTHERS + 3 {
        // Three sessions of alice among everyone else's.
        let sub = if i % 40_000 == 7 {
            "alice".to_string()
        } else {
            format!("person-{i}")
        };
        let (store, config, auth) = (store.clone(), config.clone(), auth.clone());
        pending.spawn(async move {
            gatehouse::domain::sessions::start(&store, &config, &sub, "demo", auth, None, now)
                .await
                .unwrap()
        });
        if pending.len() >= AT_ONCE {
            pending.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = pending.join_next().await {
        done.unwrap();
    }
    eprintln!("{} sessions started in {:?}", OTHERS + 3, started.elapsed());

    let (gets, scans) = (reads(&store, "get"), reads(&store, "scan"));
    let listing = std::time::Instant::now();
    let alice = gatehouse::domain::sessions::list(&store, Some("alice"), now)
        .await
        .unwrap();
    eprintln!("alice's sessions listed in {:?}", listing.elapsed());
    assert_eq!(alice.len(), 3);
    assert!(alice.iter().all(|s| s.sub == "alice"));
    assert_eq!(reads(&store, "scan") - scans, 1, "one range of the index");
    assert_eq!(
        reads(&store, "get") - gets,
        3,
        "and alice's own sessions, nobody else's"
    );

    // Ended sessions leave the index.
    let ended = gatehouse::domain::sessions::end(&store, &config, &alice[0].sid, now)
        .await
        .unwrap();
    assert!(ended.is_some());
    assert_eq!(
        gatehouse::domain::sessions::list(&store, Some("alice"), now)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.account_sessions.stored_len().await.unwrap(), OTHERS + 2);
}

#[tokio::test]
async fn sessions_and_families_written_before_the_indexes_are_filled_in_once() {
    use gatehouse::store::{AccountFamily, RefreshFamily, Session};
    let (_dir, config, store, auth) = scratch();
    let now = NOW;
    // As an older version wrote them: the records alone.
    let session = Session {
        sid: "old-sid".into(),
        secret_hash: "h".into(),
        sub: "alice".into(),
        upstream: "demo".into(),
        auth: auth.clone(),
        upstream_subject: None,
        upstream_sid: None,
        clients: vec!["app".into()],
        must_reauthenticate: false,
    };
    store.sessions.put("old-sid", &session, Some(now + 3600)).await.unwrap();
    let family = RefreshFamily {
        client_id: "app".into(),
        sub: "alice".into(),
        sid: "old-sid".into(),
        scope: "openid offline_access".into(),
        auth,
        current: "c".into(),
        revoked: false,
        jkt: None,
        resources: Vec::new(),
        previous: None,
        rotated_at: None,
    };
    store
        .refresh_families
        .put("old-sid:f", &family, Some(now + 3600))
        .await
        .unwrap();
    assert!(
        gatehouse::domain::sessions::list(&store, Some("alice"), now)
            .await
            .unwrap()
            .is_empty()
    );

    gatehouse::domain::indexes::fill_in(&store, &config, now).await.unwrap();
    let listed = gatehouse::domain::sessions::list(&store, Some("alice"), now)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let families = store
        .account_families
        .entries_with_prefix(&AccountFamily::prefix("alice", "app"), now)
        .await
        .unwrap();
    assert_eq!(families.len(), 1);
    assert_eq!(&*families[0].1.family, "old-sid:f");

    // Once: a session written without its index entry now stays unlisted.
    store
        .sessions
        .put(
            "later-sid",
            &Session {
                sid: "later-sid".into(),
                ..session
            },
            Some(now + 3600),
        )
        .await
        .unwrap();
    gatehouse::domain::indexes::fill_in(&store, &config, now).await.unwrap();
    assert_eq!(
        gatehouse::domain::sessions::list(&store, Some("alice"), now)
            .await
            .unwrap()
            .len(),
        1
    );
}
