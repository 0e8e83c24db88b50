//! `/par` (RFC 9126 §2): an authenticated client pushes its authorization request and
//! gets the `request_uri` to send the browser to `/authorize` with.

use super::client_auth::ClientRequest;
use super::client_ip::ClientIp;
use crate::flow::Handles;
use crate::flow::par::{self, PushError};
use crate::tokens::TokenError;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub async fn handler(
    State(flow): State<Handles>,
    State(dpop): State<crate::dpop::Checker>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    request: Result<ClientRequest, TokenError>,
) -> Response {
    let now = flow.now();
    let ClientRequest { client, params } = match request {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let dpop_jkt = match super::token::proven_key(&dpop, &headers, &client, crate::routes::PAR, now).await {
        Ok(jkt) => jkt,
        Err(error) => return error.into_response(),
    };
    let pushed = par::Pushed {
        pairs: params.pairs(),
        dpop_jkt,
        client_ip: ip,
    };
    match par::push(&flow.ctx(), &client, pushed, now).await {
        Ok(request_uri) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "request_uri": request_uri, "expires_in": par::PUSHED_TTL_SECS })),
        )
            .into_response(),
        // The error codes of the authorization endpoint, as JSON (§2.3).
        Err(PushError::Refused(error, description)) => (
            StatusCode::BAD_REQUEST,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "error": error.as_str(), "error_description": description })),
        )
            .into_response(),
        Err(PushError::Busy(why)) => TokenError::TemporarilyUnavailable(why.into()).into_response(),
        Err(PushError::Store(e)) => TokenError::from(e).into_response(),
    }
}
