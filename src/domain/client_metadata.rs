//! A registration's metadata (RFC 7591 §2) checked against the `[registration]` policy
//! and the rules every client keeps, and what a kept registration makes: the [`Client`]
//! every endpoint works with, as a `[[clients]]` table makes one.

use crate::config::{AuthMethod, Client, ClientJwks, ClientOrigin, ClientSecret, Config, GrantType, Problem, Secret};
use crate::mapping::STANDARD_SCOPES;
use crate::response_type::ResponseType;
use crate::store::{ClientMetadata, RegisteredClient};
use std::sync::Arc;

/// The most redirect URIs (and post-logout ones) a registration may list.
const MAX_URIS: usize = 20;
/// The longest client name, which the consent page shows.
const MAX_NAME_CHARS: usize = 100;
const MAX_CONTACTS: usize = 10;

/// Why a registration's metadata is refused, as RFC 7591 §3.2.2 names it.
#[derive(Debug, PartialEq, Eq)]
pub enum MetadataError {
    RedirectUri(String),
    Metadata(String),
    /// A `software_statement`: Gatehouse verifies none, so it takes none.
    SoftwareStatement,
}

impl MetadataError {
    pub fn code(&self) -> &'static str {
        match self {
            MetadataError::RedirectUri(_) => "invalid_redirect_uri",
            MetadataError::Metadata(_) => "invalid_client_metadata",
            MetadataError::SoftwareStatement => "unapproved_software_statement",
        }
    }

    pub fn description(&self) -> &str {
        match self {
            MetadataError::RedirectUri(d) | MetadataError::Metadata(d) => d,
            MetadataError::SoftwareStatement => "software statements are not accepted here: register without one",
        }
    }
}

/// What a client that names itself may be: the `[registration]` policy, or what a
/// Client ID Metadata Document may say.
pub struct Policy<'a> {
    pub auth_methods: &'a [AuthMethod],
    pub grant_types: &'a [GrantType],
    /// `None`: every scope of the config.
    pub scopes: Option<&'a [String]>,
}

impl Policy<'_> {
    pub fn registration(config: &Config) -> Policy<'_> {
        let policy = &config.registration;
        Policy {
            auth_methods: &policy.allowed_auth_methods,
            grant_types: &policy.allowed_grant_types,
            scopes: policy.allowed_scopes.as_deref(),
        }
    }

    /// A metadata document holds no secret (anyone can read it): its client is public or
    /// proves itself with its keys, and signs people in with the code grant.
    pub const DOCUMENT: Policy<'static> = Policy {
        auth_methods: &[AuthMethod::None, AuthMethod::PrivateKeyJwt],
        grant_types: &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: None,
    };
}

/// `metadata` with the defaults filled in (RFC 7591 §2: `client_secret_basic`, the
/// `authorization_code` grant, the `code` response type), checked against `policy`;
/// what it holds that Gatehouse does not use for the method it names (keys of a client
/// without `private_key_jwt`) is dropped, so the answer shows what was registered.
pub fn check(
    mut metadata: ClientMetadata,
    policy: &Policy<'_>,
    config: &Config,
) -> Result<ClientMetadata, MetadataError> {
    if metadata.software_statement.is_some() {
        return Err(MetadataError::SoftwareStatement);
    }
    let method_name = metadata
        .token_endpoint_auth_method
        .get_or_insert_with(|| AuthMethod::ClientSecretBasic.as_str().to_string());
    let method = auth_method(method_name)
        .filter(|m| policy.auth_methods.contains(m))
        .ok_or_else(|| {
            invalid(format!(
                "token_endpoint_auth_method \"{method_name}\" is not allowed here: use one of {}",
                names(policy.auth_methods.iter().map(|m| m.as_str()))
            ))
        })?;
    let grants = grant_types(&mut metadata, policy.grant_types)?;
    response_types(&mut metadata, &grants)?;
    redirect_uris(&metadata, &grants, config)?;
    keys(
        &mut metadata,
        method,
        config.client_id_metadata_documents.allow_loopback,
    )?;
    scope(&mut metadata, policy.scopes, config)?;
    descriptive(&metadata)?;
    Ok(metadata)
}

