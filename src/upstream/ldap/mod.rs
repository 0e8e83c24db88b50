//! `kind = "ldap"`: people in a directory (OpenLDAP, Active Directory, FreeIPA, 389-ds),
//! logging in on Gatehouse's password form. The service account finds the one entry the
//! username names; a bind as that entry with the password on a connection of its own
//! checks it; the entry's attributes and groups become the document the mapping reads.

mod directory;
mod entry;
mod filter;
mod groups;
mod settings;

pub use settings::{LdapSettings, RefreshPolicy};

use super::{Authentication, Capabilities, Kind, Person, Refreshed, UpstreamError, UpstreamSession};
use crate::config::{Problem, Secret};
use crate::limits::{CheckError, PasswordChecks};
use directory::Directory;
use entry::{Entry, StableId};
use ldap3::Scope;
use serde_json::Value as Json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A person found: the document for the mapping, and the entry's stable id.
type Found = (Json, Option<StableId>);

/// What [`LdapDirectory::look_up`] found for a username.
pub enum LookedUp {
    /// The search found no entry, or several: a login would be refused.
    NoSingleEntry { filter: String },
    /// The entry is disabled (AD's `userAccountControl`, or `disabled_filter`).
    Disabled { dn: String },
    /// The entry, and the document its mapping would read.
    Found { dn: String, document: Json },
}

pub struct LdapDirectory {
    id: String,
    settings: Arc<LdapSettings>,
    /// `None` when the TLS settings could not be made (reported at every attempt).
    directory: Result<Directory, String>,
    /// Set once the service account has searched the directory (what readiness waits for).
    ready: AtomicBool,
    /// Learnt from the root DSE: nested groups are then asked of the server in one search.
    active_directory: AtomicBool,
}

impl Kind for LdapDirectory {
    type Settings = LdapSettings;

    fn settings(table: toml::Value, at: &str, base: &Path, problems: &mut Vec<Problem>) -> Option<LdapSettings> {
        settings::read(table, at, base, problems)
    }

    fn open(id: &str, settings: &LdapSettings, _issuer: &str) -> Self {
        let settings = Arc::new(settings.clone());
        LdapDirectory {
            id: id.to_string(),
            directory: Directory::new(Arc::clone(&settings)),
            settings,
            ready: AtomicBool::new(false),
            active_directory: AtomicBool::new(false),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            password: true,
            refresh: self.settings.refresh == RefreshPolicy::OnRefresh,
            ..Capabilities::default()
        }
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Binds the service account and asks the root DSE whether this is AD.
    async fn prepare(&self, http: &crate::upstream::UpstreamHttp, _now: i64) -> Result<(), UpstreamError> {
        let started = Instant::now();
        let asked = self.learn_whether_active_directory().await;
        self.count(http, "root_dse", asked.as_ref().map(|_| true), started);
        let asked = asked?;
        self.ready.store(true, Ordering::Relaxed);
        tracing::info!(upstream = %self.id, active_directory = asked, "the directory answers");
        Ok(())
    }

    async fn check_password(
        &self,
        http: &crate::upstream::UpstreamHttp,
        gate: &PasswordChecks,
        username: &str,
        password: &str,
    ) -> Result<Option<Person>, CheckError> {
        // A simple bind with an empty password is an unauthenticated bind, which many
        // directories answer with success (RFC 4513 §5.1.2): it never gets to one.
        if password.is_empty() || username.is_empty() {
            return Ok(None);
        }
        let started = Instant::now();
        let checked = gate.run_remote(self.bounded(self.login(username, password))).await?;
        self.count(http, "login", checked.as_ref().map(Option::is_some), started);
        let found = checked.map_err(|e| CheckError::Unavailable(e.to_string()))?;
        Ok(found.map(|(document, id)| Person {
            once: None,
            document,
            authentication: Authentication::default(),
            // What a refresh finds the entry by, whatever it is called by then.
            session: id.map(|id| UpstreamSession {
                subject: id.to_subject(),
                sid: None,
                refresh_token: None,
                email: None,
            }),
        }))
    }

    /// Reads the entry again with the service account: gone or disabled is a refusal.
    async fn refresh(
        &self,
        http: &crate::upstream::UpstreamHttp,
        _refresh_token: Option<&Secret>,
        subject: &str,
        _now: i64,
    ) -> Result<Refreshed, UpstreamError> {
        let id = StableId::from_subject(subject)
            .ok_or_else(|| UpstreamError::Denied("the session names no directory entry".into()))?;
        let started = Instant::now();
        let read = self.bounded(self.read_again(&id)).await;
        self.count(http, "refresh", read.as_ref().map(Option::is_some), started);
        let read = read?;
        let (document, _) = read.ok_or_else(|| UpstreamError::Denied("the entry is gone or disabled".into()))?;
        Ok(Refreshed {
            document,
            refresh_token: None,
        })
    }
}

impl LdapDirectory {
    /// Counts a call to the directory in the upstream call metrics: `ok`, `refused` (a
    /// wrong password, an entry gone or disabled) or `failed` (not answered).
    fn count<T>(&self, http: &crate::upstream::UpstreamHttp, what: &'static str, done: Result<bool, T>, started: Instant) {
        let outcome = match done {
            Ok(true) => "ok",
            Ok(false) => "refused",
            Err(_) => "failed",
        };
        http.telemetry().upstream_call(&self.id, what, outcome, started.elapsed());
    }

