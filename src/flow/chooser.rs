//! Where a person without a fitting session goes to log in: the upstream the request
//! names, the upstream of the email domain in `login_hint` or typed on the chooser
//! (home-realm discovery), the client's only upstream, or the chooser. A client's
//! allow-list rules throughout: a domain of an upstream it may not use is unknown to it.

use super::Ctx;
use super::request::usable_upstreams;
use super::{Choice, EmailForm, ErrorCode, Outcome, ReplyTo, pending};
use crate::config::{Client, Config, Upstream};
use crate::routes;
use crate::store::PendingAuthorization;

/// What "continue with your email" sends.
#[derive(Debug, serde::Deserialize)]
pub struct EmailLogin {
    pub csrf: String,
    pub email: String,
}

/// The next step of the parked request `pid` of `client`, when the request named
/// `upstream` (already checked to be one the client may use) or not.
pub(super) fn route(
    config: &Config,
    client: &Client,
    pid: &str,
    pending: &PendingAuthorization,
    upstream: Option<String>,
) -> Outcome {
    let usable = usable_upstreams(config, client);
    let by_hint = || {
        let hint = pending.request.login_hint.as_deref()?;
        upstream_of_email(&usable, hint).map(|u| u.id.clone())
    };
    let chosen = upstream
        .or_else(by_hint)
        .or_else(|| (usable.len() == 1).then(|| usable[0].id.clone()));
    match chosen {
        Some(chosen) => Outcome::Redirect(routes::login_start(pid, &chosen)),
        None if usable.is_empty() => Outcome::refuse(
            &ReplyTo::of(&pending.request),
            ErrorCode::TemporarilyUnavailable,
            "no identity provider is available to this client",
        ),
        None => chooser(config, client, pid, pending, None),
    }
}

/// `POST /login/{pending}`'s step: the person typed their email on the chooser. Its
/// domain's upstream gets it as the login hint; an unknown domain shows the chooser
/// again, saying so.
pub async fn by_email(app: &Ctx<'_>, pid: &str, form: EmailLogin, browser: Option<&str>, now: i64) -> Outcome {
    let routed = async {
        let mut pending = pending::resume(app.store, pid, browser, now, |p| {
            crate::secrets::equal(&p.csrf, &form.csrf) && p.login.is_none()
        })
        .await?;
        let client = app
            .client(&pending.request.client_id, now)
            .await?
            .ok_or(Outcome::Expired)?;
        crate::telemetry::note_client(&client.id);
        let email = form.email.trim();
        let usable = usable_upstreams(app.config, &client);
        let Some(upstream) = upstream_of_email(&usable, email) else {
            let notice = match domain_of(email) {
                Some(domain) => format!("There is no sign-in for {domain} here. Choose one of these."),
                None => "Enter your email address, like name@example.com.".to_string(),
            };
            return Ok(chooser(app.config, &client, pid, &pending, Some(notice)));
        };
        pending.request.login_hint = Some(email.to_string());
        pending::keep(app.store, pid, &pending, now).await?;
        Ok(Outcome::Redirect(routes::login_start(pid, &upstream.id)))
    };
    super::settle(routed.await)
}

/// The chooser: the upstreams the client may use that are not hidden, and the email
/// field when it is asked for (or, unset, when some of them list domains).
fn chooser(
    config: &Config,
    client: &Client,
    pid: &str,
    pending: &PendingAuthorization,
    notice: Option<String>,
) -> Outcome {
    let usable = usable_upstreams(config, client);
    let ask_email = config
        .chooser
        .ask_email
        .unwrap_or_else(|| usable.iter().any(|u| !u.domains.is_empty()));
    let upstreams: Vec<Choice> = usable
        .iter()
        .filter(|u| !u.hidden)
        .map(|u| Choice {
            name: u.name.clone(),
            href: routes::login_start(pid, &u.id),
        })
        .collect();
    if upstreams.is_empty() && !ask_email {
        // Every upstream is hidden and the email is not asked for: nothing to choose.
        return Outcome::refuse(
            &ReplyTo::of(&pending.request),
            ErrorCode::TemporarilyUnavailable,
            "no identity provider is available to this client",
        );
    }
    Outcome::Chooser {
        client_name: client.name.clone(),
        upstreams,
        email: ask_email.then(|| EmailForm {
            action: routes::login_by_email(pid),
            csrf: pending.csrf.clone(),
        }),
        notice,
    }
}

/// The domain of an email address, lowercase.
fn domain_of(email: &str) -> Option<String> {
    let (local, domain) = email.rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

/// The upstream among `usable` that lists the domain of `email`.
fn upstream_of_email<'c>(usable: &[&'c Upstream], email: &str) -> Option<&'c Upstream> {
    let domain = domain_of(email)?;
    usable.iter().find(|u| u.domains.contains(&domain)).copied()
}
