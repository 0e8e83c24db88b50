//! The grants of the token endpoint: authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6),
//! refresh_token (§6, rotating), client_credentials (§4.4) and device_code (RFC 8628
//! §3.4, which redeems the code the person's sign-in issued for the device).

use super::sign::Grant;
use super::{TokenError, TokenRequest, TokenResponse, TokenService};
use crate::config::{Client, GrantType};
use crate::scope::{SSF_SCOPE, Scopes};
use crate::secrets;
use crate::store::{Commit, Redeemed, Versioned};
use serde_json::{Value as Json, json};

impl TokenService<'_> {
    /// Answers a token request of an authenticated client; `jkt` is the thumbprint of the
    /// key of the DPoP proof it came with, which the tokens are then bound to.
    pub async fn grant(
        &self,
        client: &Client,
        request: TokenRequest,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        // The phase every grant shares: the client registered for it.
        if !client.grant_types.contains(&request.registered_as()) {
            return Err(TokenError::UnauthorizedClient(format!(
                "this client may not use the {} grant",
                request.grant_type()
            )));
        }
        match request {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
                resources,
            } => {
                let presented = Presented {
                    code_key: secrets::hash(&code),
                    by: Redeemer::Client {
                        redirect_uri: redirect_uri.as_deref(),
                        verifier: code_verifier.as_deref(),
                    },
                    jkt,
                    resources: &resources,
                };
                self.exchange_code(client, &presented).await
            }
            TokenRequest::DeviceCode { device_code, resources } => {
                let approved = super::device_grant::poll(self.store, client, &device_code, self.now).await?;
                let presented = Presented {
                    code_key: approved.code_key,
                    by: Redeemer::Device {
                        grant_key: &approved.grant_key,
                        expires_at: approved.expires_at,
                    },
                    jkt,
                    resources: &resources,
                };
                self.exchange_code(client, &presented).await
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
                resources,
            } => {
                self.refresh(client, &refresh_token, scope.as_deref(), &resources, jkt)
                    .await
            }
            TokenRequest::ClientCredentials { scope, resources } => {
                self.client_credentials(client, scope.as_deref(), &resources, jkt).await
            }
            TokenRequest::TokenExchange(request) => self.exchange(client, &request, jkt).await,
            TokenRequest::JwtBearer { assertion, scope } => self.jwt_bearer(client, assertion, scope, jkt).await,
        }
    }

    /// The authorization_code grant (and the device's redemption of its sign-in's code):
    /// the code is single use, and a replay revokes what its first use issued.
    async fn exchange_code(&self, client: &Client, presented: &Presented<'_>) -> Result<TokenResponse, TokenError> {
        let key = &presented.code_key;
        let invalid = || TokenError::InvalidGrant("the code is invalid, expired or already used".into());
        for _ in 0..crate::store::MAX_RACES {
            let current = self.store.codes.read(key, self.now).await?.ok_or_else(invalid)?;
            let record = &current.value;
            // The client first: only the code's own client's replay revokes what the code
            // issued, so a client that got hold of another's used code cannot revoke its tokens.
            if record.request.client_id != client.id {
                return Err(invalid());
            }
            if let Some(redeemed) = &record.redeemed {
                self.revoke_redeemed(redeemed, record.front_channel_access_token.as_ref())
                    .await?;
                self.telemetry.code_replay(&client.id);
                return Err(invalid());
            }
            match presented.by {
                Redeemer::Client { redirect_uri, verifier } => {
                    // A device sign-in's code is for its device's polling only.
                    if record.request.device_grant.is_some() || self.now - record.issued_at > self.code_ttl(client) {
                        return Err(invalid());
                    }
                    if redirect_uri != Some(record.request.redirect_uri.as_str()) {
                        return Err(TokenError::InvalidGrant(
                            "redirect_uri does not match the authorization request".into(),
                        ));
                    }
                    check_pkce(record.request.code_challenge.as_deref(), verifier)?;
                }
                Redeemer::Device { grant_key, expires_at } => {
                    if record.request.device_grant.as_deref() != Some(grant_key) {
                        return Err(invalid());
                    }
                    if self.now >= expires_at {
                        return Err(TokenError::ExpiredToken("the device code has expired".into()));
                    }
                }
            }
            check_bound_key(record.request.dpop_jkt.as_deref(), presented.jkt, "code")?;
            let resources =
                crate::domain::resources::narrowed(self.config, &record.request.resources, presented.resources)
                    .map_err(TokenError::InvalidTarget)?;
            if let Some(response) = self.redeem(client, key, &current, &resources, presented.jkt).await? {
                return Ok(response);
            }
        }
        Err(invalid())
    }

    /// Marks the code redeemed, in the same write as the refresh family it starts, if
    /// nobody marked it since it was read; `None` when somebody did (the next round then
    /// sees it redeemed and treats this request as the replay).
    async fn redeem(
        &self,
        client: &Client,
        key: &str,
        current: &Versioned<crate::store::AuthorizationCode>,
        resources: &[String],
        jkt: Option<&str>,
    ) -> Result<Option<TokenResponse>, TokenError> {
        let record = &current.value;
        let offline =
            record.request.scope.contains("offline_access") && client.grant_types.contains(&GrantType::RefreshToken);
        let jti = secrets::random_token();
        let access_exp = self.now + self.config.tokens.access_token_ttl.as_secs_i64();
        let family = offline.then(|| crate::store::FamilyId::new(&record.login.sid));
        let mut marked = record.clone();
        marked.redeemed = Some(Redeemed {
            access_token_jti: jti.clone(),
            access_token_exp: access_exp,
            refresh_family: family.clone(),
        });
        // The code's session must still be live, and stay so until this write: a code
        // issued before a logout and redeemed after it would start a live refresh family.
        let sid = &record.login.sid;
        let Some(session) = self.store.sessions.read(sid, self.now).await? else {
            return Err(TokenError::InvalidGrant(
                "the sign-in this code comes from has ended".into(),
            ));
        };
        let mut write = self.store.write(self.now);
        self.store.sessions.expect(&mut write, sid, Some(&session));
        self.store.codes.expect(&mut write, key, Some(current));
        let keep = self.now + self.config.tokens.refresh_token_ttl.as_secs_i64();
        self.store.codes.stage_put(&mut write, key, &marked, Some(keep))?;
        let refresh_token = match &family {
            Some(family) => {
                // A confidential client's refresh tokens are bound to it by its
                // authentication; a public client's, by its DPoP key (RFC 9449 §5).
                // A FAPI 2.0 client's are bound to its DPoP key as well: they do not rotate.
                let family_jkt = jkt.filter(|_| !client.is_confidential() || client.is_fapi2());
                Some(self.stage_family(&mut write, family, &record.request, &record.login, family_jkt)?)
            }
            None => None,
        };
        let grant = Grant {
            client_id: &client.id,
            scope: &record.request.scope,
            login: &record.login,
            nonce: record.request.nonce.as_deref(),
            jkt,
            resources,
        };
        let response = self.sign(&grant, &jti, access_exp, refresh_token).await?;
        Ok(match self.store.commit(write).await? {
            Commit::Done => Some(response),
            Commit::Conflict => None,
        })
    }

    /// The client_credentials grant: an access token whose `sub` is the client, for the
    /// custom scopes it asks for (and `ssf` for a client that takes Shared Signals).
    async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
        resources: &[String],
        jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let resources = crate::domain::resources::checked(self.config, resources).map_err(TokenError::InvalidTarget)?;
        let asked = Scopes::parse(scope.unwrap_or_default());
        // `ssf` is built in: the scope of Shared Signals stream management.
        let built_in = |s: &str| s == SSF_SCOPE && client.shared_signals;
        if let Some(unknown) = asked
            .iter()
            .find(|s| !self.config.scopes.contains_key(*s) && !built_in(s))
        {
            return Err(TokenError::InvalidScope(format!(
                "\"{unknown}\" is not a scope a client can be granted alone"
            )));
        }
        if let Some(refused) = asked.iter().find(|s| !client.may_have_scope(s) && !built_in(s)) {
            return Err(TokenError::InvalidScope(format!(
                "this client may not have \"{refused}\""
            )));
        }
        let scope = asked;
        let jti = secrets::random_token();
        let exp = self.now + self.config.tokens.access_token_ttl.as_secs_i64();
        let mut claims = json!({
            "iss": self.config.issuer, "sub": client.id,
            "aud": crate::domain::resources::audience(&client.id, &resources), "client_id": client.id,
            "scope": scope, "iat": self.now, "exp": exp, "jti": jti,
        });
        if let (Json::Object(claims), Some(jkt)) = (&mut claims, jkt) {
            claims.insert("cnf".into(), json!({ "jkt": jkt }));
        }
        self.access_token_only(&claims, exp, scope, jkt).await
    }
}

