//! Gatehouse's own tokens: exchanging a code, refreshing, and signing the ID token and
//! the access token (RFC 9068 shape). Plain functions over the store and keys, taking `now`.

use crate::config::{Client, Config, GrantType};
use crate::keys::Keys;
use crate::mapping::release;
use crate::op::error::OAuthError;
use crate::secrets;
use crate::store::{
    AuthorizationRequest, Commit, CompletedLogin, Redeemed, RefreshFamily, RefreshToken, RevokedToken, Store, Write,
};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};

/// What the token endpoint answers (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Tokens from the authorization endpoint (implicit and hybrid flows).
#[derive(Debug)]
pub struct FrontChannelTokens {
    pub access_token: Option<IssuedAccessToken>,
    pub id_token: Option<String>,
}

#[derive(Debug)]
pub struct IssuedAccessToken {
    pub token: String,
    pub expires_in: i64,
}

/// How often a grant is tried again when a concurrent request changed its records
/// between the read and the write (the retry then sees what that request did).
const MAX_RACES: usize = 8;

/// Everything issuing needs.
pub struct Issuer<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub keys: &'a Keys,
    pub now: i64,
}

/// What a grant produced, before it is signed.
struct Grant<'r> {
    client_id: &'r str,
    scope: &'r str,
    login: &'r CompletedLogin,
    nonce: Option<&'r str>,
}

