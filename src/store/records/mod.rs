//! The records Gatehouse keeps. Secrets that must be looked up (codes, refresh
//! tokens) are never stored: their tables are keyed by a hash of the secret.

use crate::config::{Secret, SigningAlg};
use crate::response_type::{ResponseMode, ResponseType};
use crate::scope::Scopes;
use serde::{Deserialize, Serialize};

mod device;
mod family_id;
mod indexes;
mod liveness;
mod once;
mod outbox;
mod prompt;
mod registered_client;
mod signals;

pub use device::{DeviceGrant, DeviceStatus, DeviceUserCode};
pub use family_id::FamilyId;
pub use indexes::{AccountFamily, AccountSession, Migration};
pub use liveness::{EndedSession, ExchangedFrom, ExchangedSubject, WithdrawnGrant};
pub use once::{SeenLogoutToken, UsedAssertion, UsedClientAssertion, UsedDpopProof};
pub use outbox::{LogoutMessage, PushedSignal};
pub use prompt::Prompt;
pub use registered_client::{ClientMetadata, RegisteredClient};
pub use signals::{DisabledSubject, QueuedSignal, SignalReceiverState, SignalStream};

/// A signing key. The active one signs; retired ones stay (and are published) until
/// every token they signed has expired, and then expire themselves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: SigningAlg,
    /// PKCS#8 PEM; empty when the key is stored sealed.
    #[serde(default)]
    pub private_key_pem: Secret,
    /// The PKCS#8 PEM encrypted with a key-encryption key, instead of `private_key_pem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_private_key: Option<SealedKey>,
    pub created_at: i64,
    /// When the key starts to sign (it is published from `created_at`); `None`: at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activates_at: Option<i64>,
    /// When another key takes over; `None` while no newer key is due.
    pub retired_at: Option<i64>,
}

impl SigningKeyRecord {
    /// When the key starts to sign.
    pub fn activation(&self) -> i64 {
        self.activates_at.unwrap_or(self.created_at)
    }
}

/// A secret (a private key, an upstream's refresh token) encrypted with AES-256-GCM
/// under a key-encryption key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedKey {
    /// Names the key-encryption key (a hash of it, never the key).
    pub kek_id: String,
    /// base64url of the 96-bit nonce followed by the ciphertext and tag.
    pub sealed: String,
}

/// The key and certificate Gatehouse made for itself toward a SAML IdP (an upstream with
/// no `sp_key_file`), keyed by the upstream's id, so that every replica and every restart
/// shows the IdP the same certificate. The private key is sealed like the signing keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamlSpKeyRecord {
    /// PKCS#8 PEM; empty when the key is stored sealed.
    #[serde(default)]
    pub private_key_pem: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_private_key: Option<SealedKey>,
    /// The self-signed certificate, base64 DER.
    pub certificate: String,
    pub created_at: i64,
}

/// The last rotation of the signing keys. Every rotation replaces it with a conditional
/// write, so of two replicas that decide to rotate at once only one does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRotation {
    pub kid: String,
    pub rotated_at: i64,
}

/// A local account, keyed by its opaque `sub`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub sub: String,
    pub upstream: String,
    pub upstream_subject: String,
    /// The mapped claims of the latest login (what userinfo and ID tokens release from).
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Every upstream identity that logs in to this account, the first one first.
    /// Empty in records from before linking: the one of `upstream` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkedIdentity>,
}

/// An upstream identity of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedIdentity {
    pub upstream: String,
    pub subject: String,
    pub linked_at: i64,
}

/// A link of another upstream identity to the account of a session, while the person
/// logs in there, keyed by a random id that is also the upstream `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLink {
    /// The session that asked for it, which must still be the browser's.
    pub sid: String,
    /// The hash of the browser cookie of the browser that asked.
    pub browser: String,
    pub upstream: String,
    pub upstream_nonce: Option<String>,
    pub pkce_verifier: String,
    /// The login at the upstream must be after this.
    pub asked_at: i64,
}

/// Links (upstream id, upstream subject) to a local account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamLink {
    pub sub: String,
    pub linked_at: i64,
}

