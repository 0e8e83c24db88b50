//! The query and form extractors of the pages people see: a request that does not parse
//! (a parameter sent twice, RFC 6749 §3.1; a missing form field) gets Gatehouse's styled
//! error page rather than axum's plain-text rejection.

use crate::AppState;
use crate::web::Pages;
use axum::extract::{Form, FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;

/// A page's query parameters.
pub struct PageQuery<T>(pub T);

/// A page's form (or a POSTed request's parameters).
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for PageQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(PageQuery(value)),
            Err(rejection) => Err(malformed(&state.pages, &rejection.body_text())),
        }
    }
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        match Form::<T>::from_request(request, state).await {
            Ok(Form(value)) => Ok(PageForm(value)),
            Err(rejection) => Err(malformed(&state.pages, &rejection.body_text())),
        }
    }
}

fn malformed(pages: &Pages, detail: &str) -> Response {
    pages.error(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        &format!("The request could not be read: {detail}."),
        "Go back to the application and try again. If this keeps happening, tell the application's support team.",
    )
}