impl Issuer<'_> {
    /// The authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6).
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let key = secrets::hash(code);
        let invalid = || OAuthError::InvalidGrant("the code is invalid, expired or already used".into());
        for _ in 0..MAX_RACES {
            let current = self.store.codes.read(&key, self.now).await?.ok_or_else(invalid)?;
            let record = &current.value;
            if let Some(redeemed) = &record.redeemed {
                self.revoke_redeemed(redeemed).await?;
                tracing::warn!(client = %client.id, "an authorization code was used twice: its tokens are revoked");
                return Err(invalid());
            }
            if record.request.client_id != client.id {
                return Err(invalid());
            }
            if self.now - record.issued_at > self.config.tokens.code_ttl.as_secs_i64() {
                return Err(invalid());
            }
            if redirect_uri != Some(record.request.redirect_uri.as_str()) {
                return Err(OAuthError::InvalidGrant(
                    "redirect_uri does not match the authorization request".into(),
                ));
            }
            check_pkce(record.request.code_challenge.as_deref(), verifier)?;
            let offline = has_scope(&record.request.scope, "offline_access")
                && client.grant_types.contains(&GrantType::RefreshToken);
            let jti = secrets::random_token();
            let access_exp = self.now + self.config.tokens.access_token_ttl.as_secs_i64();
            let family = offline.then(|| format!("{}:{}", record.login.sid, secrets::random_token()));
            let mut marked = record.clone();
            marked.redeemed = Some(Redeemed {
                access_token_jti: jti.clone(),
                access_token_exp: access_exp,
                refresh_family: family.clone(),
            });
            // Single use: the code is marked only if nobody marked it since it was read,
            // in the same write as the refresh family it starts.
            let mut write = self.store.write(self.now);
            self.store.codes.expect(&mut write, &key, Some(&current));
            let keep = self.now + self.config.tokens.refresh_token_ttl.as_secs_i64();
            self.store.codes.stage_put(&mut write, &key, &marked, Some(keep))?;
            let refresh_token = match &family {
                Some(family) => Some(self.stage_family(&mut write, family, &record.request, &record.login)?),
                None => None,
            };
            let grant = Grant {
                client_id: &client.id,
                scope: &record.request.scope,
                login: &record.login,
                nonce: record.request.nonce.as_deref(),
            };
            let response = self.sign(&grant, &jti, access_exp, refresh_token).await?;
            match self.store.commit(write).await? {
                Commit::Done => return Ok(response),
                // Redeemed at the same moment by another request: the next round sees it
                // redeemed and treats this one as the replay.
                Commit::Conflict => continue,
            }
        }
        Err(invalid())
    }

    /// The refresh_token grant (RFC 6749 §6): rotates the token; a token that was
    /// already rotated revokes its whole family.
    pub async fn refresh(
        &self,
        client: &Client,
        token: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let invalid = || OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked".into());
        if !client.grant_types.contains(&GrantType::RefreshToken) {
            return Err(OAuthError::UnauthorizedClient(
                "this client may not use refresh tokens".into(),
            ));
        }
        let hash = secrets::hash(token);
        let record = self
            .store
            .refresh_tokens
            .get(&hash, self.now)
            .await?
            .ok_or_else(invalid)?;
        for _ in 0..MAX_RACES {
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
                self.revoke_family(&record.family).await?;
                tracing::warn!(client = %client.id, "a rotated refresh token was used again: its family is revoked");
                return Err(invalid());
            }
            let scope = narrowed_scope(&family.scope, scope)?;
            let next = secrets::random_token();
            let next_hash = secrets::hash(&next);
            let expires = Some(self.now + self.config.tokens.refresh_token_ttl.as_secs_i64());
            // Rotation: the family moves to the new token only if it is still as read,
            // in the same write that stores the new token.
            let mut rotated = family.clone();
            rotated.current = next_hash.clone();
            let mut write = self.store.write(self.now);
            self.store
                .refresh_families
                .expect(&mut write, &record.family, Some(&current));
            self.store
                .refresh_families
                .stage_put(&mut write, &record.family, &rotated, expires)?;
            let token_record = RefreshToken {
                family: record.family.clone(),
                issued_at: self.now,
            };
            self.store
                .refresh_tokens
                .stage_put(&mut write, &next_hash, &token_record, expires)?;
            let login = CompletedLogin {
                sub: family.sub.clone(),
                sid: family.sid.clone(),
                auth_time: family.auth_time,
            };
            let grant = Grant {
                client_id: &client.id,
                scope: &scope,
                login: &login,
                nonce: None,
            };
            let jti = secrets::random_token();
            let access_exp = self.now + self.config.tokens.access_token_ttl.as_secs_i64();
            let response = self.sign(&grant, &jti, access_exp, Some(next)).await?;
            match self.store.commit(write).await? {
                Commit::Done => return Ok(response),
                // Rotated at the same moment by another request: the next round finds the
                // token no longer current and revokes the family, as for any replay.
                Commit::Conflict => continue,
            }
        }
        Err(invalid())
    }

    /// Adds a new refresh family with its first token to `write`; returns the token.
    fn stage_family(
        &self,
        write: &mut Write,
        family: &str,
        request: &AuthorizationRequest,
        login: &CompletedLogin,
    ) -> Result<String, OAuthError> {
        let token = secrets::random_token();
        let hash = secrets::hash(&token);
        let expires = Some(self.now + self.config.tokens.refresh_token_ttl.as_secs_i64());
        let record = RefreshFamily {
            client_id: request.client_id.clone(),
            sub: login.sub.clone(),
            sid: login.sid.clone(),
            scope: request.scope.clone(),
            auth_time: login.auth_time,
            current: hash.clone(),
            revoked: false,
        };
        self.store.refresh_families.stage_put(write, family, &record, expires)?;
        let first = RefreshToken {
            family: family.to_string(),
            issued_at: self.now,
        };
        self.store.refresh_tokens.stage_put(write, &hash, &first, expires)?;
        Ok(token)
    }

    async fn sign(
        &self,
        grant: &Grant<'_>,
        jti: &str,
        access_exp: i64,
        refresh_token: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let access_token = self.access_token(grant, jti, access_exp)?;
        let id_token = if has_scope(grant.scope, "openid") {
            Some(self.id_token(grant, Some(&access_token), None).await?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: access_exp - self.now,
            scope: grant.scope.to_string(),
            id_token,
            refresh_token,
        })
    }

    /// What the authorization endpoint hands out itself in the implicit and hybrid flows:
    /// an access token and an ID token, as far as the request's response type asks. The
    /// ID token carries `at_hash` of the access token and `c_hash` of `code` when they
    /// travel with it (OpenID Connect Core §3.2.2.10, §3.3.2.11).
    pub async fn front_channel(
        &self,
        request: &AuthorizationRequest,
        login: &CompletedLogin,
        code: Option<&str>,
    ) -> Result<FrontChannelTokens, OAuthError> {
        let grant = Grant {
            client_id: &request.client_id,
            scope: &request.scope,
            login,
            nonce: request.nonce.as_deref(),
        };
        let access_token = if request.response_type.token {
            let exp = self.now + self.config.tokens.access_token_ttl.as_secs_i64();
            Some(IssuedAccessToken {
                token: self.access_token(&grant, &secrets::random_token(), exp)?,
                expires_in: exp - self.now,
            })
        } else {
            None
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
    fn access_token(&self, grant: &Grant, jti: &str, exp: i64) -> Result<String, OAuthError> {
        let claims = json!({
            "iss": self.config.issuer, "sub": grant.login.sub, "aud": grant.client_id,
            "client_id": grant.client_id, "scope": grant.scope, "iat": self.now, "exp": exp, "jti": jti,
            "auth_time": grant.login.auth_time, "sid": grant.login.sid,
        });
        Ok(self.keys.sign(&claims, "at+jwt")?)
    }

    /// An ID token with the claims the grant's scopes release, bound to the access token
    /// and code it travels with by their hashes.
    async fn id_token(
        &self,
        grant: &Grant<'_>,
        access_token: Option<&str>,
        code: Option<&str>,
    ) -> Result<String, OAuthError> {
        let alg = self.keys.signing_alg();
        let mut claims = self.released_claims(&grant.login.sub, grant.scope).await?;
        let standard = json!({
            "iss": self.config.issuer, "sub": grant.login.sub, "aud": grant.client_id, "iat": self.now,
            "exp": self.now + self.config.tokens.id_token_ttl.as_secs_i64(),
            "auth_time": grant.login.auth_time, "sid": grant.login.sid,
        });
        if let Json::Object(standard) = standard {
            claims.extend(standard);
        }
        for (name, bound) in [("at_hash", access_token), ("c_hash", code)] {
            if let Some(value) = bound {
                claims.insert(name.into(), Json::String(secrets::half_hash(alg, value)));
            }
        }
        if let Some(nonce) = grant.nonce {
            claims.insert("nonce".into(), Json::String(nonce.to_string()));
        }
        Ok(self.keys.sign(&Json::Object(claims), "JWT")?)
    }

    /// The account's mapped claims that `scope` releases.
    pub async fn released_claims(&self, sub: &str, scope: &str) -> Result<Map<String, Json>, OAuthError> {
        let claims = self
            .store
            .accounts
            .get(sub, self.now)
            .await?
            .map(|a| a.claims)
            .unwrap_or_default();
        Ok(release(&claims, scope, &self.config.scopes))
    }

    async fn revoke_redeemed(&self, redeemed: &Redeemed) -> Result<(), OAuthError> {
        self.store
            .revoked_tokens
            .put(
                &redeemed.access_token_jti,
                &RevokedToken { revoked_at: self.now },
                Some(redeemed.access_token_exp),
            )
            .await?;
        if let Some(family) = &redeemed.refresh_family {
            self.revoke_family(family).await?;
        }
        Ok(())
    }

    async fn revoke_family(&self, family: &str) -> Result<(), OAuthError> {
        self.store
            .refresh_families
            .update(family, self.now, |current| {
                current.map(|mut f: RefreshFamily| {
                    f.revoked = true;
                    (f, Some(self.now + self.config.tokens.refresh_token_ttl.as_secs_i64()))
                })
            })
            .await?;
        Ok(())
    }
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_whitespace().any(|s| s == wanted)
}

/// The code verifier against the request's challenge (RFC 7636 §4.6).
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) if secrets::equal(&secrets::s256(verifier), challenge) => Ok(()),
        (Some(_), _) => Err(OAuthError::InvalidGrant(
            "code_verifier does not match the code_challenge".into(),
        )),
        (None, Some(_)) => Err(OAuthError::InvalidGrant(
            "code_verifier sent but no code_challenge was".into(),
        )),
        (None, None) => Ok(()),
    }
}

