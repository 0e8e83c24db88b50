//! `POST /backchannel/{upstream}`: Back-Channel Logout 1.0 from an upstream. 200 when the
//! logout token was taken (whether or not a session came from it), 400 with a JSON error
//! otherwise (§2.8); never cached.

use crate::domain::upstream_logout::{self, Refused};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(serde::Deserialize)]
pub struct LogoutRequest {
    logout_token: Option<String>,
}

pub async fn handler(
    State(flow): State<crate::flow::Handles>,
    Path(upstream): Path<String>,
    request: Result<axum::Form<LogoutRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    let Ok(axum::Form(LogoutRequest {
        logout_token: Some(token),
    })) = request
    else {
        return refusal("the request is not a form with a logout_token");
    };
    let now = flow.now();
    let ctx = flow.ctx();
    match upstream_logout::receive(ctx.outbox(), ctx.upstreams, ctx.http, &upstream, &token, now).await {
        Ok(_) => (StatusCode::OK, no_store).into_response(),
        Err(refused) => {
            tracing::warn!(%upstream, error = %refused, "upstream logout token refused");
            match refused {
                Refused::Unavailable(_) => {
                    let body = json!({ "error": "temporarily_unavailable", "error_description": "try again later" });
                    (StatusCode::SERVICE_UNAVAILABLE, no_store, axum::Json(body)).into_response()
                }
                other => refusal(&other.to_string()),
            }
        }
    }
}

fn refusal(description: &str) -> Response {
    let body = json!({ "error": "invalid_request", "error_description": description });
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}
