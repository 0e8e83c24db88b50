//! `[registration]`: clients that register themselves (RFC 7591) at `/register`, and
//! what they may register.

use super::{AuthMethod, Duration, GrantType, Problem, Secret, raw::decode};
use crate::mapping::STANDARD_SCOPES;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The shortest initial access token taken: a guessable one would open registration.
const MIN_TOKEN_CHARS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RegistrationSettings {
    pub enabled: bool,
    /// Anyone may register, without an initial access token.
    pub open: bool,
    /// The bearer tokens a registration must carry unless `open`.
    pub initial_access_tokens: Vec<Secret>,
    /// How long a registered client lives; its secret expires with it.
    pub client_lifetime: Duration,
    pub allowed_grant_types: Vec<GrantType>,
    /// The scopes a registered client may ask for; `None`: every scope of the config.
    pub allowed_scopes: Option<Vec<String>>,
    pub allowed_auth_methods: Vec<AuthMethod>,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        RegistrationSettings {
            enabled: false,
            open: false,
            initial_access_tokens: Vec::new(),
            client_lifetime: Duration::seconds(90 * 86_400),
            allowed_grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            allowed_scopes: None,
            allowed_auth_methods: vec![
                AuthMethod::None,
                AuthMethod::ClientSecretBasic,
                AuthMethod::ClientSecretPost,
                AuthMethod::PrivateKeyJwt,
            ],
        }
    }
}

/// The grants a registration may ask for: those whose use needs nothing the operator
/// decides per client (token exchange and the JWT bearer grant name upstreams).
const REGISTRABLE_GRANTS: [GrantType; 4] = [
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::ClientCredentials,
    GrantType::DeviceCode,
];

pub fn validate_registration(
    table: Option<toml::Value>,
    custom_scopes: &BTreeMap<String, Vec<String>>,
    problems: &mut Vec<Problem>,
) -> RegistrationSettings {
    let Some(settings) = table.and_then(|t| decode::<RegistrationSettings>(t, "registration", problems)) else {
        return RegistrationSettings::default();
    };
    if settings.enabled && !settings.open && settings.initial_access_tokens.is_empty() {
        problems.push(Problem::new(
            "registration.initial_access_tokens",
            "registration is enabled and not open: list the tokens a registration must carry, or set open = true",
        ));
    }
    for (i, token) in settings.initial_access_tokens.iter().enumerate() {
        if token.0.chars().count() < MIN_TOKEN_CHARS {
            problems.push(Problem::new(
                format!("registration.initial_access_tokens[{i}]"),
                format!("is shorter than {MIN_TOKEN_CHARS} characters: make it long and random"),
            ));
        }
    }
    for (i, grant) in settings.allowed_grant_types.iter().enumerate() {
        if !REGISTRABLE_GRANTS.contains(grant) {
            problems.push(Problem::new(
                format!("registration.allowed_grant_types[{i}]"),
                format!(
                    "{} names upstreams per client, which a registration cannot: configure such a client under [[clients]]",
                    grant.as_str()
                ),
            ));
        }
    }
    for (i, method) in settings.allowed_auth_methods.iter().enumerate() {
        if *method == AuthMethod::ClientSecretJwt {
            problems.push(Problem::new(
                format!("registration.allowed_auth_methods[{i}]"),
                "client_secret_jwt needs the secret in clear, and registered secrets are kept only as hashes: use private_key_jwt",
            ));
        }
    }
    for (i, scope) in settings.allowed_scopes.iter().flatten().enumerate() {
        if !STANDARD_SCOPES.contains(&scope.as_str()) && !custom_scopes.contains_key(scope) {
            problems.push(Problem::new(
                format!("registration.allowed_scopes[{i}]"),
                format!("\"{scope}\" is neither a standard scope nor one under [scopes]"),
            ));
        }
    }
    settings
}