/// The scope a refresh asks for, which may only narrow what the family was granted.
fn narrowed_scope(granted: &str, asked: Option<&str>) -> Result<String, OAuthError> {
    let Some(asked) = asked else {
        return Ok(granted.to_string());
    };
    let asked: Vec<&str> = asked.split_whitespace().collect();
    if let Some(extra) = asked.iter().find(|s| !has_scope(granted, s)) {
        return Err(OAuthError::InvalidScope(format!(
            "\"{extra}\" was not granted to this token"
        )));
    }
    Ok(asked.join(" "))
}

/// Why an access token is not active.
pub async fn active_access_token(
    config: &Config,
    keys: &Keys,
    store: &Store,
    token: &str,
    now: i64,
) -> Result<Map<String, Json>, &'static str> {
    let claims = keys
        .verify(token, "at+jwt", now)
        .map_err(|_| "the access token is not valid")?;
    let Json::Object(claims) = claims else {
        return Err("the access token is not valid");
    };
    if claims.get("iss").and_then(Json::as_str) != Some(config.issuer.as_str()) {
        return Err("the access token is not from this issuer");
    }
    if claims.get("exp").and_then(Json::as_i64).is_none_or(|exp| exp <= now) {
        return Err("the access token has expired");
    }
    let jti = claims
        .get("jti")
        .and_then(Json::as_str)
        .ok_or("the access token has no jti")?;
    match store.revoked_tokens.get(jti, now).await {
        Ok(None) => Ok(claims),
        Ok(Some(_)) => Err("the access token was revoked"),
        Err(e) => {
            tracing::error!(error = %e, "cannot check token revocation");
            Err("the access token cannot be checked now")
        }
    }
}

