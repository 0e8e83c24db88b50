//! The event types Gatehouse sends and takes (CAEP 1.0, RISC 1.0, SSF 1.0), the subject
//! formats it names people and sessions by (SSF 1.0 §3), and the claims of a Security
//! Event Token (RFC 8417, SSF 1.0 §4).

use crate::secrets;
use serde_json::{Value as Json, json};

/// Delivery by push (RFC 8935) and by poll (RFC 8936), as SSF 1.0 names them.
pub const PUSH: &str = "urn:ietf:rfc:8935";
pub const POLL: &str = "urn:ietf:rfc:8936";

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
const SSF: &str = "https://schemas.openid.net/secevent/ssf/event-type/";

/// The kinds of event Gatehouse knows, as it acts on them and passes them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    SessionRevoked,
    TokenClaimsChange,
    CredentialChange,
    AssuranceLevelChange,
    AccountDisabled,
    AccountEnabled,
    AccountPurged,
    AccountCredentialChangeRequired,
    Verification,
    StreamUpdated,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::SessionRevoked,
        EventType::TokenClaimsChange,
        EventType::CredentialChange,
        EventType::AssuranceLevelChange,
        EventType::AccountDisabled,
        EventType::AccountEnabled,
        EventType::AccountPurged,
        EventType::AccountCredentialChangeRequired,
        EventType::Verification,
        EventType::StreamUpdated,
    ];

    pub fn uri(self) -> String {
        let (base, name) = match self {
            EventType::SessionRevoked => (CAEP, "session-revoked"),
            EventType::TokenClaimsChange => (CAEP, "token-claims-change"),
            EventType::CredentialChange => (CAEP, "credential-change"),
            EventType::AssuranceLevelChange => (CAEP, "assurance-level-change"),
            EventType::AccountDisabled => (RISC, "account-disabled"),
            EventType::AccountEnabled => (RISC, "account-enabled"),
            EventType::AccountPurged => (RISC, "account-purged"),
            EventType::AccountCredentialChangeRequired => (RISC, "account-credential-change-required"),
            EventType::Verification => (SSF, "verification"),
            EventType::StreamUpdated => (SSF, "stream-updated"),
        };
        format!("{base}{name}")
    }

    pub fn from_uri(uri: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.uri() == uri)
    }

    /// The events an app's stream can carry: what Gatehouse itself says or passes on.
    pub const TRANSMITTED: [EventType; 7] = [
        EventType::SessionRevoked,
        EventType::TokenClaimsChange,
        EventType::CredentialChange,
        EventType::AssuranceLevelChange,
        EventType::AccountDisabled,
        EventType::AccountPurged,
        EventType::Verification,
    ];

    /// The events Gatehouse asks an upstream's transmitter for.
    pub const RECEIVED: [EventType; 8] = [
        EventType::SessionRevoked,
        EventType::TokenClaimsChange,
        EventType::CredentialChange,
        EventType::AssuranceLevelChange,
        EventType::AccountDisabled,
        EventType::AccountEnabled,
        EventType::AccountPurged,
        EventType::AccountCredentialChangeRequired,
    ];
}

/// A person as `iss_sub` (SSF 1.0 §3.2.2 and RFC 9493).
pub fn person(issuer: &str, sub: &str) -> Json {
    json!({ "format": "iss_sub", "iss": issuer, "sub": sub })
}

/// A person's session, as a complex subject of the person and the session's id.
pub fn session(issuer: &str, sub: &str, sid: &str) -> Json {
    json!({ "format": "complex", "user": person(issuer, sub), "session": { "format": "opaque", "id": sid } })
}

/// The claims of a Security Event Token from `issuer` to `aud` about `subject`: one
/// event, as SSF 1.0 §4.1 asks, with the subject in `sub_id`.
pub fn set_claims(issuer: &str, aud: &str, subject: Json, event: EventType, payload: Json, now: i64) -> Json {
    let mut body = match payload {
        Json::Object(body) => body,
        _ => serde_json::Map::new(),
    };
    if event != EventType::Verification {
        body.entry("event_timestamp").or_insert(json!(now));
    }
    json!({
        "iss": issuer, "aud": aud, "iat": now, "jti": secrets::random_token(),
        "sub_id": subject, "events": { event.uri(): body },
    })
}
