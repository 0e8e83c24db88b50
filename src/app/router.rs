//! Which handler answers each path of the public listener, and what each handler is
//! given: the narrow handles cut from the application object ([`FromRef`]), so that no
//! handler holds the whole of it.

use crate::keys::Keys;
use crate::op::client_auth::ClientChecks;
use crate::op::health::Probe;
use crate::op::render::Screen;
use crate::op::{
    account, authorize, backchannel, callback, consent, device, discovery, end_session, health, introspect, jwks,
    login, par, register, revoke, saml, signals, ssf_receiver, token, userinfo,
};
use crate::web::Pages;
use crate::{AppState, Clock, Config, dpop, flow, op, routes, telemetry};
use axum::Router;
use axum::extract::FromRef;
use axum::middleware;
use axum::routing::{get, post};
use std::sync::Arc;

pub fn router(state: AppState) -> Router {
    let discovery = discovery::document(&state.config, &state.upstreams, &state.keys);
    // RFC 8414's metadata is the same document: OpenID Connect Discovery's is a superset.
    let as_metadata = discovery.clone();
    let observer = telemetry::Observer {
        telemetry: state.telemetry.clone(),
        trust_request_id: state.config.log.trust_request_id,
    };
    Router::new()
        .route(routes::DISCOVERY, get(move || discovery::handler(discovery.clone())))
        .route(
            &routes::authorization_server_metadata(&state.config.issuer),
            get(move || discovery::handler(as_metadata.clone())),
        )
        .route(routes::JWKS, get(jwks::handler))
        .route(routes::HEALTH, get(health::handler))
        .route(routes::HEALTH_LIVE, get(health::live))
        .route(routes::HEALTH_READY, get(health::ready))
        .route(routes::AUTHORIZE, get(authorize::get).post(authorize::post))
        .route(routes::LOGIN, get(login::start).post(login::submit))
        .route(routes::LOGIN_BY_EMAIL, post(login::by_email))
        .route(
            routes::CALLBACK,
            get(callback::handler).post(callback::post).layer(saml_sized()),
        )
        .route(routes::SAML_METADATA, get(saml::metadata))
        .route(routes::SAML_ACS, post(saml::acs).layer(saml_sized()))
        .route(routes::SAML_SLO, get(saml::slo).post(saml::slo_post))
        .route(routes::ACCOUNT_LINK, get(account::choices))
        .route(routes::ACCOUNT_LINK_TO, post(account::start))
        .route(routes::CONSENT, post(consent::submit))
        .route(routes::END_SESSION, get(end_session::get).post(end_session::post))
        .route(routes::UPSTREAM_LOGGED_OUT, get(end_session::upstream_done))
        .route(routes::BACKCHANNEL, post(backchannel::handler))
        .route(routes::SSF_RECEIVER, post(ssf_receiver::handler))
        .route(routes::SSF_CONFIGURATION, get(signals::configuration_handler))
        .route(
            routes::SIGNALS_STREAMS,
            post(signals::create)
                .get(signals::read)
                .patch(signals::update)
                .put(signals::replace)
                .delete(signals::delete),
        )
        .route(routes::SIGNALS_STATUS, get(signals::status).post(signals::set_status))
        .route(routes::SIGNALS_SUBJECTS_ADD, post(signals::add_subject))
        .route(routes::SIGNALS_SUBJECTS_REMOVE, post(signals::remove_subject))
        .route(routes::SIGNALS_VERIFY, post(signals::verify))
        .route(routes::SIGNALS_POLL, post(signals::poll))
        .route(routes::TOKEN, post(token::handler))
        .route(routes::PAR, post(par::handler))
        .route(routes::REGISTER, post(register::register))
        .route(
            routes::REGISTER_CLIENT,
            get(register::read).put(register::update).delete(register::delete),
        )
        .route(routes::DEVICE_AUTHORIZATION, post(device::authorization))
        .route(routes::DEVICE, get(device::page).post(device::submit))
        .route(routes::DEVICE_DONE, get(device::done))
        .route(routes::REVOKE, post(revoke::handler))
        .route(routes::INTROSPECT, post(introspect::handler))
        .route(routes::USERINFO, get(userinfo::get).post(userinfo::post))
        .fallback(op::not_found)
        .layer(middleware::from_fn_with_state(observer, telemetry::observe))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.limits.request_body_bytes,
        ))
        .with_state(state)
}

/// A body limit that lets a SAML Response through (signed, with attributes, it can be
/// larger than any other form).
fn saml_sized() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(crate::upstream::saml::LARGEST_RESPONSE + 4096)
}

impl FromRef<AppState> for flow::Handles {
    fn from_ref(app: &AppState) -> flow::Handles {
        app.handles()
    }
}

impl FromRef<AppState> for Screen {
    fn from_ref(app: &AppState) -> Screen {
        Screen {
            pages: app.pages.clone(),
            cookies: app.cookies,
            config: app.config.clone(),
        }
    }
}

impl FromRef<AppState> for dpop::Checker {
    fn from_ref(app: &AppState) -> dpop::Checker {
        dpop::Checker {
            config: app.config.clone(),
            store: app.store.clone(),
            dpop_nonces: app.dpop_nonces.clone(),
        }
    }
}

impl FromRef<AppState> for ClientChecks {
    fn from_ref(app: &AppState) -> ClientChecks {
        ClientChecks {
            config: app.config.clone(),
            store: app.store.clone(),
            client_keys: app.client_keys.clone(),
            documents: app.client_documents.clone(),
            http: app.http.clone(),
            clock: app.clock.clone(),
            guards: app.guards.clone(),
            telemetry: app.telemetry.clone(),
            verified_secrets: app.verified_secrets.clone(),
        }
    }
}

impl FromRef<AppState> for Probe {
    fn from_ref(app: &AppState) -> Probe {
        Probe {
            config: app.config.clone(),
            store: app.store.clone(),
            keys: app.keys.clone(),
            upstreams: app.upstreams.clone(),
            clock: app.clock.clone(),
        }
    }
}

impl FromRef<AppState> for Arc<Keys> {
    fn from_ref(app: &AppState) -> Arc<Keys> {
        app.keys.clone()
    }
}

impl FromRef<AppState> for Clock {
    fn from_ref(app: &AppState) -> Clock {
        app.clock.clone()
    }
}

impl FromRef<AppState> for Arc<Pages> {
    fn from_ref(app: &AppState) -> Arc<Pages> {
        app.pages.clone()
    }
}

impl FromRef<AppState> for Arc<Config> {
    fn from_ref(app: &AppState) -> Arc<Config> {
        app.config.clone()
    }
}