impl Issuer<'_> {
    /// The client_credentials grant (RFC 6749 §4.4): an access token whose `sub` is the
    /// client, for the custom scopes it asks for.
    pub fn client_credentials(&self, client: &Client, scope: Option<&str>) -> Result<TokenResponse, OAuthError> {
        if !client.grant_types.contains(&GrantType::ClientCredentials) {
            return Err(OAuthError::UnauthorizedClient(
                "this client may not use client_credentials".into(),
            ));
        }
        let asked: Vec<&str> = scope.unwrap_or_default().split_whitespace().collect();
        if let Some(unknown) = asked.iter().find(|s| !self.config.scopes.contains_key(**s)) {
            return Err(OAuthError::InvalidScope(format!(
                "\"{unknown}\" is not a scope a client can be granted alone"
            )));
        }
        let scope = asked.join(" ");
        let jti = secrets::random_token();
        let exp = self.now + self.config.tokens.access_token_ttl.as_secs_i64();
        let claims = json!({
            "iss": self.config.issuer, "sub": client.id, "aud": client.id, "client_id": client.id,
            "scope": scope, "iat": self.now, "exp": exp, "jti": jti,
        });
        Ok(TokenResponse {
            access_token: self.keys.sign(&claims, "at+jwt")?,
            token_type: "Bearer",
            expires_in: exp - self.now,
            scope,
            id_token: None,
            refresh_token: None,
        })
    }

    /// Token revocation (RFC 7009): an access token is revoked by its `jti` until it
    /// would expire; a refresh token revokes its family. Unknown tokens are not an error.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<(), OAuthError> {
        let not_yours = || OAuthError::UnauthorizedClient("the token was not issued to this client".into());
        if let Ok(claims) = active_access_token(self.config, self.keys, self.store, token, self.now).await {
            if claims.get("client_id").and_then(Json::as_str) != Some(client.id.as_str()) {
                return Err(not_yours());
            }
            let jti = claims.get("jti").and_then(Json::as_str).unwrap_or_default();
            let exp = claims.get("exp").and_then(Json::as_i64).unwrap_or(self.now);
            self.store
                .revoked_tokens
                .put(jti, &RevokedToken { revoked_at: self.now }, Some(exp))
                .await?;
            return Ok(());
        }
        if let Some(record) = self.store.refresh_tokens.get(&secrets::hash(token), self.now).await?
            && let Some(family) = self.store.refresh_families.get(&record.family, self.now).await?
        {
            if family.client_id != client.id {
                return Err(not_yours());
            }
            self.revoke_family(&record.family).await?;
        }
        Ok(())
    }

    /// Token introspection (RFC 7662): what is known of an active token, told only to the
    /// client it was issued to or to a client with `introspect = true`.
    pub async fn introspect(&self, caller: &Client, token: &str) -> Result<Json, OAuthError> {
        let inactive = json!({ "active": false });
        let may_see = |client_id: &str| caller.introspect || caller.id == client_id;
        if let Ok(claims) = active_access_token(self.config, self.keys, self.store, token, self.now).await {
            let client_id = claims.get("client_id").and_then(Json::as_str).unwrap_or_default();
            if !may_see(client_id) {
                return Ok(inactive);
            }
            let mut answer = json!({ "active": true, "token_type": "Bearer" });
            for field in ["scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "sid"] {
                if let (Some(value), Json::Object(out)) = (claims.get(field), &mut answer) {
                    out.insert(field.into(), value.clone());
                }
            }
            return Ok(answer);
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
        Ok(json!({
            "active": true, "token_type": "refresh_token", "scope": family.scope, "client_id": family.client_id,
            "sub": family.sub, "iat": record.issued_at, "exp": expires, "iss": self.config.issuer, "sid": family.sid,
        }))
    }
}
