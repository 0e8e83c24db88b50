//! The refresh_token grant (RFC 6749 §6): the token rotates on every use (but for FAPI
//! 2.0 clients), a token rotated away is reuse that revokes its family — unless it is a
//! retry of a rotation whose answer was lost (`tokens.refresh_retry_window`) — and the
//! upstream is asked again when its refresh is due.

use super::grants::check_bound_key;
use super::sign::Grant;
use super::{TokenError, TokenResponse, TokenService};
use crate::config::Client;
use crate::scope::Scopes;
use crate::secrets;
use crate::store::{Commit, CompletedLogin, FamilyId, RefreshToken, Versioned};

impl TokenService<'_> {
    /// The refresh_token grant: rotates the token; a token that was already rotated
    /// revokes its whole family.
    pub(super) async fn refresh(
        &self,
        client: &Client,
        token: &str,
        scope: Option<&str>,
        resources: &[String],
        jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let invalid = || TokenError::InvalidGrant("the refresh token is invalid, expired or revoked".into());
        let hash = secrets::hash(token);
        let record = self
            .store
            .refresh_tokens
            .get(&hash, self.now)
            .await?
            .ok_or_else(invalid)?;
        for _ in 0..crate::store::MAX_RACES {
            let current = self
                .store
                .refresh_families
                .read(&record.family, self.now)
                .await?
                .ok_or_else(invalid)?;
            let family = &current.value;
            if family.client_id != client.id || family.revoked {
                return Err(invalid());
            }
            if family.current != hash {
                if !self.is_retry(client, family, &hash) {
                    self.revoke_family(&record.family).await?;
                    self.telemetry.refresh_reuse(&client.id);
                    return Err(invalid());
                }
                tracing::info!(client = %client.id, "a refresh token rotated moments ago came again: a new successor, no revocation");
            }
            if let Err(refused) = check_bound_key(family.jkt.as_deref(), jkt, "refresh token") {
                // A FAPI 2.0 client's refresh token does not rotate, so reuse cannot show a
                // theft; the client's own key with another DPoP key does: whoever holds the
                // token and the client's credentials is not the client's instance.
                if client.is_fapi2() && jkt.is_some() {
                    self.revoke_family(&record.family).await?;
                    self.telemetry.refresh_reuse(&client.id);
                }
                return Err(refused);
            }
            let scope = narrowed_scope(&family.scope, scope)?;
            let resources = crate::domain::resources::narrowed(self.config, &family.resources, resources)
                .map_err(TokenError::InvalidTarget)?;
            self.renew_at_upstream(&record.family, family).await?;
            let asked = Asked {
                scope: &scope,
                resources: &resources,
                token,
            };
            if let Some(response) = self.rotate(client, &record.family, &current, asked, jkt).await? {
                return Ok(response);
            }
        }
        Err(invalid())
    }

    /// What the upstream says of the person now, when it refreshes: a refusal there ends
    /// the family.
    async fn renew_at_upstream(&self, family_id: &str, family: &crate::store::RefreshFamily) -> Result<(), TokenError> {
        use crate::domain::upstream_refresh::{Failed, renew};
        match renew(&self.renewal, self.store, self.config, family, self.now).await {
            Ok(()) => Ok(()),
            Err(Failed::Gone(why)) => {
                tracing::info!(reason = %why, "the upstream refused a refresh: the family is revoked");
                self.revoke_family(family_id).await?;
                Err(TokenError::InvalidGrant(
                    "the identity provider no longer vouches for this sign-in".into(),
                ))
            }
            Err(Failed::Unavailable(why)) => Err(TokenError::TemporarilyUnavailable(why)),
            Err(Failed::Store(e)) => Err(e.into()),
        }
    }

    /// Moves the family to a new token, if it is still as read, in the same write that
    /// stores the new token; `None` when another request rotated it at the same moment
    /// (the next round finds the token no longer current and revokes the family).
    async fn rotate(
        &self,
        client: &Client,
        family_id: &FamilyId,
        current: &Versioned<crate::store::RefreshFamily>,
        asked: Asked<'_>,
        jkt: Option<&str>,
    ) -> Result<Option<TokenResponse>, TokenError> {
        let family = &current.value;
        // FAPI 2.0 §5.3.2.1 forbids rotation: a FAPI 2.0 client keeps its (DPoP-bound)
        // token, whose lifetime moves on as a rotated one's would.
        let next = if client.is_fapi2() {
            asked.token.to_string()
        } else {
            secrets::random_token()
        };
        let next_hash = secrets::hash(&next);
        let expires = Some(self.refresh_expiry(family.auth.started_at()));
        let mut rotated = family.clone();
        // A retry keeps what the rotation it retries took, and when: the window does not
        // start again.
        let presented = secrets::hash(asked.token);
        if family.current == presented && !client.is_fapi2() {
            rotated.previous = Some(presented);
            rotated.rotated_at = Some(self.now);
        }
        rotated.current = next_hash.clone();
        let mut write = self.store.write(self.now);
        self.store.refresh_families.expect(&mut write, family_id, Some(current));
        self.store
            .refresh_families
            .stage_put(&mut write, family_id, &rotated, expires)?;
        let token_record = RefreshToken {
            family: family_id.clone(),
            issued_at: self.now,
        };
        self.store
            .refresh_tokens
            .stage_put(&mut write, &next_hash, &token_record, expires)?;
        let login = CompletedLogin {
            sub: family.sub.clone(),
            sid: family.sid.clone(),
            auth: family.auth.clone(),
        };
        let grant = Grant {
            client_id: &client.id,
            scope: asked.scope,
            login: &login,
            nonce: None,
            jkt,
            resources: asked.resources,
        };
        let jti = secrets::random_token();
        let access_exp = self.now + self.config.tokens.access_token_ttl.as_secs_i64();
        let response = self.sign(&grant, &jti, access_exp, Some(next)).await?;
        Ok(match self.store.commit(write).await? {
            Commit::Done => Some(response),
            Commit::Conflict => None,
        })
    }

    /// Whether `hash`, a token of `family` that is no longer current, is a retry of the
    /// family's last rotation: the token that rotation took, presented within
    /// `tokens.refresh_retry_window`, and its successor not used since (a use would have
    /// moved `previous` on). A FAPI 2.0 client's tokens do not rotate, so never.
    fn is_retry(&self, client: &Client, family: &crate::store::RefreshFamily, hash: &str) -> bool {
        let window = self.config.tokens.refresh_retry_window_secs;
        window > 0
            && !client.is_fapi2()
            && family.previous.as_deref() == Some(hash)
            && family.rotated_at.is_some_and(|at| self.now - at < window)
    }
}

/// What a refresh asks the new access token to be for: the family's scope and
/// resources, or fewer.
#[derive(Clone, Copy)]
struct Asked<'a> {
    scope: &'a Scopes,
    resources: &'a [String],
    /// The refresh token presented.
    token: &'a str,
}

/// The scope a refresh asks for, which may only narrow what the family was granted.
pub(super) fn narrowed_scope(granted: &Scopes, asked: Option<&str>) -> Result<Scopes, TokenError> {
    let Some(asked) = asked else {
        return Ok(granted.clone());
    };
    let asked = Scopes::parse(asked);
    if let Some(extra) = asked.first_not_in(granted) {
        return Err(TokenError::InvalidScope(format!(
            "\"{extra}\" was not granted to this token"
        )));
    }
    Ok(asked)
}
