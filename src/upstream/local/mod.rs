//! `kind = "local"`: people kept in the config, a username and an argon2 password hash
//! each, logging in on Gatehouse's own form.

mod settings;

pub use settings::{LocalSettings, LocalUser};

use super::{Authentication, Capabilities, Kind, Person};
use crate::config::Problem;
use crate::limits::{CheckError, PasswordChecks};
use serde_json::{Map, Value as Json};
use std::path::Path;
use std::sync::Arc;

/// A hash of a password nobody has, checked when the username is unknown so that a
/// wrong username takes as long as a wrong password.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$yvTKEfWm0JaUvVUgb3nY5uvH3NdlZk87tRsbPLp7Cww";

pub struct LocalUsers {
    settings: Arc<LocalSettings>,
}

impl Kind for LocalUsers {
    type Settings = LocalSettings;

    fn settings(table: toml::Value, at: &str, base: &Path, problems: &mut Vec<Problem>) -> Option<LocalSettings> {
        settings::read(table, at, base, problems)
    }

    fn open(_id: &str, settings: &LocalSettings, _issuer: &str) -> Self {
        LocalUsers {
            settings: Arc::new(settings.clone()),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            password: true,
            ..Capabilities::default()
        }
    }

    /// The user's document for the mapping, if the password is right: argon2, on the
    /// gate's threads.
    async fn check_password(
        &self,
        _http: &crate::upstream::UpstreamHttp,
        gate: &PasswordChecks,
        username: &str,
        password: &str,
    ) -> Result<Option<Person>, CheckError> {
        let settings = Arc::clone(&self.settings);
        let (username, password) = (username.to_string(), password.to_string());
        let document = gate
            .run(|| None, move || document_if_password(&settings, &username, &password))
            .await?;
        Ok(document.map(|document| Person {
            once: None,
            document,
            authentication: Authentication::default(),
            session: None,
        }))
    }
}

/// The user's document for the mapping (their `attributes`, with `sub` and
/// `preferred_username` defaulting to the username), if the password is right. Slow on
/// purpose.
fn document_if_password(settings: &LocalSettings, username: &str, password: &str) -> Option<Json> {
    let user = settings.users.iter().find(|u| u.username == username);
    let hash = user.map_or(DUMMY_HASH, |u| u.password_hash.0.as_str());
    let verified = crate::secrets::verify_password(hash, password);
    let user = user.filter(|_| verified)?;
    let mut document: Map<String, Json> = user.attributes.clone();
    document
        .entry("sub")
        .or_insert_with(|| Json::String(user.username.clone()));
    document
        .entry("preferred_username")
        .or_insert_with(|| Json::String(user.username.clone()));
    Some(Json::Object(document))
}
