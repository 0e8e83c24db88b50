//! What an upstream's event does to what came from it: sessions ended, sessions that must
//! log in again (with the refresh families granted at an assurance that no longer holds
//! revoked), claims to read again at the next refresh, people who cannot log in through
//! it for now; and what the apps of those sessions are told.

use super::emit::{self, Signal};
use super::events::EventType;
use crate::domain::{logout_outbox, sessions};
use crate::store::{DisabledSubject, FamilyId, Session, StoreError};
use crate::upstream::LoggedOut;
use serde_json::{Map, Value as Json, json};

type Outbox<'a> = logout_outbox::Parts<'a>;

/// The sessions that came from what `named` names at `upstream`.
pub async fn sessions_named(
    outbox: Outbox<'_>,
    upstream: &str,
    named: &LoggedOut,
    now: i64,
) -> Result<Vec<Session>, StoreError> {
    sessions::from_upstream(outbox.store, upstream, named, now).await
}

/// Ends `found`; each ending tells its apps (back-channel logout, session-revoked).
pub async fn end(outbox: Outbox<'_>, found: &[Session], now: i64) -> Result<usize, StoreError> {
    let mut ended = 0;
    for session in found {
        if let Some(deliveries) = sessions::end_and_notify(outbox, &session.sid, now).await? {
            deliveries.detach();
            ended += 1;
        }
    }
    Ok(ended)
}

/// The people at the upstream that `named` and `found` name, by their subject there.
pub fn subjects(named: &LoggedOut, found: &[Session]) -> Vec<String> {
    let mut subjects: Vec<String> = match named {
        LoggedOut::Subject(subject)
        | LoggedOut::Session {
            subject: Some(subject), ..
        } => vec![subject.clone()],
        LoggedOut::Session { subject: None, .. } | LoggedOut::Email(_) => Vec::new(),
    };
    for session in found {
        if let Some(subject) = &session.upstream_subject
            && !subjects.contains(subject)
        {
            subjects.push(subject.clone());
        }
    }
    subjects
}

/// Disables (or enables again) logins through `upstream` of the people `subjects`.
pub async fn disable(
    outbox: Outbox<'_>,
    upstream: &str,
    subjects: &[String],
    disabled: bool,
    now: i64,
) -> Result<(), StoreError> {
    let mut write = outbox.store.write(now);
    for subject in subjects {
        let key = DisabledSubject::key(upstream, subject);
        if disabled {
            outbox
                .store
                .disabled_subjects
                .stage_put(&mut write, &key, &DisabledSubject { disabled_at: now }, None)?;
        } else {
            outbox.store.disabled_subjects.stage_delete(&mut write, &key);
        }
    }
    // Puts and deletes that check nothing: no conflict.
    let _ = outbox.store.commit(write).await?;
    Ok(())
}

/// Makes each of `found` need a login at the upstream again; when the assurance fell to
/// `lowered_to`, the session carries that level from now on, and its refresh families
/// granted at another level are revoked (their assurance no longer holds). A changed
/// credential (`lowered_to` = `None`) revokes every family granted with an assurance level.
pub async fn step_up(
    outbox: Outbox<'_>,
    found: &[Session],
    lowered_to: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let (store, config) = (outbox.store, outbox.config);
    for session in found {
        let ttl = config.tokens.session_ttl.as_secs_i64();
        store
            .sessions
            .update(&session.sid, now, |current| {
                current.map(|mut s| {
                    s.must_reauthenticate = true;
                    if let Some(level) = lowered_to {
                        s.auth.acr = Some(level.to_string());
                    }
                    let expires = s.auth.started_at() + ttl;
                    (s, Some(expires))
                })
            })
            .await?;
        let families = store
            .refresh_families
            .entries_with_prefix(&FamilyId::prefix_of_session(&session.sid), now)
            .await?;
        for (key, family) in families {
            let held = match (&family.auth.acr, lowered_to) {
                (None, _) => true,
                (Some(granted), Some(level)) => granted == level,
                (Some(_), None) => false,
            };
            if !held && !family.revoked {
                crate::domain::refresh_families::revoke(store, config, &key, now).await?;
            }
        }
    }
    Ok(())
}

/// Makes the next refresh of each of `found` read the person at the upstream again.
pub async fn claims_changed(outbox: Outbox<'_>, found: &[Session], now: i64) -> Result<(), StoreError> {
    let store = outbox.store;
    for session in found {
        for _ in 0..crate::store::MAX_RACES {
            let Some(current) = store.upstream_grants.read(&session.sid, now).await? else {
                break;
            };
            let mut stale = current.value.clone();
            stale.refreshed_at = i64::MIN / 2;
            let mut write = store.write(now);
            store.upstream_grants.expect(&mut write, &session.sid, Some(&current));
            store
                .upstream_grants
                .stage_put(&mut write, &session.sid, &stale, current.expires_at)?;
            if store.commit(write).await? == crate::store::Commit::Done {
                break;
            }
        }
    }
    Ok(())
}

/// Tells the apps of `found` (their streams that asked for it) about `event`, each
/// session's person by their `sub` here.
pub async fn pass_on(
    outbox: Outbox<'_>,
    found: &[Session],
    event: EventType,
    payload: &Map<String, Json>,
    now: i64,
) -> Result<(), StoreError> {
    // The upstream's own words (its reason texts, its subject) are not passed on.
    let mut passed = Map::new();
    for field in [
        "change_direction",
        "current_level",
        "previous_level",
        "namespace",
        "credential_type",
        "change_type",
    ] {
        if let Some(value) = payload.get(field) {
            passed.insert(field.into(), value.clone());
        }
    }
    passed.insert("initiating_entity".into(), json!("policy"));
    for session in found {
        let signal = Signal {
            event,
            sub: session.sub.clone(),
            sid: matches!(event, EventType::CredentialChange | EventType::AssuranceLevelChange)
                .then(|| session.sid.clone()),
            payload: Json::Object(passed.clone()),
        };
        emit::tell(outbox, &session.clients, &signal, now).await?;
    }
    Ok(())
}
