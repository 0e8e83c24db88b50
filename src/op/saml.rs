//! A SAML upstream's own paths: its SP metadata, its single logout service, and its
//! ACS, which takes the IdP's
//! HTTP-POST and hands the Response on to `/callback/{upstream}` from a page of
//! Gatehouse's own. The IdP's POST is cross-site, so the browser sends no `SameSite=Lax`
//! cookie with it; the form this page posts is same-site, so the callback knows the
//! browser that started the login by its cookie, as it does after any upstream. Nothing
//! in the Response is read here; the RelayState only names the app the callback's answer
//! may redirect to (the page's `form-action`).

use super::page_input::PageForm;
use super::render::Screen;
use crate::flow::Handles;
use crate::upstream::Upstream;
use crate::web::FormAction;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

/// The HTTP-POST binding's fields (SAML 2.0 Bindings §3.5.4).
#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `GET /saml/{upstream}/metadata`.
pub async fn metadata(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    Path(upstream): Path<String>,
) -> Response {
    match flow.upstreams.get(&upstream).map(|u| &*u.kind) {
        Some(Upstream::Saml(saml)) => {
            let mut response = saml.sp_metadata().into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/samlmetadata+xml"),
            );
            response
        }
        _ => not_saml(&screen),
    }
}

/// `POST /saml/{upstream}/acs`: the page that posts the Response on to the callback.
pub async fn acs(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    Path(upstream): Path<String>,
    PageForm(form): PageForm<AcsForm>,
) -> Response {
    if !matches!(flow.upstreams.get(&upstream).map(|u| &*u.kind), Some(Upstream::Saml(_))) {
        return not_saml(&screen);
    }
    let Some(saml_response) = form.saml_response else {
        return screen.pages.error(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The identity provider sent no answer.",
            "Go back to the application and sign in again.",
        );
    };
    let relay_state = form.relay_state.unwrap_or_default();
    let returns_to = crate::flow::saml_returns_to(&flow.ctx(), &upstream, &relay_state, flow.now()).await;
    let form_action = returns_to.map_or(FormAction::SelfOnly, FormAction::SelfThenApp);
    let fields = [
        json!({ "name": "state", "value": relay_state }),
        json!({ "name": "saml_response", "value": saml_response }),
    ];
    screen.pages.page_with_forms(
        StatusCode::OK,
        "form_post",
        &json!({
            "title": "Continuing your sign-in",
            "action": crate::routes::callback(&upstream),
            "fields": fields,
            "note": "JavaScript is off: press the button to continue signing in.",
        }),
        &form_action,
    )
}

/// `GET /saml/{upstream}/slo`: the IdP's LogoutRequest (HTTP-Redirect, signed). The
/// sessions that came from the IdP session it names end, with the same cascade as a
/// back-channel logout; the browser goes back to the IdP with a LogoutResponse. Or the
/// IdP's LogoutResponse to a logout that started at Gatehouse (`logout_upstream`),
/// which then finishes as it would have without the IdP.
pub async fn slo(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    Path(upstream): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    single_logout(flow, screen, upstream, query.unwrap_or_default()).await
}

/// `POST /saml/{upstream}/slo`: the same by the HTTP-POST binding, the message signed in
/// its XML. The form is read as it came, as the query is.
pub async fn slo_post(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    Path(upstream): Path<String>,
    body: String,
) -> Response {
    single_logout(flow, screen, upstream, body).await
}

/// A logout message in `query` (a redirect's query, or a posted form).
async fn single_logout(flow: Handles, screen: Screen, upstream: String, query: String) -> Response {
    let Some(Upstream::Saml(saml)) = flow.upstreams.get(&upstream).map(|u| &*u.kind) else {
        return not_saml(&screen);
    };
    let now = flow.now();
    let ctx = flow.ctx();
    if query.split('&').any(|pair| pair.starts_with("SAMLResponse=")) {
        // The IdP's answer to the LogoutRequest of a logout that started here.
        return match saml.logout_answered(&query) {
            Ok(pending) => {
                let outcome = crate::flow::upstream_done(&ctx, Some(&pending), now).await;
                super::end_session::render(&screen, outcome)
            }
            Err(e) => {
                tracing::warn!(%upstream, error = %e, "the identity provider's logout response was refused");
                screen.pages.error(
                    StatusCode::BAD_REQUEST,
                    "Signed out of Gatehouse",
                    "You are signed out of Gatehouse.",
                    "The identity provider's answer could not be verified.",
                )
            }
        };
    }
    let taken = crate::domain::upstream_logout::receive(ctx.outbox(), ctx.upstreams, ctx.http, &upstream, &query, now);
    match taken.await {
        Ok(ended) => {
            tracing::info!(%upstream, ended, "the identity provider's logout request was taken");
            match saml.logout_response_url(&query, now) {
                Ok(Some(url)) => super::render::redirect(&url),
                Ok(None) => screen.pages.error(
                    StatusCode::OK,
                    "Signed out",
                    "You are signed out.",
                    "You can close this window.",
                ),
                Err(e) => {
                    tracing::warn!(%upstream, error = %e, "no logout response can be made");
                    screen
                        .pages
                        .error(StatusCode::OK, "Signed out", "You are signed out.", "")
                }
            }
        }
        Err(crate::domain::upstream_logout::Refused::Unavailable(e)) => {
            tracing::warn!(%upstream, error = %e, "the identity provider's logout request cannot be taken now");
            screen.pages.error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-out failed",
                "Signing out is temporarily unavailable.",
                "Try again in a moment.",
            )
        }
        Err(refused) => {
            tracing::warn!(%upstream, error = %refused, "the identity provider's logout request was refused");
            screen.pages.error(
                StatusCode::BAD_REQUEST,
                "Sign-out failed",
                "The sign-out request could not be verified.",
                "",
            )
        }
    }
}

fn not_saml(screen: &Screen) -> Response {
    screen.pages.error(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no SAML identity provider here.",
        "",
    )
}
