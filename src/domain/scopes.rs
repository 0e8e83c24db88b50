//! Which of the scopes an application asks for it is granted: one rule for the
//! authorization endpoint, the device flow and token exchange.

use crate::config::{Client, Config, GrantType};
use crate::mapping::STANDARD_SCOPES;
use crate::response_type::ResponseType;
use crate::scope::Scopes;

/// A request for scopes without `openid`, which every OpenID Connect request carries.
#[derive(Debug, PartialEq)]
pub struct WithoutOpenid;

impl std::fmt::Display for WithoutOpenid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scope must include openid")
    }
}

/// The scopes that will be granted: the known ones asked for that the client may have,
/// once each, in the order asked; `offline_access` only where a refresh token can follow
/// (OIDC Core §11: from exchanging a code, for a client with the refresh_token grant).
pub fn granted_scopes(
    config: &Config,
    client: &Client,
    scope: Option<&str>,
    response_type: ResponseType,
) -> Result<Scopes, WithoutOpenid> {
    let requested = Scopes::parse(scope.unwrap_or_default());
    if !requested.contains("openid") {
        return Err(WithoutOpenid);
    }
    let refresh_may_follow = response_type.code && client.grant_types.contains(&GrantType::RefreshToken);
    Ok(requested
        .iter()
        .filter(|scope| {
            let known = STANDARD_SCOPES.contains(scope) || config.scopes.contains_key(*scope);
            let allowed = *scope != "offline_access" || refresh_may_follow;
            known && allowed && client.may_have_scope(scope)
        })
        .collect())
}
