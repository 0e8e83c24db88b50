//! `/authorize`'s step: a valid request is answered at once from a live session that
//! fits it, or parked while the person logs in at an upstream (the one asked for, the
//! only one the client may use, or the one they choose).

use super::Ctx;
use super::request::{Invalid, Validated, validate};
use super::request_object::Unpacked;
use super::requirements::session_fits;
use super::{AuthorizeParams, ErrorCode, Flow, Outcome, ReplyTo, after_login, pending, settle};
use crate::domain::sessions;
use crate::store::CompletedLogin;
use std::net::IpAddr;

/// Validates `params` and decides where the person goes next.
pub async fn authorize(
    app: &Ctx<'_>,
    params: AuthorizeParams,
    browser: &str,
    session_cookie: Option<&str>,
    client_ip: Option<IpAddr>,
    now: i64,
) -> Outcome {
    let (mut params, mut arrival) = match super::par::resolve(app, params, now).await {
        Ok(resolved) => resolved,
        Err(outcome) => return outcome,
    };
    let client = match app.client(params.client_id.as_deref().unwrap_or_default(), now).await {
        Ok(client) => client,
        Err(e) => return Outcome::from(e),
    };
    if let (Some(jwt), Some(client)) = (params.request.clone(), client.as_deref()) {
        params = match super::request_object::unpack(app, client, &jwt, now).await {
            Ok(unpacked) => unpacked,
            // Nothing of the request can be trusted, its redirect URI least: a page, not
            // a redirect.
            Err(Unpacked::Invalid(why)) => {
                return Outcome::Untrusted {
                    title: "Invalid sign-in request".into(),
                    message: format!("The application's signed request was refused: {why}."),
                };
            }
            Err(Unpacked::Unavailable(why)) => {
                tracing::warn!(client = %client.id, "a request object's keys cannot be fetched: {why}");
                return Outcome::Untrusted {
                    title: "Sign-in unavailable".into(),
                    message: "The application's keys cannot be fetched now. Try again in a moment.".into(),
                };
            }
        };
        arrival.signed = true;
    }
    let validated = match validate(app.config, client.as_deref(), params, arrival) {
        Ok(validated) => validated,
        Err(Invalid::Untrusted { title, message }) => {
            return Outcome::Untrusted {
                title: title.into(),
                message,
            };
        }
        Err(Invalid::Reply { to, error, description }) => return Outcome::refuse(&to, error, description),
    };
    let to = ReplyTo::of(&validated.request);
    match decide(app, validated, browser, session_cookie, client_ip, now).await {
        // The request is valid and its redirect URI registered: the app hears it.
        Err(Outcome::Unavailable(detail)) => {
            tracing::debug!(%detail, "the store is unavailable: the app is told to try again");
            Outcome::refuse(
                &to,
                ErrorCode::TemporarilyUnavailable,
                "the service is unavailable for a moment",
            )
        }
        decided => settle(decided),
    }
}

pub(super) async fn decide(
    app: &Ctx<'_>,
    validated: Validated<'_>,
    browser: &str,
    session_cookie: Option<&str>,
    client_ip: Option<IpAddr>,
    now: i64,
) -> Flow<Outcome> {
    let Validated {
        client,
        request,
        upstream,
    } = validated;
    let to = ReplyTo::of(&request);
    let session = sessions::find(app.store, session_cookie, now)
        .await?
        .filter(|s| super::may_use(app.config, client, &s.upstream))
        .filter(|s| upstream.as_ref().is_none_or(|u| *u == s.upstream))
        // The upstream said the person's credential or assurance changed: log in again.
        .filter(|s| !s.must_reauthenticate);
    if let Some(session) = session.filter(|s| session_fits(s, &request, now)) {
        let done = CompletedLogin {
            sub: session.sub,
            sid: session.sid,
            auth: session.auth,
        };
        return after_login::after_login(app, request, done, browser, now).await;
    }
    if request.prompt.none() {
        return Ok(Outcome::refuse(
            &to,
            ErrorCode::LoginRequired,
            "the person is not logged in",
        ));
    }
    // The upstream is told what the session did not meet (max_age, prompt, acr) and its
    // answer is checked against it when the person comes back.
    let (pid, pending) = pending::park_anonymous(app, request, browser, client_ip, now).await?;
    Ok(super::chooser::route(app.config, client, &pid, &pending, upstream))
}
