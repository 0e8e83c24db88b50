//! Back-Channel Logout 1.0 from upstreams: a valid logout token, taken once, ends every
//! Gatehouse session that came from the upstream session (or the person) it names; each
//! ending revokes the session's refresh families and tells its apps by back-channel
//! logout in turn.

use super::{logout_outbox, sessions};
use crate::store::SeenLogoutToken;
use crate::upstream::{UpstreamError, UpstreamHttp, Upstreams};

/// Why a logout token was refused (the answer is 400, Back-Channel Logout 1.0 §2.8).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("no upstream {0} is configured")]
    UnknownUpstream(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the logout token was used before")]
    Replayed,
    /// The upstream or the store could not be reached: worth sending again.
    #[error("{0}")]
    Unavailable(String),
}

/// Takes the logout token `token` from the upstream `upstream_id`; returns how many
/// sessions it ended.
pub async fn receive(
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
    crate::telemetry::note_upstream(upstream_id);
    let notice = upstream
        .verify_logout_token(http, token, now)
        .await
        .map_err(|e| match e {
            UpstreamError::Unavailable(why) => Refused::Unavailable(why),
            UpstreamError::Denied(why) | UpstreamError::Invalid(why) => Refused::Invalid(why),
        })?;
    let unavailable = |e: crate::store::StoreError| Refused::Unavailable(e.to_string());
    let seen = SeenLogoutToken { received_at: now };
    let key = format!("{}:{upstream_id}:{}", upstream_id.len(), notice.jti);
    let first = outbox
        .store
        .seen_logout_tokens
        .insert_new(&key, &seen, Some(notice.remember_until), now)
        .await
        .map_err(unavailable)?;
    if !first {
        return Err(Refused::Replayed);
    }
    let ended = sessions::from_upstream(outbox.store, upstream_id, &notice.session, now)
        .await
        .map_err(unavailable)?;
    for session in &ended {
        if let Some(deliveries) = sessions::end_and_notify(outbox, &session.sid, now)
            .await
            .map_err(unavailable)?
        {
            deliveries.detach();
        }
    }
    outbox.telemetry.upstream_logout(upstream_id, ended.len());
    Ok(ended.len())
}
