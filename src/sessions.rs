//! Browser sessions: started by a login, found by the session cookie, ended by logout or
//! an operator (with the refresh families of their logins). Plain functions over the
//! store, taking `now`.

use crate::config::Config;
use crate::secrets;
use crate::store::{AuthContext, Session, Store, StoreError};
use serde::{Deserialize, Serialize};

/// The live session behind the session cookie `cookie`.
pub async fn find(store: &Store, cookie: Option<&str>, now: i64) -> Result<Option<Session>, StoreError> {
    let Some((sid, secret)) = cookie.and_then(|c| c.split_once('.')) else {
        return Ok(None);
    };
    let session = store.sessions.get(sid, now).await?;
    Ok(session.filter(|s| secrets::equal(&s.secret_hash, &secrets::hash(secret))))
}

/// Starts a browser session of a person who authenticated as `auth` says; returns the
/// cookie value and the session.
pub async fn start(
    store: &Store,
    config: &Config,
    sub: &str,
    upstream: &str,
    auth: AuthContext,
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
        clients: Vec::new(),
    };
    let expires = now + config.tokens.session_ttl.as_secs_i64();
    store.sessions.put(&session.sid, &session, Some(expires)).await?;
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

/// The live sessions, of one person when `sub` is given, newest first.
pub async fn list(store: &Store, sub: Option<&str>, now: i64) -> Result<Vec<SessionInfo>, StoreError> {
    let mut sessions = Vec::new();
    for (sid, _) in store.sessions.entries(now).await? {
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

/// Ends the session `sid`: removes it and revokes the refresh families its logins got.
/// Returns the session, so its clients can be told.
pub async fn end(store: &Store, config: &Config, sid: &str, now: i64) -> Result<Option<Session>, StoreError> {
    let Some(session) = store.sessions.take(sid, now).await? else {
        return Ok(None);
    };
    for (family, _) in store
        .refresh_families
        .entries_with_prefix(&format!("{sid}:"), now)
        .await?
    {
        crate::tokens::revoke_family(store, config, &family, now).await?;
    }
    Ok(Some(session))
}
