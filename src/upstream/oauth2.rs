//! `kind = "oauth2"` upstreams (GitHub and the like): no ID token, the person is who
//! the upstream's user endpoint says, through the oauth2 crate. State and PKCE S256 on
//! every request.

use super::{CallbackParams, UpstreamError};
use crate::config::{OAuth2Upstream, UpstreamAuthMethod};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde_json::Value as Json;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct OAuth2Provider {
    settings: OAuth2Upstream,
    redirect_uri: String,
}

impl OAuth2Provider {
    pub fn new(id: &str, settings: OAuth2Upstream, issuer: &str) -> OAuth2Provider {
        OAuth2Provider {
            settings,
            redirect_uri: format!("{issuer}/callback/{id}"),
        }
    }

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
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        Ok(client)
    }

    /// The authorization request to send the person to, and the PKCE verifier to keep.
    pub fn begin(&self, state: &str) -> Result<(String, String), UpstreamError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_string();
        let client = self.client()?;
        let mut request = client
            .authorize_url(move || CsrfToken::new(state))
            .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _) = request.url();
        Ok((url.to_string(), verifier.secret().clone()))
    }

    /// Exchanges the code and returns what the user endpoint says about the person.
    pub async fn finish(
        &self,
        http: &reqwest::Client,
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
            .request_async(http)
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(r) => {
                    UpstreamError::Denied(format!("the token endpoint answered {}", r.error()))
                }
                oauth2::RequestTokenError::Parse(e, _) => {
                    UpstreamError::Denied(format!("the token response is malformed: {e}"))
                }
                other => UpstreamError::Unavailable(format!("the token request failed: {other}")),
            })?;
        let user = super::fetch_json(http, &self.settings.userinfo_url, tokens.access_token().secret()).await?;
        Ok(Json::Object(user))
    }
}
