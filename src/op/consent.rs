//! `POST /consent`: the person's answer on the consent page.

use super::authorize::deliver;
use super::respond::{internal_error, login_expired, reply, resume_once};
use crate::AppState;
use crate::login::{self, ReplyTo};
use crate::web::cookies;
use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ConsentForm {
    pending: String,
    csrf: String,
    decision: String,
}

pub async fn submit(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<ConsentForm>) -> Response {
    let now = state.clock.now();
    let browser = cookies::get(&headers, cookies::BROWSER);
    let taken = resume_once(&state, &form.pending, browser.as_deref(), now, |p| {
        crate::secrets::equal(&p.csrf, &form.csrf)
    })
    .await;
    let pending = match taken {
        Ok(pending) => pending,
        Err(page) => return *page,
    };
    let Some(done) = pending.login else {
        return login_expired(&state);
    };
    let request = pending.request;
    if form.decision != "allow" {
        let to = ReplyTo::of(&request);
        return reply(
            &state,
            &to,
            vec![
                ("error", "access_denied".into()),
                ("error_description", "the person did not allow access".into()),
            ],
        );
    }
    if let Err(e) = login::remember_consent(&state.store, &done.sub, &request.client_id, &request.scope, now).await {
        return internal_error(&state, e);
    }
    match deliver(&state, request, done, now).await {
        Ok(response) => response,
        Err(e) => internal_error(&state, e),
    }
}
