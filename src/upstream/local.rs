//! People kept in the config: a username and an argon2 password hash each.

use crate::config::LocalUpstream;
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use serde_json::{Map, Value as Json};

/// A hash of a password nobody has, checked when the username is unknown so that a
/// wrong username takes as long as a wrong password.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$yvTKEfWm0JaUvVUgb3nY5uvH3NdlZk87tRsbPLp7Cww";

/// The user's document for the mapping (their `attributes`, with `sub` and
/// `preferred_username` defaulting to the username), if the password is right.
pub fn authenticate(upstream: &LocalUpstream, username: &str, password: &str) -> Option<Json> {
    let user = upstream.users.iter().find(|u| u.username == username);
    let hash = user.map_or(DUMMY_HASH, |u| u.password_hash.as_str());
    let verified = PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false);
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
