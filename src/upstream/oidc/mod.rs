//! `kind = "oidc"` upstreams, through the openidconnect crate: discovery (retried until
//! the upstream answers), the authorization request with state, nonce and PKCE S256, and
//! the strict validation of what comes back.


mod answer;
mod exchange;
mod logout_token;
mod settings;
mod signals;
mod stream;

pub use crate::upstream::acr_map::AcrMap;
pub use settings::{OidcSettings, RefreshPolicy};
pub use signals::{ReceivedSignal, SignalError, Transmitter, configuration_url};
pub use stream::{Delivery, Polled, ReceiverHealth, RemoteStream};

use super::{
    Authentication, Begin, Capabilities, Kind, LoginOptions, LogoutNotice, Person, Return, UpstreamAuthMethod,
    Refreshed, UpstreamError, UpstreamSession,
};
use crate::config::{Problem, Secret};
use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AuthType, AuthenticationContextClass, AuthorizationCode, LanguageTag, ClientId, ClientSecret, CsrfToken, IssuerUrl, LoginHint,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use serde_json::{Map, Value as Json};
use std::path::Path;
use std::sync::RwLock;

/// How far an upstream ID token's `iat` may be from our clock.
const IAT_WINDOW_SECS: i64 = 300;


/// What discovery says beyond OpenID Connect Discovery 1.0: the RP-Initiated Logout
/// endpoint, and whether it sends back-channel logout tokens.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct LogoutMetadata {
    end_session_endpoint: Option<String>,
    backchannel_logout_supported: Option<bool>,
}

impl openidconnect::AdditionalProviderMetadata for LogoutMetadata {}

type Metadata = openidconnect::ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A client made from discovery: authorization endpoint known, token and userinfo
/// endpoints as the upstream announced them.
type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// One OpenID Connect upstream and what its discovery said.
pub struct OidcProvider {
    id: String,
    settings: OidcSettings,
    redirect_uri: String,
    metadata: RwLock<Option<Metadata>>,
    /// When a logout token last made Gatehouse fetch the JWKS: anyone can send one, so
    /// they may not make it fetch more often than once a minute.
    logout_jwks_fetched_at: std::sync::atomic::AtomicI64,
    /// Its Shared Signals transmitter's configuration and keys, once fetched.
    signals: RwLock<Option<signals::Known>>,
    /// As `logout_jwks_fetched_at`, for the transmitter's keys.
    signal_keys_fetched_at: std::sync::atomic::AtomicI64,
    /// How its Shared Signals stream fares.
    signal_health: std::sync::Mutex<stream::ReceiverHealth>,
}

impl Kind for OidcProvider {
    type Settings = OidcSettings;

    fn settings(table: toml::Value, at: &str, _base: &Path, problems: &mut Vec<Problem>) -> Option<OidcSettings> {
        settings::read(table, at, problems)
    }

    fn open(id: &str, settings: &OidcSettings, issuer: &str) -> Self {
        OidcProvider {
            id: id.to_string(),
            settings: settings.clone(),
            redirect_uri: super::callback_uri(issuer, id),
            metadata: RwLock::new(None),
            logout_jwks_fetched_at: std::sync::atomic::AtomicI64::new(i64::MIN),
            signals: RwLock::new(None),
            signal_keys_fetched_at: std::sync::atomic::AtomicI64::new(i64::MIN),
            signal_health: std::sync::Mutex::default(),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            redirect: true,
            logout: self.settings.logout_upstream,
            ..Capabilities::default()
        }
    }

    fn is_ready(&self) -> bool {
        self.metadata.read().is_ok_and(|m| m.is_some())
    }

    /// Discovery, unless it is done already.
    async fn prepare(&self, http: &crate::upstream::UpstreamHttp, _now: i64) -> Result<(), UpstreamError> {
        if self.metadata.read().is_ok_and(|m| m.is_some()) {
            return Ok(());
        }
        self.discover(http).await
    }

    async fn exchange(
        &self,
        http: &crate::upstream::UpstreamHttp,
        token: &str,
        kind: crate::upstream::SubjectToken,
        now: i64,
    ) -> Result<Person, UpstreamError> {
        self.exchanged(http, token, kind, now).await
    }

    /// Where to send the person to log out at the upstream too (RP-Initiated Logout 1.0),
    /// when `logout_upstream` is on and the upstream announces an end_session_endpoint.
    async fn logout_url(&self, http: &crate::upstream::UpstreamHttp, out: crate::upstream::LoggingOut<'_>) -> Option<String> {
        if !self.settings.logout_upstream {
            return None;
        }
        let metadata = match self.metadata(http).await {
            Ok(metadata) => metadata,
            Err(e) => {
                tracing::warn!(upstream = %self.id, error = %e, "cannot log out upstream");
                return None;
            }
        };
        let endpoint = metadata.additional_metadata().end_session_endpoint.as_deref()?;
        let mut url = url::Url::parse(endpoint).ok()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("post_logout_redirect_uri", out.post_logout_redirect_uri)
            .append_pair("state", out.state);
        Some(url.to_string())
    }