fn invalid(why: impl Into<String>) -> MetadataError {
    MetadataError::Metadata(why.into())
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

fn auth_method(name: &str) -> Option<AuthMethod> {
    [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::ClientSecretJwt,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::None,
    ]
    .into_iter()
    .find(|m| m.as_str() == name)
}

fn grant_type(name: &str) -> Option<GrantType> {
    [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
        GrantType::TokenExchange,
        GrantType::JwtBearer,
    ]
    .into_iter()
    .find(|g| g.as_str() == name)
}

fn grant_types(metadata: &mut ClientMetadata, allowed: &[GrantType]) -> Result<Vec<GrantType>, MetadataError> {
    let listed = metadata
        .grant_types
        .get_or_insert_with(|| vec![GrantType::AuthorizationCode.as_str().to_string()]);
    listed.dedup();
    let mut grants = Vec::new();
    for name in listed.iter() {
        match grant_type(name).filter(|g| allowed.contains(g)) {
            Some(grant) if !grants.contains(&grant) => grants.push(grant),
            Some(_) => {}
            None => {
                return Err(invalid(format!(
                    "grant type \"{name}\" is not allowed here: use {}",
                    names(allowed.iter().map(|g| g.as_str()))
                )));
            }
        }
    }
    let method = metadata.token_endpoint_auth_method.as_deref().and_then(auth_method);
    let confidential = method.is_some_and(|m| m != AuthMethod::None);
    let mut problems = Vec::new();
    crate::config::check_grant_types("", &grants, confidential, &mut problems);
    first_problem(problems, MetadataError::Metadata)?;
    Ok(grants)
}

/// Only `code`: a client nobody vetted gets no tokens through the browser's address bar.
fn response_types(metadata: &mut ClientMetadata, grants: &[GrantType]) -> Result<(), MetadataError> {
    let code_grant = grants.contains(&GrantType::AuthorizationCode);
    let listed = metadata.response_types.get_or_insert_with(|| {
        if code_grant {
            vec![ResponseType::CODE.as_str().to_string()]
        } else {
            Vec::new()
        }
    });
    for name in listed.iter() {
        if name != ResponseType::CODE.as_str() {
            return Err(invalid(format!(
                "response type \"{name}\" is not allowed here: a registered client uses \"code\""
            )));
        }
    }
    if code_grant != listed.iter().any(|t| t == "code") {
        return Err(invalid(
            "the authorization_code grant and the \"code\" response type go together (RFC 7591 §2.1)",
        ));
    }
    Ok(())
}

fn redirect_uris(metadata: &ClientMetadata, grants: &[GrantType], config: &Config) -> Result<(), MetadataError> {
    let uris = [
        ("redirect_uris", &metadata.redirect_uris),
        ("post_logout_redirect_uris", &metadata.post_logout_redirect_uris),
    ];
    for (key, listed) in uris {
        if listed.len() > MAX_URIS {
            return Err(MetadataError::RedirectUri(format!("{key} lists more than {MAX_URIS}")));
        }
        if listed.iter().any(|u| u.len() > config.limits.parameter_length) {
            return Err(MetadataError::RedirectUri(format!(
                "{key} has one longer than {} bytes",
                config.limits.parameter_length
            )));
        }
        let mut problems = Vec::new();
        crate::config::check_redirect_uris(key, listed, &mut problems);
        first_problem(problems, MetadataError::RedirectUri)?;
    }
    if grants.contains(&GrantType::AuthorizationCode) && metadata.redirect_uris.is_empty() {
        return Err(MetadataError::RedirectUri(
            "redirect_uris must list at least one URI for the authorization_code grant".into(),
        ));
    }
    Ok(())
}

/// A `private_key_jwt` client's public keys, given inline (`jwks`) or by `jwks_uri`.
fn keys(metadata: &mut ClientMetadata, method: AuthMethod, allow_loopback: bool) -> Result<(), MetadataError> {
    if method != AuthMethod::PrivateKeyJwt {
        metadata.jwks = None;
        metadata.jwks_uri = None;
        return Ok(());
    }
    match (&metadata.jwks, &metadata.jwks_uri) {
        (Some(_), Some(_)) => Err(invalid("send jwks or jwks_uri, not both (RFC 7591 §2)")),
        (None, None) => Err(invalid(
            "private_key_jwt needs the client's public keys: jwks or jwks_uri",
        )),
        (Some(jwks), None) => crate::config::public_jwks(jwks.clone())
            .map(|_| ())
            .map_err(|why| invalid(format!("jwks {why}"))),
        (None, Some(uri)) => url::Url::parse(uri)
            .map_err(|e| e.to_string())
            .and_then(|url| crate::public_fetch::fetchable(&url, allow_loopback))
            .map_err(|why| invalid(format!("jwks_uri \"{uri}\" cannot be fetched: {why}"))),
    }
}

/// The scopes it may be granted: those it asks for, each allowed; none asked for, the
/// policy's list (or, without one, every scope).
fn scope(metadata: &mut ClientMetadata, allowed: Option<&[String]>, config: &Config) -> Result<(), MetadataError> {
    let Some(asked) = &metadata.scope else {
        metadata.scope = allowed.map(|scopes| scopes.join(" "));
        return Ok(());
    };
    for scope in asked.split(' ').filter(|s| !s.is_empty()) {
        let exists = scope == "openid" || STANDARD_SCOPES.contains(&scope) || config.scopes.contains_key(scope);
        let permitted = scope == "openid" || allowed.is_none_or(|list| list.iter().any(|s| s == scope));
        if !exists || !permitted {
            return Err(invalid(format!("scope \"{scope}\" may not be registered here")));
        }
    }
    Ok(())
}

/// What describes the client: bounded, and its addresses absolute web URLs.
fn descriptive(metadata: &ClientMetadata) -> Result<(), MetadataError> {
    if metadata
        .client_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
    {
        return Err(invalid(format!(
            "client_name is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    let contacts = metadata.contacts.as_deref().unwrap_or_default();
    if contacts.len() > MAX_CONTACTS || contacts.iter().any(|c| c.len() > 256) {
        return Err(invalid(format!(
            "contacts: at most {MAX_CONTACTS}, each at most 256 bytes"
        )));
    }
    let addresses = [
        ("client_uri", &metadata.client_uri),
        ("logo_uri", &metadata.logo_uri),
        ("tos_uri", &metadata.tos_uri),
        ("policy_uri", &metadata.policy_uri),
    ];
    for (key, uri) in addresses {
        if let Some(uri) = uri {
            let mut problems = Vec::new();
            if uri.len() > 2048 || crate::config::checks::web_url(key, uri, &mut problems).is_none() {
                return Err(invalid(format!("{key} must be an http(s) URL of at most 2048 bytes")));
            }
        }
    }
    Ok(())
}

fn first_problem(problems: Vec<Problem>, error: fn(String) -> MetadataError) -> Result<(), MetadataError> {
    match problems.into_iter().next() {
        None => Ok(()),
        Some(problem) => Err(error(format!(
            "{}: {}",
            problem.key.trim_start_matches('.'),
            problem.message
        ))),
    }
}

/// The client a kept registration makes. It always asks the person's consent: nobody
/// vouched for it.
pub fn client(id: &str, registered: &RegisteredClient) -> Result<Client, String> {
    let origin = ClientOrigin::Registered {
        expires_at: registered.expires_at,
    };
    client_of(id, &registered.metadata, registered.secret_hash.clone(), origin)
}

/// The client `metadata` (checked) describes, with the hash of its secret if it has one.
pub fn client_of(
    id: &str,
    metadata: &ClientMetadata,
    secret_hash: Option<Secret>,
    origin: ClientOrigin,
) -> Result<Client, String> {
    let method = metadata
        .token_endpoint_auth_method
        .as_deref()
        .and_then(auth_method)
        .ok_or("an unknown token_endpoint_auth_method")?;
    let grant_types: Vec<GrantType> = metadata
        .grant_types
        .iter()
        .flatten()
        .filter_map(|g| grant_type(g))
        .collect();
    let jwks = match (&metadata.jwks, &metadata.jwks_uri) {
        (Some(jwks), _) => Some(ClientJwks::Inline(Arc::new(crate::config::public_jwks(jwks.clone())?))),
        (None, Some(uri)) => Some(ClientJwks::Uri(uri.clone())),
        (None, None) => None,
    };
    Ok(Client {
        id: id.to_string(),
        secret: secret_hash.map(ClientSecret::Sha256),
        redirect_uris: metadata.redirect_uris.clone(),
        post_logout_redirect_uris: metadata.post_logout_redirect_uris.clone(),
        name: metadata.client_name.clone().unwrap_or_else(|| id.to_string()),
        consent: true,
        consent_ttl: None,
        upstreams: None,
        response_types: metadata
            .response_types
            .iter()
            .flatten()
            .filter_map(|t| ResponseType::parse(t))
            .collect(),
        grant_types,
        token_endpoint_auth_method: method,
        jwks,
        require_par: false,
        require_dpop: metadata.dpop_bound_access_tokens.unwrap_or(false),
        introspect: false,
        backchannel_logout_uri: None,
        initiate_login_uri: None,
        idp_claim: false,
        shared_signals: false,
        scopes: metadata
            .scope
            .as_ref()
            .map(|s| s.split(' ').filter(|s| !s.is_empty()).map(String::from).collect()),
        token_exchange: Vec::new(),
        exchange_actors: Vec::new(),
        origin,
        require_signed_request_object: false,
        profile: crate::config::ClientProfile::Standard,
    })
}

/// The secret's hash as kept.
pub fn secret_hash(secret: &str) -> Secret {
    Secret(crate::secrets::hash(secret))
}
