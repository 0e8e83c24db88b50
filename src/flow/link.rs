//! Account linking at `/account/link`: a person signed in through one upstream adds an
//! identity at another to the same account by logging in there, from this browser's
//! session. Both logins must be fresh (the session's within [`LINK_WINDOW_SECS`], the
//! other one made for the link, with `prompt=login`), the request carries a token only
//! this session's cookie gives, and an identity that logs in to another account already
//! is never moved.

use super::Ctx;
use super::{AccountPage, LinkChoice, Outcome};
use crate::domain::accounts::{self, Admission, Admitted, Linked, NotAdmitted};
use crate::domain::sessions;
use crate::store::{PendingLink, Session};
use crate::upstream::{CallbackParams, LoginOptions, Return};
use crate::{routes, secrets};

/// How recent the session's login must be to link another identity to it, and how
/// long the login at the other upstream may take.
pub const LINK_WINDOW_SECS: i64 = 600;

/// What the link page's forms send.
#[derive(Debug, serde::Deserialize)]
pub struct LinkForm {
    pub csrf: String,
}

/// The token that proves a link request comes from a page of this session's own.
fn csrf_of(cookie: &str) -> String {
    secrets::hash(&format!("account link\0{cookie}"))
}

/// The session behind `cookie`, if it may link: live, and logged in lately.
async fn fresh_session(app: &Ctx<'_>, cookie: Option<&str>, now: i64) -> Result<Session, Outcome> {
    let session = sessions::find(app.store, cookie, now).await?.ok_or_else(|| {
        page(
            "Sign in first",
            "Linking adds another way to sign in to your account: sign in through your application first, then come back here.",
        )
    })?;
    if now - session.auth.auth_time > LINK_WINDOW_SECS {
        return Err(page(
            "Sign in again",
            "For your safety, linking needs a sign-in from the last 10 minutes. Sign in again through your application (it may ask you to), then come back here.",
        ));
    }
    Ok(session)
}

fn page(title: &str, message: &str) -> Outcome {
    Outcome::Account(Box::new(AccountPage {
        title: title.to_string(),
        message: message.to_string(),
        choices: Vec::new(),
        csrf: None,
    }))
}

/// `GET /account/link`: the upstreams the session's account can add.
pub async fn choices(app: &Ctx<'_>, cookie: Option<&str>, now: i64) -> Outcome {
    let listed = async {
        let session = fresh_session(app, cookie, now).await?;
        let account = app
            .store
            .accounts
            .get(&session.sub, now)
            .await?
            .ok_or(Outcome::Expired)?;
        let linked = accounts::links_of(&account);
        let choices: Vec<LinkChoice> = app
            .config
            .upstreams
            .iter()
            .filter(|u| !linked.iter().any(|l| l.upstream == u.id))
            .filter(|u| app.upstreams.get(&u.id).is_some_and(|r| r.capabilities().redirect))
            .map(|u| LinkChoice {
                name: u.name.clone(),
                action: routes::account_link_to(&u.id),
            })
            .collect();
        let message = if choices.is_empty() {
            "Every way to sign in here is linked to your account already."
        } else {
            "Sign in at one of these as well, and you can use either to sign in here. You will be asked to sign in there again."
        };
        Ok(Outcome::Account(Box::new(AccountPage {
            title: "Link another sign-in".into(),
            message: message.into(),
            choices,
            csrf: cookie.map(csrf_of),
        })))
    };
    super::settle(listed.await)
}

