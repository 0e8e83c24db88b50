//! Token exchange (RFC 8693). An upstream's ID token or JWT access token — from an
//! upstream with `exchange = true` that the client's `token_exchange` names — becomes
//! Gatehouse's tokens for the asking client, for the same account a browser login there
//! reaches. A Gatehouse access token becomes one for a resource server (`audience`), with
//! the same or narrower scopes and, given an `actor_token`, an `act` claim naming the actor.
//! Both tokens must be the caller's (issued to or for it; an actor's may also be of a
//! client its `exchange_actors` names) and proven when DPoP-bound; the new token is active
//! only as long as its subject is.

use super::refresh::narrowed_scope;
use super::request::{ACCESS_TOKEN_TYPE, ExchangeRequest, ID_TOKEN_TYPE, JWT_TYPE};
use super::sign::Grant;
use super::{ServerFault, TokenError, TokenResponse, TokenService};
use crate::config::{Client, ResourceServer};
use crate::domain::accounts::{self, Admission, Admitted, NotAdmitted};
use crate::domain::token_liveness::{Inactive, active_access_token};
use crate::response_type::ResponseType;
use crate::scope::Scopes;
use crate::secrets;
use crate::store::{AuthContext, CompletedLogin, DisabledSubject, ExchangedFrom, ExchangedSubject};
use crate::upstream::{SubjectToken, UpstreamError};
use serde_json::{Map, Value as Json, json};

/// The claims of a Gatehouse access token that say how the person signed in, carried
/// over to the token it is exchanged for (its `sid` ends it with the session).
const CARRIED_OVER: [&str; 4] = ["sid", "auth_time", "acr", "amr"];

/// How many exchanges may lead to a token: each one is checked whenever it is presented.
const MAX_EXCHANGES: usize = 4;

/// Whether the access token `claims` was issued to `client`, or for it (its `aud`).
fn held_by(client: &Client, claims: &Map<String, Json>) -> bool {
    claims.get("client_id").and_then(Json::as_str) == Some(client.id.as_str())
        || crate::signed_jwt::audiences(claims).contains(&client.id.as_str())
}

/// A DPoP-bound token (`cnf.jkt`) is taken only with a proof of its key (RFC 9449 §6).
fn proven(claims: &Map<String, Json>, jkt: Option<&str>, role: &str) -> Result<(), TokenError> {
    match claims.get("cnf").and_then(|c| c.get("jkt")).and_then(Json::as_str) {
        Some(bound) if !jkt.is_some_and(|jkt| secrets::equal(jkt, bound)) => Err(TokenError::InvalidGrant(format!(
            "the {role} token is bound to a DPoP key: send a proof of that key"
        ))),
        _ => Ok(()),
    }
}

