//! `/end_session` (OpenID Connect RP-Initiated Logout 1.0): ends the browser session,
//! at once when a valid `id_token_hint` names it, otherwise after the person confirms.

use super::render::{internal_error, redirect};
use crate::AppState;
use crate::config::Client;
use crate::routes;
use crate::secrets;
use crate::store::PendingLogout;
use crate::web::cookies;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value as Json, json};

#[derive(Debug, Default, Deserialize)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    /// Only on the confirmation form.
    csrf: Option<String>,
    decision: Option<String>,
}

pub async fn get(State(state): State<AppState>, headers: HeaderMap, Query(params): Query<LogoutParams>) -> Response {
    logout(&state, &headers, params, false).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, Form(params): Form<LogoutParams>) -> Response {
    let confirming = params.csrf.is_some();
    logout(&state, &headers, params, confirming).await
}

async fn logout(state: &AppState, headers: &HeaderMap, params: LogoutParams, confirming: bool) -> Response {
    let now = state.clock.now();
    let hint = params.id_token_hint.as_deref().and_then(|t| verified_hint(state, t));
    if params.id_token_hint.is_some() && hint.is_none() {
        tracing::info!("logout with an id_token_hint that is not ours or not valid: asking the person");
    }
    let hint_client = hint.as_ref().and_then(|h| h["aud"].as_str()).map(String::from);
    if let (Some(from_hint), Some(asked)) = (&hint_client, &params.client_id)
        && from_hint != asked
    {
        return refused(state, "The sign-out request names two different applications.");
    }
    let client = hint_client
        .as_deref()
        .or(params.client_id.as_deref())
        .and_then(|id| state.config.client(id));
    if let Some(uri) = &params.post_logout_redirect_uri
        && !client.is_some_and(|c| c.post_logout_redirect_uris.contains(uri))
    {
        return refused(
            state,
            "The application asked to return you to an address it has not registered.",
        );
    }
    let cookie = cookies::get(headers, cookies::SESSION);
    let session = match crate::sessions::find(&state.store, cookie.as_deref(), now).await {
        Ok(session) => session,
        Err(e) => return internal_error(state, e),
    };
    let csrf = cookie.as_deref().map(logout_csrf);
    let confirmed = confirming
        && params.decision.as_deref() == Some("logout")
        && matches!((&csrf, &params.csrf), (Some(expected), Some(sent)) if secrets::equal(expected, sent));
    if confirming && params.decision.as_deref() == Some("stay") {
        let page = json!({ "title": "You are still signed in", "message": "Nothing was changed." });
        return state.pages.page(StatusCode::OK, "logout", &page);
    }
    let hint_names_session = hint
        .as_ref()
        .zip(session.as_ref())
        .is_some_and(|(h, s)| h["sid"] == s.sid.as_str() || h["sub"] == s.sub.as_str());
    match session {
        None => done(
            state,
            client,
            &params,
            "You are signed out",
            "There is no Gatehouse session in this browser.",
            None,
        ),
        Some(session) if confirmed || hint_names_session => {
            match crate::backchannel::end_session((&**state).into(), &session.sid, now).await {
                Ok(Some(deliveries)) => deliveries.detach(),
                Ok(None) => {}
                Err(e) => return internal_error(state, e),
            }
            tracing::info!("session ended by logout");
            let clear = cookies::clear(cookies::SESSION, state.config.issuer_is_https());
            if let Some(mut upstream_logout) = upstream_logout(state, &session.upstream, client, &params, now).await {
                upstream_logout.headers_mut().append(header::SET_COOKIE, clear);
                return upstream_logout;
            }
            done(
                state,
                client,
                &params,
                "You are signed out",
                "You have been signed out of Gatehouse.",
                Some(clear),
            )
        }
        Some(_) => state.pages.page(
            StatusCode::OK,
            "logout",
            &json!({
                "title": "Sign out", "confirm": true, "client_name": client.map(|c| c.name.clone()),
                "action": routes::END_SESSION, "csrf": csrf, "client_id": client.map(|c| c.id.clone()),
                "post_logout_redirect_uri": params.post_logout_redirect_uri, "state": params.state,
            }),
        ),
    }
}

