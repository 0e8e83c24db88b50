//! PostgreSQL as an operator meets it: `gatehouse check` against the database, the
//! schema's versions, the `[store]` keys, and moving a sled database over.

use crate::support;

use gatehouse::Clock;
use gatehouse::store::Store;
use support::browser::{Browser, local_login_tokens};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::process::Server;
use support::{TestServer, gatehouse, gatehouse_async, postgres};

fn config_text(issuer: &str, store: &str) -> String {
    TestConfig::new()
        .set("issuer", &format!("\"{issuer}\""))
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob()
        .tables(store)
        .build()
}

#[test]
fn a_postgres_url_needs_a_key_encryption_key_of_32_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    let cases = [
        (
            "[store]\nurl = \"postgres://gatehouse:hunter2@127.0.0.1:1/db\"\n",
            "store.key_encryption_key: is required with a PostgreSQL url",
        ),
        (
            "[store]\nurl = \"postgres://127.0.0.1/db\"\nkey_encryption_key = \"c2hvcnQ=\"\n",
            "store.key_encryption_key: must be 32 bytes in base64",
        ),
        (
            "[store]\nurl = \"mysql://127.0.0.1/db\"\n",
            "store.url: must be a PostgreSQL URL",
        ),
        ("[store]\npool_sise = 3\n", "store.pool_sise: unknown key"),
    ];
    for (store, expected) in cases {
        std::fs::write(&path, config_text("http://127.0.0.1:9", store)).unwrap();
        let (code, _, stderr) = gatehouse(&["check", "--config", path.to_str().unwrap()]);
        assert_ne!(code, 0, "{store}");
        assert!(stderr.contains(expected), "{store}: {stderr}");
        assert!(!stderr.contains("hunter2"), "the password is never shown: {stderr}");
    }
}

#[test]
fn a_database_across_the_network_without_tls_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    let config = gatehouse::Config::load(
        &{
            let store = postgres::store_table("postgres://gatehouse@db.internal/gatehouse");
            std::fs::write(&path, config_text("http://127.0.0.1:9", &store)).unwrap();
            path.clone()
        },
        gatehouse::upstream::KINDS,
    )
    .unwrap();
    let warnings: Vec<String> = config
        .warnings()
        .iter()
        .map(|w| format!("{}: {}", w.key, w.message))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("store.url: the connection to db.internal is not encrypted")),
        "{warnings:?}"
    );
    for quiet in [
        "postgres://gatehouse@db.internal/gatehouse?sslmode=require",
        "postgres://gatehouse@127.0.0.1/gatehouse",
        "postgres://gatehouse@localhost/gatehouse",
    ] {
        std::fs::write(&path, config_text("http://127.0.0.1:9", &postgres::store_table(quiet))).unwrap();
        let config = gatehouse::Config::load(&path, gatehouse::upstream::KINDS).unwrap();
        assert!(config.warnings().iter().all(|w| w.key != "store.url"), "{quiet}");
    }
}

#[tokio::test]
async fn check_reports_an_unreachable_database_and_a_schema_newer_than_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    let path_arg = path.to_str().unwrap().to_string();
    let unreachable = postgres::store_table("postgres://gatehouse:hunter2@127.0.0.1:1/none");
    std::fs::write(&path, config_text("http://127.0.0.1:9", &unreachable)).unwrap();
    let (code, _, stderr) = gatehouse_async(&["check", "--config", &path_arg]).await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("store.url: ") && stderr.contains("PostgreSQL: error connecting to server"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let Some(url) = postgres::new_database("check_reports_a_schema_newer_than_the_binary").await else {
        return;
    };
    std::fs::write(&path, config_text("http://127.0.0.1:9", &postgres::store_table(&url))).unwrap();
    let (code, stdout, stderr) = gatehouse_async(&["check", "--config", &path_arg]).await;
    assert_eq!(
        code, 0,
        "an empty database is fine: the server creates the schema: {stderr}"
    );
    assert!(stdout.contains("store: PostgreSQL (reachable"), "{stdout}");
    let created = postgres::query(&url, "SELECT to_regclass('gatehouse_schema') IS NOT NULL").await;
    assert!(
        !created[0].get::<_, bool>(0),
        "check rehearses the schema and rolls it back"
    );

    drop(Store::connect(&postgres::settings(&url), dir.path()).await.unwrap());
    postgres::query(&url, "INSERT INTO gatehouse_schema (version) VALUES (99)").await;
    let (code, _, stderr) = gatehouse_async(&["check", "--config", &path_arg]).await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("schema is version 99, newer than this Gatehouse knows"),
        "{stderr}"
    );
    match Store::connect(&postgres::settings(&url), dir.path()).await {
        Err(e) => assert!(e.to_string().contains("newer"), "{e}"),
        Ok(_) => panic!("a server would start on a schema it does not know"),
    }
}