impl UpstreamLink {
    /// The table key for an upstream identity; unambiguous whatever the subject holds.
    pub fn key(upstream: &str, upstream_subject: &str) -> String {
        format!("{}:{upstream}:{upstream_subject}", upstream.len())
    }
}

/// A browser session (one login on one device), keyed by its `sid`. The cookie is
/// `{sid}.{secret}`; only the secret's hash is kept, so the `sid` RPs see in ID tokens
/// is no key to the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub sid: String,
    pub secret_hash: String,
    pub sub: String,
    pub upstream: String,
    #[serde(flatten)]
    pub auth: AuthContext,
    /// The upstream's session this one came from, as its logout tokens name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_sid: Option<String>,
    /// The clients that received a code in this session (told of its end).
    #[serde(default)]
    pub clients: Vec<String>,
    /// The upstream said the person's credential or assurance changed (Shared Signals):
    /// the session no longer spares them a login there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub must_reauthenticate: bool,
}

/// Finds the sessions that came from one upstream session, or from one person at an
/// upstream, when its logout token names them: an entry per session under each of
/// [`UpstreamSessionEntry::by_sid`] and [`UpstreamSessionEntry::by_subject`], expiring
/// with the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamSessionEntry {
    /// Gatehouse's session.
    pub sid: String,
}

impl UpstreamSessionEntry {
    /// The key prefix of the sessions of the upstream session `upstream_sid`.
    pub fn by_sid(upstream: &str, upstream_sid: &str) -> String {
        format!(
            "sid:{}:{upstream}:{}:{upstream_sid}:",
            upstream.len(),
            upstream_sid.len()
        )
    }

    /// The key prefix of the sessions of `subject` at `upstream`.
    pub fn by_subject(upstream: &str, subject: &str) -> String {
        format!("sub:{}:{upstream}:{}:{subject}:", upstream.len(), subject.len())
    }

    /// By the email address the upstream said, lowercase.
    pub fn by_email(upstream: &str, email: &str) -> String {
        format!("email:{}:{upstream}:{}:{email}:", upstream.len(), email.len())
    }
}

/// What Gatehouse keeps of a login at an upstream whose `refresh` is on, keyed by the
/// session's `sid`: the upstream's refresh token, sealed, so that refreshing the apps'
/// tokens can refresh what the upstream says about the person. It lasts as long as the
/// refresh families of the session can.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamGrant {
    pub upstream: String,
    /// The person at the upstream (its `sub`): a refreshed answer must name them again.
    pub subject: String,
    /// The Gatehouse account whose claims a refresh renews.
    pub sub: String,
    /// The upstream's refresh token, sealed; none for kinds that read the person again
    /// without one (a directory).
    #[serde(default)]
    pub refresh_token: Option<SealedKey>,
    /// When the upstream last answered for the person.
    pub refreshed_at: i64,
    /// Set while one request refreshes at the upstream, so that others do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshing_until: Option<i64>,
}

/// The server's DPoP nonce of one five-minute window, keyed by the window's number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DpopNonce {
    pub value: String,
}

/// An authorization request a client pushed (RFC 9126), keyed by the random part of its
/// `request_uri`, until `/authorize` takes it or a minute has passed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushedRequest {
    pub client_id: String,
    /// The authorization parameters, as `/authorize` reads them (client authentication
    /// is not among them).
    pub params: serde_json::Value,
    /// They came as a signed request object (RFC 9101).
    #[serde(default)]
    pub signed: bool,
}

