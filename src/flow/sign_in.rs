//! The person is back from an upstream: the upstream's answer taken (once, when it may
//! be presented only once), mapped, the account linked and the session started. What
//! every way into a session shares: a login an app asked for, one the IdP started, and
//! an account link.

use super::{Ctx, Outcome};
use crate::domain::accounts::{self, Admission, Admitted, NotAdmitted};
use crate::domain::sessions;
use crate::store::{AuthContext, CompletedLogin};
use crate::upstream::{Person, Return, UpstreamError};

/// The person back from `upstream_id`, with an answer that may be taken only once (a
/// SAML Assertion) taken now: the same answer again, here or at another replica, is
/// refused.
pub async fn finish_once(app: &Ctx<'_>, upstream_id: &str, back: Return<'_>) -> Result<Person, UpstreamError> {
    let upstream = app
        .upstreams
        .get(upstream_id)
        .ok_or_else(|| UpstreamError::Denied("the upstream is gone".into()))?;
    let now = back.now;
    let person = upstream.finish(app.http, back).await?;
    if let Some(session) = &person.session {
        let disabled = crate::store::DisabledSubject::key(upstream_id, &session.subject);
        let found = app
            .store
            .disabled_subjects
            .get(&disabled, now)
            .await
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        if found.is_some() {
            return Err(UpstreamError::Denied(
                "the identity provider has disabled this account (a Shared Signals event)".into(),
            ));
        }
    }
    if let Some(once) = &person.once {
        let key = format!("{}:{upstream_id}:{}", upstream_id.len(), once.id);
        let used = crate::store::UsedAssertion { used_at: now };
        let first = app
            .store
            .used_assertions
            .insert_new(&key, &used, Some(once.until), now)
            .await
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        if !first {
            return Err(UpstreamError::Invalid(
                "the answer was presented before (a replay)".into(),
            ));
        }
    }
    Ok(person)
}

/// Why [`sign_in`] made no session.
pub enum SignInFailed {
    /// The upstream's answer does not fit its mapping (logged).
    Unmapped,
    Flow(Outcome),
}

/// Maps what `upstream_id` said of `person`, links the account and starts the session
/// (keeping what refreshes the person's upstream grant): its cookie and the login.
pub async fn sign_in(
    app: &Ctx<'_>,
    upstream_id: &str,
    person: Person,
    auth: AuthContext,
    now: i64,
) -> Result<(String, CompletedLogin), SignInFailed> {
    let failed = |outcome: Outcome| SignInFailed::Flow(outcome);
    let admitted = accounts::admit(
        app.store,
        app.config,
        app.upstreams,
        upstream_id,
        &person.document,
        Admission::SignIn,
        now,
    )
    .await;
    let sub = match admitted {
        Ok(Admitted::SignedIn(sub)) => sub,
        Err(NotAdmitted::Store(e)) => return Err(failed(e.into())),
        Err(NotAdmitted::Unmapped(e)) => {
            tracing::warn!(upstream = %upstream_id, error = %e, "the upstream's answer does not fit its mapping");
            return Err(SignInFailed::Unmapped);
        }
        Ok(_) | Err(NotAdmitted::NoMapping(_) | NotAdmitted::AnotherPerson) => {
            return Err(failed(Outcome::Failed(format!(
                "upstream {upstream_id} has no mapping"
            ))));
        }
    };
    let auth = AuthContext {
        idp: Some(upstream_id.to_string()),
        ..auth
    };
    let mut from = person.session;
    let upstream_refresh_token = from.as_mut().and_then(|s| s.refresh_token.take());
    let subject = from.as_ref().map(|s| s.subject.clone()).unwrap_or_default();
    let (cookie, session) = sessions::start(app.store, app.config, &sub, upstream_id, auth, from, now)
        .await
        .map_err(|e| failed(e.into()))?;
    // A kind that renews without a refresh token of its own (a directory) reads the
    // person again by `subject`.
    let renews_by_subject = app
        .config
        .upstream(upstream_id)
        .is_some_and(|u| u.settings.renew_on_app_refresh().is_some() && !u.settings.keeps_refresh_tokens());
    if upstream_refresh_token.is_some() || (renews_by_subject && !subject.is_empty()) {
        let sealing = &app.keys.policy().sealing;
        let grant = (upstream_id, subject.as_str(), sub.as_str());
        let token = upstream_refresh_token.as_ref();
        crate::domain::upstream_refresh::keep(app.store, app.config, sealing, &session.sid, grant, token, now)
            .await
            .map_err(|e| {
                failed(match e {
                    // An unavailable store is a 503, to be tried again.
                    crate::domain::upstream_refresh::Failed::Store(e) => Outcome::from(e),
                    other => Outcome::Failed(other.to_string()),
                })
            })?;
    }
    let done = CompletedLogin {
        sub: session.sub,
        sid: session.sid,
        auth: session.auth,
    };
    Ok((cookie, done))
}
