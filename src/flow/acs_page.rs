//! Where the page of a SAML upstream's ACS may lead. The page posts the IdP's Response on
//! to the callback, whose answer may be a redirect to the app (the code, or an error):
//! browsers hold a form's redirects to the page's `form-action` too, so the page must
//! allow the app's address as well as Gatehouse's. Only the address is read here; the
//! callback checks everything else.

use super::Ctx;

/// The app's address the login `relay_state` names may end at: the redirect URI of the
/// pending login at `upstream_id`, or for a login the IdP started, the named client's
/// `initiate_login_uri`. `None`: Gatehouse's own pages only.
pub async fn returns_to(app: &Ctx<'_>, upstream_id: &str, relay_state: &str, now: i64) -> Option<String> {
    let pending = app
        .store
        .pending_authorizations
        .get(relay_state, now)
        .await
        .ok()
        .flatten();
    if let Some(pending) = pending.filter(|p| p.upstream.as_deref() == Some(upstream_id)) {
        return Some(pending.request.redirect_uri);
    }
    let unsolicited = app
        .upstreams
        .get(upstream_id)
        .is_some_and(|u| u.capabilities().unsolicited);
    let client = app.config.client(relay_state).filter(|_| unsolicited)?;
    client.initiate_login_uri.clone()
}