    /// What a login as `username` would find, without a password and so without a bind:
    /// the service account's search, the entry's groups and whether it is disabled. For
    /// trying the settings (`gatehouse ldap-test`), never for logging anyone in.
    pub async fn look_up(&self, username: &str) -> Result<LookedUp, UpstreamError> {
        self.learn_whether_active_directory().await?;
        let directory = self.directory()?;
        let filter = filter::fill(&self.settings.user_filter, "{username}", username);
        let base = &self.settings.user_base;
        let found = self
            .bounded(directory.as_service(async |ldap| directory::one_entry(ldap, base, Scope::Subtree, &filter).await))
            .await?;
        let Some(entry) = found else {
            return Ok(LookedUp::NoSingleEntry { filter });
        };
        let dn = entry.dn.clone();
        Ok(match self.bounded(self.with_groups_unless_disabled(directory, entry)).await? {
            Some((document, _)) => LookedUp::Found { dn, document },
            None => LookedUp::Disabled { dn },
        })
    }

    /// Asks the root DSE whether the directory is Active Directory, and remembers it.
    async fn learn_whether_active_directory(&self) -> Result<bool, UpstreamError> {
        let asked = self
            .bounded(self.directory()?.as_service(async |ldap| Directory::is_active_directory(ldap).await))
            .await?;
        self.active_directory.store(asked, Ordering::Relaxed);
        Ok(asked)
    }

    fn directory(&self) -> Result<&Directory, UpstreamError> {
        self.directory
            .as_ref()
            .map_err(|e| UpstreamError::Unavailable(format!("no TLS for the directory: {e}")))
    }

    /// `work`, given up after the upstream's `timeout`.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, UpstreamError>>) -> Result<T, UpstreamError> {
        let timeout = std::time::Duration::from_secs(self.settings.timeout.as_secs());
        tokio::time::timeout(timeout, work).await.unwrap_or_else(|_| {
            Err(UpstreamError::Unavailable(format!(
                "the directory did not answer within {}s",
                timeout.as_secs()
            )))
        })
    }

    /// The person's document when `password` is theirs: their entry found by the service
    /// account (exactly one), a bind as it, not disabled, with their groups.
    async fn login(&self, username: &str, password: &str) -> Result<Option<Found>, UpstreamError> {
        let directory = self.directory()?;
        let filter = filter::fill(&self.settings.user_filter, "{username}", username);
        let base = &self.settings.user_base;
        let found = directory
            .as_service(async |ldap| directory::one_entry(ldap, base, Scope::Subtree, &filter).await)
            .await?;
        let Some(entry) = found else {
            // Nobody by that name: a bind all the same, to an entry that cannot exist, so
            // that an unknown name costs the directory round trips a wrong password does
            // and the time taken does not tell which names exist. Its answer is no.
            let decoy = format!("cn=gatehouse-no-such-entry,{base}");
            if let Err(e) = directory.password_is(&decoy, password).await {
                tracing::debug!(upstream = %self.id, error = %e, "the bind for an unknown name failed");
            }
            return Ok(None);
        };
        if !directory.password_is(&entry.dn, password).await? {
            return Ok(None);
        }
        self.with_groups_unless_disabled(directory, entry).await
    }

    /// The entry of `id` with its groups, unless it is gone or disabled.
    async fn read_again(&self, id: &StableId) -> Result<Option<Found>, UpstreamError> {
        let directory = self.directory()?;
        let base = &self.settings.user_base;
        let found = directory
            .as_service(async |ldap| directory::one_entry(ldap, base, Scope::Subtree, &id.filter()).await)
            .await?;
        match found {
            Some(entry) => self.with_groups_unless_disabled(directory, entry).await,
            None => Ok(None),
        }
    }

    async fn with_groups_unless_disabled(&self, directory: &Directory, entry: Entry) -> Result<Option<Found>, UpstreamError> {
        if entry.disabled_in_active_directory() {
            return Ok(None);
        }
        let active_directory = self.active_directory.load(Ordering::Relaxed);
        let settings = &self.settings;
        let (disabled, groups) = directory
            .as_service(async |ldap| {
                let disabled = match &settings.disabled_filter {
                    Some(disabled) => !directory::search(ldap, &entry.dn, Scope::Base, disabled, &["1.1"], 1)
                        .await?
                        .is_empty(),
                    None => false,
                };
                let groups = match disabled {
                    true => Vec::new(),
                    false => groups::of(ldap, settings, &entry.dn, active_directory).await?,
                };
                Ok((disabled, groups))
            })
            .await?;
        if disabled {
            return Ok(None);
        }
        Ok(Some((entry.document(groups), entry.stable_id())))
    }
}
