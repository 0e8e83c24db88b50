//! The login at an upstream: sending the person there (or showing the password form of
//! an upstream that takes one), taking them back, and turning what the upstream said into
//! an account and a session. Every step checks that the parked request belongs to this
//! browser.

use super::Ctx;
use super::sign_in::{SignInFailed, finish_once, sign_in};
use super::{
    ErrorCode, Flow, Outcome, PasswordForm, PasswordRefused, ReplyTo, Step, after_login, pending, requirements, settle,
};
use crate::config::Client;
use crate::limits::CheckError;
use crate::routes;
use crate::store::PendingAuthorization;
use crate::upstream::{
    Authentication, CallbackParams, LiveUpstream, LoginOptions, Person, Return, Upstream, UpstreamError,
};
use std::net::IpAddr;
use std::sync::Arc;

/// What the password form of an upstream sends.
#[derive(Debug, serde::Deserialize)]
pub struct PasswordLogin {
    pub csrf: String,
    pub username: String,
    pub password: String,
}

/// `GET /login/{pending}/{upstream}`'s step: starts the login at the chosen upstream.
pub async fn begin(app: &Ctx<'_>, pid: &str, upstream_id: &str, browser: Option<&str>, now: i64) -> Outcome {
    let started = async {
        let pending = pending::resume(app.store, pid, browser, now, |_| true).await?;
        let (client, upstream) = usable(app, &pending, upstream_id, now).await?;
        crate::telemetry::note_upstream(upstream_id);
        app.telemetry.login_started(upstream_id);
        if upstream.capabilities().password {
            return Ok(password_form(app, &client, pid, &pending, upstream_id, "", None));
        }
        send(app, pid, pending, upstream_id, &upstream, now).await
    };
    settle(started.await)
}

/// The parked request's client, and the running upstream `upstream_id` if the client
/// may use it.
async fn usable(
    app: &Ctx<'_>,
    pending: &PendingAuthorization,
    upstream_id: &str,
    now: i64,
) -> Flow<(Arc<Client>, Arc<LiveUpstream>)> {
    let client = app
        .client(&pending.request.client_id, now)
        .await?
        .ok_or(Outcome::Expired)?;
    crate::telemetry::note_client(&client.id);
    if !super::may_use(app.config, &client, upstream_id) {
        return Err(Outcome::Expired);
    }
    let upstream = app.upstreams.get(upstream_id).cloned().ok_or(Outcome::Expired)?;
    Ok((client, upstream))
}

/// Sends the person to an upstream that redirects, keeping the nonce and PKCE verifier
/// with the parked request (whose id is the `state`).
async fn send(
    app: &Ctx<'_>,
    pid: &str,
    mut pending: PendingAuthorization,
    upstream_id: &str,
    upstream: &Upstream,
    now: i64,
) -> Flow<Outcome> {
    let request = &pending.request;
    let options = LoginOptions {
        state: pid,
        login_hint: request.login_hint.as_deref(),
        // prompt=login is max_age=0 too, for upstreams that heed only one of them.
        max_age: if request.prompt.login() {
            Some(0)
        } else {
            request.max_age
        },
        force_login: request.prompt.login(),
        select_account: request.prompt.select_account(),
        acr_values: &request.acr_values,
        ui_locales: request.ui_locales.as_deref(),
        now,
    };
    let begin = match upstream.begin(app.http, options).await {
        Ok(begin) => begin,
        Err(e) => {
            tracing::warn!(upstream = %upstream_id, error = %e, "cannot start a login upstream");
            app.telemetry
                .login_failed(upstream_id, &pending.request.client_id, e.reason());
            let _ = app.store.pending_authorizations.take(pid, now).await;
            return Ok(upstream_failed(&pending, &e));
        }
    };
    pending.upstream = Some(upstream_id.to_string());
    pending.upstream_nonce = begin.nonce;
    pending.pkce_verifier = Some(begin.pkce_verifier);
    pending::keep(app.store, pid, &pending, now).await?;
    Ok(Outcome::Redirect(begin.url))
}

