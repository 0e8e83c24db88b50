//! `/token` (RFC 6749 §3.2): an authenticated client's token request.

use super::client_auth::ClientRequest;
use crate::AppState;
use crate::tokens::{TokenError, TokenRequest, TokenService};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

pub async fn handler(State(state): State<AppState>, request: Result<ClientRequest, TokenError>) -> Response {
    let answer = async {
        let ClientRequest { client, params } = request?;
        let grant = TokenRequest::parse(&params)?;
        let grant_type = grant.grant_type();
        let tokens = TokenService::new(&state, state.clock.now())
            .grant(&client, grant)
            .await?;
        let telemetry = &state.telemetry;
        telemetry.token_issued("access", grant_type);
        if tokens.id_token.is_some() {
            telemetry.token_issued("id", grant_type);
        }
        if tokens.refresh_token.is_some() {
            telemetry.token_issued("refresh", grant_type);
        }
        Ok::<_, TokenError>(tokens)
    };
    match answer.await {
        Ok(tokens) => (
            [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
            Json(tokens),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}