/// `POST /account/link/{upstream}`: sends the person to log in at the upstream anew.
pub async fn start(
    app: &Ctx<'_>,
    upstream_id: &str,
    form: LinkForm,
    cookie: Option<&str>,
    browser: Option<&str>,
    now: i64,
) -> Outcome {
    let started = async {
        let session = fresh_session(app, cookie, now).await?;
        let (Some(cookie), Some(browser)) = (cookie, browser) else {
            return Err(Outcome::Expired);
        };
        if !secrets::equal(&csrf_of(cookie), &form.csrf) {
            return Err(Outcome::Expired);
        }
        let upstream = app.upstreams.get(upstream_id).ok_or(Outcome::Expired)?;
        if !upstream.capabilities().redirect || upstream_id == session.upstream {
            return Err(Outcome::Expired);
        }
        let lid = secrets::random_token();
        let options = LoginOptions {
            state: &lid,
            login_hint: None,
            force_login: true,
            select_account: false,
            max_age: Some(0),
            acr_values: &[],
            ui_locales: None,
            now,
        };
        let begin = upstream.begin(app.http, options).await.map_err(|e| {
            tracing::warn!(upstream = %upstream_id, error = %e, "cannot start a link login");
            page("Not available", "That sign-in cannot be reached now. Try again later.")
        })?;
        let pending = PendingLink {
            sid: session.sid,
            browser: secrets::hash(browser),
            upstream: upstream_id.to_string(),
            upstream_nonce: begin.nonce,
            pkce_verifier: begin.pkce_verifier,
            asked_at: now,
        };
        app.store
            .pending_links
            .put(&lid, &pending, Some(now + LINK_WINDOW_SECS))
            .await?;
        Ok(Outcome::Redirect(begin.url))
    };
    super::settle(started.await)
}

/// `GET /callback/{upstream}` when its `state` is a link's: the link's outcome (the
/// link is used up); `None` when it is not a link's.
pub async fn callback(
    app: &Ctx<'_>,
    upstream_id: &str,
    params: &CallbackParams,
    browser: Option<&str>,
    cookie: Option<&str>,
    now: i64,
) -> Option<Outcome> {
    let state = params.state.as_deref()?;
    match app.store.pending_links.take(state, now).await {
        Ok(Some(pending)) => Some(finish(app, upstream_id, pending, params, browser, cookie, now).await),
        Ok(None) => None,
        Err(e) => Some(e.into()),
    }
}

/// The person is back at `/callback/{upstream}` from the login of the link `pending`
/// (taken out of the store already): links the identity there if all holds.
async fn finish(
    app: &Ctx<'_>,
    upstream_id: &str,
    pending: PendingLink,
    params: &CallbackParams,
    browser: Option<&str>,
    cookie: Option<&str>,
    now: i64,
) -> Outcome {
    let finished = async {
        let ours = browser.is_some_and(|b| secrets::equal(&secrets::hash(b), &pending.browser));
        let session = sessions::find(app.store, cookie, now).await?;
        let same_session = session.as_ref().is_some_and(|s| s.sid == pending.sid);
        if !ours || !same_session || pending.upstream != upstream_id {
            return Err(Outcome::Expired);
        }
        let session = session.ok_or(Outcome::Expired)?;
        app.upstreams.get(upstream_id).ok_or(Outcome::Expired)?;
        let back = Return {
            callback: params,
            nonce: pending.upstream_nonce.as_deref(),
            pkce_verifier: &pending.pkce_verifier,
            now,
        };
        let refused = || {
            page(
                "Not linked",
                "The sign-in there did not succeed, so nothing was linked.",
            )
        };
        let person = super::sign_in::finish_once(app, upstream_id, back).await.map_err(|e| {
            tracing::warn!(upstream = %upstream_id, error = %e, "a link login failed");
            refused()
        })?;
        let fresh = person
            .authentication
            .auth_time
            .is_some_and(|t| t >= pending.asked_at - 30);
        if !fresh {
            return Err(page(
                "Not linked",
                "That sign-in was not made just now, so nothing was linked. Try again, and sign in there when asked.",
            ));
        }
        let admitted = accounts::admit(
            app.store,
            app.config,
            app.upstreams,
            upstream_id,
            &person.document,
            Admission::LinkTo { sub: &session.sub },
            now,
        )
        .await;
        let linked = match admitted {
            Ok(Admitted::Linked(linked)) => linked,
            Err(NotAdmitted::Store(e)) => return Err(e.into()),
            Ok(_) | Err(_) => return Err(refused()),
        };
        let name = app
            .config
            .upstream(upstream_id)
            .map(|u| u.name.clone())
            .unwrap_or_default();
        Ok(match linked {
            Linked::Added => {
                tracing::info!(target: "gatehouse::security", event = "account_linked", upstream = upstream_id, "an identity was linked to an account");
                page("Linked", &format!("You can now sign in here with {name} as well."))
            }
            Linked::Already => page(
                "Linked already",
                &format!("That {name} sign-in is linked to your account already."),
            ),
            Linked::Elsewhere => page(
                "Not linked",
                &format!("That {name} sign-in belongs to another account here, so it was not linked to yours."),
            ),
        })
    };
    super::settle(finished.await)
}
