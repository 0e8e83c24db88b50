//! The operator's commands on keys, sessions and account links, with the same effects whichever way
//! they reach the state: the database itself when no server holds it (a shared
//! PostgreSQL database always), or the running server's admin API (the embedded
//! database is open in one process only). Ending a
//! session tells its clients by back-channel logout both ways.

mod admin_client;

pub use admin_client::AdminClient;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::accounts::Withdrawn;
use crate::domain::clients::{self, ClientInfo};
use crate::domain::logout_outbox;
use crate::domain::sessions::{self, SessionInfo};
use crate::keys::{self, KeyInfo, Keys};
use crate::store::{LinkedIdentity, Store, StoreError};

/// Where an operator command runs.
pub enum Operator {
    // Boxed: a store is large beside a client.
    Direct(Box<Direct>),
    Admin(AdminClient),
}

/// The database itself, opened by the command.
pub struct Direct {
    config: Config,
    store: Store,
    policy: keys::KeyPolicy,
    http: crate::upstream::UpstreamHttp,
}

impl Operator {
    /// Opens the database of `config`, or, when a running server holds it, reaches that
    /// server's admin API.
    pub async fn connect(config: &Config) -> Result<Operator, String> {
        match Store::connect(&config.store, &config.data_dir).await {
            Ok(store) => Ok(Operator::Direct(Box::new(Direct {
                config: config.clone(),
                policy: keys::KeyPolicy::new(config, store.is_shared()).map_err(|e| e.to_string())?,
                // A command's own counts, never scraped.
                http: crate::upstream::UpstreamHttp::new(
                    config.limits.upstream_response_bytes,
                    crate::telemetry::Telemetry::new(store.metrics()),
                )
                .map_err(|e| format!("no HTTP client: {e}"))?,
                store,
            }))),
            Err(e @ StoreError::Locked(_)) => match (config.admin_listen, &config.admin_token) {
                (Some(addr), Some(token)) => Ok(Operator::Admin(AdminClient::new(addr, &token.0))),
                _ => Err(format!(
                    "{e}\nTo manage a running server, set admin_listen and admin_token in the config (see the README)."
                )),
            },
            Err(e) => Err(e.to_string()),
        }
    }

    /// Every signing key, active and retired.
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, String> {
        match self {
            Operator::Direct(direct) => keys::list(&direct.store, &direct.policy, Clock::System.now())
                .await
                .map_err(|e| e.to_string()),
            Operator::Admin(admin) => admin.keys().await,
        }
    }

    /// Makes a new active signing key; returns its kid.
    pub async fn rotate_key(&self) -> Result<String, String> {
        match self {
            Operator::Direct(direct) => keys::rotate_in_store(&direct.store, &direct.policy, Clock::System.now())
                .await
                .map_err(|e| e.to_string()),
            Operator::Admin(admin) => admin.rotate_key().await,
        }
    }

    /// Seals every key under the current key-encryption key; returns how many were
    /// sealed anew (the signing keys that were not under it yet, every SAML SP key).
    pub async fn rewrap_keys(&self) -> Result<usize, String> {
        match self {
            Operator::Direct(direct) => {
                let now = Clock::System.now();
                let signing = keys::rewrap(&direct.store, &direct.policy, now)
                    .await
                    .map_err(|e| e.to_string())?;
                let saml = crate::domain::saml_sp_keys::rewrap(&direct.store, &direct.policy.sealing, now).await?;
                Ok(signing + saml)
            }
            Operator::Admin(_) => Err("the embedded database is in use by the running server: stop it, run \
                 `gatehouse keys rewrap`, and start it again"
                .into()),
        }
    }

    /// The live sessions, of one person when `sub` is given, newest first.
    pub async fn sessions(&self, sub: Option<&str>) -> Result<Vec<SessionInfo>, String> {
        match self {
            Operator::Direct(direct) => sessions::list(&direct.store, sub, Clock::System.now())
                .await
                .map_err(|e| e.to_string()),
            Operator::Admin(admin) => admin.sessions(sub).await,
        }
    }

    /// The back-channel logout tokens still owed to clients, and those given up.
    pub async fn deliveries(&self) -> Result<Vec<logout_outbox::Queued>, String> {
        match self {
            Operator::Direct(direct) => logout_outbox::queued(&direct.store, Clock::System.now())
                .await
                .map_err(|e| e.to_string()),
            Operator::Admin(admin) => admin.deliveries().await,
        }
    }

    /// The upstream identities that sign in to the account `sub`.
    pub async fn account_links(&self, sub: &str) -> Result<Vec<LinkedIdentity>, String> {
        match self {
            Operator::Direct(direct) => match direct.store.accounts.get(sub, Clock::System.now()).await {
                Ok(Some(account)) => Ok(crate::domain::accounts::links_of(&account)),
                Ok(None) => Err(format!("no account {sub}")),
                Err(e) => Err(e.to_string()),
            },
            Operator::Admin(admin) => admin.account_links(sub).await,
        }
    }

