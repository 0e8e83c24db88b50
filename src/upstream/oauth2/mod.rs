//! `kind = "oauth2"` upstreams (GitHub and the like): no ID token, the person is who
//! the upstream's user endpoint says, through the oauth2 crate. State and PKCE S256 on
//! every request.

mod settings;

pub use settings::OAuth2Settings;

use super::{
    Authentication, Begin, CallbackParams, Capabilities, Kind, LoginOptions, Person, Return, UpstreamAuthMethod, UpstreamError,
};
use crate::config::Problem;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde_json::Value as Json;
use std::path::Path;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct OAuth2Provider {
    id: String,
    settings: OAuth2Settings,
    redirect_uri: String,
}

impl Kind for OAuth2Provider {
    type Settings = OAuth2Settings;

    fn settings(table: toml::Value, at: &str, _base: &Path, problems: &mut Vec<Problem>) -> Option<OAuth2Settings> {
        settings::read(table, at, problems)
    }

    fn open(id: &str, settings: &OAuth2Settings, issuer: &str) -> Self {
        OAuth2Provider {
            id: id.to_string(),
            settings: settings.clone(),
            redirect_uri: super::callback_uri(issuer, id),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            redirect: true,
            ..Capabilities::default()
        }
    }

    /// The authorization request to send the person to, with state and PKCE S256.
    async fn begin(&self, _http: &crate::upstream::UpstreamHttp, options: LoginOptions<'_>) -> Result<Begin, UpstreamError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = options.state.to_string();
        let client = self.client()?;
        let mut request = client
            .authorize_url(move || CsrfToken::new(state))
            .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _) = request.url();
        Ok(Begin {
            url: url.to_string(),
            nonce: None,
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code and returns what the user endpoint says about the person.
    /// OAuth 2.0 says nothing of when or how the person authenticated, and takes no
    /// `max_age`: the best known is that they came back just now (the README says so).
    async fn finish(&self, http: &crate::upstream::UpstreamHttp, back: Return<'_>) -> Result<Person, UpstreamError> {
        let document = self.exchange_and_fetch(http, back.callback, back.pkce_verifier).await?;
        Ok(Person {
            once: None,
            document,
            authentication: Authentication {
                auth_time: Some(back.now),
                ..Authentication::default()
            },
            session: None,
        })
    }
}

impl OAuth2Provider {
    fn client(&self) -> Result<Client, UpstreamError> {
        let bad = |e: oauth2::url::ParseError| UpstreamError::Unavailable(format!("a configured URL is invalid: {e}"));
        let mut client = BasicClient::new(ClientId::new(self.settings.client_id.clone()))
            .set_auth_uri(AuthUrl::new(self.settings.authorization_url.clone()).map_err(bad)?)
            .set_token_uri(TokenUrl::new(self.settings.token_url.clone()).map_err(bad)?)
            .set_redirect_uri(RedirectUrl::new(self.redirect_uri.clone()).map_err(bad)?)
            .set_auth_type(match self.settings.auth_method {
                UpstreamAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
                UpstreamAuthMethod::ClientSecretPost => AuthType::RequestBody,
            });
        if let Some(secret) = &self.settings.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.0.clone()));
        }
        Ok(client)
    }

    async fn exchange_and_fetch(
        &self,
        http: &crate::upstream::UpstreamHttp,
        callback: &CallbackParams,
        pkce_verifier: &str,
    ) -> Result<Json, UpstreamError> {
        if let Some(error) = &callback.error {
            return Err(super::refusal(error, callback.error_description.as_deref()));
        }
        let code = callback
            .code
            .clone()
            .ok_or_else(|| UpstreamError::Denied("the callback has no code".into()))?;
        let tokens = self
            .client()?
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&http.to(&self.id, "token"))
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(r) => {
                    UpstreamError::Denied(format!("the token endpoint answered {}", r.error()))
                }
                oauth2::RequestTokenError::Parse(e, _) => {
                    UpstreamError::Invalid(format!("the token response is malformed: {e}"))
                }
                other => UpstreamError::Unavailable(format!("the token request failed: {other}")),
            })?;
        let user = super::fetch_json(&http.to(&self.id, "userinfo"), &self.settings.userinfo_url, tokens.access_token().secret()).await?;
        Ok(Json::Object(user))
    }
}
