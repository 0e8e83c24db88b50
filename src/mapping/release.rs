//! Which claims a relying party receives: those its granted scopes release
//! (OpenID Connect Core §5.4, plus the custom scopes of the config).

use crate::scope::Scopes;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

/// The scopes OpenID Connect defines (Core §5.4, §11); custom scopes may not reuse them.
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "address", "phone", "offline_access"];

/// The claims each standard scope releases (OpenID Connect Core §5.4).
pub fn standard_scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// The subset of `claims` released by `scopes`, with the config's custom scopes
/// (`[scopes.NAME] claims = [...]`). Unknown scopes release nothing.
pub fn release(
    claims: &Map<String, Json>,
    scopes: &Scopes,
    custom: &BTreeMap<String, Vec<String>>,
) -> Map<String, Json> {
    let mut released = Map::new();
    for scope in scopes.iter() {
        let custom_claims = custom.get(scope).map(Vec::as_slice).unwrap_or_default();
        let names = standard_scope_claims(scope)
            .iter()
            .copied()
            .chain(custom_claims.iter().map(String::as_str));
        for name in names {
            if let Some(value) = claims.get(name) {
                released.insert(name.to_string(), value.clone());
            }
        }
    }
    released
}
