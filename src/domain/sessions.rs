//! Browser sessions: started by a login, found by the session cookie, ended by logout or
//! an operator (with the refresh families of their logins). Plain functions over the
//! store, taking `now`.

use super::logout_outbox::{self, Deliveries, Parts};
use crate::config::Config;
use crate::secrets;
use crate::store::{
    AccountSession, AuthContext, Commit, EndedSession, Session, Store, StoreError, UpstreamSessionEntry,
};
use crate::upstream::{LoggedOut, UpstreamSession};
use serde::{Deserialize, Serialize};

/// The live session behind the session cookie `cookie`.
pub async fn find(store: &Store, cookie: Option<&str>, now: i64) -> Result<Option<Session>, StoreError> {
    let Some((sid, secret)) = cookie.and_then(|c| c.split_once('.')) else {
        return Ok(None);
    };
    let session = store.sessions.get(sid, now).await?;
    Ok(session.filter(|s| secrets::equal(&s.secret_hash, &secrets::hash(secret))))
}

/// Starts a browser session of a person who authenticated as `auth` says, in the
/// upstream's session `from` (when it has one to end); returns the cookie value and the
/// session.
pub async fn start(
    store: &Store,
    config: &Config,
    sub: &str,
    upstream: &str,
    auth: AuthContext,
    from: Option<UpstreamSession>,
    now: i64,
) -> Result<(String, Session), StoreError> {
    let secret = secrets::random_token();
    let session = Session {
        sid: secrets::random_token(),
        secret_hash: secrets::hash(&secret),
        sub: sub.to_string(),
        upstream: upstream.to_string(),
        auth: AuthContext {
            session_started_at: Some(now),
            ..auth
        },
        upstream_subject: from.as_ref().map(|f| f.subject.clone()),
        upstream_sid: from.as_ref().and_then(|f| f.sid.clone()),
        clients: Vec::new(),
        must_reauthenticate: false,
    };
    let expires = Some(now + config.tokens.session_ttl.as_secs_i64());
    let mut write = store.write(now);
    store.sessions.stage_put(&mut write, &session.sid, &session, expires)?;
    let indexed = AccountSession {
        sid: session.sid.clone(),
    };
    store
        .account_sessions
        .stage_put(&mut write, &AccountSession::key(sub, &session.sid), &indexed, expires)?;
    let entry = UpstreamSessionEntry {
        sid: session.sid.clone(),
    };
    let prefixes = [
        session
            .upstream_subject
            .as_ref()
            .map(|s| UpstreamSessionEntry::by_subject(upstream, s)),
        session
            .upstream_sid
            .as_ref()
            .map(|s| UpstreamSessionEntry::by_sid(upstream, s)),
        from.as_ref()
            .and_then(|f| f.email.as_ref())
            .map(|email| UpstreamSessionEntry::by_email(upstream, &email.to_lowercase())),
    ];
    for prefix in prefixes.into_iter().flatten() {
        let key = format!("{prefix}{}", session.sid);
        store.upstream_sessions.stage_put(&mut write, &key, &entry, expires)?;
    }
    // The write checks nothing, so it cannot meet a conflict.
    let _ = store.commit(write).await?;
    Ok((format!("{}.{secret}", session.sid), session))
}

/// Remembers that `client_id` received something from the session `sid`, so that it is
/// told when the session ends (back-channel logout).
pub async fn note_client(
    store: &Store,
    config: &Config,
    client_id: &str,
    sid: &str,
    now: i64,
) -> Result<(), StoreError> {
    store
        .sessions
        .update(sid, now, |session| {
            session.map(|mut s| {
                if !s.clients.iter().any(|c| c == client_id) {
                    s.clients.push(client_id.to_string());
                }
                let expires = s.auth.started_at() + config.tokens.session_ttl.as_secs_i64();
                (s, Some(expires))
            })
        })
        .await?;
    Ok(())
}

/// What `sessions list` shows of a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionInfo {
    pub sid: String,
    pub sub: String,
    pub upstream: String,
    pub auth_time: i64,
    pub expires_at: Option<i64>,
    pub clients: Vec<String>,
}

/// The live sessions, of one person when `sub` is given (found by the index, not by
/// walking every session), newest first.
pub async fn list(store: &Store, sub: Option<&str>, now: i64) -> Result<Vec<SessionInfo>, StoreError> {
    let sids: Vec<String> = match sub {
        Some(sub) => store
            .account_sessions
            .entries_with_prefix(&AccountSession::prefix(sub), now)
            .await?
            .into_iter()
            .map(|(_, entry)| entry.sid)
            .collect(),
        None => store
            .sessions
            .entries(now)
            .await?
            .into_iter()
            .map(|(sid, _)| sid)
            .collect(),
    };
    let mut sessions = Vec::new();
    for sid in sids {
        let Some((session, expires_at)) = store.sessions.get_with_expiry(&sid, now).await? else {
            continue;
        };
        if sub.is_none_or(|sub| sub == session.sub) {
            sessions.push(SessionInfo {
                sid: session.sid,
                sub: session.sub,
                upstream: session.upstream,
                auth_time: session.auth.auth_time,
                expires_at,
                clients: session.clients,
            });
        }
    }
    sessions.sort_by_key(|s| std::cmp::Reverse(s.auth_time));
    Ok(sessions)
}