/// A validated authorization request, as the relying party sent it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The scopes that will be granted.
    pub scope: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    /// What the authorization endpoint returns (a code unless the client opted in to more).
    #[serde(default)]
    pub response_type: ResponseType,
    /// How the answer travels: the request's `response_mode`, or the type's default.
    #[serde(default)]
    pub response_mode: ResponseMode,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The acr values asked for, most preferred first (`acr_values`, or the `claims`
    /// parameter's `id_token.acr`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values: Vec<String>,
    /// The `claims` parameter asked for `acr` as essential: a login that cannot give one
    /// of `acr_values` fails.
    #[serde(default)]
    pub acr_essential: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_locales: Option<String>,
    /// The thumbprint of the DPoP key the code is bound to (RFC 9449 §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// The key of the device grant (RFC 8628) this sign-in answers: its code is for
    /// that grant's polling and never for the authorization_code grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_grant: Option<String>,
    /// The APIs its access tokens are for (RFC 8707); none: the client itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

/// An authorization request parked while the person logs in upstream or decides on
/// consent, keyed by a random id that is also the upstream `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub request: AuthorizationRequest,
    /// The hash of the browser cookie of the browser that started it (login CSRF).
    pub browser: String,
    /// The token every form of this login carries.
    pub csrf: String,
    pub upstream: Option<String>,
    pub upstream_nonce: Option<String>,
    pub pkce_verifier: Option<String>,
    /// Set once the person has logged in and consent is the only step left.
    pub login: Option<CompletedLogin>,
    /// When the request was parked: the login must end within a fixed time of it,
    /// however many steps it takes. Absent in records written before it was kept.
    #[serde(default)]
    pub parked_at: Option<i64>,
    /// Wrong passwords so far in this login.
    #[serde(default)]
    pub password_failures: u32,
}

/// Who logged in, in which session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletedLogin {
    pub sub: String,
    pub sid: String,
    #[serde(flatten)]
    pub auth: AuthContext,
}

/// How and when the person authenticated for a session: carried from the session into
/// its codes, tokens and refresh families (OpenID Connect Core §2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthContext {
    /// When the person last actively authenticated: what the upstream says, or when they
    /// came back from an upstream that does not say.
    pub auth_time: i64,
    /// In Gatehouse's values (an upstream's are translated by its `acr_map`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The upstream the person logged in at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// When the session began at Gatehouse, which its lifetimes count from. An upstream's
    /// `auth_time` may be much earlier. Absent in older records, whose `auth_time` it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_started_at: Option<i64>,
}

impl AuthContext {
    /// When the session began at Gatehouse.
    pub fn started_at(&self) -> i64 {
        self.session_started_at.unwrap_or(self.auth_time)
    }
}

/// An issued authorization code, keyed by the hash of the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationCode {
    pub request: AuthorizationRequest,
    pub login: CompletedLogin,
    pub issued_at: i64,
    /// Set when the code is exchanged: what it issued, so a replay can revoke it.
    pub redeemed: Option<Redeemed>,
    /// The access token the authorization endpoint handed out with the code (the hybrid
    /// `code token` flows), which a replay of the code revokes too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front_channel_access_token: Option<IssuedJti>,
}

/// An access token, by its `jti` and when it expires.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IssuedJti {
    pub jti: String,
    pub exp: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Redeemed {
    pub access_token_jti: String,
    pub access_token_exp: i64,
    pub refresh_family: Option<FamilyId>,
}

/// A refresh token, keyed by its hash: which family it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshToken {
    pub family: FamilyId,
    pub issued_at: i64,
}

/// One login's chain of refresh tokens, keyed `{sid}:{random}` so that the families of a
/// session can be found when it ends. Only `current` may be used; presenting an older
/// one means it was stolen or replayed, and the family is revoked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub client_id: String,
    pub sub: String,
    pub sid: String,
    pub scope: Scopes,
    #[serde(flatten)]
    pub auth: AuthContext,
    /// The hash of the one token of this family that may be used.
    pub current: String,
    pub revoked: bool,
    /// The thumbprint of the DPoP key its tokens are bound to: a public client's family
    /// started with a DPoP proof (RFC 9449 §5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// The APIs its access tokens may be for (RFC 8707); a refresh may name fewer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The hash of the token the last rotation took, and when: presented again within
    /// `tokens.refresh_retry_window`, while `current` is unused, it is a retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<i64>,
}

/// The scopes a person has allowed a client to receive, keyed by `Consent::key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Consent {
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

impl Consent {
    pub fn key(sub: &str, client_id: &str) -> String {
        format!("{}:{sub}:{client_id}", sub.len())
    }
}

/// A revoked access token, keyed by its `jti`, kept until the token would have expired.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokedToken {
    pub revoked_at: i64,
}

/// A logout that went on to the upstream's own logout, keyed by the `state` sent there:
/// where to send the person when they come back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogout {
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}
