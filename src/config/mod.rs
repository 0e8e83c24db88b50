//! The configuration file: its schema, `${ENV}` interpolation and validation.
//!
//! Loading never stops at the first mistake: every problem found is reported as
//! `FILE: key.path: what is wrong`, and a config with any problem is refused whole.

mod backchannel;
pub(crate) mod checks;
mod chooser;
mod client;
mod client_auth;
mod client_documents;
mod clients;
mod registration;
/// The rules a client's redirect URIs and grants keep, wherever it is registered.
pub use client::{AuthMethod, Client, ClientJwks, ClientOrigin, ClientProfile, ClientSecret, GrantType};
pub use client_auth::public_jwks;
pub use clients::{REGISTERED_ID_PREFIX, check_grant_types, check_redirect_uris};
mod dpop;
mod duration;
mod env;
mod key_path;
mod known_keys;
mod limits;
mod log;
mod raw;
mod resource_servers;
mod shared_signals;
mod store;
mod upstream_kind;
mod upstreams;
mod validate;

pub use backchannel::BackchannelSettings;
pub use chooser::ChooserSettings;
pub use client_documents::ClientDocumentSettings;
pub use dpop::DpopSettings;
pub use duration::Duration;
pub(crate) use key_path::join_key;
pub use limits::Limits;
pub use log::{LogFormat, LogSettings};
pub(crate) use raw::decode;
pub use registration::RegistrationSettings;
pub use resource_servers::{ResourceIndicatorSettings, ResourceServer};
pub use shared_signals::{SharedSignalsSettings, SignalDelivery, SignalReceiver, read_receiver};
pub use store::{DEFAULT_CACHE_MB, KeyEncryptionKey, PostgresSettings, StoreSettings};
pub use upstream_kind::{KindSettings, ReadSettings, UpstreamKind, same_settings};

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A validated configuration, ready to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from, for messages.
    pub file: PathBuf,
    /// The issuer identifier, without a trailing slash.
    pub issuer: String,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// A folder whose templates replace the embedded ones of the same name.
    pub templates_dir: Option<PathBuf>,
    /// The admin API's address; off when `None`.
    pub admin_listen: Option<SocketAddr>,
    /// The bearer token every admin API request must carry.
    pub admin_token: Option<Secret>,
    /// How long requests in flight may take to finish after SIGTERM or Ctrl-C.
    pub shutdown_grace: Duration,
    pub tokens: TokenSettings,
    /// The bounds on what anonymous traffic may use.
    pub limits: Limits,
    /// Where the state lives: sled in `data_dir`, or a shared PostgreSQL database.
    pub store: StoreSettings,
    /// How the server's log is written.
    pub log: LogSettings,
    pub chooser: ChooserSettings,
    pub dpop: DpopSettings,
    pub backchannel: BackchannelSettings,
    /// Clients that register themselves (RFC 7591).
    pub registration: RegistrationSettings,
    /// What `resource` may name besides the resource servers (RFC 8707).
    pub resource_indicators: ResourceIndicatorSettings,
    /// Clients whose id is the URL of their metadata.
    pub client_id_metadata_documents: ClientDocumentSettings,
    /// Gatehouse as a Shared Signals transmitter.
    pub shared_signals: SharedSignalsSettings,
    /// The audiences exchanged access tokens may be issued for (RFC 8693).
    pub resource_servers: Vec<ResourceServer>,
    /// Custom scopes and the claims each one releases.
    pub scopes: BTreeMap<String, Vec<String>>,
    /// Shared, so that a request holds its authenticated client without copying it.
    pub clients: Vec<Arc<Client>>,
    pub upstreams: Vec<Upstream>,
}

