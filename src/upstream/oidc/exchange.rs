//! A token this upstream issued to an app (a mobile SDK's ID token, a JWT access token),
//! presented for token exchange (RFC 8693). It is verified as a login's ID token is — the
//! upstream's JWKS (fetched again for a new key), `iss`, `exp`, `iat` — except that its
//! audience is one the upstream's `exchange` accepts, and no nonce was sent for it.

use super::{Expect, OidcProvider};
use crate::upstream::{Person, SubjectToken, UpstreamError, UpstreamHttp};
use openidconnect::core::CoreIdToken;
use openidconnect::{JsonWebTokenType, NormalizedJsonWebTokenType};
use serde_json::Value as Json;
use std::str::FromStr;

/// The JOSE types a JWT access token may carry: RFC 9068's, and the usual ones.
pub(super) fn access_token_types() -> Vec<NormalizedJsonWebTokenType> {
    normalized(&["at+jwt", "application/at+jwt", "jwt", "application/jwt"])
}

/// The JOSE types an ID token presented for exchange may carry (or none): plain JWT only,
/// so that no other kind of token the upstream signs (a logout token, a SET, a JWS of
/// another use) passes for one.
pub(super) fn id_token_types() -> Vec<NormalizedJsonWebTokenType> {
    normalized(&["jwt", "application/jwt"])
}

fn normalized(types: &[&str]) -> Vec<NormalizedJsonWebTokenType> {
    types
        .iter()
        .filter_map(|t| JsonWebTokenType::new(t.to_string()).normalize().ok())
        .collect()
}

impl OidcProvider {
    pub(super) async fn exchanged(
        &self,
        http: &UpstreamHttp,
        token: &str,
        kind: SubjectToken,
        now: i64,
    ) -> Result<Person, UpstreamError> {
        let accepted = self
            .settings
            .exchange
            .as_deref()
            .ok_or_else(|| UpstreamError::Denied("this upstream's tokens may not be exchanged".into()))?;
        let parsed = CoreIdToken::from_str(token)
            .map_err(|e| UpstreamError::Invalid(format!("the subject token is not a signed JWT: {e}")))?;
        let metadata = self.metadata(http).await?;
        let any_nonce = |_: Option<&openidconnect::Nonce>| Ok(());
        let (subject, authentication, claims) = self
            .verified(http, &metadata, &parsed, any_nonce, Expect::Exchanged(kind), now)
            .await?;
        let audiences = crate::signed_jwt::audiences(&claims);
        if audiences.is_empty() || audiences.iter().any(|aud| !accepted.iter().any(|a| a == aud)) {
            return Err(UpstreamError::Invalid(format!(
                "the subject token's audience {audiences:?} is not one this upstream's exchange accepts"
            )));
        }
        // An access token also opens the upstream's userinfo and Person API, as at a login.
        let document = match kind {
            SubjectToken::AccessToken => self.completed(http, &metadata, claims, &subject, token).await?,
            SubjectToken::IdToken => claims,
        };
        Ok(Person {
            once: None,
            document: Json::Object(document),
            authentication,
            session: None,
        })
    }
}
