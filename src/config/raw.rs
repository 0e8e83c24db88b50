//! The file as written: loosely typed structs that serde fills in, decoded one
//! section at a time so that a mistake in one client does not hide those in the next.

use super::key_path::{join_key, join_path};
use super::known_keys::KnownKeys;
use super::{AuthMethod, Duration, GrantType, Problem, SigningAlg};
use crate::response_type::ResponseType;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

#[derive(Deserialize)]
pub struct RawRoot {
    pub issuer: Option<String>,
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub templates_dir: Option<String>,
    /// An address, or a port on 127.0.0.1.
    pub admin_listen: Option<toml::Value>,
    pub admin_token: Option<String>,
    pub shutdown_grace: Option<Duration>,
    pub tokens: Option<toml::Value>,
    pub limits: Option<toml::Value>,
    pub store: Option<toml::Value>,
    pub log: Option<toml::Value>,
    pub chooser: Option<toml::Value>,
    pub dpop: Option<toml::Value>,
    pub backchannel: Option<toml::Value>,
    pub registration: Option<toml::Value>,
    pub client_id_metadata_documents: Option<toml::Value>,
    pub resource_indicators: Option<toml::Value>,
    pub shared_signals: Option<toml::Value>,
    #[serde(default)]
    pub scopes: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub clients: Vec<toml::Value>,
    #[serde(default)]
    pub upstreams: Vec<toml::Value>,
    #[serde(default)]
    pub resource_servers: Vec<toml::Value>,
}

#[derive(Deserialize, Default)]
pub struct RawTokens {
    pub signing_alg: Option<SigningAlg>,
    pub id_token_ttl: Option<Duration>,
    pub access_token_ttl: Option<Duration>,
    pub refresh_token_ttl: Option<Duration>,
    pub refresh_token_absolute_ttl: Option<Duration>,
    pub code_ttl: Option<Duration>,
    pub session_ttl: Option<Duration>,
    pub key_rotation: Option<Duration>,
    pub consent_ttl: Option<Duration>,
    /// A duration, or "0s" for none.
    pub refresh_retry_window: Option<String>,
}

#[derive(Deserialize)]
pub struct RawScope {
    pub claims: Vec<String>,
}

#[derive(Deserialize)]
pub struct RawClient {
    pub id: String,
    pub secret: Option<String>,
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub name: Option<String>,
    pub consent: Option<bool>,
    pub consent_ttl: Option<Duration>,
    pub upstreams: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub response_types: Option<Vec<ResponseType>>,
    pub token_endpoint_auth_method: Option<AuthMethod>,
    pub jwks: Option<toml::Value>,
    pub jwks_uri: Option<String>,
    pub require_par: Option<bool>,
    pub require_dpop: Option<bool>,
    pub require_signed_request_object: Option<bool>,
    pub profile: Option<super::ClientProfile>,
    pub introspect: Option<bool>,
    pub backchannel_logout_uri: Option<String>,
    pub initiate_login_uri: Option<String>,
    pub idp_claim: Option<bool>,
    pub shared_signals: Option<bool>,
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub token_exchange: Vec<String>,
    #[serde(default)]
    pub exchange_actors: Vec<String>,
}

/// The keys every `[[upstreams]]` table has; the rest belong to its kind.
#[derive(Deserialize)]
pub struct RawUpstream {
    pub id: String,
    pub name: Option<String>,
    pub kind: String,
    pub mapping: Option<String>,
    pub optional: Option<bool>,
    pub domains: Option<Vec<String>>,
    pub hidden: Option<bool>,
    pub trust_email_verified: Option<bool>,
}

impl RawUpstream {
    pub const KEYS: [&str; 8] = [
        "id",
        "name",
        "kind",
        "mapping",
        "optional",
        "domains",
        "hidden",
        "trust_email_verified",
    ];
}

/// Parses the TOML text and interpolates the environment into it.
pub fn parse(text: &str, problems: &mut Vec<Problem>) -> Option<RawRoot> {
    let mut root: toml::Value = match toml::from_str::<toml::Table>(text) {
        Ok(table) => toml::Value::Table(table),
        Err(e) => {
            problems.push(Problem::new("", format!("not valid TOML: {}", e.message().trim())));
            if let Some(span) = e.span() {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                if let Some(last) = problems.last_mut() {
                    last.message.push_str(&format!(" (line {line})"));
                }
            }
            return None;
        }
    };
    super::env::interpolate(&mut root, "", problems);
    decode(root, "", problems)
}

/// Deserializes one section, reporting unknown keys and type mistakes under `at`.
///
/// serde stops at the first mistake; to report them all, the offending key is removed
/// and decoding runs again, until it succeeds or a mistake cannot be removed (a
/// missing key). The value is only returned when there was no mistake at all.
pub fn decode<T: DeserializeOwned>(mut value: toml::Value, at: &str, problems: &mut Vec<Problem>) -> Option<T> {
    let mut unknown: Vec<String> = Vec::new();
    let mut mistakes = Vec::new();
    let mut removed_keys: Vec<String> = Vec::new();
    let decoded = loop {
        let mut seen = Vec::new();
        let result: Result<T, _> = {
            let mut note_unknown = |path: serde_ignored::Path| seen.push(ignored_path(&path));
            let deserializer = serde_ignored::Deserializer::new(value.clone(), &mut note_unknown);
            serde_path_to_error::deserialize(deserializer)
        };
        for key in seen {
            if !unknown.contains(&key) {
                unknown.push(key);
            }
        }
        match result {
            Ok(decoded) => break Some(decoded),
            Err(e) => {
                let path = e.path().to_string();
                let path = if path == "." { String::new() } else { path };
                let removed = remove_at(&mut value, e.path());
                let message = e.into_inner().message().to_string();
                // A required key removed by an earlier round is already reported.
                let echo = message
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.strip_suffix('`'))
                    .is_some_and(|field| removed_keys.contains(&join_path(&path, field)));
                if !echo {
                    mistakes.push(Problem::new(join_path(at, &path), message));
                }
                if !removed {
                    break None;
                }
                removed_keys.push(path);
            }
        }
    };
    if !unknown.is_empty() {
        let known = KnownKeys::of::<T>();
        problems.extend(unknown.iter().map(|key| {
            let message = match known.suggestion(key) {
                Some(meant) => format!("unknown key (did you mean \"{meant}\"?)"),
                None => "unknown key".to_string(),
            };
            Problem::new(join_path(at, key), message)
        }));
    }
    let clean = mistakes.is_empty();
    problems.extend(mistakes);
    decoded.filter(|_| clean)
}

/// Removes the table entry at `path`; false when there is none (array elements are
/// never removed: that would shift the indexes of the ones after them).
fn remove_at(value: &mut toml::Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut current = value;
    for segment in parents {
        let next = match (segment, current) {
            (Segment::Map { key }, toml::Value::Table(table)) => table.get_mut(key.as_str()),
            (Segment::Seq { index }, toml::Value::Array(items)) => items.get_mut(*index),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => return false,
        }
    }
    match (last, current) {
        (Segment::Map { key }, toml::Value::Table(table)) => table.remove(key.as_str()).is_some(),
        _ => false,
    }
}

fn ignored_path(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        P::Map { parent, key } => join_key(&ignored_path(parent), key),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => ignored_path(parent),
    }
}
