//! Sending the person to the upstream they chose, and the login form of `local`
//! upstreams. Every step checks that the parked request belongs to this browser.

use super::authorize::after_login;
use super::respond::{internal_error, login_expired, redirect, reply, resume, resume_once, use_up};
use super::routes;
use crate::AppState;
use crate::config::UpstreamKind;
use crate::login::{self, ReplyTo};
use crate::store::{CompletedLogin, PendingAuthorization};
use crate::upstream::{CallbackParams, LoginOptions, UpstreamError};
use crate::web::cookies;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value as Json, json};

/// `GET /login/{pending}/{upstream}`: starts the login at the chosen upstream.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((pid, upstream_id)): Path<(String, String)>,
) -> Response {
    let now = state.clock.now();
    let browser = cookies::get(&headers, cookies::BROWSER);
    let pending = match resume(&state, &pid, browser.as_deref(), now, |_| true).await {
        Ok(pending) => pending,
        Err(page) => return *page,
    };
    let Some(client) = state.config.client(&pending.request.client_id) else {
        return login_expired(&state);
    };
    if !login::may_use(&state.config, client, &upstream_id) {
        return login_expired(&state);
    }
    let Some(upstream) = state.config.upstream(&upstream_id) else {
        return login_expired(&state);
    };
    match &upstream.kind {
        UpstreamKind::Local(_) => login_form(&state, &pid, &pending, &upstream_id, "", None),
        UpstreamKind::Oidc(_) | UpstreamKind::OAuth2(_) => {
            send_upstream(&state, &pid, pending, &upstream_id, now).await
        }
    }
}

/// Sends the person to a remote upstream, keeping the nonce and PKCE verifier with the
/// parked request (whose id is the `state`).
async fn send_upstream(
    state: &AppState,
    pid: &str,
    pending: PendingAuthorization,
    upstream_id: &str,
    now: i64,
) -> Response {
    let Some(provider) = state.remotes.get(upstream_id) else {
        return internal_error(state, format!("no provider for upstream {upstream_id}"));
    };
    let options = LoginOptions {
        state: pid,
        login_hint: pending.request.login_hint.as_deref(),
        force_login: pending.force_login,
    };
    let begin = match provider.begin(&state.http, options).await {
        Ok(begin) => begin,
        Err(e) => {
            tracing::warn!(upstream = %upstream_id, error = %e, "cannot start a login upstream");
            let _ = state.store.pending_authorizations.take(pid, now).await;
            return upstream_failed(state, &pending, &e);
        }
    };
    let mut pending = pending;
    pending.upstream = Some(upstream_id.to_string());
    pending.upstream_nonce = begin.nonce;
    pending.pkce_verifier = Some(begin.pkce_verifier);
    if let Err(e) = state
        .store
        .pending_authorizations
        .put(pid, &pending, Some(now + login::PENDING_TTL))
        .await
    {
        return internal_error(state, e);
    }
    redirect(&begin.url)
}

/// `GET /callback/{upstream}`: the person is back from a remote upstream.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(upstream_id): Path<String>,
    Query(params): Query<CallbackParams>,
) -> Response {
    let now = state.clock.now();
    let browser = cookies::get(&headers, cookies::BROWSER);
    let Some(pid) = params.state.clone() else {
        return login_expired(&state);
    };
    // The state is single use: a replayed callback finds nothing.
    let taken = resume_once(&state, &pid, browser.as_deref(), now, |p| {
        p.upstream.as_deref() == Some(upstream_id.as_str())
    })
    .await;
    let pending = match taken {
        Ok(pending) => pending,
        Err(page) => return *page,
    };
    let (Some(provider), Some(verifier)) = (state.remotes.get(&upstream_id), pending.pkce_verifier.as_deref()) else {
        return login_expired(&state);
    };
    let nonce = pending.upstream_nonce.as_deref();
    match provider.finish(&state.http, &params, nonce, verifier, now).await {
        Ok(document) => {
            complete(
                &state,
                pending,
                &upstream_id,
                document,
                browser.as_deref().unwrap_or_default(),
                now,
            )
            .await
        }
        Err(e) => {
            tracing::warn!(upstream = %upstream_id, error = %e, "upstream login failed");
            upstream_failed(&state, &pending, &e)
        }
    }
}

