//! `/revoke` (RFC 7009). `token_type_hint` is not read: both kinds of token are
//! recognised by looking.

use super::client_auth::ClientRequest;
use crate::flow::Handles;
use crate::tokens::TokenError;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub async fn handler(State(flow): State<Handles>, request: Result<ClientRequest, TokenError>) -> Response {
    let answer = async {
        let ClientRequest { client, params } = request?;
        let token = params.required("token")?;
        flow.tokens(flow.now()).revoke(&client, token).await
    };
    match answer.await {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(error) => error.into_response(),
    }
}
