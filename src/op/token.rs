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
        TokenService::new(&state, state.clock.now()).grant(&client, grant).await
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