    async fn refresh(
        &self,
        http: &crate::upstream::UpstreamHttp,
        refresh_token: Option<&Secret>,
        subject: &str,
        now: i64,
    ) -> Result<Refreshed, UpstreamError> {
        let refresh_token =
            refresh_token.ok_or_else(|| UpstreamError::Denied("no refresh token was kept for this session".into()))?;
        self.refreshed(http, refresh_token, subject, now).await
    }

    /// A logout token from the upstream, checked against its JWKS (fetched once more for
    /// a key it started using since).
    async fn verify_logout_token(
        &self,
        http: &crate::upstream::UpstreamHttp,
        token: &str,
        now: i64,
    ) -> Result<LogoutNotice, UpstreamError> {
        let metadata = self.metadata(http).await?;
        let (issuer, client_id) = (metadata.issuer().as_str(), self.settings.client_id.as_str());
        let refused = |refused| match refused {
            crate::signed_jwt::Refused::NoMatchingKey => {
                UpstreamError::Invalid("no key of the upstream's JWKS signed the logout token".into())
            }
            crate::signed_jwt::Refused::Invalid(why) => UpstreamError::Invalid(why),
        };
        let fetched_at = &self.logout_jwks_fetched_at;
        let may_fetch = |now: i64| {
            let last = fetched_at.load(std::sync::atomic::Ordering::Relaxed);
            now.saturating_sub(last) >= 60
                && fetched_at
                    .compare_exchange(last, now, std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed)
                    .is_ok()
        };
        match logout_token::verify(token, metadata.jwks(), issuer, client_id, now) {
            Err(crate::signed_jwt::Refused::NoMatchingKey) if may_fetch(now) => {
                let refreshed = self.refresh_jwks(http, &metadata).await?;
                logout_token::verify(token, refreshed.jwks(), issuer, client_id, now).map_err(refused)
            }
            verified => verified.map_err(refused),
        }
    }