    /// Removes the account's identity at `upstream`; returns it.
    pub async fn unlink(&self, sub: &str, upstream: &str) -> Result<LinkedIdentity, String> {
        match self {
            Operator::Direct(direct) => {
                crate::domain::accounts::unlink(&direct.store, sub, upstream, Clock::System.now())
                    .await
                    .map_err(|e| e.to_string())
            }
            Operator::Admin(admin) => admin.unlink(sub, upstream).await,
        }
    }

    /// Withdraws the account's consent to `client` and revokes the client's refresh
    /// families for it.
    pub async fn withdraw_consent(&self, sub: &str, client: &str) -> Result<Withdrawn, String> {
        match self {
            Operator::Direct(direct) => crate::domain::accounts::withdraw_consent(
                &direct.store,
                &direct.config,
                sub,
                client,
                Clock::System.now(),
            )
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| nothing_to_withdraw(sub, client)),
            Operator::Admin(admin) => admin.withdraw_consent(sub, client).await,
        }
    }

    /// The clients that registered themselves.
    pub async fn clients(&self) -> Result<Vec<ClientInfo>, String> {
        match self {
            Operator::Direct(direct) => clients::registered(&direct.store, Clock::System.now())
                .await
                .map_err(|e| e.to_string()),
            Operator::Admin(admin) => admin.clients().await,
        }
    }

    /// The registered client `id`, if there is one.
    pub async fn client(&self, id: &str) -> Result<Option<ClientInfo>, String> {
        match self {
            Operator::Direct(direct) => clients::registered_one(&direct.store, id, Clock::System.now())
                .await
                .map_err(|e| e.to_string()),
            Operator::Admin(admin) => admin.client(id).await,
        }
    }

    /// Ends the registered client `id` with its refresh tokens and the consents given to
    /// it; false when there is no such client.
    pub async fn delete_client(&self, id: &str) -> Result<bool, String> {
        match self {
            Operator::Direct(direct) => clients::delete(&direct.store, &direct.config, id, Clock::System.now())
                .await
                .map_err(|e| e.to_string()),
            Operator::Admin(admin) => admin.delete_client(id).await,
        }
    }

    /// Ends the session `sid` and tells its clients; false when there is no such session.
    pub async fn end_session(&self, sid: &str) -> Result<bool, String> {
        match self {
            Operator::Direct(direct) => direct.end_session(sid).await.map_err(|e| e.to_string()),
            Operator::Admin(admin) => admin.end_session(sid).await,
        }
    }
}

/// `gatehouse store migrate`: copies the embedded database in `from` into the shared
/// database of `config` (which must be empty), then seals the signing keys there under
/// its key-encryption key. Returns (records copied, keys sealed).
pub async fn migrate_store(config: &Config, from: &std::path::Path) -> Result<(usize, usize), String> {
    if config.store.postgres.is_none() {
        return Err("the config has no [store] url: name the PostgreSQL database to copy into there".into());
    }
    let source = Store::connect(&crate::config::StoreSettings::default(), from)
        .await
        .map_err(|e| e.to_string())?;
    let target = Store::connect(&config.store, &config.data_dir)
        .await
        .map_err(|e| e.to_string())?;
    let now = Clock::System.now();
    let copied = source.copy_into(&target, now).await.map_err(|e| e.to_string())?;
    let policy = keys::KeyPolicy::new(config, true).map_err(|e| e.to_string())?;
    let sealed = keys::rewrap(&target, &policy, now).await.map_err(|e| e.to_string())?;
    Ok((copied, sealed))
}

impl Direct {
    /// As the server's admin API does it, but waiting for the back-channel deliveries:
    /// the command must not exit before they are done.
    async fn end_session(&self, sid: &str) -> Result<bool, String> {
        let keys = Keys::open(self.store.clone(), self.policy.clone(), Clock::System)
            .await
            .map_err(|e| e.to_string())?;
        let telemetry = crate::telemetry::Telemetry::new(self.store.metrics());
        let signals_http = crate::public_fetch::PublicFetch::new(
            std::time::Duration::from_secs(10),
            self.config.shared_signals.allow_loopback,
        )
        .map_err(|e| e.to_string())?;
        let parts = logout_outbox::Parts {
            signals_http: &signals_http,
            config: &self.config,
            store: &self.store,
            keys: &keys,
            http: self.http.client(),
            telemetry: &telemetry,
            clock: &Clock::System,
        };
        crate::domain::sessions::end_and_deliver(parts, sid, DIRECT_TRIES)
            .await
            .map_err(|e| e.to_string())
    }
}

/// How often a command that ends a session with no server running tries each delivery.
const DIRECT_TRIES: u32 = 3;

/// Why a withdrawal of consent found nothing.
fn nothing_to_withdraw(sub: &str, client: &str) -> String {
    format!("{sub} has no consent to {client} and no refresh tokens from it")
}
