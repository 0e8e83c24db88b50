//! OpenID Connect Discovery 1.0: what this provider offers. Only what is implemented
//! is listed; each endpoint adds itself here as it lands.

use crate::config::Config;
use crate::keys::Keys;
use crate::response_type::{ResponseMode, ResponseType};
use crate::routes;
use crate::upstream::Upstreams;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Serialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub pushed_authorization_request_endpoint: String,
    /// Whether every client must push; a client's own `require_par` is its metadata.
    pub require_pushed_authorization_requests: bool,
    /// The device authorization endpoint (RFC 8628 §4), when some client may use the grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// Dynamic Client Registration (RFC 7591), when `[registration] enabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// A `client_id` may be the URL of the client's metadata document.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub client_id_metadata_document_supported: bool,
    pub userinfo_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub end_session_endpoint: String,
    pub jwks_uri: String,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The algorithms of client assertions, when some client authenticates with one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// DPoP proofs are taken from every client at the token endpoint and `/userinfo`.
    pub dpop_signing_alg_values_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    /// Gatehouse's acr values, as the upstreams' `acr_map`s name them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acr_values_supported: Vec<String>,
    pub authorization_response_iss_parameter_supported: bool,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    /// JARM: the algorithm authorization responses in a JWT are signed with.
    pub authorization_signing_alg_values_supported: Vec<String>,
    /// RFC 9701: introspection answers as a JWT, on `Accept: application/token-introspection+jwt`.
    pub introspection_signing_alg_values_supported: Vec<String>,
    /// The algorithms of signed request objects (RFC 9101): a client's keys, or an HMAC
    /// of its secret.
    pub request_object_signing_alg_values_supported: Vec<String>,
    pub request_uri_parameter_supported: bool,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
}

/// Client authentication, the same at every endpoint that takes it: the secret and
/// public methods always, the JWT ones when some client is registered for them.
fn auth_methods(config: &crate::config::Config) -> (Vec<&'static str>, Vec<String>) {
    use crate::config::AuthMethod;
    let registration = &config.registration;
    let uses = |method: AuthMethod| {
        config.clients.iter().any(|c| c.token_endpoint_auth_method == method)
            || (registration.enabled && registration.allowed_auth_methods.contains(&method))
            || (config.client_id_metadata_documents.enabled && method == AuthMethod::PrivateKeyJwt)
    };
    let mut methods = vec!["client_secret_basic", "client_secret_post"];
    let mut algs = Vec::new();
    if uses(AuthMethod::ClientSecretJwt) {
        methods.push(AuthMethod::ClientSecretJwt.as_str());
        algs.extend(crate::signed_jwt::alg_names(&crate::signed_jwt::HMAC_ALGS));
    }
    if uses(AuthMethod::PrivateKeyJwt) {
        methods.push(AuthMethod::PrivateKeyJwt.as_str());
        algs.extend(crate::signed_jwt::alg_names(&crate::signed_jwt::ASYMMETRIC_ALGS));
    }
    methods.push("none");
    (methods, algs)
}

