//! The query and form extractors of the pages people see: a request that does not parse
//! (a parameter sent twice, RFC 6749 §3.1; a missing form field) gets Gatehouse's styled
//! error page rather than axum's plain-text rejection.

use crate::web::Pages;
use axum::extract::{Form, FromRef, FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// A page's query parameters.
pub struct PageQuery<T>(pub T);

/// A page's form (or a POSTed request's parameters).
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PageQuery<T>
where
    Arc<Pages>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(PageQuery(value)),
            Err(rejection) => Err(malformed(&Arc::<Pages>::from_ref(state), &rejection.body_text())),
        }
    }
}

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequest<S> for PageForm<T>
where
    Arc<Pages>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        match Form::<T>::from_request(request, state).await {
            Ok(Form(value)) => Ok(PageForm(value)),
            Err(rejection) => Err(malformed(&Arc::<Pages>::from_ref(state), &rejection.body_text())),
        }
    }
}

pub fn malformed(pages: &Pages, detail: &str) -> Response {
    pages.error(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        &format!("The request could not be read: {detail}."),
        "Go back to the application and try again. If this keeps happening, tell the application's support team.",
    )
}
