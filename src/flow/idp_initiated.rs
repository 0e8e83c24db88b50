//! A login the identity provider started: a SAML IdP's unsolicited Response, taken only
//! from an upstream with `allow_idp_initiated`. No app asked for it, so no code goes
//! anywhere: the person's session starts, and they are sent to the app the IdP named
//! (its `RelayState`, a client id) at the app's `initiate_login_uri` with `iss`, from
//! where the app starts an authorization request of its own (OpenID Connect Core §4).
//! That request finds the session, and the app's own `state`, nonce and PKCE guard its
//! login as they guard any other.

use super::sign_in::{SignInFailed, finish_once, sign_in};
use super::{Ctx, Flow, Outcome, Step};
use crate::config::Client;
use crate::store::AuthContext;
use crate::upstream::{CallbackParams, Return};

/// Whether the callback of `upstream_id` with `params` is such a login: the upstream takes
/// them, a Response came, and its `RelayState` names a client.
pub fn applies(app: &Ctx<'_>, upstream_id: &str, params: &CallbackParams) -> bool {
    let takes_them = app
        .upstreams
        .get(upstream_id)
        .is_some_and(|u| u.capabilities().unsolicited);
    takes_them
        && params.saml_response.is_some()
        && params
            .state
            .as_deref()
            .is_some_and(|id| app.config.client(id).is_some())
}

pub async fn login(app: &Ctx<'_>, upstream_id: &str, params: &CallbackParams, now: i64) -> Flow<Step> {
    let client = target(app, upstream_id, params)?;
    let back = Return {
        callback: params,
        nonce: None,
        pkce_verifier: "",
        now,
    };
    let person = finish_once(app, upstream_id, back).await.map_err(|e| {
        tracing::warn!(upstream = %upstream_id, error = %e, "a login the identity provider started failed");
        app.telemetry.login_failed(upstream_id, &client.id, e.reason());
        not_completed("The identity provider's sign-in could not be used.")
    })?;
    let said = &person.authentication;
    let auth = AuthContext {
        auth_time: said.auth_time.unwrap_or(now).min(now),
        acr: said.acr.clone(),
        amr: said.amr.clone(),
        idp: None,
        session_started_at: None,
    };
    let (cookie, _) = sign_in(app, upstream_id, person, auth, now)
        .await
        .map_err(|failed| match failed {
            SignInFailed::Unmapped => {
                app.telemetry.login_failed(upstream_id, &client.id, "unmapped");
                not_completed("The identity provider's answer could not be used.")
            }
            SignInFailed::Flow(outcome) => outcome,
        })?;
    app.telemetry.login_succeeded(upstream_id, &client.id);
    tracing::info!(upstream = %upstream_id, client = %client.id, "a login the identity provider started");
    let mut to = url::Url::parse(client.initiate_login_uri.as_deref().unwrap_or_default())
        .map_err(|e| Outcome::Failed(format!("client {}: initiate_login_uri: {e}", client.id)))?;
    to.query_pairs_mut().append_pair("iss", &app.config.issuer);
    Ok(Step {
        outcome: Outcome::Redirect(to.into()),
        session_cookie: Some(cookie),
    })
}

/// The client the IdP named, if it can take such a login: it has an
/// `initiate_login_uri` and may use this upstream.
fn target<'c>(app: &Ctx<'c>, upstream_id: &str, params: &CallbackParams) -> Flow<&'c Client> {
    let client = params
        .state
        .as_deref()
        .and_then(|id| app.config.client(id))
        .ok_or(Outcome::Expired)?;
    if client.initiate_login_uri.is_none() || !super::may_use(app.config, client, upstream_id) {
        tracing::warn!(upstream = %upstream_id, client = %client.id, "a login the identity provider started names a client that cannot take it (no initiate_login_uri, or not this upstream)");
        return Err(not_completed(
            "The identity provider sent you to an application that does not take sign-ins started there. Start at the application instead.",
        ));
    }
    Ok(client)
}

fn not_completed(message: &str) -> Outcome {
    Outcome::Untrusted {
        title: "Sign-in not completed".into(),
        message: message.into(),
    }
}
