//! The domain floor's steps that change several records at once, run against every
//! backend as the store conformance suite is (sled, and PostgreSQL when
//! `GATEHOUSE_TEST_POSTGRES` names one): each applies whole, and racing copies of it
//! leave one outcome.

use crate::store_conformance::{Harness, PostgresHarness, SledHarness, race};
use gatehouse::Config;
use gatehouse::domain::accounts::{self, Admission, Admitted, Linked, NotAdmitted};
use gatehouse::domain::sessions;
use gatehouse::store::{AuthContext, RefreshFamily, Session, Store};
use gatehouse::upstream::Upstreams;
use serde_json::json;
use std::sync::Arc;

const NOW: i64 = 1_800_000_000;

const CONFIG: &str = r#"
issuer = "https://login.example.com"
listen = "127.0.0.1:0"

[[clients]]
id = "app"
secret = "s3cret"
redirect_uris = ["https://app.example.com/cb"]
backchannel_logout_uri = "https://app.example.com/logout"

[[clients]]
id = "quiet"
secret = "s3cret"
redirect_uris = ["https://quiet.example.com/cb"]

[[upstreams]]
id = "corp"
kind = "oidc"
issuer = "https://idp.example.com"
client_id = "gatehouse"
"#;

fn config() -> (Config, Upstreams) {
    let config = Config::parse(
        std::path::Path::new("gatehouse.toml"),
        CONFIG,
        gatehouse::upstream::KINDS,
    )
    .unwrap_or_else(|problems| panic!("{problems:?}"));
    let mappings = gatehouse::load_mappings(&config).unwrap_or_else(|e| panic!("{e:?}"));
    let upstreams = gatehouse::upstream::open_all(&config, &mappings, None);
    (config, upstreams)
}

fn auth() -> AuthContext {
    AuthContext {
        auth_time: NOW - 60,
        idp: Some("corp".into()),
        ..AuthContext::default()
    }
}

async fn ending_a_session_ends_it_once_with_its_families_and_logout_tokens(h: &impl Harness) {
    let store = h.open().await;
    let (config, _) = config();
    let session = Session {
        sid: "s1".into(),
        secret_hash: "hash".into(),
        sub: "alice".into(),
        upstream: "corp".into(),
        auth: auth(),
        upstream_subject: None,
        upstream_sid: None,
        clients: vec!["app".into(), "quiet".into()],
        must_reauthenticate: false,
    };
    store.sessions.put("s1", &session, Some(NOW + 3600)).await.unwrap();
    let family = RefreshFamily {
        client_id: "app".into(),
        sub: "alice".into(),
        sid: "s1".into(),
        scope: "openid offline_access".into(),
        auth: auth(),
        current: "token-hash".into(),
        revoked: false,
        jkt: None,
        resources: Vec::new(),
        previous: None,
        rotated_at: None,
    };
    let family_id = gatehouse::store::FamilyId::new("s1");
    store
        .refresh_families
        .put(&family_id, &family, Some(NOW + 3600))
        .await
        .unwrap();

    let config = Arc::new(config);
    let ended = race(4, |_| {
        let (store, config) = (store.clone(), config.clone());
        async move { sessions::end(&store, &config, "s1", NOW).await.unwrap() }
    })
    .await;
    let winners: Vec<_> = ended.iter().flatten().collect();
    assert_eq!(winners.len(), 1, "one of the racing ends ends it");
    let (_, queued) = winners[0];
    assert_eq!(
        queued.len(),
        1,
        "a logout token for the client that takes them, none for the other"
    );

    assert!(store.sessions.get("s1", NOW).await.unwrap().is_none());
    assert!(store.ended_sessions.get("s1", NOW).await.unwrap().is_some());
    let messages = store.logout_outbox.entries_with_prefix("", NOW).await.unwrap();
    assert_eq!(messages.len(), 1, "queued once, whoever won");
    assert_eq!(
        (messages[0].1.client_id.as_str(), messages[0].1.sid.as_str()),
        ("app", "s1")
    );
    let family = store.refresh_families.get(&family_id, NOW).await.unwrap().unwrap();
    assert!(family.revoked, "the session's refresh family ends with it");
}

async fn admit(
    store: &Store,
    config: &(Config, Upstreams),
    subject: &str,
    admission: Admission<'_>,
) -> Result<Admitted, NotAdmitted> {
    let document = json!({ "sub": subject, "email": format!("{subject}@example.com"), "email_verified": true });
    accounts::admit(store, &config.0, &config.1, "corp", &document, admission, NOW).await
}

fn signed_in(admitted: Result<Admitted, NotAdmitted>) -> String {
    match admitted {
        Ok(Admitted::SignedIn(sub)) => sub,
        other => panic!("not signed in: {other:?}"),
    }
}

async fn a_person_admitted_at_once_from_many_requests_gets_one_account(h: &impl Harness) {
    let store = h.open().await;
    let config = Arc::new(config());
    let subs = race(8, |_| {
        let (store, config) = (store.clone(), config.clone());
        async move { signed_in(admit(&store, &config, "u-1", Admission::SignIn).await) }
    })
    .await;
    assert!(subs.iter().all(|sub| *sub == subs[0]), "one account: {subs:?}");
    let account = store.accounts.get(&subs[0], NOW).await.unwrap().unwrap();
    assert_eq!(account.claims["email"], "u-1@example.com");
}

async fn renewing_and_linking_keep_to_the_account_an_identity_belongs_to(h: &impl Harness) {
    let store = h.open().await;
    let config = config();
    let alice = signed_in(admit(&store, &config, "u-alice", Admission::SignIn).await);
    let bob = signed_in(admit(&store, &config, "u-bob", Admission::SignIn).await);
    // A refresh at the upstream that names another person renews nothing.
    let renewed = admit(&store, &config, "u-bob", Admission::Renew { sub: &alice }).await;
    assert!(matches!(renewed, Err(NotAdmitted::AnotherPerson)), "{renewed:?}");
    assert!(matches!(
        admit(&store, &config, "u-alice", Admission::Renew { sub: &alice }).await,
        Ok(Admitted::Renewed)
    ));
    // bob's identity logs in to bob's account: linking it to alice's changes nothing.
    let linked = admit(&store, &config, "u-bob", Admission::LinkTo { sub: &alice }).await;
    assert!(matches!(linked, Ok(Admitted::Linked(Linked::Elsewhere))), "{linked:?}");
    assert_eq!(signed_in(admit(&store, &config, "u-bob", Admission::SignIn).await), bob);
}

macro_rules! every_step {
    ($harness:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn ending_a_session() {
            let Some(harness) = super::$harness::new("ending_a_session").await else {
                return;
            };
            super::ending_a_session_ends_it_once_with_its_families_and_logout_tokens(&harness).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn admitting_at_once() {
            let Some(harness) = super::$harness::new("admitting_at_once").await else {
                return;
            };
            super::a_person_admitted_at_once_from_many_requests_gets_one_account(&harness).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn renewing_and_linking() {
            let Some(harness) = super::$harness::new("renewing_and_linking").await else {
                return;
            };
            super::renewing_and_linking_keep_to_the_account_an_identity_belongs_to(&harness).await;
        }
    };
}

mod sled_backend {
    every_step!(SledHarness);
}

mod postgres_backend {
    every_step!(PostgresHarness);
}
