//! The `[[clients]]` tables: relying parties, their secrets, redirect URIs, grants and
//! response types.

use super::raw::{RawClient, decode};
use super::{AuthMethod, Client, GrantType, Problem};
use crate::mapping::STANDARD_SCOPES;
use crate::response_type::ResponseType;
use std::collections::{BTreeMap, HashSet};
use url::Url;

/// What the ids Gatehouse gives clients that register themselves start with, which no
/// config client's may: so neither can ever take the other's.
pub const REGISTERED_ID_PREFIX: &str = "dyn.";

/// What a client's registration is checked against: the upstreams and the custom scopes.
pub struct Known<'a> {
    pub upstreams: &'a HashSet<&'a str>,
    /// The upstreams with `exchange = true`.
    pub exchangeable: &'a HashSet<&'a str>,
    pub scopes: &'a BTreeMap<String, Vec<String>>,
}

pub fn validate_clients(clients: Vec<toml::Value>, known: &Known<'_>, problems: &mut Vec<Problem>) -> Vec<Client> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    // Where each valid client's table is, for problems found once all are read.
    let mut tables = Vec::new();
    for (i, value) in clients.into_iter().enumerate() {
        let at = format!("clients[{i}]");
        let start = problems.len();
        let named = value.clone();
        let client = decode::<RawClient>(value, &at, problems).and_then(|raw| {
            if raw.id.is_empty() {
                problems.push(Problem::new(format!("{at}.id"), "must not be empty"));
            } else if raw.id.starts_with(REGISTERED_ID_PREFIX) {
                problems.push(Problem::new(
                    format!("{at}.id"),
                    format!("\"{REGISTERED_ID_PREFIX}\" starts the ids of clients that register themselves: choose another id"),
                ));
            } else if !seen.insert(raw.id.clone()) {
                problems.push(Problem::new(
                    format!("{at}.id"),
                    format!("\"{}\" is used by another client", raw.id),
                ));
            }
            validate_client(raw, &at, known, problems)
        });
        super::name_table(&mut problems[start..], "client", &named);
        if let Some(client) = client {
            out.push(client);
            tables.push(at);
        }
    }
    check_exchange_actors(&out, &tables, &seen, problems);
    out
}

/// A client's `exchange_actors` name clients of the config.
fn check_exchange_actors(clients: &[Client], tables: &[String], ids: &HashSet<String>, problems: &mut Vec<Problem>) {
    for (client, at) in clients.iter().zip(tables) {
        for (j, actor) in client.exchange_actors.iter().enumerate() {
            if !ids.contains(actor) {
                problems.push(Problem::new(
                    format!("{at}.exchange_actors[{j}]"),
                    format!("no client has id \"{actor}\" (client \"{}\")", client.id),
                ));
            }
        }
    }
}

fn validate_client(mut raw: RawClient, at: &str, known: &Known<'_>, problems: &mut Vec<Problem>) -> Option<Client> {
    let start = problems.len();
    let credentials = super::client_auth::credentials(
        super::client_auth::Given {
            secret: raw.secret.take(),
            secret_hash: raw.secret_hash.take(),
            jwks: raw.jwks.take(),
            jwks_uri: raw.jwks_uri.take(),
            method: raw.token_endpoint_auth_method,
        },
        at,
        problems,
    );
    let confidential = credentials.method != AuthMethod::None;
    let grant_types = raw
        .grant_types
        .clone()
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
    let response_types = response_types(at, raw.response_types.clone(), &grant_types, problems);
    if raw.redirect_uris.is_empty() && !response_types.is_empty() {
        problems.push(Problem::new(
            format!("{at}.redirect_uris"),
            "must list at least one redirect URI",
        ));
    }
    check_addresses(&raw, at, known.upstreams, problems);
    check_scopes(raw.scopes.as_deref(), at, known.scopes, problems);
    check_grant_types(at, &grant_types, confidential, problems);
    check_token_exchange(&raw, at, &grant_types, known, problems);
    if raw.profile == Some(super::ClientProfile::Fapi2) {
        check_fapi2(&raw, at, &credentials, &response_types, problems);
    }
    if raw.introspect == Some(true) && !confidential {
        // Anyone can present a public client's id: it would let anyone introspect.
        problems.push(Problem::new(
            format!("{at}.introspect"),
            "needs secret, secret_hash or keys: a public client cannot prove who it is",
        ));
    }
    if raw.shared_signals == Some(true) && !(confidential && grant_types.contains(&GrantType::ClientCredentials)) {
        // It manages its streams with access tokens it gets by its own credentials.
        problems.push(Problem::new(
            format!("{at}.shared_signals"),
            "needs a confidential client (secret, secret_hash or keys) with \"client_credentials\" in grant_types",
        ));
    }
    (problems.len() == start).then(|| Client {
        name: raw.name.unwrap_or_else(|| raw.id.clone()),
        id: raw.id,
        secret: credentials.secret,
        jwks: credentials.jwks,
        require_par: raw.require_par.unwrap_or(false),
        require_dpop: raw.require_dpop.unwrap_or(false),
        redirect_uris: raw.redirect_uris,
        post_logout_redirect_uris: raw.post_logout_redirect_uris,
        consent: raw.consent.unwrap_or(true),
        consent_ttl: raw.consent_ttl,
        upstreams: raw.upstreams,
        grant_types,
        response_types,
        token_endpoint_auth_method: credentials.method,
        introspect: raw.introspect.unwrap_or(false),
        backchannel_logout_uri: raw.backchannel_logout_uri,
        initiate_login_uri: raw.initiate_login_uri,
        idp_claim: raw.idp_claim.unwrap_or(false),
        scopes: raw.scopes,
        token_exchange: raw.token_exchange,
        exchange_actors: raw.exchange_actors,
        origin: super::ClientOrigin::Config,
        require_signed_request_object: raw.require_signed_request_object.unwrap_or(false),
        profile: raw.profile.unwrap_or_default(),
        shared_signals: raw.shared_signals.unwrap_or(false),
    })
}

