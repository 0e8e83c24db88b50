//! RP-Initiated Logout 1.0's steps: the session ends at once when a valid
//! `id_token_hint` names it, otherwise after the person confirms; then the person goes
//! back to the application (when it asked with a registered URI), on through the
//! upstream's own logout first when that upstream is configured to.

use super::Ctx;
use crate::config::Client;
use crate::domain::sessions;
use crate::keys::TokenType;
use crate::store::{PendingLogout, Session};
use crate::upstream::LoggingOut;
use crate::{routes, secrets};
use serde::Deserialize;
use serde_json::Value as Json;

#[derive(Debug, Default, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    /// Only on the confirmation form.
    pub csrf: Option<String>,
    pub decision: Option<String>,
}

/// What happens after a logout step.
#[derive(Debug)]
pub enum LogoutOutcome {
    /// Back to the application at `Some(url)`, or a page saying `message`; the session
    /// cookie is cleared when `ended`.
    Done {
        to: Option<String>,
        message: &'static str,
        ended: bool,
    },
    /// On to the upstream's own logout; the session has ended.
    Upstream(String),
    /// Ask the person whether to sign out.
    Confirm {
        client_name: Option<String>,
        client_id: Option<String>,
        csrf: Option<String>,
        post_logout_redirect_uri: Option<String>,
        state: Option<String>,
    },
    /// The person chose to stay signed in.
    Stayed,
    /// The request cannot be followed: the page says why.
    Refused(&'static str),
    Failed(String),
    /// The store cannot be reached now: try again in a moment (503).
    Unavailable(String),
}

impl From<crate::store::StoreError> for LogoutOutcome {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_unavailable() {
            return LogoutOutcome::Unavailable(e.to_string());
        }
        LogoutOutcome::Failed(e.to_string())
    }
}

/// `/end_session`'s step. `confirming` is set for the confirmation form's answer.
pub async fn end_session(
    app: &Ctx<'_>,
    params: LogoutParams,
    confirming: bool,
    session_cookie: Option<&str>,
    now: i64,
) -> LogoutOutcome {
    let hint = params.id_token_hint.as_deref().and_then(|t| verified_hint(app, t, now));
    if params.id_token_hint.is_some() && hint.is_none() {
        tracing::info!("logout with an id_token_hint that is not ours or not valid: asking the person");
    }
    let hint_client = hint.as_ref().and_then(|h| h["aud"].as_str()).map(String::from);
    if let (Some(from_hint), Some(asked)) = (&hint_client, &params.client_id)
        && from_hint != asked
    {
        return LogoutOutcome::Refused("The sign-out request names two different applications.");
    }
    let found = match hint_client.as_deref().or(params.client_id.as_deref()) {
        Some(id) => match app.client(id, now).await {
            Ok(client) => client,
            Err(e) => return LogoutOutcome::from(e),
        },
        None => None,
    };
    let client = found.as_deref();
    if let Some(uri) = &params.post_logout_redirect_uri
        && !client.is_some_and(|c| c.post_logout_redirect_uris.contains(uri))
    {
        return LogoutOutcome::Refused("The application asked to return you to an address it has not registered.");
    }
    let session = match sessions::find(app.store, session_cookie, now).await {
        Ok(session) => session,
        Err(e) => return LogoutOutcome::from(e),
    };
    let csrf = session_cookie.map(logout_csrf);
    let decision = params.decision.as_deref().filter(|_| confirming);
    let confirmed = decision == Some("logout")
        && matches!((&csrf, &params.csrf), (Some(expected), Some(sent)) if secrets::equal(expected, sent));
    if decision == Some("stay") {
        return LogoutOutcome::Stayed;
    }
    // The hint must come from this very session: an ID token of an earlier session of the
    // same person (the same `sub`) is no proof that this browser's person wants out.
    let hint_names_session = hint
        .as_ref()
        .zip(session.as_ref())
        .is_some_and(|(h, s)| h["sid"] == s.sid.as_str() && h["sub"] == s.sub.as_str());
    match session {
        None => done(client, &params, "There is no Gatehouse session in this browser.", false),
        Some(session) if confirmed || hint_names_session => {
            match crate::domain::sessions::end_and_notify(app.outbox(), &session.sid, now).await {
                Ok(Some(deliveries)) => deliveries.detach(),
                Ok(None) => {}
                Err(e) => return LogoutOutcome::from(e),
            }
            tracing::info!("session ended by logout");
            if let Some(url) = upstream_logout(app, &session, client, &params, now).await {
                return LogoutOutcome::Upstream(url);
            }
            done(client, &params, "You have been signed out of Gatehouse.", true)
        }
        Some(_) => LogoutOutcome::Confirm {
            client_name: client.map(|c| c.name.clone()),
            client_id: client.map(|c| c.id.clone()),
            csrf,
            post_logout_redirect_uri: params.post_logout_redirect_uri,
            state: params.state,
        },
    }
}

