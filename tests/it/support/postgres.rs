//! A database of its own for each test, in the PostgreSQL that `.ci/with-postgres`
//! runs. Tests that need one are skipped, saying so, when `GATEHOUSE_TEST_POSTGRES` is
//! unset (CI always sets it).

use gatehouse::config::{KeyEncryptionKey, PostgresSettings, StoreSettings};

pub const ENV: &str = "GATEHOUSE_TEST_POSTGRES";

/// The key-encryption key of the test databases, in the config's base64.
pub const KEK_BASE64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The URL of a new, empty database, or `None` (with a printed reason) without PostgreSQL.
pub async fn new_database(test: &str) -> Option<String> {
    let Ok(admin_url) = std::env::var(ENV) else {
        eprintln!("skipped {test}: {ENV} is not set (run the tests under .ci/with-postgres)");
        return None;
    };
    let name = format!("gatehouse_test_{}", random_suffix());
    query(&admin_url, &format!("CREATE DATABASE {name}")).await;
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .expect("a URL with a database");
    Some(format!("{base}/{name}"))
}

/// Runs one statement on the database at `url` (its own connection); its rows.
pub async fn query(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL: {e}"));
    let connection = tokio::spawn(connection);
    let rows = client.query(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = connection.await;
    rows
}

/// Store settings for the database at `url`.
pub fn settings(url: &str) -> StoreSettings {
    StoreSettings {
        postgres: Some(PostgresSettings {
            url: gatehouse::config::Secret(url.to_string()),
            pool_size: 16,
            ca_file: None,
        }),
        key_encryption_key: Some(KeyEncryptionKey(std::array::from_fn(|i| i as u8))),
        ..StoreSettings::default()
    }
}

/// The `[store]` table of a config for the database at `url`.
pub fn store_table(url: &str) -> String {
    format!("[store]\nurl = \"{url}\"\nkey_encryption_key = \"{KEK_BASE64}\"\npoll_interval = \"1s\"\n")
}

pub fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..12).map(|_| char::from(b'a' + rng.gen_range(0..26u8))).collect()
}