/// The upstreams a client may exchange tokens of: each marked `exchange = true`, and the
/// client must have the grant.
fn check_token_exchange(
    raw: &RawClient,
    at: &str,
    grant_types: &[GrantType],
    known: &Known<'_>,
    problems: &mut Vec<Problem>,
) {
    let exchanges = grant_types.contains(&GrantType::TokenExchange);
    if !raw.token_exchange.is_empty() && !exchanges && !grant_types.contains(&GrantType::JwtBearer) {
        problems.push(Problem::new(
            format!("{at}.token_exchange"),
            format!(
                "needs {} or {} in grant_types",
                GrantType::TokenExchange.as_str(),
                GrantType::JwtBearer.as_str()
            ),
        ));
    }
    if !raw.exchange_actors.is_empty() && !exchanges {
        problems.push(Problem::new(
            format!("{at}.exchange_actors"),
            format!("needs {} in grant_types", GrantType::TokenExchange.as_str()),
        ));
    }
    if grant_types.contains(&GrantType::JwtBearer) && raw.token_exchange.is_empty() {
        problems.push(Problem::new(
            format!("{at}.grant_types"),
            format!(
                "{} needs token_exchange: the upstreams whose tokens the client may present",
                GrantType::JwtBearer.as_str()
            ),
        ));
    }
    for (j, id) in raw.token_exchange.iter().enumerate() {
        let message = if !known.upstreams.contains(id.as_str()) {
            format!("no upstream has id \"{id}\"")
        } else if !known.exchangeable.contains(id.as_str()) {
            format!("upstream \"{id}\" does not have exchange = true (an oidc upstream whose tokens may be exchanged)")
        } else {
            continue;
        };
        problems.push(Problem::new(format!("{at}.token_exchange[{j}]"), message));
    }
}

/// A client's scope allow-list names only scopes that exist.
fn check_scopes(
    scopes: Option<&[String]>,
    at: &str,
    custom: &BTreeMap<String, Vec<String>>,
    problems: &mut Vec<Problem>,
) {
    for (i, scope) in scopes.unwrap_or_default().iter().enumerate() {
        if !STANDARD_SCOPES.contains(&scope.as_str()) && !custom.contains_key(scope) {
            problems.push(Problem::new(
                format!("{at}.scopes[{i}]"),
                format!("\"{scope}\" is neither a standard scope nor one under [scopes]"),
            ));
        }
    }
}

/// The addresses the client registered, and the upstreams it names.
fn check_addresses(raw: &RawClient, at: &str, upstream_ids: &HashSet<&str>, problems: &mut Vec<Problem>) {
    if let Some(uri) = &raw.backchannel_logout_uri {
        match Url::parse(uri) {
            Ok(url) if url.fragment().is_none() && matches!(url.scheme(), "https" | "http") => {}
            _ => problems.push(Problem::new(
                format!("{at}.backchannel_logout_uri"),
                format!("\"{uri}\" must be an absolute http(s) URL without fragment"),
            )),
        }
    }
    if let Some(uri) = &raw.initiate_login_uri {
        // OpenID Connect Registration §2: https, without fragment (http on loopback).
        let key = format!("{at}.initiate_login_uri");
        if super::checks::web_url(&key, uri, problems).is_some_and(|url| url.fragment().is_some()) {
            problems.push(Problem::new(key, format!("\"{uri}\" must not have a fragment")));
        }
    }
    check_redirect_uris(&format!("{at}.redirect_uris"), &raw.redirect_uris, problems);
    check_redirect_uris(
        &format!("{at}.post_logout_redirect_uris"),
        &raw.post_logout_redirect_uris,
        problems,
    );
    if let Some(allowed) = &raw.upstreams {
        for (j, id) in allowed.iter().enumerate() {
            if !upstream_ids.contains(id.as_str()) {
                problems.push(Problem::new(
                    format!("{at}.upstreams[{j}]"),
                    format!("no upstream has id \"{id}\""),
                ));
            }
        }
    }
}