impl TokenService<'_> {
    /// How long a code of `client` may be redeemed: `code_ttl`, and at most a minute for a
    /// FAPI 2.0 client (FAPI 2.0 Security Profile §5.3.2.1).
    fn code_ttl(&self, client: &Client) -> i64 {
        let configured = self.config.tokens.code_ttl.as_secs_i64();
        if client.is_fapi2() {
            configured.min(60)
        } else {
            configured
        }
    }
}

/// What a client presents to redeem a code.
struct Presented<'p> {
    /// The code's hash, which it is stored under.
    code_key: String,
    by: Redeemer<'p>,
    /// The thumbprint of its DPoP proof's key.
    jkt: Option<&'p str>,
    /// The resources it names (RFC 8707 §2.2).
    resources: &'p [String],
}

/// Who redeems a code, with what they show for it.
#[derive(Clone, Copy)]
enum Redeemer<'p> {
    /// The client the code was sent to, with the request's redirect URI and PKCE verifier.
    Client {
        redirect_uri: Option<&'p str>,
        verifier: Option<&'p str>,
    },
    /// The device of the device grant `grant_key`, until its device code expires.
    Device { grant_key: &'p str, expires_at: i64 },
}

/// A code or refresh token bound to a DPoP key needs a proof signed by that key.
pub(super) fn check_bound_key(bound: Option<&str>, presented: Option<&str>, what: &str) -> Result<(), TokenError> {
    match (bound, presented) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(TokenError::InvalidDpopProof(format!(
            "the {what} is bound to a DPoP key: send a DPoP proof"
        ))),
        (Some(bound), Some(presented)) if secrets::equal(bound, presented) => Ok(()),
        (Some(_), Some(_)) => Err(TokenError::InvalidGrant(format!(
            "the {what} is bound to another DPoP key"
        ))),
    }
}

/// The code verifier against the request's challenge (RFC 7636 §4.6).
pub(super) fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), TokenError> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) if secrets::equal(&secrets::s256(verifier), challenge) => Ok(()),
        (Some(_), _) => Err(TokenError::InvalidGrant(
            "code_verifier does not match the code_challenge".into(),
        )),
        (None, Some(_)) => Err(TokenError::InvalidGrant(
            "code_verifier sent but no code_challenge was".into(),
        )),
        (None, None) => Ok(()),
    }
}
