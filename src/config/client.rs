//! The relying parties' types: a client as every endpoint sees it, wherever it was
//! registered, and what its table names (grants, authentication methods, keys, profile).

use super::{Duration, Secret, TokenSettings};

/// A relying party.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: Option<ClientSecret>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub name: String,
    pub consent: bool,
    /// How long consent to it is remembered; `None`: `[tokens] consent_ttl`.
    pub consent_ttl: Option<Duration>,
    /// The upstreams this client may use; `None` means all of them.
    pub upstreams: Option<Vec<String>>,
    pub grant_types: Vec<GrantType>,
    /// What the authorization endpoint may return to this client: `code` unless it opted
    /// in to the implicit or hybrid flow.
    pub response_types: Vec<crate::response_type::ResponseType>,
    pub token_endpoint_auth_method: AuthMethod,
    /// Its public keys, for `private_key_jwt`.
    pub jwks: Option<ClientJwks>,
    /// Its authorization requests must come by `/par` (RFC 9126).
    pub require_par: bool,
    /// Token requests must carry a DPoP proof (RFC 9449 §5.2, `dpop_bound_access_tokens`).
    pub require_dpop: bool,
    /// A resource server: may introspect tokens issued to other clients.
    pub introspect: bool,
    /// Where logout tokens go when a session this client has tokens from ends.
    pub backchannel_logout_uri: Option<String>,
    /// Where a login another party started (a SAML IdP's own, unsolicited) sends the
    /// person, for the client to start its own authorization request (OpenID Connect
    /// Core §4).
    pub initiate_login_uri: Option<String>,
    /// Its ID tokens name the upstream the person logged in at (`idp`).
    pub idp_claim: bool,
    /// The scopes this client may be granted; `None` means every scope of the config.
    /// `openid` is always allowed.
    pub scopes: Option<Vec<String>>,
    /// The upstreams whose tokens it may exchange for Gatehouse's (RFC 8693).
    pub token_exchange: Vec<String>,
    /// The other clients whose access tokens it may present as an exchange's
    /// `actor_token` (its own, and those issued for it, it always may).
    pub exchange_actors: Vec<String>,
    /// Where it was registered: by the operator, or by itself.
    pub origin: ClientOrigin,
    /// Its authorization requests must come as signed request objects (RFC 9101 §10.5).
    pub require_signed_request_object: bool,
    /// The security profile Gatehouse enforces for it.
    pub profile: ClientProfile,
    /// It may manage Shared Signals streams (SSF 1.0) with access tokens of the built-in
    /// `ssf` scope.
    pub shared_signals: bool,
}

/// A security profile a client is held to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientProfile {
    #[default]
    Standard,
    /// The FAPI 2.0 Security Profile's authorization server requirements.
    Fapi2,
}

/// Who registered a client, which the consent page tells the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOrigin {
    /// A `[[clients]]` table: the operator vouches for it.
    Config,
    /// It registered itself (RFC 7591), so its name is its own claim; until `expires_at`.
    Registered { expires_at: i64 },
    /// Its id is the URL of its metadata document on `host`, which is all that vouches
    /// for it.
    Document { host: String },
}

impl Client {
    /// How long a person's consent to this client is remembered.
    pub fn consent_ttl(&self, tokens: &TokenSettings) -> Duration {
        self.consent_ttl.unwrap_or(tokens.consent_ttl)
    }

    /// Whether the client can prove who it is (by a secret or a key).
    pub fn is_confidential(&self) -> bool {
        self.token_endpoint_auth_method != AuthMethod::None
    }

    pub fn is_fapi2(&self) -> bool {
        self.profile == ClientProfile::Fapi2
    }

    pub fn may_have_scope(&self, scope: &str) -> bool {
        scope == "openid"
            || self
                .scopes
                .as_ref()
                .is_none_or(|allowed| allowed.iter().any(|s| s == scope))
    }
}

/// A client secret as configured: in clear (usually from `${ENV}`) or as an argon2 PHC hash.
#[derive(Debug, Clone)]
pub enum ClientSecret {
    Plain(Secret),
    Argon2Hash(Secret),
    /// One Gatehouse made for a registered client (256 random bits), kept as its SHA-256
    /// (`secrets::hash`): nothing that long is guessed, so a fast hash is enough.
    Sha256(Secret),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// The device authorization grant (RFC 8628), named by its URN as at the token endpoint.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// Token exchange (RFC 8693).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
    /// The JWT bearer grant (RFC 7523 §2.1): an upstream's token for Gatehouse's.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    JwtBearer,
}

impl GrantType {
    /// The `grant_type` value of the token endpoint.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with the client secret (HMAC), OIDC Core §9.
    ClientSecretJwt,
    /// A JWT signed with one of the client's private keys, RFC 7523.
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretJwt => "client_secret_jwt",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
}

/// Where a `private_key_jwt` client's public keys are.
#[derive(Debug, Clone)]
pub enum ClientJwks {
    Inline(std::sync::Arc<openidconnect::core::CoreJsonWebKeySet>),
    /// Fetched, and cached for a while (`op::client_jwks`).
    Uri(String),
}