impl Config {
    /// Reads, interpolates and validates the file at `path`, each upstream's own keys by
    /// its kind among `kinds` (`upstream::KINDS`).
    pub fn load(path: &Path, kinds: &[UpstreamKind]) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError {
            file: path.to_path_buf(),
            problems,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(vec![Problem::new("", format!("cannot read the file: {e}"))]))?;
        Config::parse(path, &text, kinds).map_err(fail)
    }

    /// Validates `text` as if it had been read from `path` (relative paths in it are
    /// resolved against the folder of `path`).
    pub fn parse(path: &Path, text: &str, kinds: &[UpstreamKind]) -> Result<Config, Vec<Problem>> {
        let base = path.parent().unwrap_or(Path::new("."));
        let mut problems = Vec::new();
        let root = raw::parse(text, &mut problems);
        let config = root.and_then(|root| validate::validate(root, path, base, kinds, &mut problems));
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(problems),
        }
    }

    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    pub fn client(&self, id: &str) -> Option<&Client> {
        self.shared_client(id).map(|c| &**c)
    }

    /// The client `id` as the config shares it, for holding beyond a borrow.
    pub fn shared_client(&self, id: &str) -> Option<&Arc<Client>> {
        self.clients.iter().find(|c| c.id == id)
    }

    pub fn upstream(&self, id: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.id == id)
    }

    /// What is allowed but probably not meant: `check` prints these and `serve` logs them.
    pub fn warnings(&self) -> Vec<Problem> {
        self.clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.grant_types.contains(&GrantType::ClientCredentials) && c.scopes.is_none())
            .map(|(i, c)| {
                Problem::new(
                    format!("clients[{i}].scopes"),
                    format!(
                        "client \"{}\" may use client_credentials and has no scope list, so it may have every custom scope: list the ones it needs",
                        c.id
                    ),
                )
            })
            .chain(self.store.warning())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenSettings {
    pub signing_alg: SigningAlg,
    pub id_token_ttl: Duration,
    pub access_token_ttl: Duration,
    /// How long a refresh token lives unused (each rotation starts it again).
    pub refresh_token_ttl: Duration,
    /// How long a refresh family lives at most, from the login that started it.
    pub refresh_token_absolute_ttl: Duration,
    pub code_ttl: Duration,
    pub session_ttl: Duration,
    pub key_rotation: Duration,
    /// How long a person's consent to a client is remembered (a client may set its own).
    pub consent_ttl: Duration,
    /// How long a refresh token just rotated may be presented again, its successor unused,
    /// and get a new successor instead of revoking its family (an answer lost on the way);
    /// 0 turns it off.
    pub refresh_retry_window_secs: i64,
}

impl TokenSettings {
    /// How long a retired signing key must stay published: the longest lifetime of
    /// any token it may have signed.
    pub fn longest_signed_token_ttl(&self) -> Duration {
        self.id_token_ttl.max(self.access_token_ttl)
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            signing_alg: SigningAlg::RS256,
            id_token_ttl: Duration::seconds(3600),
            access_token_ttl: Duration::seconds(15 * 60),
            refresh_token_ttl: Duration::seconds(30 * 86_400),
            refresh_token_absolute_ttl: Duration::seconds(90 * 86_400),
            code_ttl: Duration::seconds(60),
            session_ttl: Duration::seconds(12 * 3600),
            key_rotation: Duration::seconds(30 * 86_400),
            consent_ttl: Duration::seconds(365 * 86_400),
            refresh_retry_window_secs: 30,
        }
    }
}

/// The JWS algorithms Gatehouse signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SigningAlg {
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    /// The JWS `alg` value (RFC 7518 §3.1, RFC 8037 §3.1).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret (a client secret, a password hash, the admin token, a private signing key):
/// the one type that holds them, so that no `Debug` output ever shows one.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An identity provider people log in at.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub id: String,
    pub name: String,
    /// The claim-mapping file, resolved against the config file's folder.
    pub mapping: Option<PathBuf>,
    /// Its `kind`: one of the kinds the config was read with.
    pub kind: &'static str,
    /// What its kind read of its keys.
    pub settings: std::sync::Arc<dyn KindSettings>,
    /// Not waited for by `/healthz/ready` (an upstream that may be down for long).
    pub optional: bool,
    /// The email domains whose people log in here (home-realm discovery), lowercase.
    pub domains: Vec<String>,
    /// Left off the chooser: reached through its `domains` or the `upstream` parameter.
    pub hidden: bool,
    /// Whether its `email_verified` is believed; when not, it is released as false.
    pub trust_email_verified: bool,
}

impl PartialEq for Upstream {
    fn eq(&self, other: &Upstream) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.mapping == other.mapping
            && self.kind == other.kind
            && self.settings.same_as(&*other.settings)
            && self.optional == other.optional
            && self.domains == other.domains
            && self.hidden == other.hidden
            && self.trust_email_verified == other.trust_email_verified
    }
}

/// One thing wrong with a config: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path, like `clients[0].redirect_uris[1]`; empty for the file as a whole.
    pub key: String,
    pub message: String,
}

/// Names each problem of one `[[clients]]` or `[[upstreams]]` table by the table's id, so
/// that `clients[3]` is found without counting tables: `... (client "web")`.
pub(crate) fn name_table(problems: &mut [Problem], what: &str, table: &toml::Value) {
    let Some(id) = table
        .get("id")
        .and_then(toml::Value::as_str)
        .filter(|id| !id.is_empty())
    else {
        return;
    };
    for problem in problems {
        problem.message.push_str(&format!(" ({what} \"{id}\")"));
    }
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Every problem found in one config file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if problem.key.is_empty() {
                write!(f, "{file}: {}", problem.message)?;
            } else {
                write!(f, "{file}: {}: {}", problem.key, problem.message)?;
            }
        }
        Ok(())
    }
}

/// A TOML value as JSON; dates and times become their TOML text.
pub fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Json::Object(table.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}
