//! Events from an upstream's Shared Signals transmitter, pushed (RFC 8935) or polled
//! (RFC 8936): each verified (signature, issuer, audience, age), taken once across
//! replicas by its `jti`, its subject found among the sessions that came from that
//! upstream, and acted on: a revoked session ends the Gatehouse sessions that came from
//! it; a disabled, purged or compromised account (and a changed credential) ends every
//! session of that person from that upstream. Each ending tells the apps in turn.

use super::events::EventType;
use crate::domain::{logout_outbox, sessions};
use crate::store::SeenLogoutToken;
use crate::upstream::{LoggedOut, UpstreamError, UpstreamHttp, Upstreams};
use serde_json::Value as Json;

/// Why an event was refused (RFC 8935 §2.3 names the error codes).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("no upstream {0} sends Shared Signals here")]
    UnknownUpstream(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the event's subject: {0}")]
    Subject(String),
    #[error("the event was received before")]
    Replayed,
    /// The upstream or the store could not be reached: worth sending again.
    #[error("{0}")]
    Unavailable(String),
}

impl Refused {
    /// The `err` code of RFC 8935 §2.4.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::UnknownUpstream(_) | Refused::Invalid(_) | Refused::Subject(_) | Refused::Replayed => {
                "invalid_request"
            }
            Refused::Unavailable(_) => "temporarily_unavailable",
        }
    }
}

/// What taking an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub event: Option<EventType>,
    pub sessions_ended: usize,
}

/// Takes the Security Event Token `token` from the upstream `upstream_id`.
pub async fn take(
    outbox: logout_outbox::Parts<'_>,
    upstreams: &Upstreams,
    http: &UpstreamHttp,
    upstream_id: &str,
    token: &str,
    now: i64,
) -> Result<Taken, Refused> {
    let upstream = upstreams
        .get(upstream_id)
        .ok_or_else(|| Refused::UnknownUpstream(upstream_id.to_string()))?;
    let source = upstream
        .signals()
        .ok_or_else(|| Refused::UnknownUpstream(upstream_id.to_string()))?;
    let signal = source.verify_signal(http, token, now).await.map_err(|e| match e {
        UpstreamError::Unavailable(why) => Refused::Unavailable(why),
        UpstreamError::Denied(why) | UpstreamError::Invalid(why) => Refused::Invalid(why),
    })?;
    let event = EventType::from_uri(&signal.event);
    // The subject is read before the jti is spent, so that a refused event can be fixed
    // and sent again.
    let named = match event {
        Some(EventType::Verification | EventType::StreamUpdated) | None => None,
        Some(_) => Some(subject(source.issuer(), &signal.subject)?),
    };
    let unavailable = |e: crate::store::StoreError| Refused::Unavailable(e.to_string());
    let key = format!("{}:{upstream_id}:{}", upstream_id.len(), signal.jti);
    let seen = SeenLogoutToken { received_at: now };
    if !outbox
        .store
        .seen_signals
        .insert_new(&key, &seen, Some(signal.remember_until), now)
        .await
        .map_err(unavailable)?
    {
        return Err(Refused::Replayed);
    }
    let ended = match (event, named) {
        (Some(EventType::SessionRevoked), Some(named)) => end(outbox, upstream_id, &named, now).await?,
        (
            Some(
                EventType::AccountDisabled
                | EventType::AccountPurged
                | EventType::AccountCredentialChangeRequired
                | EventType::CredentialChange,
            ),
            Some(named),
        ) => {
            let person = match named {
                LoggedOut::Subject(subject) => LoggedOut::Subject(subject),
                LoggedOut::Session { sid, subject: None } => LoggedOut::Session { sid, subject: None },
                LoggedOut::Session {
                    subject: Some(subject), ..
                } => LoggedOut::Subject(subject),
            };
            end(outbox, upstream_id, &person, now).await?
        }
        _ => 0,
    };
    tracing::info!(upstream = %upstream_id, event = %signal.event, sessions_ended = ended, "shared signal taken");
    Ok(Taken {
        event,
        sessions_ended: ended,
    })
}

/// Ends the sessions that came from what `named` names at the upstream.
async fn end(
    outbox: logout_outbox::Parts<'_>,
    upstream_id: &str,
    named: &LoggedOut,
    now: i64,
) -> Result<usize, Refused> {
    let unavailable = |e: crate::store::StoreError| Refused::Unavailable(e.to_string());
    let found = sessions::from_upstream(outbox.store, upstream_id, named, now)
        .await
        .map_err(unavailable)?;
    for session in &found {
        if let Some(deliveries) = sessions::end_and_notify(outbox, &session.sid, now)
            .await
            .map_err(unavailable)?
        {
            deliveries.detach();
        }
    }
    Ok(found.len())
}

/// What the subject `subject` names at the upstream whose issuer is `issuer` (SSF 1.0
/// §3: `iss_sub`, `opaque`, or `complex` with a `user` and a `session`).
fn subject(issuer: &str, subject: &Json) -> Result<LoggedOut, Refused> {
    let invalid = |why: &str| Refused::Subject(why.to_string());
    let field = |value: &Json, name: &str| {
        value
            .get(name)
            .and_then(Json::as_str)
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    let person = |value: &Json| match field(value, "format").as_deref() {
        Some("iss_sub") if field(value, "iss").as_deref() == Some(issuer) => {
            field(value, "sub").ok_or_else(|| invalid("an iss_sub subject without sub"))
        }
        Some("iss_sub") => Err(invalid("an iss_sub subject of another issuer")),
        Some("opaque") => field(value, "id").ok_or_else(|| invalid("an opaque subject without id")),
        Some(other) => Err(Refused::Subject(format!("format {other} cannot name a person here"))),
        None => Err(invalid("a subject without format")),
    };
    match field(subject, "format").as_deref() {
        Some("complex") => {
            let user = subject.get("user").map(person).transpose()?;
            let session = match subject.get("session") {
                Some(session) if field(session, "format").as_deref() == Some("opaque") => {
                    Some(field(session, "id").ok_or_else(|| invalid("an opaque session without id"))?)
                }
                Some(_) => return Err(invalid("a session subject must be opaque")),
                None => None,
            };
            match (user, session) {
                (subject, Some(sid)) => Ok(LoggedOut::Session { sid, subject }),
                (Some(user), None) => Ok(LoggedOut::Subject(user)),
                (None, None) => Err(invalid("a complex subject without user or session")),
            }
        }
        _ => person(subject).map(LoggedOut::Subject),
    }
}
