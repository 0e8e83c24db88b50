//! `/token` (RFC 6749 §3.2): an authenticated client's token request, with the DPoP proof
//! that binds its tokens, if any (RFC 9449 §5).

use super::client_auth::ClientRequest;
use crate::flow::Handles;
use crate::tokens::{TokenError, TokenRequest};
use crate::{dpop, routes};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

pub async fn handler(
    State(flow): State<Handles>,
    State(dpop): State<dpop::Checker>,
    headers: HeaderMap,
    request: Result<ClientRequest, TokenError>,
) -> Response {
    let now = flow.now();
    let answer = async {
        let ClientRequest { client, params } = request?;
        let grant = TokenRequest::parse(&params)?;
        let grant_type = grant.grant_type();
        let jkt = proven_key(&dpop, &headers, &client, routes::TOKEN, now).await?;
        let tokens = flow.tokens(now).grant(&client, grant, jkt.as_deref()).await?;
        let telemetry = &flow.telemetry;
        telemetry.token_issued("access", grant_type);
        if tokens.id_token.is_some() {
            telemetry.token_issued("id", grant_type);
        }
        if tokens.refresh_token.is_some() {
            telemetry.token_issued("refresh", grant_type);
        }
        Ok::<_, TokenError>((tokens, jkt.is_some()))
    };
    match answer.await {
        Ok((tokens, with_dpop)) => {
            let mut response = (
                [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
                Json(tokens),
            )
                .into_response();
            if with_dpop {
                add_nonce(&dpop, &mut response, now).await;
            }
            response
        }
        Err(error) => error.into_response(),
    }
}

/// The thumbprint of the key of the request's DPoP proof, checked for a POST to `path`;
/// `None` without a proof, which a client with `require_dpop` (or FAPI 2.0, at the token
/// endpoint) must send. A FAPI 2.0 client's proof is signed with PS256, ES256 or EdDSA.
pub async fn proven_key(
    checker: &dpop::Checker,
    headers: &HeaderMap,
    client: &crate::config::Client,
    path: &'static str,
    now: i64,
) -> Result<Option<String>, TokenError> {
    let required = path == routes::TOKEN && (client.require_dpop || client.is_fapi2());
    let Some(proof) = dpop::proof_of(headers)? else {
        if required {
            return Err(TokenError::InvalidDpopProof(
                "this client must send a DPoP proof with its token requests".into(),
            ));
        }
        return Ok(None);
    };
    if client.is_fapi2() {
        let parsed =
            crate::signed_jwt::SignedJwt::parse(proof, "the DPoP proof").map_err(TokenError::InvalidDpopProof)?;
        if !crate::signed_jwt::FAPI_ALGS.contains(&parsed.header.alg) {
            return Err(TokenError::InvalidDpopProof(
                "a FAPI 2.0 client signs its DPoP proofs with PS256, ES256 or EdDSA".into(),
            ));
        }
    }
    let request = dpop::Request {
        method: &Method::POST,
        path,
        access_token: None,
    };
    Ok(Some(dpop::check(checker, proof, &request, now).await?))
}

/// Hands out the current DPoP nonce with an answer, when nonces are required (RFC 9449 §8.2).
pub async fn add_nonce(checker: &dpop::Checker, response: &mut Response, now: i64) {
    if let Some(nonce) = dpop::nonce_to_send(checker, now).await
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        response.headers_mut().insert(dpop::NONCE_HEADER, value);
    }
}