/// The grant types must make sense together and with the client's secret.
pub fn check_grant_types(at: &str, grant_types: &[GrantType], confidential: bool, problems: &mut Vec<Problem>) {
    if grant_types.is_empty() {
        problems.push(Problem::new(
            format!("{at}.grant_types"),
            "must list at least one grant type",
        ));
    } else if grant_types.contains(&GrantType::RefreshToken)
        && !grant_types.contains(&GrantType::AuthorizationCode)
        && !grant_types.contains(&GrantType::DeviceCode)
    {
        problems.push(Problem::new(
            format!("{at}.grant_types"),
            "refresh_token needs authorization_code or the device_code grant",
        ));
    } else if grant_types.contains(&GrantType::ClientCredentials) && !confidential {
        problems.push(Problem::new(
            format!("{at}.grant_types"),
            "client_credentials is for confidential clients: set secret, secret_hash or keys",
        ));
    }
}

/// The response types a client may use: as listed (without repeats), or `code` alone when
/// it may use the authorization code grant. A type with a code needs that grant.
fn response_types(
    at: &str,
    listed: Option<Vec<ResponseType>>,
    grant_types: &[GrantType],
    problems: &mut Vec<Problem>,
) -> Vec<ResponseType> {
    let has_code_grant = grant_types.contains(&GrantType::AuthorizationCode);
    let Some(listed) = listed else {
        return if has_code_grant {
            vec![ResponseType::CODE]
        } else {
            Vec::new()
        };
    };
    if listed.is_empty() && has_code_grant {
        problems.push(Problem::new(
            format!("{at}.response_types"),
            "is empty: list \"code\" at least, or remove authorization_code from grant_types",
        ));
    }
    let mut types: Vec<ResponseType> = Vec::new();
    for (j, response_type) in listed.into_iter().enumerate() {
        if response_type.code && !has_code_grant {
            problems.push(Problem::new(
                format!("{at}.response_types[{j}]"),
                format!("\"{response_type}\" returns a code: add authorization_code to grant_types"),
            ));
        }
        if !types.contains(&response_type) {
            types.push(response_type);
        }
    }
    types
}

/// Redirect URIs are compared exactly, so each must be absolute and carry no fragment
/// (RFC 6749 §3.1.2); codes and tokens travel to them, so only `https`, `http` to this
/// machine, and the private-use schemes of native apps (RFC 8252 §7.1, §8.3) are allowed.
pub fn check_redirect_uris(at: &str, uris: &[String], problems: &mut Vec<Problem>) {
    for (j, uri) in uris.iter().enumerate() {
        let key = format!("{at}[{j}]");
        match Url::parse(uri) {
            Err(_) => problems.push(Problem::new(key, format!("\"{uri}\" is not an absolute URI"))),
            Ok(url) if url.fragment().is_some() => {
                problems.push(Problem::new(key, format!("\"{uri}\" must not have a fragment (#...)")))
            }
            Ok(url) => {
                if let Err(why) = allowed_redirect(&url) {
                    problems.push(Problem::new(key, format!("\"{uri}\" {why}")));
                }
            }
        }
    }
}

fn allowed_redirect(url: &Url) -> Result<(), &'static str> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err("sends codes and tokens in the clear: use https (http only to 127.0.0.1, [::1] or localhost)"),
        // RFC 8252 §7.1: a native app's scheme is a reversed domain name it controls, so it
        // has a dot; that also keeps out javascript:, data:, file: and the like.
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(
            "has a scheme codes must not go to: use https, http to loopback, or a native app's reversed-domain scheme (com.example.app:/callback)",
        ),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// What a `profile = "fapi2"` client must be to meet the FAPI 2.0 Security Profile: a
/// confidential client proving itself with its keys (§5.3.2.1), using the code flow
/// only, with https redirect URIs.
fn check_fapi2(
    raw: &RawClient,
    at: &str,
    credentials: &super::client_auth::Credentials,
    response_types: &[ResponseType],
    problems: &mut Vec<Problem>,
) {
    if credentials.method != AuthMethod::PrivateKeyJwt || credentials.jwks.is_none() {
        problems.push(Problem::new(
            format!("{at}.token_endpoint_auth_method"),
            "profile = \"fapi2\" needs private_key_jwt with the client's keys (jwks or jwks_uri)",
        ));
    }
    if credentials.secret.is_some() {
        problems.push(Problem::new(
            format!("{at}.secret"),
            "a fapi2 client proves itself with its keys, not a shared secret: remove it",
        ));
    }
    if response_types.iter().any(|t| *t != ResponseType::CODE) {
        problems.push(Problem::new(
            format!("{at}.response_types"),
            "a fapi2 client uses response_type=code only",
        ));
    }
    for (j, uri) in raw.redirect_uris.iter().enumerate() {
        if !uri.starts_with("https://") {
            problems.push(Problem::new(
                format!("{at}.redirect_uris[{j}]"),
                format!("\"{uri}\": a fapi2 client's redirect URIs are https"),
            ));
        }
    }
}