/// Ends a login whose upstream failed: the RP hears why, in OAuth terms, and gets no code.
fn upstream_failed(state: &AppState, pending: &PendingAuthorization, error: &UpstreamError) -> Response {
    let to = ReplyTo::of(&pending.request);
    let (code, description) = match error {
        UpstreamError::Unavailable(_) => ("temporarily_unavailable", "the identity provider is not available"),
        UpstreamError::Denied(_) => ("access_denied", "the identity provider did not log the person in"),
    };
    reply(
        state,
        &to,
        vec![("error", code.into()), ("error_description", description.into())],
    )
}

fn login_form(
    state: &AppState,
    pid: &str,
    pending: &PendingAuthorization,
    upstream_id: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let client_name = state
        .config
        .client(&pending.request.client_id)
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let upstream_name = state
        .config
        .upstream(upstream_id)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    state.pages.page(
        status,
        "login",
        &json!({
            "title": format!("Sign in to {client_name}"), "client_name": client_name, "upstream_name": upstream_name,
            "action": routes::login_start(pid, upstream_id), "csrf": pending.csrf, "username": username, "error": error,
        }),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    username: String,
    password: String,
}

/// `POST /login/{pending}/{upstream}`: the login form of a `local` upstream.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((pid, upstream_id)): Path<(String, String)>,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = state.clock.now();
    let browser = cookies::get(&headers, cookies::BROWSER);
    let pending = match resume(&state, &pid, browser.as_deref(), now, |p| {
        crate::secrets::equal(&p.csrf, &form.csrf)
    })
    .await
    {
        Ok(pending) => pending,
        Err(page) => return *page,
    };
    let Some(UpstreamKind::Local(local)) = state.config.upstream(&upstream_id).map(|u| &u.kind) else {
        return login_expired(&state);
    };
    let allowed = state
        .config
        .client(&pending.request.client_id)
        .is_some_and(|c| login::may_use(&state.config, c, &upstream_id));
    if !allowed {
        return login_expired(&state);
    }
    let local = local.clone();
    let (username, password) = (form.username.clone(), form.password);
    // argon2 is deliberately slow: keep it off the async workers.
    let document =
        tokio::task::spawn_blocking(move || crate::upstream::local::authenticate(&local, &username, &password)).await;
    match document {
        Ok(Some(document)) => match use_up(&state, &pid, now).await {
            Ok(()) => {
                complete(
                    &state,
                    pending,
                    &upstream_id,
                    document,
                    browser.as_deref().unwrap_or_default(),
                    now,
                )
                .await
            }
            Err(page) => *page,
        },
        Ok(None) => {
            tracing::info!(upstream = %upstream_id, "local login refused: wrong username or password");
            login_form(
                &state,
                &pid,
                &pending,
                &upstream_id,
                &form.username,
                Some("Wrong username or password."),
            )
        }
        Err(e) => internal_error(&state, e),
    }
}

/// The person logged in at `upstream_id` and it said `document` about them: map it,
/// link the account, start the session, and go on to consent or the code. The parked
/// request has been used up already.
async fn complete(
    state: &AppState,
    pending: PendingAuthorization,
    upstream_id: &str,
    document: Json,
    browser: &str,
    now: i64,
) -> Response {
    let to = ReplyTo::of(&pending.request);
    let Some(mapping) = state.mappings.get(upstream_id) else {
        return internal_error(state, format!("upstream {upstream_id} has no mapping"));
    };
    let mapped = match mapping.evaluate(&document) {
        Ok(mapped) => mapped,
        Err(e) => {
            tracing::warn!(upstream = %upstream_id, error = %e, "the upstream's answer does not fit its mapping");
            return reply(
                state,
                &to,
                vec![
                    ("error", "access_denied".into()),
                    (
                        "error_description",
                        "the identity provider's answer could not be used".into(),
                    ),
                ],
            );
        }
    };
    let started = match login::link_account(&state.store, upstream_id, &mapped, now).await {
        Ok(sub) => login::start_session(&state.store, &state.config, &sub, upstream_id, now).await,
        Err(e) => Err(e),
    };
    let (cookie, session) = match started {
        Ok(started) => started,
        Err(e) => return internal_error(state, e),
    };
    let done = CompletedLogin {
        sub: session.sub,
        sid: session.sid,
        auth_time: session.auth_time,
    };
    let mut response = match after_login(state, pending.request, done, browser, now).await {
        Ok(response) => response,
        Err(e) => internal_error(state, e),
    };
    let max_age = state.config.tokens.session_ttl.as_secs_i64();
    let cookie = cookies::set(cookies::SESSION, &cookie, state.config.issuer_is_https(), Some(max_age));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}
