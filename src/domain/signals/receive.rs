//! Events from an upstream's Shared Signals transmitter, pushed (RFC 8935) or polled
//! (RFC 8936): each verified (signature, issuer, audience, age), taken once across
//! replicas by its `jti`, its subject found among the sessions that came from that
//! upstream, and acted on: a revoked session ends the Gatehouse sessions that came from
//! it; a disabled, purged or compromised account (and a changed credential) ends every
//! session of that person from that upstream. Each ending tells the apps in turn.

use super::actions;
use super::events::EventType;
use crate::domain::logout_outbox;
use crate::store::SeenLogoutToken;
use crate::upstream::oidc::SignalError;
use crate::upstream::{LoggedOut, UpstreamHttp, Upstreams};
use serde_json::Value as Json;

/// Why an event was refused (RFC 8935 §2.3 names the error codes).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("no upstream {0} sends Shared Signals here")]
    UnknownUpstream(String),
    /// With the error code of RFC 8935 §2.4.
    #[error("{why}")]
    Invalid { code: &'static str, why: String },
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
            Refused::Invalid { code, .. } => code,
            Refused::UnknownUpstream(_) | Refused::Subject(_) | Refused::Replayed => "invalid_request",
            Refused::Unavailable(_) => "temporarily_unavailable",
        }
    }
}

/// Takes the Security Event Token `token` from the upstream `upstream_id`; returns how
/// many sessions it ended.
pub async fn take(
    outbox: logout_outbox::Parts<'_>,
    upstreams: &Upstreams,
    http: &UpstreamHttp,
    upstream_id: &str,
    token: &str,
    now: i64,
) -> Result<usize, Refused> {
    let taken = take_once(outbox, upstreams, http, upstream_id, token, now).await;
    let outcome = match &taken {
        Ok(_) => "taken",
        Err(Refused::Replayed) => "replayed",
        Err(Refused::Unavailable(_)) => "unavailable",
        Err(_) => "refused",
    };
    if upstreams.contains_key(upstream_id) {
        outbox.telemetry.signal_received(upstream_id, outcome);
    }
    taken
}

async fn take_once(
    outbox: logout_outbox::Parts<'_>,
    upstreams: &Upstreams,
    http: &UpstreamHttp,
    upstream_id: &str,
    token: &str,
    now: i64,
) -> Result<usize, Refused> {
    let upstream = upstreams
        .get(upstream_id)
        .ok_or_else(|| Refused::UnknownUpstream(upstream_id.to_string()))?;
    let source = upstream
        .signals()
        .ok_or_else(|| Refused::UnknownUpstream(upstream_id.to_string()))?;
    let signal = source.verify_signal(http, token, now).await.map_err(|e| match e {
        SignalError::Unavailable(why) => Refused::Unavailable(why),
        SignalError::Refused { code, why } => Refused::Invalid { code, why },
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
    let acted = match (event, named) {
        (Some(EventType::Verification), _) => verified(outbox, upstream_id, &signal.payload, now).await.map(|()| 0),
        (Some(event), Some(named)) => act(outbox, source, upstream_id, event, &named, &signal.payload, now).await,
        _ => Ok(0),
    };
    let ended = match acted {
        Ok(ended) => ended,
        Err(e) => {
            // Not done: the transmitter's retry must not be taken for a replay.
            let _ = outbox.store.seen_signals.take(&key, now).await;
            return Err(unavailable(e));
        }
    };
    tracing::info!(upstream = %upstream_id, event = %signal.event, sessions_ended = ended, "shared signal taken");
    Ok(ended)
}

/// Does what `event` about `named` asks; returns how many sessions it ended.
async fn act(
    outbox: logout_outbox::Parts<'_>,
    source: &crate::upstream::oidc::OidcProvider,
    upstream_id: &str,
    event: EventType,
    named: &LoggedOut,
    payload: &serde_json::Map<String, Json>,
    now: i64,
) -> Result<usize, crate::store::StoreError> {
    // An account event is about the person, whatever session it names.
    let account_wide = matches!(
        event,
        EventType::AccountDisabled
            | EventType::AccountEnabled
            | EventType::AccountPurged
            | EventType::AccountCredentialChangeRequired
    );
    let named = match named {
        LoggedOut::Session {
            subject: Some(subject), ..
        } if account_wide => LoggedOut::Subject(subject.clone()),
        other => other.clone(),
    };
    let found = actions::sessions_named(outbox, upstream_id, &named, now).await?;
    match event {
        EventType::SessionRevoked => actions::end(outbox, &found, now).await,
        EventType::AccountDisabled | EventType::AccountPurged | EventType::AccountCredentialChangeRequired => {
            if event == EventType::AccountDisabled {
                actions::disable(outbox, upstream_id, &actions::subjects(&named, &found), true, now).await?;
            }
            if event != EventType::AccountCredentialChangeRequired {
                actions::pass_on(outbox, &found, event, payload, now).await?;
            }
            actions::end(outbox, &found, now).await
        }
        EventType::AccountEnabled => {
            actions::disable(outbox, upstream_id, &actions::subjects(&named, &found), false, now).await?;
            Ok(0)
        }
        EventType::CredentialChange => {
            actions::step_up(outbox, &found, None, now).await?;
            actions::pass_on(outbox, &found, event, payload, now).await?;
            Ok(0)
        }
        EventType::AssuranceLevelChange => {
            let increased = payload.get("change_direction").and_then(Json::as_str) == Some("increase");
            if !increased {
                let level = payload
                    .get("current_level")
                    .and_then(Json::as_str)
                    .map(|theirs| source.acr_from_upstream(theirs));
                actions::step_up(outbox, &found, Some(level.as_deref().unwrap_or("")), now).await?;
            }
            actions::pass_on(outbox, &found, event, payload, now).await?;
            Ok(0)
        }
        EventType::TokenClaimsChange => {
            actions::claims_changed(outbox, &found, now).await?;
            Ok(0)
        }
        EventType::Verification | EventType::StreamUpdated => Ok(0),
    }
}

/// A verification event (SSF 1.0 §8.1.4): when it carries the `state` Gatehouse asked
/// with, the stream is known to deliver.
async fn verified(
    outbox: logout_outbox::Parts<'_>,
    upstream_id: &str,
    payload: &serde_json::Map<String, Json>,
    now: i64,
) -> Result<(), crate::store::StoreError> {
    let state = payload.get("state").and_then(Json::as_str).map(String::from);
    outbox
        .store
        .signal_receivers
        .update(upstream_id, now, |current| {
            current.map(|mut known| {
                if state.is_some() && known.verification_state == state {
                    known.verified_at = Some(now);
                }
                (known, None)
            })
        })
        .await?;
    Ok(())
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
        Some("email") => Err(invalid("an email subject inside a complex one")),
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
        Some("email") => field(subject, "email")
            .map(|email| LoggedOut::Email(email.to_lowercase()))
            .ok_or_else(|| invalid("an email subject without email")),
        _ => person(subject).map(LoggedOut::Subject),
    }
}
