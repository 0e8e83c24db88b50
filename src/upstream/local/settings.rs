//! The keys of a `kind = "local"` upstream: its users, inline or in a users file.

use crate::config::checks::check_argon2_hash;
use crate::config::{KindSettings, Problem, Secret, decode, same_settings};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct LocalSettings {
    pub users: Vec<LocalUser>,
}

impl KindSettings for LocalSettings {
    fn same_as(&self, other: &dyn KindSettings) -> bool {
        same_settings(self, other)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LocalUser {
    pub username: String,
    /// An argon2 PHC string.
    pub password_hash: Secret,
    /// What the claim mapping reads for this person.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct RawLocal {
    /// Inline `[[upstreams.users]]`, or the path of a file of `[[users]]`.
    users: Option<toml::Value>,
}

/// A users file: `[[users]]` tables.
#[derive(Deserialize)]
struct RawUsersFile {
    users: Vec<toml::Value>,
}

#[derive(Deserialize)]
struct RawLocalUser {
    username: String,
    password_hash: String,
    #[serde(default)]
    attributes: BTreeMap<String, toml::Value>,
}

pub fn read(table: toml::Value, at: &str, base: &Path, problems: &mut Vec<Problem>) -> Option<LocalSettings> {
    let raw: RawLocal = decode(table, at, problems)?;
    let users = load_local_users(raw.users, &format!("{at}.users"), base, problems);
    Some(LocalSettings { users })
}

/// The users of a `local` upstream: inline, or from the file the key names (relative to
/// the config file); problems in that file are reported under the key, naming the file.
fn load_local_users(users: Option<toml::Value>, at: &str, base: &Path, problems: &mut Vec<Problem>) -> Vec<LocalUser> {
    let (values, file) = match users {
        None => return Vec::new(),
        Some(toml::Value::Array(values)) => (values, None),
        Some(toml::Value::String(path)) => {
            let path = base.join(path);
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|text| {
                    toml::from_str::<toml::Value>(&text)
                        .map_err(|e| format!("{}: not valid TOML: {}", path.display(), e.message().trim()))
                });
            let value = match parsed {
                Ok(value) => value,
                Err(message) => {
                    problems.push(Problem::new(at, message));
                    return Vec::new();
                }
            };
            let mut in_file = Vec::new();
            let Some(RawUsersFile { users }) = decode(value, "", &mut in_file) else {
                problems.extend(
                    in_file
                        .into_iter()
                        .map(|p| Problem::new(at, format!("{}: {}: {}", path.display(), p.key, p.message))),
                );
                return Vec::new();
            };
            (users, Some(path))
        }
        Some(_) => {
            problems.push(Problem::new(
                at,
                "must be [[upstreams.users]] tables or the path of a users file",
            ));
            return Vec::new();
        }
    };
    // Problems inside a users file name the file and the path within it.
    let (key_base, mut own) = match &file {
        Some(_) => ("users".to_string(), Vec::new()),
        None => (at.to_string(), Vec::new()),
    };
    let mut raw_users = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        if let Some(user) = decode::<RawLocalUser>(value, &format!("{key_base}[{i}]"), &mut own) {
            raw_users.push(user);
        }
    }
    let users = validate_local_users(&raw_users, &key_base, &mut own);
    match file {
        Some(path) => problems.extend(
            own.into_iter()
                .map(|p| Problem::new(at, format!("{}: {}: {}", path.display(), p.key, p.message))),
        ),
        None => problems.extend(own),
    }
    users
}

fn validate_local_users(users: &[RawLocalUser], at: &str, problems: &mut Vec<Problem>) -> Vec<LocalUser> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let at = format!("{at}[{i}]");
        if user.username.is_empty() {
            problems.push(Problem::new(format!("{at}.username"), "must not be empty"));
        } else if !seen.insert(user.username.as_str()) {
            problems.push(Problem::new(
                format!("{at}.username"),
                format!("\"{}\" is used by another user", user.username),
            ));
        }
        check_argon2_hash(&format!("{at}.password_hash"), &user.password_hash, problems);
        let attributes = user
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), crate::config::toml_to_json(v)))
            .collect();
        out.push(LocalUser {
            username: user.username.clone(),
            password_hash: Secret(user.password_hash.clone()),
            attributes,
        });
    }
    out
}