/// Ends the session `sid`: removes it, records it as ended (so that the access tokens
/// issued in it are active no more) and queues the logout tokens its clients are owed, in
/// one write, so that none is lost; then revokes the refresh families its logins got.
/// Returns the session and the keys of its queued messages.
pub async fn end(
    store: &Store,
    config: &Config,
    sid: &str,
    now: i64,
) -> Result<Option<(Session, Vec<String>)>, StoreError> {
    for _ in 0..crate::store::MAX_RACES {
        let Some(current) = store.sessions.read(sid, now).await? else {
            return Ok(None);
        };
        let session = &current.value;
        let streams = super::signals::emit::streams_of(store, config, &session.clients, now).await?;
        let mut write = store.write(now);
        store.sessions.expect(&mut write, sid, Some(&current));
        store.sessions.stage_delete(&mut write, sid);
        store
            .account_sessions
            .stage_delete(&mut write, &AccountSession::key(&session.sub, sid));
        // As long as an access token issued in it could live.
        let ended_until = now.saturating_add(config.tokens.access_token_ttl.as_secs_i64());
        store
            .ended_sessions
            .stage_put(&mut write, sid, &EndedSession { ended_at: now }, Some(ended_until))?;
        let mut queued = logout_outbox::stage_messages(store, config, &mut write, session, now)?;
        let revoked = super::signals::emit::Signal {
            event: super::signals::events::EventType::SessionRevoked,
            sub: session.sub.clone(),
            sid: Some(session.sid.clone()),
            payload: serde_json::json!({}),
        };
        queued.extend(super::signals::emit::stage(
            store, config, &mut write, &streams, &revoked, now,
        )?);
        if store.commit(write).await? == Commit::Conflict {
            // A client was noted on the session meanwhile: read it again.
            continue;
        }
        // The upstream's refresh token goes with the session.
        store.upstream_grants.take(sid, now).await?;
        for (family, _) in store
            .refresh_families
            .entries_with_prefix(&crate::store::FamilyId::prefix_of_session(sid), now)
            .await?
        {
            crate::domain::refresh_families::revoke(store, config, &family, now).await?;
        }
        return Ok(Some((current.value, queued)));
    }
    Err(StoreError::Contended {
        table: "sessions",
        key_len: sid.len(),
    })
}

/// Ends the session `sid` (its refresh families revoked, its logout tokens queued) and
/// starts the first deliveries; `None` when there is no such live session.
pub async fn end_and_notify(app: Parts<'_>, sid: &str, now: i64) -> Result<Option<Deliveries>, StoreError> {
    let ended = end(app.store, app.config, sid, now).await?;
    Ok(match ended {
        Some((_, queued)) => Some(logout_outbox::start(app, &queued, now).await?),
        None => None,
    })
}

/// Ends the session `sid` as [`end_and_notify`] does, then tries each of its deliveries up to
/// `tries` times, waiting out the pauses between (for a command line that runs while no
/// server does: what still fails stays queued for the server). False when there is no
/// such live session.
pub async fn end_and_deliver(app: Parts<'_>, sid: &str, tries: u32) -> Result<bool, StoreError> {
    let Some((_, keys)) = end(app.store, app.config, sid, app.clock.now()).await? else {
        return Ok(false);
    };
    for _ in 0..tries {
        logout_outbox::start(app, &keys, app.clock.now()).await?.wait().await;
        let now = app.clock.now();
        let mut next_due: Option<i64> = None;
        for key in &keys {
            if let Some(left) = app.store.logout_outbox.get(key, now).await? {
                next_due = Some(next_due.map_or(left.next_attempt_at, |due| due.min(left.next_attempt_at)));
            }
        }
        let Some(due) = next_due else {
            break;
        };
        let pause = u64::try_from(due.saturating_sub(now)).unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_secs(pause)).await;
    }
    Ok(true)
}

/// The live sessions that came from what the upstream's logout token names.
pub async fn from_upstream(
    store: &Store,
    upstream: &str,
    logged_out: &LoggedOut,
    now: i64,
) -> Result<Vec<Session>, StoreError> {
    let (prefix, subject) = match logged_out {
        LoggedOut::Subject(subject) => (UpstreamSessionEntry::by_subject(upstream, subject), Some(subject)),
        LoggedOut::Session { sid, subject } => (UpstreamSessionEntry::by_sid(upstream, sid), subject.as_ref()),
        LoggedOut::Email(email) => (UpstreamSessionEntry::by_email(upstream, email), None),
    };
    let mut sessions = Vec::new();
    for (_, entry) in store.upstream_sessions.entries_with_prefix(&prefix, now).await? {
        let Some(session) = store.sessions.get(&entry.sid, now).await? else {
            continue;
        };
        // A token naming a session and a subject must name the session's subject.
        let same_person = subject.is_none_or(|s| session.upstream_subject.as_ref() == Some(s));
        if session.upstream == upstream && same_person {
            sessions.push(session);
        }
    }
    Ok(sessions)
}
