//! `/authorize` (OpenID Connect Core §3.1.2): validates the request, then answers at once
//! from a live session, or parks the request and sends the person to log in.

use super::respond::{authorize_error, internal_error, redirect, reply};
use super::routes;
use crate::AppState;
use crate::login::{self, AuthorizeError, AuthorizeParams, ReplyTo};
use crate::store::{AuthorizationRequest, CompletedLogin};
use crate::web::cookies;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::json;

pub async fn get(State(state): State<AppState>, headers: HeaderMap, Query(params): Query<AuthorizeParams>) -> Response {
    authorize(&state, &headers, params).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, Form(params): Form<AuthorizeParams>) -> Response {
    authorize(&state, &headers, params).await
}

async fn authorize(state: &AppState, headers: &HeaderMap, params: AuthorizeParams) -> Response {
    let now = state.clock.now();
    let validated = match login::validate(&state.config, params) {
        Ok(validated) => validated,
        Err(error) => return authorize_error(state, error),
    };
    let (browser, new_browser) = match cookies::get(headers, cookies::BROWSER) {
        Some(browser) => (browser, false),
        None => (crate::secrets::random_token(), true),
    };
    let mut response = match decide(state, validated, &browser, headers, now).await {
        Ok(response) => response,
        Err(e) => internal_error(state, e),
    };
    if new_browser {
        let cookie = cookies::set(cookies::BROWSER, &browser, state.config.issuer_is_https(), None);
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn decide(
    state: &AppState,
    validated: login::Validated<'_>,
    browser: &str,
    headers: &HeaderMap,
    now: i64,
) -> Result<Response, crate::store::StoreError> {
    let login::Validated {
        client,
        request,
        upstream,
    } = validated;
    let to = ReplyTo::of(&request);
    let session = login::find_session(&state.store, cookies::get(headers, cookies::SESSION).as_deref(), now)
        .await?
        .filter(|s| login::may_use(&state.config, client, &s.upstream))
        .filter(|s| upstream.as_ref().is_none_or(|u| *u == s.upstream));
    let fitting = session.as_ref().filter(|s| login::session_fits(s, &request, now));
    if let Some(session) = fitting {
        let done = CompletedLogin {
            sub: session.sub.clone(),
            sid: session.sid.clone(),
            auth_time: session.auth_time,
        };
        return after_login(state, request, done, browser, now).await;
    }
    if request.prompt.iter().any(|p| p == "none") {
        return Ok(authorize_error(
            state,
            AuthorizeError::reply(&to, "login_required", "the person is not logged in"),
        ));
    }
    // A session that is too old for max_age, or prompt=login: the upstream must
    // authenticate the person again, not just vouch for its own session.
    let force_login = session.is_some() || request.prompt.iter().any(|p| p == "login");
    let (pid, _) = login::park(&state.store, request, browser, None, force_login, now).await?;
    let usable = login::usable_upstreams(&state.config, client);
    let chosen = upstream.or_else(|| (usable.len() == 1).then(|| usable[0].id.clone()));
    if let Some(chosen) = chosen {
        return Ok(redirect(&routes::login_start(&pid, &chosen)));
    }
    if usable.is_empty() {
        return Ok(authorize_error(
            state,
            AuthorizeError::reply(
                &to,
                "temporarily_unavailable",
                "no identity provider is available to this client",
            ),
        ));
    }
    let upstreams: Vec<_> = usable
        .iter()
        .map(|u| json!({ "name": u.name, "href": routes::login_start(&pid, &u.id) }))
        .collect();
    Ok(state.pages.page(
        StatusCode::OK,
        "chooser",
        &json!({ "title": "Choose how to sign in", "client_name": client.name, "upstreams": upstreams }),
    ))
}

/// The person is logged in: ask for consent if needed, else answer with a code.
pub async fn after_login(
    state: &AppState,
    request: AuthorizationRequest,
    done: CompletedLogin,
    browser: &str,
    now: i64,
) -> Result<Response, crate::store::StoreError> {
    let Some(client) = state.config.client(&request.client_id) else {
        return Ok(internal_error(
            state,
            "the client of a parked request is no longer configured",
        ));
    };
    if !login::needs_consent(&state.store, client, &done.sub, &request, now).await? {
        return deliver(state, request, done, now).await;
    }
    if request.prompt.iter().any(|p| p == "none") {
        let to = ReplyTo::of(&request);
        return Ok(authorize_error(
            state,
            AuthorizeError::reply(&to, "consent_required", "the person has not consented"),
        ));
    }
    let scopes: Vec<String> = request
        .scope
        .split_whitespace()
        .map(|s| describe_scope(state, s))
        .collect();
    let client_name = client.name.clone();
    let (pid, pending) = login::park(&state.store, request, browser, Some(done), false, now).await?;
    Ok(state.pages.page(
        StatusCode::OK,
        "consent",
        &json!({
            "title": "Allow access", "client_name": client_name, "scopes": scopes,
            "action": routes::CONSENT, "pending": pid, "csrf": pending.csrf,
        }),
    ))
}

/// Answers the relying party with what the request's response type asks for: a code,
/// tokens, or both.
pub async fn deliver(
    state: &AppState,
    request: AuthorizationRequest,
    done: CompletedLogin,
    now: i64,
) -> Result<Response, crate::store::StoreError> {
    let to = ReplyTo::of(&request);
    login::note_client(&state.store, &state.config, &request.client_id, &done.sid, now).await?;
    let response_type = request.response_type;
    let code = if response_type.code {
        Some(login::issue_code(&state.store, &state.config, request.clone(), done.clone(), now).await?)
    } else {
        None
    };
    let mut params = Vec::new();
    if response_type.returns_tokens() {
        let tokens = match super::issuer(state)
            .front_channel(&request, &done, code.as_deref())
            .await
        {
            Ok(tokens) => tokens,
            Err(error) => {
                tracing::error!(?error, "tokens for the authorization response cannot be issued");
                let error = AuthorizeError::reply(&to, "server_error", "the server could not issue tokens");
                return Ok(authorize_error(state, error));
            }
        };
        if let Some(access) = tokens.access_token {
            params.push(("access_token", access.token));
            params.push(("token_type", "Bearer".to_string()));
            params.push(("expires_in", access.expires_in.to_string()));
            params.push(("scope", request.scope.clone()));
        }
        if let Some(id_token) = tokens.id_token {
            params.push(("id_token", id_token));
        }
    }
    if let Some(code) = code {
        params.insert(0, ("code", code));
    }
    Ok(reply(state, &to, params))
}

fn describe_scope(state: &AppState, scope: &str) -> String {
    match scope {
        "openid" => "Who you are: a stable id for your account".into(),
        "profile" => "Your name and profile (picture, locale, ...)".into(),
        "email" => "Your email address".into(),
        "address" => "Your postal address".into(),
        "phone" => "Your phone number".into(),
        "offline_access" => "Access to these while you are not signed in".into(),
        custom => match state.config.scopes.get(custom) {
            Some(claims) => format!("{custom}: {}", claims.join(", ")),
            None => custom.into(),
        },
    }
}
