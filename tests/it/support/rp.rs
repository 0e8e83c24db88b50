//! A relying party built on the openidconnect crate, configured by discovery like any
//! OIDC library would be: it checks ID tokens strictly (signature, iss, aud, nonce).

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope,
};

/// The redirect URI test clients register: nothing listens there, the tests read the
/// redirect to it.
pub use super::config::REDIRECT;

pub struct Rp {
    pub client: CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    pub http: reqwest::Client,
}

/// One authorization request, from the relying party's side.
pub struct Attempt {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl Rp {
    /// An authorization request of `flow` for openid and `scopes`, with PKCE and the
    /// `extra` parameters.
    pub fn attempt(&self, flow: CoreAuthenticationFlow, scopes: &[&str], extra: &[(&str, &str)]) -> Attempt {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(flow, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for scope in scopes {
            request = request.add_scope(Scope::new(scope.to_string()));
        }
        for (k, v) in extra {
            request = request.add_extra_param(*k, *v);
        }
        let (url, state, nonce) = request.url();
        Attempt {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    /// Exchanges a code as a strict RP library does (the ID token is parsed and checked).
    pub async fn exchange(
        &self,
        code: String,
        verifier: openidconnect::PkceCodeVerifier,
    ) -> openidconnect::core::CoreTokenResponse {
        self.client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .expect("token exchange")
    }

    pub async fn discover(server: &super::TestServer, id: &str, secret: Option<&str>) -> Rp {
        let http = super::client();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(id.into()),
            secret.map(|s| ClientSecret::new(s.into())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
        Rp { client, http }
    }
}
