//! The connection pool, and TLS to the database when the URL asks for it.

use crate::config::PostgresSettings;
use crate::store::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

/// How long a request waits for a free connection before it fails.
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(10);
/// How long opening one connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A pool of at most `pool_size` connections. `sslmode=require` in the URL means TLS with
/// the server's certificate verified (public roots and `ca_file`); anything else, none.
pub fn pool(settings: &PostgresSettings) -> Result<Pool, StoreError> {
    let mut config: tokio_postgres::Config = settings
        .url
        .0
        .parse()
        .map_err(|e| StoreError::Backend(format!("store.url is not a valid PostgreSQL URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("gatehouse");
    }
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match config.get_ssl_mode() {
        SslMode::Require => Manager::from_config(config, tls(settings)?, manager_config),
        _ => Manager::from_config(config, NoTls, manager_config),
    };
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT_FOR_CONNECTION))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Backend(format!("no PostgreSQL connection pool: {e}")))
}

fn tls(settings: &PostgresSettings) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(file) = &settings.ca_file {
        use rustls_pki_types::pem::PemObject;
        let unreadable =
            |e: &dyn std::fmt::Display| StoreError::Backend(format!("store.ca_file {}: {e}", file.display()));
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(file).map_err(|e| unreadable(&e))? {
            roots
                .add(cert.map_err(|e| unreadable(&e))?)
                .map_err(|e| unreadable(&e))?;
        }
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Backend(format!("TLS to PostgreSQL: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A pool error, named for what the operator checks: is the database reachable?
pub fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => super::db_error(e),
        PoolError::Timeout(_) => {
            StoreError::Unavailable("PostgreSQL: no connection free in time (store.pool_size)".into())
        }
        other => StoreError::Unavailable(format!("cannot reach PostgreSQL: {other}")),
    }
}