impl TokenService<'_> {
    pub(super) async fn exchange(
        &self,
        client: &Client,
        request: &ExchangeRequest,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let issuer = crate::signed_jwt::SignedJwt::parse(&request.subject_token, "the subject token")
            .ok()
            .and_then(|jwt| jwt.unverified_claims::<Map<String, Json>>())
            .and_then(|claims| claims.get("iss").and_then(Json::as_str).map(String::from))
            .ok_or_else(|| TokenError::InvalidGrant("the subject token is not a JWT with an issuer".into()))?;
        if issuer == self.config.issuer {
            self.narrowed(client, request, jkt).await
        } else {
            self.upstream_token(client, request, &issuer, jkt).await
        }
    }

    /// The JWT bearer grant (RFC 7523 §2.1): an upstream's JWT as the grant, taken exactly
    /// as token exchange takes it as a subject token (the same upstreams, the same checks,
    /// the same mapping), answered as a plain token response.
    pub(super) async fn jwt_bearer(
        &self,
        client: &Client,
        assertion: String,
        scope: Option<String>,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let issuer = crate::signed_jwt::SignedJwt::parse(&assertion, "the assertion")
            .ok()
            .and_then(|jwt| jwt.unverified_claims::<Map<String, Json>>())
            .and_then(|claims| claims.get("iss").and_then(Json::as_str).map(String::from))
            .ok_or_else(|| TokenError::InvalidGrant("the assertion is not a JWT with an issuer".into()))?;
        if issuer == self.config.issuer {
            return Err(TokenError::InvalidGrant(
                "the assertion must come from an identity provider: Gatehouse's own tokens are exchanged (RFC 8693)"
                    .into(),
            ));
        }
        let request = ExchangeRequest {
            subject_token: assertion,
            subject_token_type: JWT_TYPE.to_string(),
            actor: None,
            audience: None,
            scope,
        };
        let mut response = self.upstream_token(client, &request, &issuer, jkt).await?;
        response.issued_token_type = None;
        Ok(response)
    }

    /// An upstream's token for Gatehouse's: verified by the upstream, mapped and linked
    /// as a login there is, and signed for `client` (with an ID token for `openid`).
    async fn upstream_token(
        &self,
        client: &Client,
        request: &ExchangeRequest,
        issuer: &str,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let kind = match request.subject_token_type.as_str() {
            ID_TOKEN_TYPE | JWT_TYPE => SubjectToken::IdToken,
            ACCESS_TOKEN_TYPE => SubjectToken::AccessToken,
            other => {
                return Err(TokenError::InvalidRequest(format!(
                    "subject_token_type {other} is not taken"
                )));
            }
        };
        if request.actor.is_some() || request.audience.is_some() {
            return Err(TokenError::InvalidTarget(
                "an upstream's token is exchanged for the asking client's own: exchange that access token for an audience or an actor"
                    .into(),
            ));
        }
        let refused = || {
            TokenError::InvalidGrant(
                "the subject token is not from an identity provider this client may exchange tokens of".into(),
            )
        };
        let upstream_id = client
            .token_exchange
            .iter()
            .find(|id| {
                self.issuer_of(id)
                    .is_some_and(|i| i.trim_end_matches('/') == issuer.trim_end_matches('/'))
            })
            .ok_or_else(refused)?;
        let upstream = self.renewal.upstreams.get(upstream_id.as_str()).ok_or_else(refused)?;
        let person = upstream
            .exchange(self.renewal.http, &request.subject_token, kind, self.now)
            .await
            .map_err(|e| match e {
                UpstreamError::Unavailable(why) => TokenError::TemporarilyUnavailable(why),
                UpstreamError::Denied(why) | UpstreamError::Invalid(why) => {
                    tracing::info!(upstream = %upstream_id, reason = %why, "a subject token was refused");
                    TokenError::InvalidGrant(format!("the subject token is refused: {why}"))
                }
            })?;
        // A person the upstream disabled (a Shared Signals event) gets no tokens through it.
        if let Some(subject) = person.document.get("sub").and_then(Json::as_str) {
            let disabled = DisabledSubject::key(upstream_id, subject);
            if self.store.disabled_subjects.get(&disabled, self.now).await?.is_some() {
                return Err(TokenError::InvalidGrant(
                    "the identity provider has disabled this account".into(),
                ));
            }
        }
        let admitted = accounts::admit(
            self.store,
            self.config,
            self.renewal.upstreams,
            upstream_id,
            &person.document,
            Admission::SignIn,
            self.now,
        )
        .await;
        let sub = match admitted {
            Ok(Admitted::SignedIn(sub)) => sub,
            Err(NotAdmitted::Unmapped(e)) => {
                tracing::warn!(upstream = %upstream_id, error = %e, "an exchanged token does not fit its mapping");
                return Err(TokenError::InvalidGrant(
                    "the subject token's claims could not be used".into(),
                ));
            }
            Err(NotAdmitted::Store(e)) => return Err(e.into()),
            Ok(_) | Err(NotAdmitted::NoMapping(_) | NotAdmitted::AnotherPerson) => {
                return Err(TokenError::Server(ServerFault::Broken(format!(
                    "upstream {upstream_id} has no mapping"
                ))));
            }
        };
        let scope = crate::domain::scopes::granted_scopes(
            self.config,
            client,
            Some(request.scope.as_deref().unwrap_or("openid")),
            ResponseType::CODE,
        )
        .map_err(|refused| TokenError::InvalidScope(refused.to_string()))?;
        // No refresh token comes from an exchange: the app exchanges a fresh upstream token.
        let scope: Scopes = scope.iter().filter(|s| *s != "offline_access").collect();
        let authentication = person.authentication;
        let login = CompletedLogin {
            sub,
            // No browser session stands behind an exchange: its tokens carry a sid of their own.
            sid: secrets::random_token(),
            auth: AuthContext {
                auth_time: authentication.auth_time.unwrap_or(self.now),
                acr: authentication.acr,
                amr: authentication.amr,
                idp: Some(upstream_id.clone()),
                session_started_at: Some(self.now),
            },
        };
        let grant = Grant {
            client_id: &client.id,
            scope: &scope,
            login: &login,
            nonce: None,
            jkt,
            resources: &[],
        };
        let jti = secrets::random_token();
        let exp = self.now + self.config.tokens.access_token_ttl.as_secs_i64();
        let mut response = self.sign(&grant, &jti, exp, None).await?;
        response.issued_token_type = Some(ACCESS_TOKEN_TYPE);
        Ok(response)
    }

    fn issuer_of(&self, upstream_id: &str) -> Option<&str> {
        self.config.upstream(upstream_id)?.settings.exchange_issuer()
    }

    /// A Gatehouse access token issued to (or for) `client`, for one for a resource server:
    /// the same person, scopes no wider, a lifetime no longer, and `act` for an actor.
    async fn narrowed(
        &self,
        client: &Client,
        request: &ExchangeRequest,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        if request.subject_token_type != ACCESS_TOKEN_TYPE {
            return Err(TokenError::InvalidRequest(format!(
                "Gatehouse's tokens are exchanged as {ACCESS_TOKEN_TYPE}"
            )));
        }
        let subject = self.own_access_token(&request.subject_token, "subject").await?;
        if !held_by(client, &subject) {
            return Err(TokenError::InvalidGrant(
                "the subject token was issued neither to nor for this client".into(),
            ));
        }
        proven(&subject, jkt, "subject")?;
        let lineage = self.lineage(&subject).await?;
        let server = self.resource_server(request.audience.as_deref())?;
        let granted = Scopes::parse(subject.get("scope").and_then(Json::as_str).unwrap_or_default());
        let scope = match request.scope.as_deref() {
            Some(asked) => narrowed_scope(&granted, Some(asked))?,
            None => granted.iter().filter(|s| server.allows(s)).collect(),
        };
        if let Some(refused) = scope.iter().find(|s| !server.allows(s)) {
            return Err(TokenError::InvalidScope(format!(
                "\"{refused}\" is not a scope of {}",
                server.audience
            )));
        }
        let mut act = subject.get("act").cloned();
        if let Some((token, kind)) = &request.actor {
            if kind != ACCESS_TOKEN_TYPE {
                return Err(TokenError::InvalidRequest(format!(
                    "the actor_token must be a Gatehouse {ACCESS_TOKEN_TYPE}"
                )));
            }
            let actor = self.own_access_token(token, "actor").await?;
            let named_actor = actor
                .get("client_id")
                .and_then(Json::as_str)
                .is_some_and(|id| client.exchange_actors.iter().any(|a| a == id));
            if !held_by(client, &actor) && !named_actor {
                return Err(TokenError::InvalidGrant(
                    "the actor token was issued neither to nor for this client, nor to a client of its exchange_actors"
                        .into(),
                ));
            }
            proven(&actor, jkt, "actor")?;
            let mut named = Map::new();
            named.insert("sub".into(), actor.get("sub").cloned().unwrap_or(Json::Null));
            // An earlier delegation stays visible, nested (RFC 8693 §4.1).
            if let Some(earlier) = act {
                named.insert("act".into(), earlier);
            }
            act = Some(Json::Object(named));
        }
        let jti = secrets::random_token();
        let subject_exp = subject.get("exp").and_then(Json::as_i64).unwrap_or(self.now);
        let exp = subject_exp.min(self.now + self.config.tokens.access_token_ttl.as_secs_i64());
        // Recorded before the token exists: it must never outlive what it came from.
        self.store.exchanged_tokens.put(&jti, &lineage, Some(exp)).await?;
        let mut claims = json!({
            "iss": self.config.issuer, "sub": subject.get("sub"), "aud": server.audience,
            "client_id": client.id, "scope": scope, "iat": self.now, "exp": exp, "jti": jti,
        });
        if let Json::Object(claims) = &mut claims {
            for name in CARRIED_OVER {
                if let Some(value) = subject.get(name) {
                    claims.insert(name.into(), value.clone());
                }
            }
            if let Some(act) = act {
                claims.insert("act".into(), act);
            }
            if let Some(jkt) = jkt {
                claims.insert("cnf".into(), json!({ "jkt": jkt }));
            }
        }
        let mut response = self.access_token_only(&claims, exp, scope, jkt).await?;
        response.issued_token_type = Some(ACCESS_TOKEN_TYPE);
        Ok(response)
    }

    /// What a token exchanged from `subject` comes from: what `subject` came from, and
    /// `subject` itself.
    async fn lineage(&self, subject: &Map<String, Json>) -> Result<ExchangedFrom, TokenError> {
        let text = |name: &str| subject.get(name).and_then(Json::as_str).unwrap_or_default().to_string();
        let jti = text("jti");
        let mut lineage = self
            .store
            .exchanged_tokens
            .get(&jti, self.now)
            .await?
            .unwrap_or(ExchangedFrom { subjects: Vec::new() });
        if lineage.subjects.len() >= MAX_EXCHANGES {
            return Err(TokenError::InvalidGrant(format!(
                "the subject token comes from {MAX_EXCHANGES} exchanges already: exchange an earlier one"
            )));
        }
        lineage.subjects.push(ExchangedSubject {
            jti,
            client_id: text("client_id"),
            iat: subject.get("iat").and_then(Json::as_i64).unwrap_or(self.now),
        });
        Ok(lineage)
    }

    /// The claims of a live Gatehouse access token presented as the `role` token.
    async fn own_access_token(&self, token: &str, role: &str) -> Result<Map<String, Json>, TokenError> {
        active_access_token(self.config, self.keys, self.store, token, self.now)
            .await
            .map_err(|inactive| match inactive {
                Inactive::Ended(why) => TokenError::InvalidGrant(format!("the {role} token: {why}")),
                Inactive::Unknown(e) => e.into(),
            })
    }

    /// The resource server `audience` names.
    fn resource_server(&self, audience: Option<&str>) -> Result<&ResourceServer, TokenError> {
        let audience = audience
            .ok_or_else(|| TokenError::InvalidTarget("name the resource server the token is for in audience".into()))?;
        self.config
            .resource_servers
            .iter()
            .find(|r| r.audience == audience)
            .ok_or_else(|| TokenError::InvalidTarget(format!("\"{audience}\" is not a resource server of this issuer")))
    }
}
