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
    assert!(stdout.contains("store: PostgreSQL (reachable)"), "{stdout}");

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
    let answer: serde_json::Value = support::client()
        .post(format!("{}/token", replica.base))
        .basic_auth("app", Some("app-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        answer["access_token"].is_string(),
        "the refresh family came along: {answer}"
    );
}
