//! `/userinfo` (OpenID Connect Core §5.3): the access token from the header or the form
//! body, with its DPoP proof when it is bound to a key (RFC 9449 §7); the claims come
//! from the token layer.

use crate::flow::Handles;
use crate::tokens::BearerError;
use crate::{dpop, routes};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// An access token as the request presents it.
struct Presented {
    token: String,
    /// Sent as `Authorization: DPoP` rather than as a bearer token.
    dpop: bool,
}

pub async fn get(State(flow): State<Handles>, State(dpop): State<dpop::Checker>, headers: HeaderMap) -> Response {
    let token = header_token(&headers);
    respond(&flow, &dpop, &Method::GET, &headers, token).await
}

/// POST takes the token from the header or, as a form body, from `access_token`
/// (RFC 6750 §2.2) — not both.
pub async fn post(
    State(flow): State<Handles>,
    State(dpop): State<dpop::Checker>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body_token = is_form
        .then(|| {
            url::form_urlencoded::parse(&body)
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned())
        })
        .flatten();
    let token = match (header_token(&headers), body_token) {
        (Ok(Some(_)), Some(_)) => Err(BearerError::InvalidRequest("send the token once".into())),
        (Ok(None), Some(token)) => Ok(Some(Presented { token, dpop: false })),
        (header, _) => header,
    };
    respond(&flow, &dpop, &Method::POST, &headers, token).await
}

fn header_token(headers: &HeaderMap) -> Result<Option<Presented>, BearerError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| BearerError::InvalidRequest("malformed Authorization header".into()))?;
    let presented = |token: &str, dpop| Presented {
        token: token.trim().to_string(),
        dpop,
    };
    match value.split_once(' ') {
        Some((scheme, token)) if token.trim().is_empty() => Err(BearerError::InvalidRequest(format!(
            "the {scheme} Authorization header has no token"
        ))),
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(presented(token, false))),
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("dpop") => Ok(Some(presented(token, true))),
        _ => Err(BearerError::InvalidRequest(
            "use Authorization: Bearer <token> or DPoP <token>".into(),
        )),
    }
}

async fn respond(
    flow: &Handles,
    checker: &dpop::Checker,
    method: &Method,
    headers: &HeaderMap,
    presented: Result<Option<Presented>, BearerError>,
) -> Response {
    let now = flow.now();
    let answer = async {
        let presented = presented?.ok_or(BearerError::Missing)?;
        let service = flow.tokens(now);
        let active = service.active_token(&presented.token).await?;
        check_binding(checker, &active.claims, &presented, method, headers, now).await?;
        Ok::<_, BearerError>((service.userinfo(&active)?, presented.dpop))
    };
    match answer.await {
        Ok((claims, dpop)) => {
            let mut response = ([(header::CACHE_CONTROL, "no-store")], Json(claims)).into_response();
            if dpop {
                super::token::add_nonce(checker, &mut response, now).await;
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

/// A token bound to a DPoP key is taken only as `DPoP`, with a proof of that key for
/// this request and this token; an unbound one only as a bearer token.
async fn check_binding(
    checker: &dpop::Checker,
    claims: &Map<String, Value>,
    presented: &Presented,
    method: &Method,
    headers: &HeaderMap,
    now: i64,
) -> Result<(), BearerError> {
    let refused = |error, description: &str| BearerError::Dpop {
        error,
        description: description.to_string(),
        nonce: None,
    };
    let bound = claims.get("cnf").and_then(|cnf| cnf.get("jkt")).and_then(Value::as_str);
    let jkt = match (bound, presented.dpop) {
        (None, false) => return Ok(()),
        (None, true) => {
            return Err(refused(
                "invalid_token",
                "the access token is not DPoP-bound: send it as Bearer",
            ));
        }
        (Some(_), false) => {
            return Err(refused(
                "invalid_token",
                "the access token is DPoP-bound: send it as Authorization: DPoP, with a proof",
            ));
        }
        (Some(jkt), true) => jkt,
    };
    let invalid_proof = |description: String| BearerError::Dpop {
        error: "invalid_dpop_proof",
        description,
        nonce: None,
    };
    let proof = dpop::proof_of(headers)
        .map_err(from_dpop)?
        .ok_or_else(|| invalid_proof("a DPoP-bound access token needs a DPoP proof".into()))?;
    let request = dpop::Request {
        method,
        path: routes::USERINFO,
        access_token: Some(&presented.token),
    };
    let proven = dpop::check(checker, proof, &request, now).await.map_err(from_dpop)?;
    if !crate::secrets::equal(&proven, jkt) {
        return Err(invalid_proof(
            "the DPoP proof is signed by another key than the access token is bound to".into(),
        ));
    }
    Ok(())
}

fn from_dpop(e: dpop::DpopError) -> BearerError {
    match e {
        dpop::DpopError::Invalid(description) => BearerError::Dpop {
            error: "invalid_dpop_proof",
            description,
            nonce: None,
        },
        dpop::DpopError::UseNonce(nonce) => BearerError::Dpop {
            error: "use_dpop_nonce",
            description: "the DPoP proof must carry the nonce in the DPoP-Nonce header".into(),
            nonce: Some(nonce),
        },
        dpop::DpopError::Store(e) if e.is_unavailable() => BearerError::Unavailable(e.to_string()),
        dpop::DpopError::Store(e) => BearerError::Server(e.to_string()),
    }
}