/// `GET /callback/{upstream}`'s step: the person is back from an upstream that redirects.
pub async fn callback(
    app: &Ctx<'_>,
    upstream_id: &str,
    params: &CallbackParams,
    browser: Option<&str>,
    now: i64,
) -> Step {
    let finished = async {
        let pid = params.state.as_deref().ok_or(Outcome::Expired)?;
        // The state is single use: a replayed callback finds nothing.
        let resumed = pending::resume(app.store, pid, browser, now, |p| {
            p.upstream.as_deref() == Some(upstream_id)
        })
        .await;
        let pending = match resumed {
            Ok(pending) => pending,
            // No login of this browser: one the IdP started, if the upstream takes those.
            Err(Outcome::Expired) if super::idp_initiated::applies(app, upstream_id, params) => {
                return super::idp_initiated::login(app, upstream_id, params, now).await;
            }
            Err(refused) => return Err(refused),
        };
        pending::use_up(app, pid, now).await?;
        app.upstreams.get(upstream_id).ok_or(Outcome::Expired)?;
        crate::telemetry::note_upstream(upstream_id);
        let verifier = pending.pkce_verifier.as_deref().ok_or(Outcome::Expired)?;
        let nonce = pending.upstream_nonce.as_deref();
        let back = Return {
            callback: params,
            nonce,
            pkce_verifier: verifier,
            now,
        };
        match finish_once(app, upstream_id, back).await {
            Ok(person) => complete(app, pending, upstream_id, person, browser.unwrap_or_default(), now).await,
            Err(e) => {
                tracing::warn!(upstream = %upstream_id, error = %e, "upstream login failed");
                app.telemetry
                    .login_failed(upstream_id, &pending.request.client_id, e.reason());
                Err(upstream_failed(&pending, &e))
            }
        }
    };
    finished.await.unwrap_or_else(Step::from)
}

/// `POST /login/{pending}/{upstream}`'s step: the password form of an upstream that
/// takes one. Failed passwords slow down further tries on the username and from the
/// client's address, and void the login after the configured number.
pub async fn password(
    app: &Ctx<'_>,
    pid: &str,
    upstream_id: &str,
    form: PasswordLogin,
    browser: Option<&str>,
    client_ip: Option<IpAddr>,
    now: i64,
) -> Step {
    let checked = async {
        let pending = pending::resume(app.store, pid, browser, now, |p| {
            crate::secrets::equal(&p.csrf, &form.csrf)
        })
        .await?;
        let (client, upstream) = usable(app, &pending, upstream_id, now).await?;
        crate::telemetry::note_upstream(upstream_id);
        if !upstream.capabilities().password {
            return Err(Outcome::Expired);
        }
        let refuse = |pending: &PendingAuthorization, why| {
            password_form(app, &client, pid, pending, upstream_id, &form.username, Some(why))
        };
        let user_key = format!("user {upstream_id} {}", form.username);
        let address_key = client_ip.map(|ip| format!("address {ip}"));
        let failures = &app.guards.password_failures;
        let keys = std::iter::once(&user_key).chain(&address_key);
        if let Some(wait) = keys.clone().filter_map(|key| failures.wait(key, now)).max() {
            app.telemetry.refused("password_backoff");
            return Err(refuse(&pending, PasswordRefused::Wait(wait)));
        }
        let checked = upstream
            .check_password(app.http, &app.guards.password_checks, &form.username, &form.password)
            .await;
        let person = match checked {
            Ok(Some(person)) => person,
            Ok(None) => {
                keys.for_each(|key| failures.failed(key, now));
                let most = app.config.limits.password_attempts_per_login;
                let client_id = &pending.request.client_id;
                return match pending::count_wrong_password(app, pid, most, now).await? {
                    Some(pending) => {
                        app.telemetry.login_failed(upstream_id, client_id, "wrong_password");
                        Err(refuse(&pending, PasswordRefused::Wrong))
                    }
                    None => {
                        app.telemetry
                            .login_failed(upstream_id, client_id, "too_many_wrong_passwords");
                        Err(Outcome::refuse(
                            &ReplyTo::of(&pending.request),
                            ErrorCode::AccessDenied,
                            "too many wrong passwords",
                        ))
                    }
                };
            }
            Err(CheckError::Busy) => {
                app.telemetry.refused("password_checks_busy");
                return Err(refuse(&pending, PasswordRefused::Busy));
            }
            Err(CheckError::Unavailable(why)) => {
                tracing::warn!(upstream = %upstream_id, error = %why, "the password cannot be checked");
                app.telemetry
                    .login_failed(upstream_id, &pending.request.client_id, "unavailable");
                return Err(refuse(&pending, PasswordRefused::Unavailable));
            }
            Err(CheckError::Failed(detail)) => return Err(Outcome::Failed(detail)),
        };
        // The address is not forgiven: one account of one's own must not reset it.
        failures.succeeded(&user_key);
        pending::use_up(app, pid, now).await?;
        // The password was typed just now.
        let person = Person {
            authentication: Authentication {
                auth_time: Some(now),
                acr: None,
                amr: vec!["pwd".into()],
            },
            ..person
        };
        complete(app, pending, upstream_id, person, browser.unwrap_or_default(), now).await
    };
    checked.await.unwrap_or_else(Step::from)
}

