//! `/introspect` (RFC 7662), answered as a JWT Gatehouse signs when the client asks for
//! one with `Accept: application/token-introspection+jwt` (RFC 9701).

use super::client_auth::ClientRequest;
use crate::flow::Handles;
use crate::keys::TokenType;
use crate::tokens::TokenError;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The media type of a signed introspection response (RFC 9701 §5).
const SIGNED: &str = "application/token-introspection+jwt";

pub async fn handler(
    State(flow): State<Handles>,
    headers: HeaderMap,
    request: Result<ClientRequest, TokenError>,
) -> Response {
    let signed = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept
                .split(',')
                .any(|t| t.split(';').next().is_some_and(|t| t.trim() == SIGNED))
        });
    let now = flow.now();
    let answer = async {
        let ClientRequest { client, params } = request?;
        let token = params.required("token")?;
        let answer = flow.tokens(now).introspect(&client, token).await?;
        if !signed {
            return Ok::<_, TokenError>(([(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response());
        }
        // RFC 9701 §5: the answer under token_introspection, for the client that asked.
        let claims = json!({
            "iss": flow.config.issuer, "aud": client.id, "iat": now, "token_introspection": answer,
        });
        let jwt = flow
            .keys
            .sign(&claims, TokenType::Introspection)
            .await
            .map_err(|e| TokenError::Server(e.into()))?;
        Ok((
            [(header::CONTENT_TYPE, SIGNED), (header::CACHE_CONTROL, "no-store")],
            jwt,
        )
            .into_response())
    };
    match answer.await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}
