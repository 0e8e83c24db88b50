//! Talking to the directory: connections (plain, StartTLS or ldaps, by rustls on
//! aws-lc-rs), a small pool of service-account connections reused across logins, and
//! the searches a login makes. Every call is bounded by the upstream's `timeout` at the
//! caller; here a connection that failed is dropped, never put back.

use super::entry::Entry;
use super::settings::LdapSettings;
use crate::upstream::UpstreamError;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchOptions};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Service-account connections open at once, at most.
const POOL_SIZE: usize = 4;
/// Entries a search for one person reads: a second means the filter is ambiguous.
const PERSON_SEARCH_LIMIT: i32 = 2;
/// Groups one person's search may bring back, nested ones included.
pub const MOST_GROUPS: usize = 1000;
/// The result code of a bind with a wrong password (RFC 4511 §A.2).
const INVALID_CREDENTIALS: u32 = 49;
/// The result code of a search that found more than its size limit.
const SIZE_LIMIT_EXCEEDED: u32 = 4;
/// The capability an Active Directory server announces in its root DSE (MS-ADTS 3.1.1.3.4.3).
const ACTIVE_DIRECTORY_CAPABILITY: &str = "1.2.840.113556.1.4.800";

/// How Gatehouse reaches one directory.
pub struct Directory {
    settings: Arc<LdapSettings>,
    tls: Option<Arc<rustls::ClientConfig>>,
    idle: Mutex<Vec<Ldap>>,
    /// A permit per service connection in use, so that at most [`POOL_SIZE`] are open.
    service: Semaphore,
}

/// What a failed call to the directory means for the person.
fn unavailable(what: &str, e: LdapError) -> UpstreamError {
    UpstreamError::Unavailable(format!("the directory {what}: {e}"))
}

impl Directory {
    pub fn new(settings: Arc<LdapSettings>) -> Result<Directory, String> {
        let tls = if settings.is_ldaps() || settings.start_tls {
            Some(Arc::new(tls_config(&settings)?))
        } else {
            None
        };
        Ok(Directory {
            settings,
            tls,
            idle: Mutex::new(Vec::new()),
            service: Semaphore::new(POOL_SIZE),
        })
    }

    /// A new connection, TLS as configured, no bind yet.
    async fn connect(&self) -> Result<Ldap, UpstreamError> {
        let mut options = LdapConnSettings::new()
            .set_conn_timeout(std::time::Duration::from_secs(self.settings.timeout.as_secs()))
            .set_starttls(self.settings.start_tls);
        if let Some(tls) = &self.tls {
            options = options.set_config(Arc::clone(tls));
        }
        let (connection, ldap) = LdapConnAsync::with_settings(options, &self.settings.url)
            .await
            .map_err(|e| unavailable("cannot be reached", e))?;
        ldap3::drive!(connection);
        Ok(ldap)
    }

    /// Runs `work` on a service-account connection: an idle one, or a new one bound as
    /// the service account (or anonymous). The connection goes back for the next call
    /// only when `work` did not fail on it.
    pub async fn as_service<T>(
        &self,
        work: impl AsyncFnOnce(&mut Ldap) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        let _permit = self
            .service
            .acquire()
            .await
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let mut reused = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if reused.as_mut().is_some_and(Ldap::is_closed) {
            reused = None;
        }
        let mut ldap = match reused {
            Some(ldap) => ldap,
            None => self.service_connection().await?,
        };
        let done = work(&mut ldap).await;
        match &done {
            Err(UpstreamError::Unavailable(_)) => {
                let _ = ldap.unbind().await;
            }
            _ => self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(ldap),
        }
        done
    }

    async fn service_connection(&self) -> Result<Ldap, UpstreamError> {
        let mut ldap = self.connect().await?;
        if let Some((dn, password)) = &self.settings.service_account {
            ldap.simple_bind(dn, &password.0)
                .await
                .and_then(|r| r.success())
                .map_err(|e| unavailable("refused the service account's bind", e))?;
        }
        Ok(ldap)
    }

    /// Whether `password` is the password of the entry `dn`: a simple bind on a
    /// connection of its own, which is closed after. An empty password never gets here.
    pub async fn password_is(&self, dn: &str, password: &str) -> Result<bool, UpstreamError> {
        debug_assert!(!password.is_empty());
        let mut ldap = self.connect().await?;
        let bound = ldap.simple_bind(dn, password).await;
        let _ = ldap.unbind().await;
        match bound {
            Ok(result) if result.rc == 0 => Ok(true),
            // A wrong password, or an account the directory will not let in (locked,
            // expired): the person hears the same either way.
            Ok(result) if result.rc == INVALID_CREDENTIALS || (48..=53).contains(&result.rc) => Ok(false),
            Ok(result) => Err(UpstreamError::Unavailable(format!(
                "the directory answered the bind with result code {}",
                result.rc
            ))),
            Err(e) => Err(unavailable("failed during the bind", e)),
        }
    }

    /// Whether the directory is an Active Directory (asked of its root DSE).
    pub async fn is_active_directory(ldap: &mut Ldap) -> Result<bool, UpstreamError> {
        let entries = search(ldap, "", Scope::Base, "(objectClass=*)", &["supportedCapabilities"], 1).await?;
        Ok(entries.first().is_some_and(|root| {
            root.values("supportedCapabilities")
                .iter()
                .any(|c| c.as_slice() == ACTIVE_DIRECTORY_CAPABILITY.as_bytes())
        }))
    }
}

/// The one entry `filter` finds under `base`; `None` when it finds none or several.
pub async fn one_entry(ldap: &mut Ldap, base: &str, scope: Scope, filter: &str) -> Result<Option<Entry>, UpstreamError> {
    let mut found = search(ldap, base, scope, filter, &["*", "entryUUID"], PERSON_SEARCH_LIMIT).await?;
    Ok(match found.len() {
        1 => found.pop(),
        _ => None,
    })
}

/// The entries `filter` finds under `base`, with `attributes`, at most `limit`; a
/// search that found more than `limit` brings back what came (the server's own size
/// limit is set to it).
pub async fn search(
    ldap: &mut Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attributes: &[&str],
    limit: i32,
) -> Result<Vec<Entry>, UpstreamError> {
    let result = ldap
        .with_search_options(SearchOptions::new().sizelimit(limit))
        .search(base, scope, filter, attributes.to_vec())
        .await
        .map_err(|e| unavailable("failed a search", e))?;
    let (entries, outcome) = (result.0, result.1);
    match outcome.rc {
        0 | SIZE_LIMIT_EXCEEDED => {}
        // noSuchObject: the base is not there, so nothing is under it.
        32 => return Ok(Vec::new()),
        rc => {
            return Err(UpstreamError::Unavailable(format!(
                "the directory answered a search with result code {rc}: {}",
                outcome.text
            )));
        }
    }
    Ok(entries.into_iter().filter_map(Entry::of).collect())
}

/// rustls on aws-lc-rs, trusting the `ca_file`'s certificates or else the system's.
fn tls_config(settings: &LdapSettings) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if settings.ca_certificates.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        for certificate in found.certs {
            // A system certificate rustls cannot use is skipped, as the system would.
            let _ = roots.add(certificate);
        }
        if roots.is_empty() {
            return Err("no system root certificates were found: set ca_file".into());
        }
    } else {
        for der in &settings.ca_certificates {
            roots
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| format!("a certificate of ca_file cannot be used: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