/// Sends the person on to the upstream's own logout when its `logout_upstream` is on; they
/// come back to [`upstream_done`], which finishes as this logout would have.
async fn upstream_logout(
    state: &AppState,
    upstream: &str,
    client: Option<&Client>,
    params: &LogoutParams,
    now: i64,
) -> Option<Response> {
    let provider = state.upstreams.get(upstream).filter(|u| u.capabilities().logout)?;
    let id = secrets::random_token();
    let back = format!("{}{}", state.config.issuer, routes::UPSTREAM_LOGGED_OUT);
    let url = provider.logout_url(&state.http, &back, &id).await?;
    let pending = PendingLogout {
        client_id: client.map(|c| c.id.clone()),
        post_logout_redirect_uri: params.post_logout_redirect_uri.clone(),
        state: params.state.clone(),
    };
    if let Err(e) = state.store.pending_logouts.put(&id, &pending, Some(now + 600)).await {
        tracing::error!(error = %e, "cannot remember a logout going upstream");
        return None;
    }
    Some(redirect(&url))
}

#[derive(Deserialize)]
pub struct UpstreamLoggedOut {
    state: Option<String>,
}

/// `GET /end_session/upstream`: back from the upstream's logout.
pub async fn upstream_done(State(state): State<AppState>, Query(back): Query<UpstreamLoggedOut>) -> Response {
    let now = state.clock.now();
    let taken = match back.state.as_deref() {
        Some(id) => state.store.pending_logouts.take(id, now).await,
        None => Ok(None),
    };
    let pending = match taken {
        Ok(Some(pending)) => pending,
        Err(e) => return internal_error(&state, e),
        _ => {
            let page = json!({ "title": "You are signed out", "message": "You have been signed out." });
            return state.pages.page(StatusCode::OK, "logout", &page);
        }
    };
    let client = pending.client_id.as_deref().and_then(|id| state.config.client(id));
    let params = LogoutParams {
        post_logout_redirect_uri: pending.post_logout_redirect_uri,
        state: pending.state,
        ..LogoutParams::default()
    };
    done(
        &state,
        client,
        &params,
        "You are signed out",
        "You have been signed out.",
        None,
    )
}

/// The claims of an ID token this server issued (an expired one is still a fine hint).
fn verified_hint(state: &AppState, token: &str) -> Option<Json> {
    let claims = state.keys.verify(token, "JWT", state.clock.now()).ok()?;
    (claims["iss"] == state.config.issuer.as_str()).then_some(claims)
}

/// The CSRF token of the confirmation form: derived from the session cookie, so only
/// this browser's page can carry it.
fn logout_csrf(cookie: &str) -> String {
    secrets::hash(&format!("logout:{cookie}"))
}

/// Back to the application when it asked for that with a registered URI; else a page.
fn done(
    state: &AppState,
    client: Option<&Client>,
    params: &LogoutParams,
    title: &str,
    message: &str,
    set_cookie: Option<axum::http::HeaderValue>,
) -> Response {
    let target = params.post_logout_redirect_uri.as_ref().filter(|_| client.is_some());
    let mut response = match target.and_then(|uri| url::Url::parse(uri).ok()) {
        Some(mut url) => {
            if let Some(s) = &params.state {
                url.query_pairs_mut().append_pair("state", s);
            }
            redirect(url.as_str())
        }
        None => state
            .pages
            .page(StatusCode::OK, "logout", &json!({ "title": title, "message": message })),
    };
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn refused(state: &AppState, message: &str) -> Response {
    state.pages.error(
        StatusCode::BAD_REQUEST,
        "Sign-out refused",
        message,
        "You are still signed in. Close this page, or sign out from Gatehouse directly.",
    )
}
