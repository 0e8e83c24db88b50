//! The state behind issued tokens: refresh families, revoked access tokens, and what
//! revocation (RFC 7009) and introspection (RFC 7662) read and change of it.

use super::{TokenError, TokenService};
use crate::config::Client;
use crate::domain::token_liveness::{Inactive, active_access_token};
use crate::secrets;
use crate::store::{
    AccountFamily, AuthorizationRequest, CompletedLogin, FamilyId, IssuedJti, Redeemed, RefreshFamily, RefreshToken,
    RevokedToken, Write,
};
use serde_json::{Map, Value as Json, json};

impl TokenService<'_> {
    /// Adds a new refresh family with its first token to `write`; returns the token.
    pub(super) fn stage_family(
        &self,
        write: &mut Write,
        family: &FamilyId,
        request: &AuthorizationRequest,
        login: &CompletedLogin,
        jkt: Option<&str>,
    ) -> Result<String, TokenError> {
        let token = secrets::random_token();
        let hash = secrets::hash(&token);
        let expires = Some(self.refresh_expiry(login.auth.started_at()));
        let record = RefreshFamily {
            client_id: request.client_id.clone(),
            sub: login.sub.clone(),
            sid: login.sid.clone(),
            scope: request.scope.clone(),
            auth: login.auth.clone(),
            current: hash.clone(),
            revoked: false,
            jkt: jkt.map(String::from),
            resources: request.resources.clone(),
            previous: None,
            rotated_at: None,
        };
        self.store.refresh_families.stage_put(write, family, &record, expires)?;
        // Indexed for as long as the family can live, however often it rotates.
        let longest = login
            .auth
            .started_at()
            .saturating_add(self.config.tokens.refresh_token_absolute_ttl.as_secs_i64());
        let indexed = AccountFamily { family: family.clone() };
        let key = AccountFamily::key(&login.sub, &request.client_id, family);
        self.store
            .account_families
            .stage_put(write, &key, &indexed, Some(longest))?;
        let first = RefreshToken {
            family: family.clone(),
            issued_at: self.now,
        };
        self.store.refresh_tokens.stage_put(write, &hash, &first, expires)?;
        Ok(token)
    }

    /// When a refresh token issued now stops working: unused for `refresh_token_ttl`, or
    /// `refresh_token_absolute_ttl` after the login its family comes from, whichever is
    /// first. Rotation starts the first again, never the second.
    pub(super) fn refresh_expiry(&self, session_started_at: i64) -> i64 {
        let tokens = &self.config.tokens;
        let idle = self.now.saturating_add(tokens.refresh_token_ttl.as_secs_i64());
        let absolute = session_started_at.saturating_add(tokens.refresh_token_absolute_ttl.as_secs_i64());
        idle.min(absolute)
    }

    /// Revokes what a code issued when it was redeemed, and the access token the
    /// authorization endpoint handed out with it.
    pub(super) async fn revoke_redeemed(
        &self,
        redeemed: &Redeemed,
        front_channel: Option<&IssuedJti>,
    ) -> Result<(), TokenError> {
        self.revoke_jti(&redeemed.access_token_jti, redeemed.access_token_exp)
            .await?;
        if let Some(front) = front_channel {
            self.revoke_jti(&front.jti, front.exp).await?;
        }
        if let Some(family) = &redeemed.refresh_family {
            self.revoke_family(family).await?;
        }
        Ok(())
    }

    pub(super) async fn revoke_family(&self, family: &str) -> Result<(), TokenError> {
        Ok(crate::domain::refresh_families::revoke(self.store, self.config, family, self.now).await?)
    }

    /// Revokes the access token `jti` until it would expire at `exp`.
    async fn revoke_jti(&self, jti: &str, exp: i64) -> Result<(), TokenError> {
        let revoked = RevokedToken { revoked_at: self.now };
        Ok(self.store.revoked_tokens.put(jti, &revoked, Some(exp)).await?)
    }

    /// The claims of `token` if it is an active access token; an error only when that
    /// cannot be told now.
    async fn active_access_token(&self, token: &str) -> Result<Option<Map<String, Json>>, TokenError> {
        match active_access_token(self.config, self.keys, self.store, token, self.now).await {
            Ok(claims) => Ok(Some(claims)),
            Err(Inactive::Ended(_)) => Ok(None),
            Err(Inactive::Unknown(e)) => Err(e.into()),
        }
    }

    /// Token revocation (RFC 7009): an access token is revoked by its `jti` until it
    /// would expire; a refresh token revokes its family. Unknown tokens are not an error.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<(), TokenError> {
        let not_yours = || TokenError::UnauthorizedClient("the token was not issued to this client".into());
        if let Some(claims) = self.active_access_token(token).await? {
            if claims.get("client_id").and_then(Json::as_str) != Some(client.id.as_str()) {
                return Err(not_yours());
            }
            let jti = claims.get("jti").and_then(Json::as_str).unwrap_or_default();
            let exp = claims.get("exp").and_then(Json::as_i64).unwrap_or(self.now);
            self.revoke_jti(jti, exp).await?;
            self.telemetry.revoked("access");
            return Ok(());
        }
        if let Some(record) = self.store.refresh_tokens.get(&secrets::hash(token), self.now).await?
            && let Some(family) = self.store.refresh_families.get(&record.family, self.now).await?
        {
            if family.client_id != client.id {
                return Err(not_yours());
            }
            self.revoke_family(&record.family).await?;
            self.telemetry.revoked("refresh");
        }
        Ok(())
    }

    /// Token introspection (RFC 7662): what is known of an active token, told only to the
    /// client it was issued to or to a client with `introspect = true`.
    pub async fn introspect(&self, caller: &Client, token: &str) -> Result<Json, TokenError> {
        let inactive = json!({ "active": false });
        let may_see = |client_id: &str| caller.introspect || caller.id == client_id;
        if let Some(claims) = self.active_access_token(token).await? {
            let client_id = claims.get("client_id").and_then(Json::as_str).unwrap_or_default();
            if !may_see(client_id) {
                return Ok(inactive);
            }
            let mut answer = Map::new();
            answer.insert("active".into(), Json::Bool(true));
            // A DPoP-bound token says so, with its key (RFC 9449 §6.2).
            let token_type = if claims.contains_key("cnf") { "DPoP" } else { "Bearer" };
            answer.insert("token_type".into(), token_type.into());
            for field in [
                "scope",
                "client_id",
                "sub",
                "exp",
                "iat",
                "iss",
                "aud",
                "jti",
                "sid",
                "cnf",
            ] {
                if let Some(value) = claims.get(field) {
                    answer.insert(field.into(), value.clone());
                }
            }
            return Ok(Json::Object(answer));
        }
        let hash = secrets::hash(token);
        let Some(record) = self.store.refresh_tokens.get(&hash, self.now).await? else {
            return Ok(inactive);
        };
        let Some((family, expires)) = self
            .store
            .refresh_families
            .get_with_expiry(&record.family, self.now)
            .await?
        else {
            return Ok(inactive);
        };
        if family.revoked || family.current != hash || !may_see(&family.client_id) {
            return Ok(inactive);
        }
        let mut answer = json!({
            "active": true, "token_type": "refresh_token", "scope": family.scope, "client_id": family.client_id,
            "sub": family.sub, "iat": record.issued_at, "exp": expires, "iss": self.config.issuer, "sid": family.sid,
        });
        if let (Json::Object(answer), Some(jkt)) = (&mut answer, &family.jkt) {
            answer.insert("cnf".into(), json!({ "jkt": jkt }));
        }
        Ok(answer)
    }
}