pub fn metadata(config: &Config, upstreams: &Upstreams, keys: &Keys) -> ProviderMetadata {
    let issuer = &config.issuer;
    let url = |path: &str| format!("{issuer}{path}");
    let mut scopes: Vec<String> = crate::mapping::STANDARD_SCOPES.iter().map(|s| s.to_string()).collect();
    scopes.extend(config.scopes.keys().cloned());
    let mut claims: BTreeSet<String> = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "sid",
        "acr",
        "amr",
    ]
    .map(String::from)
    .into();
    claims.extend(
        upstreams
            .values()
            .flat_map(|u| u.mapping.claim_names().map(String::from)),
    );
    if config.clients.iter().any(|c| c.idp_claim) {
        claims.insert("idp".into());
    }
    // `code` always; the implicit and hybrid types as far as some client opted in to them.
    let response_types: Vec<ResponseType> = ResponseType::ALL
        .into_iter()
        .filter(|t| *t == ResponseType::CODE || config.clients.iter().any(|c| c.response_types.contains(t)))
        .collect();
    let mut grant_types = vec!["authorization_code", "refresh_token", "client_credentials"];
    if response_types.iter().any(|t| t.returns_tokens()) {
        grant_types.push("implicit");
    }
    let registration = &config.registration;
    let device_grant = config
        .clients
        .iter()
        .any(|c| c.grant_types.contains(&crate::config::GrantType::DeviceCode))
        || (registration.enabled
            && registration
                .allowed_grant_types
                .contains(&crate::config::GrantType::DeviceCode));
    if device_grant {
        grant_types.push(crate::config::GrantType::DeviceCode.as_str());
    }
    for grant in [
        crate::config::GrantType::TokenExchange,
        crate::config::GrantType::JwtBearer,
    ] {
        if config.clients.iter().any(|c| c.grant_types.contains(&grant)) {
            grant_types.push(grant.as_str());
        }
    }
    let (auth_methods, auth_algs) = auth_methods(config);
    ProviderMetadata {
        issuer: issuer.clone(),
        authorization_endpoint: url(routes::AUTHORIZE),
        token_endpoint: url(routes::TOKEN),
        pushed_authorization_request_endpoint: url(routes::PAR),
        require_pushed_authorization_requests: false,
        device_authorization_endpoint: device_grant.then(|| url(routes::DEVICE_AUTHORIZATION)),
        registration_endpoint: registration.enabled.then(|| url(routes::REGISTER)),
        client_id_metadata_document_supported: config.client_id_metadata_documents.enabled,
        userinfo_endpoint: url(routes::USERINFO),
        revocation_endpoint: url(routes::REVOKE),
        introspection_endpoint: url(routes::INTROSPECT),
        end_session_endpoint: url(routes::END_SESSION),
        jwks_uri: url(routes::JWKS),
        scopes_supported: scopes,
        response_types_supported: response_types.iter().map(|t| t.as_str()).collect(),
        response_modes_supported: ResponseMode::ALL.to_vec(),
        grant_types_supported: grant_types,
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec![keys.signing_alg().to_string()],
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        revocation_endpoint_auth_methods_supported: auth_methods.clone(),
        introspection_endpoint_auth_methods_supported: auth_methods,
        token_endpoint_auth_signing_alg_values_supported: auth_algs.clone(),
        revocation_endpoint_auth_signing_alg_values_supported: auth_algs.clone(),
        introspection_endpoint_auth_signing_alg_values_supported: auth_algs,
        code_challenge_methods_supported: vec!["S256"],
        dpop_signing_alg_values_supported: crate::signed_jwt::alg_names(&crate::signed_jwt::ASYMMETRIC_ALGS).collect(),
        claims_supported: claims.into_iter().collect(),
        acr_values_supported: acr_values(config).into_iter().collect(),
        authorization_response_iss_parameter_supported: true,
        claims_parameter_supported: true,
        request_parameter_supported: true,
        authorization_signing_alg_values_supported: vec![keys.signing_alg().to_string()],
        introspection_signing_alg_values_supported: vec![keys.signing_alg().to_string()],
        request_object_signing_alg_values_supported: crate::signed_jwt::alg_names(&crate::signed_jwt::ASYMMETRIC_ALGS)
            .chain(crate::signed_jwt::alg_names(&crate::signed_jwt::HMAC_ALGS))
            .collect(),
        request_uri_parameter_supported: false,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
    }
}

/// The acr values the upstreams' `acr_map`s name, once each.
fn acr_values(config: &crate::config::Config) -> BTreeSet<String> {
    config
        .upstreams
        .iter()
        .flat_map(|u| u.settings.acr_values())
        .map(String::from)
        .collect()
}

/// The document's JSON, encoded once when the router is built: nothing in it changes
/// while the server runs.
pub fn document(config: &Config, upstreams: &Upstreams, keys: &Keys) -> Bytes {
    // Plain strings, booleans and lists: encoding cannot fail.
    Bytes::from(serde_json::to_vec(&metadata(config, upstreams, keys)).unwrap_or_default())
}

pub async fn handler(document: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document)
}
