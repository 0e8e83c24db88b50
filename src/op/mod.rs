//! The OP face toward relying parties: one file per endpoint. A handler extracts its
//! inputs, calls the flow or token layer once, and renders the result. Each handler
//! takes only the handles it reads (`flow::Handles`, [`render::Screen`],
//! `dpop::Checker`, [`health::Probe`], ...), never the application object; which handler
//! answers which path is wired one floor up, in `app/router.rs`.

pub mod account;
pub mod admin;
pub mod authorize;
pub mod backchannel;
pub mod callback;
mod client_assertion;
pub mod client_auth;
mod client_ip;
pub mod consent;
pub mod device;
pub mod discovery;
pub mod end_session;
pub mod error;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod login;
mod page_input;
pub mod par;
pub mod register;
pub mod render;
pub mod revoke;
pub mod saml;
pub mod signals;
pub mod ssf_receiver;
pub mod token;
pub mod userinfo;

pub use discovery::ProviderMetadata;

use crate::web::Pages;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// The answer to a path Gatehouse does not serve.
pub async fn not_found(State(pages): State<Arc<Pages>>) -> Response {
    pages.error(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
        "If you followed a link from an application, go back to it and sign in again from there.",
    )
}
