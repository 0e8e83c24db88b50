//! The RP face toward identity providers: each kind turns a login there into one JSON
//! document about the person, which the upstream's claim mapping then reads.

pub mod local;
pub mod oidc;

use std::time::Duration;

/// Why a login at an upstream ended without a person.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream could not be reached or failed: the RP gets `temporarily_unavailable`.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The upstream refused, or answered with something that must not be trusted: the RP
    /// gets `access_denied`.
    #[error("the identity provider's answer was refused: {0}")]
    Denied(String),
}

/// What the callback from an upstream carries.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    /// RFC 9207: the issuer that sent the person back.
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The one HTTP client for upstream calls: no redirects followed (a token endpoint that
/// redirects is not trusted), and time limits so a silent upstream cannot hang a login.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
}
