//! After the person is logged in: consent, when the client needs it and the person has
//! not given it for these scopes, then the answer to the relying party.

use super::Ctx;
use super::{ErrorCode, Flow, Outcome, ReplyTo, deliver, pending, settle};
use crate::config::{Client, ClientOrigin};
use crate::domain::accounts;
use crate::store::{AuthorizationRequest, CompletedLogin};

/// The person is logged in: ask for consent if needed, else answer the relying party.
pub(super) async fn after_login(
    app: &Ctx<'_>,
    request: AuthorizationRequest,
    done: CompletedLogin,
    browser: &str,
    now: i64,
) -> Flow<Outcome> {
    let Some(client) = app.client(&request.client_id, now).await? else {
        // A reload removed the client while the person was logging in.
        tracing::info!("the client of a parked request is no longer configured");
        return Err(Outcome::Expired);
    };
    if !accounts::needs_consent(app.store, &client, &done.sub, &request, now).await? {
        return deliver::deliver(app, request, done, now).await;
    }
    if request.prompt.none() {
        let to = ReplyTo::of(&request);
        return Ok(Outcome::refuse(
            &to,
            ErrorCode::ConsentRequired,
            "the person has not consented",
        ));
    }
    let scopes = request.scope.iter().map(|s| describe_scope(app, s)).collect();
    let client_name = client.name.clone();
    let unvetted = unvetted_notice(&client, &request.redirect_uri);
    let (pid, pending) = pending::park(app.store, request, browser, done, now).await?;
    Ok(Outcome::Consent(Box::new(super::ConsentPage {
        client_name,
        unvetted,
        scopes,
        pending: pid,
        csrf: pending.csrf,
        returns_to: pending.request.redirect_uri,
    })))
}

/// `POST /consent`'s step: the person's answer on the consent page of the parked
/// request `pid`.
pub async fn consent(app: &Ctx<'_>, pid: &str, csrf: &str, allow: bool, browser: Option<&str>, now: i64) -> Outcome {
    let answered = async {
        let pending = pending::resume(app.store, pid, browser, now, |p| crate::secrets::equal(&p.csrf, csrf)).await?;
        pending::use_up(app, pid, now).await?;
        let done = pending.login.ok_or(Outcome::Expired)?;
        let request = pending.request;
        if !allow {
            let to = ReplyTo::of(&request);
            return Ok(Outcome::refuse(
                &to,
                ErrorCode::AccessDenied,
                "the person did not allow access",
            ));
        }
        let client = app.client(&request.client_id, now).await?.ok_or(Outcome::Expired)?;
        let ttl = client.consent_ttl(&app.config.tokens);
        accounts::remember_consent(app.store, &done.sub, &client, &request.scope, ttl, now).await?;
        deliver::deliver(app, request, done, now).await
    };
    settle(answered.await)
}

/// What the consent page says a scope gives the client.
fn describe_scope(app: &Ctx<'_>, scope: &str) -> String {
    match scope {
        "openid" => "Who you are: a stable id for your account".into(),
        "profile" => "Your name and profile (picture, locale, ...)".into(),
        "email" => "Your email address".into(),
        "address" => "Your postal address".into(),
        "phone" => "Your phone number".into(),
        "offline_access" => "Access to these while you are not signed in".into(),
        custom => match app.config.scopes.get(custom) {
            Some(claims) => format!("{custom}: {}", claims.join(", ")),
            None => custom.into(),
        },
    }
}

/// What the consent page tells a person about a client that registered itself: that its
/// name is its own claim, and the host the answer goes to, which it cannot fake.
fn unvetted_notice(client: &Client, redirect_uri: &str) -> Option<String> {
    match &client.origin {
        ClientOrigin::Config => return None,
        ClientOrigin::Document { host } => {
            return Some(format!(
                "This application is described by a document at {host}: its name is not checked."
            ));
        }
        ClientOrigin::Registered { .. } => {}
    }
    let host = url::Url::parse(redirect_uri)
        .ok()
        .and_then(|url| url.host_str().map(String::from))
        .unwrap_or_else(|| redirect_uri.to_string());
    Some(format!(
        "This application registered itself: its name is not checked. After your answer you go to {host}."
    ))
}
