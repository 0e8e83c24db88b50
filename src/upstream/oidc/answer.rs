//! What the upstream answers at its token endpoint, after a login and after a refresh:
//! the ID token verified (its JWKS fetched once more for a key it started using), its
//! claims read as sent, and userinfo and the Person API merged over them.

use super::{Expect, Metadata, OidcProvider, jwt_payload};
use crate::config::Secret;
use crate::upstream::{Authentication, Refreshed, UpstreamError, UpstreamHttp};
use openidconnect::core::CoreIdToken;
use openidconnect::{
    ClaimsVerificationError, NonceVerifier, OAuth2TokenResponse, RefreshToken, SignatureVerificationError,
    TokenResponse,
};
use serde_json::{Map, Value as Json};

type TokenError = openidconnect::RequestTokenError<
    openidconnect::HttpClientError<reqwest::Error>,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
>;

/// A failed token request: refused by the upstream (a code or refresh token it does
/// not take), malformed, or not answered.
pub(super) fn token_error(e: TokenError) -> UpstreamError {
    match e {
        openidconnect::RequestTokenError::ServerResponse(r) => {
            UpstreamError::Denied(format!("the token endpoint answered {}", r.error()))
        }
        openidconnect::RequestTokenError::Parse(e, _) => {
            UpstreamError::Invalid(format!("the token response is malformed: {e}"))
        }
        other => UpstreamError::Unavailable(format!("the token request failed: {other}")),
    }
}

impl OidcProvider {
    /// The subject, authentication and claims of `id_token`, once it verifies.
    pub(super) async fn verified(
        &self,
        http: &UpstreamHttp,
        metadata: &Metadata,
        id_token: &CoreIdToken,
        nonce: impl NonceVerifier + Copy,
        expect: Expect,
        now: i64,
    ) -> Result<(String, Authentication, Map<String, Json>), UpstreamError> {
        let invalid = |e: ClaimsVerificationError| UpstreamError::Invalid(format!("the ID token is not valid: {e}"));
        let verified = {
            let client = self.client(metadata.clone())?;
            let verifier = self.verifier(&client, expect, now);
            id_token.claims(&verifier, nonce).map(|c| self.authenticated(c))
        };
        let (subject, authentication) = match verified {
            Ok(verified) => verified,
            // A key the upstream started using since discovery: fetch the JWKS once more.
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                let refreshed = self.refresh_jwks(http, metadata).await?;
                let client = self.client(refreshed)?;
                let verifier = self.verifier(&client, expect, now);
                id_token
                    .claims(&verifier, nonce)
                    .map(|c| self.authenticated(c))
                    .map_err(invalid)?
            }
            Err(e) => return Err(invalid(e)),
        };
        // The signature is verified: read the claims as sent, custom and nested ones included.
        let claims = jwt_payload(&id_token.to_string())
            .ok_or_else(|| UpstreamError::Invalid("the ID token payload is not JSON".into()))?;
        // A security event token (RFC 8417: a back-channel logout token) says something
        // happened to a person; signed by the same key, it must never pass for a login's
        // proof, whatever its typ says (Back-Channel Logout 1.0 §2.4).
        if claims.contains_key("events") {
            return Err(UpstreamError::Invalid(
                "the token carries events: it is a security event token (a logout token), not an ID or access token"
                    .into(),
            ));
        }
        Ok((subject, authentication, claims))
    }

    /// `claims` with userinfo (when configured) and the Person API merged over them, for
    /// the person `subject`: the document the mapping reads.
    pub(super) async fn completed(
        &self,
        http: &UpstreamHttp,
        metadata: &Metadata,
        mut document: Map<String, Json>,
        subject: &str,
        access_token: &str,
    ) -> Result<Map<String, Json>, UpstreamError> {
        if self.settings.userinfo
            && let Some(endpoint) = metadata.userinfo_endpoint()
        {
            let userinfo = crate::upstream::fetch_json(&http.to(&self.id, "userinfo"), endpoint.as_str(), access_token).await?;
            if userinfo.get("sub").and_then(Json::as_str) != Some(subject) {
                return Err(UpstreamError::Invalid("the userinfo sub differs from the ID token's".into()));
            }
            document.extend(userinfo);
        }
        if let Some(url) = &self.settings.attributes_url {
            // The person's record: all or nothing, never a half-mapped account.
            let mut attributes = crate::upstream::fetch_json(&http.to(&self.id, "attributes"), url, access_token).await?;
            // Who the person is stays what the verified ID token says.
            attributes.remove("sub");
            document.extend(attributes);
        }
        Ok(document)
    }

    /// Refreshes the upstream's tokens of `subject` and reads what it says of them now:
    /// the refreshed ID token (OpenID Connect Core §12.2: the same issuer, audience and
    /// subject; a nonce is not checked), else userinfo, with the rest merged over it.
    pub(super) async fn refreshed(
        &self,
        http: &UpstreamHttp,
        refresh_token: &Secret,
        subject: &str,
        now: i64,
    ) -> Result<Refreshed, UpstreamError> {
        let metadata = self.metadata(http).await?;
        let client = self.client(metadata.clone())?;
        let tokens = client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.0.clone()))
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?
            .request_async(&http.to(&self.id, "token"))
            .await
            .map_err(token_error)?;
        let claims = match tokens.id_token() {
            Some(id_token) => {
                let any_nonce = |_: Option<&openidconnect::Nonce>| Ok(());
                let (refreshed_subject, _, claims) = self.verified(http, &metadata, id_token, any_nonce, Expect::IdTokenForUs, now).await?;
                if refreshed_subject != subject {
                    return Err(UpstreamError::Invalid("the refreshed ID token names another person".into()));
                }
                claims
            }
            None => Map::new(),
        };
        let access_token = tokens.access_token().secret();
        let mut document = self.completed(http, &metadata, claims, subject, access_token).await?;
        if document.is_empty()
            && let Some(endpoint) = metadata.userinfo_endpoint()
        {
            // No ID token and no userinfo configured: userinfo is what there is to read.
            let userinfo = crate::upstream::fetch_json(&http.to(&self.id, "userinfo"), endpoint.as_str(), access_token).await?;
            if userinfo.get("sub").and_then(Json::as_str) != Some(subject) {
                return Err(UpstreamError::Invalid("the userinfo sub differs from the person's".into()));
            }
            document = userinfo;
        }
        if document.is_empty() {
            return Err(UpstreamError::Invalid("the refresh answered nothing about the person".into()));
        }
        Ok(Refreshed {
            document: Json::Object(document),
            refresh_token: tokens.refresh_token().map(|t| Secret(t.secret().clone())),
        })
    }
}
