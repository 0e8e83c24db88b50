//! `/introspect` (RFC 7662).

use super::client_auth::ClientRequest;
use crate::flow::Handles;
use crate::tokens::TokenError;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

pub async fn handler(State(flow): State<Handles>, request: Result<ClientRequest, TokenError>) -> Response {
    let answer = async {
        let ClientRequest { client, params } = request?;
        let token = params.required("token")?;
        flow.tokens(flow.now()).introspect(&client, token).await
    };
    match answer.await {
        Ok(answer) => ([(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response(),
        Err(error) => error.into_response(),
    }
}