/// Where to send the person for the upstream's own logout, when the upstream does that;
/// they come back to [`upstream_done`], which finishes as this logout would have.
async fn upstream_logout(
    app: &Ctx<'_>,
    session: &Session,
    client: Option<&Client>,
    params: &LogoutParams,
    now: i64,
) -> Option<String> {
    let provider = app
        .upstreams
        .get(&session.upstream)
        .filter(|u| u.capabilities().logout)?;
    let id = secrets::random_token();
    let back = format!("{}{}", app.config.issuer, routes::UPSTREAM_LOGGED_OUT);
    let out = LoggingOut {
        subject: session.upstream_subject.as_deref(),
        sid: session.upstream_sid.as_deref(),
        post_logout_redirect_uri: &back,
        state: &id,
        now,
    };
    let url = provider.logout_url(app.http, out).await?;
    let pending = PendingLogout {
        client_id: client.map(|c| c.id.clone()),
        post_logout_redirect_uri: params.post_logout_redirect_uri.clone(),
        state: params.state.clone(),
    };
    if let Err(e) = app.store.pending_logouts.put(&id, &pending, Some(now + 600)).await {
        tracing::error!(error = %e, "cannot remember a logout going upstream");
        return None;
    }
    Some(url)
}

/// `GET /end_session/upstream`'s step: back from the upstream's logout with `state`.
pub async fn upstream_done(app: &Ctx<'_>, state: Option<&str>, now: i64) -> LogoutOutcome {
    let taken = match state {
        Some(id) => app.store.pending_logouts.take(id, now).await,
        None => Ok(None),
    };
    let pending = match taken {
        Ok(Some(pending)) => pending,
        Err(e) => return LogoutOutcome::from(e),
        Ok(None) => return done(None, &LogoutParams::default(), "You have been signed out.", false),
    };
    let found = match pending.client_id.as_deref() {
        Some(id) => match app.client(id, now).await {
            Ok(client) => client,
            Err(e) => return LogoutOutcome::from(e),
        },
        None => None,
    };
    let client = found.as_deref();
    let params = LogoutParams {
        post_logout_redirect_uri: pending.post_logout_redirect_uri,
        state: pending.state,
        ..LogoutParams::default()
    };
    done(client, &params, "You have been signed out.", false)
}

/// The claims of an ID token this server issued (an expired one is still a fine hint).
fn verified_hint(app: &Ctx<'_>, token: &str, now: i64) -> Option<Json> {
    let claims = app.keys.verify(token, TokenType::Id, now).ok()?;
    (claims["iss"] == app.config.issuer.as_str()).then_some(claims)
}

/// The CSRF token of the confirmation form: derived from the session cookie, so only
/// this browser's page can carry it.
fn logout_csrf(cookie: &str) -> String {
    secrets::hash(&format!("logout:{cookie}"))
}

/// Back to the application when it asked for that with a registered URI; else a page.
fn done(client: Option<&Client>, params: &LogoutParams, message: &'static str, ended: bool) -> LogoutOutcome {
    let target = params.post_logout_redirect_uri.as_ref().filter(|_| client.is_some());
    let to = target.and_then(|uri| url::Url::parse(uri).ok()).map(|mut url| {
        if let Some(s) = &params.state {
            url.query_pairs_mut().append_pair("state", s);
        }
        url.to_string()
    });
    LogoutOutcome::Done { to, message, ended }
}