#[tokio::test]
async fn check_refuses_a_role_that_may_not_create_the_tables_and_says_how_to_let_it() {
    let Some(url) = postgres::new_database("check_refuses_a_role_that_may_not_create").await else {
        return;
    };
    // A role of its own that does not own the database: on PostgreSQL 15 and later it may
    // connect but not create tables in `public`.
    let database = url.rsplit('/').next().unwrap().to_string();
    let role = format!("{database}_app");
    postgres::query(&url, &format!("CREATE ROLE {role} LOGIN")).await;
    let as_role = url.replacen("://gatehouse@", &format!("://{role}@"), 1);
    assert_ne!(as_role, url, "the tests' URL names the role gatehouse: {url}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    let path_arg = path.to_str().unwrap().to_string();
    std::fs::write(
        &path,
        config_text("http://127.0.0.1:9", &postgres::store_table(&as_role)),
    )
    .unwrap();

    let (code, stdout, stderr) = gatehouse_async(&["check", "--config", &path_arg]).await;
    assert_ne!(code, 0, "no OK for a setup serve cannot start on: {stdout}");
    assert!(stderr.contains("store.url: ") && stderr.contains("(42501)"), "{stderr}");
    let fix = format!("ALTER DATABASE \"{database}\" OWNER TO \"{role}\"");
    assert!(stderr.contains(&fix), "the message says how to fix it: {stderr}");
    let (code, _, stderr) = gatehouse_async(&["serve", "--config", &path_arg]).await;
    assert_ne!(code, 0, "serve refuses it too");
    assert!(stderr.contains(&fix), "{stderr}");

    postgres::query(&url, &format!("{fix};")).await;
    let (code, stdout, stderr) = gatehouse_async(&["check", "--config", &path_arg]).await;
    assert_eq!(code, 0, "the fix the message gave: {stderr}");
    assert!(stdout.contains("PostgreSQL (reachable"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_migrate_moves_a_sled_database_to_postgres_with_its_keys_sealed() {
    let Some(url) = postgres::new_database("store_migrate_moves_a_sled_database_to_postgres").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rest = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .bob()
        .tables("[tokens]\nsigning_alg = \"EdDSA\"\n")
        .build();
    let server = TestServer::start(dir.path(), &rest, Clock::System).await;
    let tokens = local_login_tokens(&server.base, &Browser::default(), "bob", "bob", REDIRECT).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let kids = support::jwks_kids(&server).await;
    server.stop().await;

    let pg_dir = tempfile::tempdir().unwrap();
    let config = Server::configure_with_tables(pg_dir.path(), "5s", &postgres::store_table(&url));
    let config_arg = config.to_str().unwrap().to_string();
    let from = dir.path().join("data");
    let migrate_args = [
        "store",
        "migrate",
        "--config",
        &config_arg,
        "--from",
        from.to_str().unwrap(),
    ];
    let migrate = || gatehouse_async(&migrate_args);
    let (code, stdout, stderr) = migrate().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("1 signing key(s) sealed"), "{stdout}");
    let (code, _, stderr) = migrate().await;
    assert_ne!(code, 0, "a second copy would mix two databases");
    assert!(stderr.contains("already holds records"), "{stderr}");

    // Nothing in the shared database is a usable private key.
    let rows = postgres::query(&url, "SELECT value FROM gatehouse_records WHERE tbl = 'keys'").await;
    assert_eq!(rows.len(), 1);
    let value: Vec<u8> = rows[0].get(0);
    assert!(!String::from_utf8_lossy(&value).contains("PRIVATE KEY"));

    let replica = Server::start(&config).await;
    assert_eq!(support::jwks_kids_at(&replica.base).await, kids, "the same signing key");
    let answer: serde_json::Value = support::refresh_at(&replica.base, ("app", "app-secret"), &refresh_token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        answer["access_token"].is_string(),
        "the refresh family came along: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_that_start_at_once_create_the_schema_once() {
    let Some(url) = postgres::new_database("replicas_that_start_at_once_create_the_schema_once").await else {
        return;
    };
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let settings = postgres::settings(&url);
            tokio::spawn(async move { Store::connect(&settings, std::path::Path::new("unused")).await })
        })
        .collect();
    for open in opens {
        open.await.unwrap().unwrap();
    }
    let versions: Vec<i32> = postgres::query(&url, "SELECT version FROM gatehouse_schema ORDER BY version")
        .await
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, [1], "every migration applied once");
}

#[tokio::test]
async fn a_sweep_waits_its_turn_while_another_replica_sweeps() {
    let Some(url) = postgres::new_database("a_sweep_waits_its_turn_while_another_replica_sweeps").await else {
        return;
    };
    let store = Store::connect(&postgres::settings(&url), std::path::Path::new("unused"))
        .await
        .unwrap();
    let revoked = gatehouse::store::RevokedToken { revoked_at: 1 };
    store.revoked_tokens.put("jti", &revoked, Some(100)).await.unwrap();

    // Another replica holds the sweep lock ("gatehout" in ASCII) on its own connection.
    let (other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    other
        .execute("SELECT pg_advisory_lock(7449363237540164980)", &[])
        .await
        .unwrap();
    assert_eq!(store.sweep(200).await.unwrap(), 0, "this replica skips its turn");
    assert_eq!(store.revoked_tokens.stored_len().await.unwrap(), 1);
    assert!(
        store.revoked_tokens.get("jti", 200).await.unwrap().is_none(),
        "expired all the same"
    );
    // Unlock explicitly: after a client hangs up, its server process lets go of the lock a moment
    // later, not by the time the connection future ends.
    let unlocked: bool = other
        .query_one("SELECT pg_advisory_unlock(7449363237540164980)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(unlocked);
    assert_eq!(store.sweep(200).await.unwrap(), 1, "the lock is free again");
    drop(other);
    let _ = connection.await;
}

#[tokio::test]
async fn sslmode_require_connects_over_tls_and_verifies_the_certificate() {
    let (Ok(tls_admin), Ok(ca)) = (
        std::env::var("GATEHOUSE_TEST_POSTGRES_TLS"),
        std::env::var("GATEHOUSE_TEST_POSTGRES_CA"),
    ) else {
        eprintln!("skipped: GATEHOUSE_TEST_POSTGRES_TLS is not set (run the tests under .ci/with-postgres)");
        return;
    };
    let Some(url) = postgres::new_database("sslmode_require_connects_over_tls").await else {
        return;
    };
    // The role of this URL may only connect over TLS.
    let database = url.rsplit_once('/').unwrap().1;
    let plain_url = format!("{}/{database}", tls_admin.rsplit_once('/').unwrap().0);
    let tls_url = format!("{plain_url}?sslmode=require");
    let connect = |url: &str, ca_file: Option<&str>| {
        let mut settings = postgres::settings(url);
        settings.postgres.as_mut().unwrap().ca_file = ca_file.map(Into::into);
        async move { Store::connect(&settings, std::path::Path::new("unused")).await }
    };

    let store = connect(&tls_url, Some(&ca)).await.unwrap();
    let revoked = gatehouse::store::RevokedToken { revoked_at: 1 };
    store.revoked_tokens.put("jti", &revoked, None).await.unwrap();
    assert!(store.revoked_tokens.get("jti", 0).await.unwrap().is_some());

    match connect(&tls_url, None).await {
        Err(e) => assert!(e.to_string().contains("certificate"), "{e}"),
        Ok(_) => panic!("a certificate from an unknown CA was accepted"),
    }
    match connect(&plain_url, Some(&ca)).await {
        Err(e) => assert!(
            e.to_string().contains("no encryption"),
            "without sslmode it is plain: {e}"
        ),
        Ok(_) => panic!("the TLS-only role connected without TLS"),
    }
}

#[tokio::test]
async fn keys_rewrap_moves_every_key_to_a_new_key_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
    );
    let rest = |store: &str| {
        TestConfig::new()
            .tables(&format!("[tokens]\nsigning_alg = \"EdDSA\"\n\n[store]\n{store}"))
            .build()
    };
    // sled with a key-encryption key: the key is sealed there too.
    let server = TestServer::start(
        dir.path(),
        &rest(&format!("key_encryption_key = \"{first}\"\n")),
        Clock::System,
    )
    .await;
    let kids = support::jwks_kids(&server).await;
    let config = server.config_path.to_str().unwrap().to_string();
    server.stop().await;
    let store = support::open_when_released(&dir.path().join("data"));
    let stored = store.keys.entries(0).await.unwrap();
    assert!(
        stored
            .iter()
            .all(|(_, k)| k.sealed_private_key.is_some() && k.private_key_pem.0.is_empty())
    );
    drop(store);
    drop(support::open_when_released(&dir.path().join("data")));

    // App::build and the commands bind no port: the config's is any.
    let port = 9;
    // The new key only: the sealed key does not open, and the server does not start.
    support::write_config(dir.path(), port, &rest(&format!("key_encryption_key = \"{second}\"\n")));
    let (code, _, stderr) = gatehouse_async(&["keys", "list", "--config", &config]).await;
    assert_eq!(code, 0, "listing needs no private key: {stderr}");
    let loaded = gatehouse::Config::load(std::path::Path::new(&config), gatehouse::upstream::KINDS).unwrap();
    match gatehouse::App::build(loaded, Clock::System).await {
        Err(e) => assert!(e.to_string().contains("previous_key_encryption_keys"), "{e}"),
        Ok(_) => panic!("started with keys it cannot open"),
    }
    drop(support::open_when_released(&dir.path().join("data")));

    support::write_config(
        dir.path(),
        port,
        &rest(&format!(
            "key_encryption_key = \"{second}\"\nprevious_key_encryption_keys = [\"{first}\"]\n"
        )),
    );
    let (code, stdout, stderr) = gatehouse_async(&["keys", "rewrap", "--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("1 key(s) sealed anew"), "{stdout}");

    let server = TestServer::start(
        dir.path(),
        &rest(&format!("key_encryption_key = \"{second}\"\n")),
        Clock::System,
    )
    .await;
    assert_eq!(support::jwks_kids(&server).await, kids, "the same key, sealed anew");
    support::sign_test_token(&server).await;
    server.stop().await;
}