fn password_form(
    app: &Ctx<'_>,
    client: &Client,
    pid: &str,
    pending: &PendingAuthorization,
    upstream_id: &str,
    username: &str,
    refused: Option<PasswordRefused>,
) -> Outcome {
    let name_of_upstream = app.config.upstream(upstream_id).map(|u| u.name.clone());
    Outcome::PasswordForm(Box::new(PasswordForm {
        client_name: client.name.clone(),
        upstream_name: name_of_upstream.unwrap_or_default(),
        action: routes::login_start(pid, upstream_id),
        csrf: pending.csrf.clone(),
        username: username.to_string(),
        refused,
        returns_to: pending.request.redirect_uri.clone(),
    }))
}

/// Ends a login whose upstream failed: the RP hears why, in OAuth terms, and gets no code.
fn upstream_failed(pending: &PendingAuthorization, error: &UpstreamError) -> Outcome {
    let to = ReplyTo::of(&pending.request);
    match error {
        UpstreamError::Unavailable(_) => Outcome::refuse(
            &to,
            ErrorCode::TemporarilyUnavailable,
            "the identity provider is not available",
        ),
        UpstreamError::Denied(_) | UpstreamError::Invalid(_) => Outcome::refuse(
            &to,
            ErrorCode::AccessDenied,
            "the identity provider did not log the person in",
        ),
    }
}

/// The person logged in at `upstream_id`: check that the login meets what the app asked
/// of it, map what the upstream said, link the account, start the session, and go on to
/// consent or the code. The parked request has been used up already.
async fn complete(
    app: &Ctx<'_>,
    pending: PendingAuthorization,
    upstream_id: &str,
    person: Person,
    browser: &str,
    now: i64,
) -> Flow<Step> {
    let to = ReplyTo::of(&pending.request);
    let asked_at = pending.parked_at.unwrap_or(now);
    let auth =
        requirements::check(&pending.request, asked_at, person.authentication.clone(), now).inspect_err(|_| {
            app.telemetry
                .login_failed(upstream_id, &pending.request.client_id, "requirements_unmet");
        })?;
    let (cookie, done) = match sign_in(app, upstream_id, person, auth, now).await {
        Ok(signed_in) => signed_in,
        Err(SignInFailed::Unmapped) => {
            app.telemetry
                .login_failed(upstream_id, &pending.request.client_id, "unmapped");
            return Err(Outcome::refuse(
                &to,
                ErrorCode::AccessDenied,
                "the identity provider's answer could not be used",
            ));
        }
        Err(SignInFailed::Flow(outcome)) => return Err(outcome),
    };
    app.telemetry.login_succeeded(upstream_id, &pending.request.client_id);
    let outcome = settle(after_login::after_login(app, pending.request, done, browser, now).await);
    Ok(Step {
        outcome,
        session_cookie: Some(cookie),
    })
}
