//! Signing what a grant produced: the RFC 9068 access token and the ID token with the
//! claims its scopes release, for the token endpoint and the authorization endpoint.

use super::{FrontChannelTokens, IssuedAccessToken, TokenError, TokenResponse, TokenService};
use crate::keys::TokenType;
use crate::mapping::release;
use crate::scope::Scopes;
use crate::secrets;
use crate::store::{AuthContext, AuthorizationRequest, CompletedLogin, IssuedJti};
use serde_json::{Map, Value as Json, json};

/// What a grant produced, before it is signed.
pub(super) struct Grant<'r> {
    pub client_id: &'r str,
    pub scope: &'r Scopes,
    pub login: &'r CompletedLogin,
    pub nonce: Option<&'r str>,
    /// The thumbprint of the DPoP key the access token is bound to.
    pub jkt: Option<&'r str>,
    /// The APIs the access token is for (RFC 8707); none: the client.
    pub resources: &'r [String],
}

impl TokenService<'_> {
    /// The token endpoint's answer: an access token, an ID token when `openid` was
    /// granted, and the refresh token the grant made, if any.
    pub(super) async fn sign(
        &self,
        grant: &Grant<'_>,
        jti: &str,
        access_exp: i64,
        refresh_token: Option<String>,
    ) -> Result<TokenResponse, TokenError> {
        let access_token = self.access_token(grant, jti, access_exp).await?;
        let id_token = if grant.scope.contains("openid") {
            Some(self.id_token(grant, Some(&access_token), None).await?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: token_type(grant.jkt),
            expires_in: access_exp - self.now,
            scope: grant.scope.clone(),
            id_token,
            refresh_token,
            issued_token_type: None,
        })
    }

    /// What the authorization endpoint hands out itself in the implicit and hybrid flows:
    /// an access token and an ID token, as far as the request's response type asks. The
    /// ID token carries `at_hash` of the access token and `c_hash` of `code` when they
    /// travel with it (OpenID Connect Core §3.2.2.10, §3.3.2.11).
    /// `access` is the `jti` and expiry the access token gets, when the response type asks
    /// for one (the code's record keeps them, for a replay to revoke).
    pub async fn front_channel(
        &self,
        request: &AuthorizationRequest,
        login: &CompletedLogin,
        code: Option<&str>,
        access: Option<&IssuedJti>,
    ) -> Result<FrontChannelTokens, TokenError> {
        let grant = Grant {
            client_id: &request.client_id,
            scope: &request.scope,
            login,
            nonce: request.nonce.as_deref(),
            // The front channel carries no proof: its tokens are bearer tokens.
            jkt: None,
            resources: &request.resources,
        };
        let access_token = match access {
            Some(access) => Some(IssuedAccessToken {
                token: self.access_token(&grant, &access.jti, access.exp).await?,
                expires_in: access.exp - self.now,
            }),
            None => None,
        };
        let id_token = if request.response_type.id_token {
            let at = access_token.as_ref().map(|a| a.token.as_str());
            Some(self.id_token(&grant, at, code).await?)
        } else {
            None
        };
        Ok(FrontChannelTokens { access_token, id_token })
    }

    /// An RFC 9068 access token.
    async fn access_token(&self, grant: &Grant<'_>, jti: &str, exp: i64) -> Result<String, TokenError> {
        let mut claims = json!({
            "iss": self.config.issuer, "sub": grant.login.sub,
            "aud": crate::domain::resources::audience(grant.client_id, grant.resources),
            "client_id": grant.client_id, "scope": grant.scope, "iat": self.now, "exp": exp, "jti": jti,
            "sid": grant.login.sid,
        });
        if let Json::Object(claims) = &mut claims {
            authentication_claims(claims, &grant.login.auth);
            if let Some(jkt) = grant.jkt {
                claims.insert("cnf".into(), json!({ "jkt": jkt }));
            }
        }
        Ok(self.keys.sign(&claims, TokenType::Access).await?)
    }

    /// An ID token with the claims the grant's scopes release, bound to the access token
    /// and code it travels with by their hashes.
    async fn id_token(
        &self,
        grant: &Grant<'_>,
        access_token: Option<&str>,
        code: Option<&str>,
    ) -> Result<String, TokenError> {
        let alg = self.keys.signing_alg();
        let mut claims = self.released_claims(&grant.login.sub, grant.scope).await?;
        let standard = json!({
            "iss": self.config.issuer, "sub": grant.login.sub, "aud": grant.client_id, "iat": self.now,
            "exp": self.now + self.config.tokens.id_token_ttl.as_secs_i64(), "sid": grant.login.sid,
        });
        if let Json::Object(standard) = standard {
            claims.extend(standard);
        }
        authentication_claims(&mut claims, &grant.login.auth);
        let names_idp = self.config.client(grant.client_id).is_some_and(|c| c.idp_claim);
        if let (true, Some(idp)) = (names_idp, &grant.login.auth.idp) {
            claims.insert("idp".into(), json!(idp));
        }
        for (name, bound) in [("at_hash", access_token), ("c_hash", code)] {
            if let Some(value) = bound {
                claims.insert(name.into(), Json::String(secrets::half_hash(alg, value)));
            }
        }
        if let Some(nonce) = grant.nonce {
            claims.insert("nonce".into(), Json::String(nonce.to_string()));
        }
        Ok(self.keys.sign(&Json::Object(claims), TokenType::Id).await?)
    }

    /// The account's mapped claims that `scope` releases.
    async fn released_claims(&self, sub: &str, scope: &Scopes) -> Result<Map<String, Json>, TokenError> {
        let claims = self
            .store
            .accounts
            .get(sub, self.now)
            .await?
            .map(|a| a.claims)
            .unwrap_or_default();
        Ok(release(&claims, scope, &self.config.scopes))
    }
}

/// `auth_time`, and `acr` and `amr` as far as the login told them (OpenID Connect Core §2,
/// RFC 9068 §2.2.1).
fn authentication_claims(claims: &mut Map<String, Json>, auth: &AuthContext) {
    claims.insert("auth_time".into(), json!(auth.auth_time));
    if let Some(acr) = &auth.acr {
        claims.insert("acr".into(), json!(acr));
    }
    if !auth.amr.is_empty() {
        claims.insert("amr".into(), json!(auth.amr));
    }
}

/// The `token_type` of an access token bound to `jkt`, or not bound (RFC 9449 §5.1).
pub(super) fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() { "DPoP" } else { "Bearer" }
}

impl TokenService<'_> {
    /// An answer with only an access token: `claims` signed, expiring at `exp`, of the
    /// DPoP kind when bound to `jkt`.
    pub(super) async fn access_token_only(
        &self,
        claims: &serde_json::Value,
        exp: i64,
        scope: Scopes,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        Ok(TokenResponse {
            access_token: self.keys.sign(claims, TokenType::Access).await?,
            token_type: token_type(jkt),
            expires_in: exp - self.now,
            scope,
            id_token: None,
            refresh_token: None,
            issued_token_type: None,
        })
    }
}