    /// The authorization request to send the person to, with state, nonce and PKCE S256.
    async fn begin(&self, http: &crate::upstream::UpstreamHttp, options: LoginOptions<'_>) -> Result<Begin, UpstreamError> {
        let client = self.client(self.metadata(http).await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = options.state.to_string();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(hint) = options.login_hint {
            request = request.set_login_hint(LoginHint::new(hint.to_string()));
        }
        if options.force_login {
            request = request.add_prompt(CoreAuthPrompt::Login);
        }
        if options.select_account {
            request = request.add_prompt(CoreAuthPrompt::SelectAccount);
        }
        if let Some(max_age) = options.max_age {
            request = request.set_max_age(std::time::Duration::from_secs(max_age.unsigned_abs()));
        }
        for value in self.settings.acr_map.to_upstream(options.acr_values) {
            request = request.add_auth_context_value(AuthenticationContextClass::new(value));
        }
        for locale in options.ui_locales.unwrap_or_default().split_whitespace() {
            request = request.add_ui_locale(LanguageTag::new(locale.to_string()));
        }
        let (url, _, nonce) = request.url();
        Ok(Begin {
            url: url.to_string(),
            nonce: Some(nonce.secret().clone()),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes the login from the callback: exchanges the code, validates the ID token,
    /// and returns its claims with the userinfo merged over them (when configured), and
    /// how the ID token says the person authenticated.
    async fn finish(
        &self,
        http: &crate::upstream::UpstreamHttp,
        back: Return<'_>,
    ) -> Result<Person, UpstreamError> {
        let Return {
            callback,
            nonce,
            pkce_verifier,
            now,
        } = back;
        let nonce = nonce.ok_or_else(|| UpstreamError::Denied("no nonce was kept for this login".into()))?;
        let invalid = |why: String| UpstreamError::Invalid(why);
        if let Some(error) = &callback.error {
            return Err(super::refusal(error, callback.error_description.as_deref()));
        }
        let metadata = self.metadata(http).await?;
        // RFC 9207: a callback that names its issuer must name this upstream's.
        if let Some(iss) = &callback.iss
            && iss.as_str() != metadata.issuer().as_str()
        {
            return Err(invalid(format!(
                "the callback's iss {iss} is not this upstream's issuer"
            )));
        }
        let code = callback
            .code
            .clone()
            .ok_or_else(|| invalid("the callback has no code".into()))?;
        let client = self.client(metadata.clone())?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&http.to(&self.id, "token"))
            .await
            .map_err(answer::token_error)?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| invalid("the token response has no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_string());
        let (subject, authentication, claims) = self.verified(http, &metadata, id_token, &nonce, Expect::IdTokenForUs, now).await?;
        let session = UpstreamSession {
            sid: claims.get("sid").and_then(Json::as_str).map(String::from),
            email: claims.get("email").and_then(Json::as_str).map(String::from),
            subject: subject.clone(),
            refresh_token: (self.settings.refresh != RefreshPolicy::Never)
                .then(|| tokens.refresh_token().map(|t| Secret(t.secret().clone())))
                .flatten(),
        };
        let document = self
            .completed(http, &metadata, claims, &subject, tokens.access_token().secret())
            .await?;
        Ok(Person {
            once: None,
            document: Json::Object(document),
            authentication,
            session: Some(session),
        })
    }
}

impl OidcProvider {
    /// Fetches the upstream's discovery document and JWKS.
    async fn discover(&self, http: &crate::upstream::UpstreamHttp) -> Result<(), UpstreamError> {
        let issuer =
            IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let metadata = Metadata::discover_async(issuer, &http.to(&self.id, "discovery"))
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("discovery failed: {e}")))?;
        let backchannel = metadata.additional_metadata().backchannel_logout_supported == Some(true);
        *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Some(metadata);
        tracing::info!(upstream = %self.id, backchannel_logout_supported = backchannel, "upstream discovered");
        Ok(())
    }

    /// Fetches the upstream's JWKS again and keeps it with the rest of its metadata.
    async fn refresh_jwks(&self, http: &crate::upstream::UpstreamHttp, metadata: &Metadata) -> Result<Metadata, UpstreamError> {
        let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &http.to(&self.id, "jwks"))
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("the JWKS cannot be fetched: {e}")))?;
        let refreshed = metadata.clone().set_jwks(jwks);
        *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Some(refreshed.clone());
        Ok(refreshed)
    }

    async fn metadata(&self, http: &crate::upstream::UpstreamHttp) -> Result<Metadata, UpstreamError> {
        let known = self.metadata.read().unwrap_or_else(|e| e.into_inner()).clone();
        match known {
            Some(metadata) => Ok(metadata),
            None => {
                self.discover(http).await?;
                self.metadata
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .ok_or_else(|| UpstreamError::Unavailable("not discovered".into()))
            }
        }
    }

    fn client(&self, metadata: Metadata) -> Result<Client, UpstreamError> {
        let redirect =
            RedirectUrl::new(self.redirect_uri.clone()).map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let auth_type = match self.settings.auth_method {
            UpstreamAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
            UpstreamAuthMethod::ClientSecretPost => AuthType::RequestBody,
        };
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.0.clone())),
        )
        .set_redirect_uri(redirect)
        .set_auth_type(auth_type))
    }

    /// Who the verified ID token `claims` name, and how they authenticated.
    fn authenticated(&self, claims: &openidconnect::core::CoreIdTokenClaims) -> (String, Authentication) {
        let authentication = Authentication {
            auth_time: claims.auth_time().map(|t| t.timestamp()),
            acr: claims.auth_context_ref().map(|acr| self.settings.acr_map.from_upstream(acr)),
            amr: claims
                .auth_method_refs()
                .map(|amr| amr.iter().map(|m| m.to_string()).collect())
                .unwrap_or_default(),
        };
        (claims.subject().to_string(), authentication)
    }

    fn verifier<'a>(&self, client: &'a Client, expect: Expect, now: i64) -> openidconnect::core::CoreIdTokenVerifier<'a> {
        let clock = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
        let verifier = match expect {
            Expect::IdTokenForUs => client.id_token_verifier(),
            // The exchange checks the audience against its own list once the token verifies.
            Expect::Exchanged(kind) => {
                let verifier = client.id_token_verifier().require_audience_match(false);
                match kind {
                    crate::upstream::SubjectToken::IdToken => verifier.set_allowed_jose_types(exchange::id_token_types()),
                    crate::upstream::SubjectToken::AccessToken => verifier.set_allowed_jose_types(exchange::access_token_types()),
                }
            }
        };
        verifier
            .set_allowed_algs(crate::signed_jwt::ASYMMETRIC_ALGS)
            .set_time_fn(move || clock)
            .set_issue_time_verifier_fn(move |iat| {
                if (iat.timestamp() - now).abs() <= IAT_WINDOW_SECS {
                    Ok(())
                } else {
                    Err(format!("iat is more than {IAT_WINDOW_SECS}s away from now"))
                }
            })
    }
}

/// What a token from the upstream must be, beyond its signature, issuer and lifetime.
#[derive(Debug, Clone, Copy)]
pub(super) enum Expect {
    /// An ID token issued to Gatehouse's client there.
    IdTokenForUs,
    /// A token issued to an app, presented for exchange.
    Exchanged(crate::upstream::SubjectToken),
}

/// The claims of a JWT whose signature has been checked.
fn jwt_payload(jwt: &str) -> Option<Map<String, Json>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
