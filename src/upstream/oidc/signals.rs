//! An `oidc` upstream as a Shared Signals transmitter (SSF 1.0): its configuration
//! (fetched from where `[upstreams.ssf]` says, or its well-known place under the issuer),
//! its keys, the client_credentials token Gatehouse manages its stream with, and the
//! check of each Security Event Token it sends (RFC 8417, SSF 1.0 §4, RFC 8935 §2.2).

use super::OidcProvider;
use crate::signed_jwt::{ASYMMETRIC_ALGS, Refused, SignedJwt};
use crate::upstream::{UpstreamError, UpstreamHttp};
use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::{ClientId, ClientSecret, OAuth2TokenResponse, Scope};
use serde::Deserialize;
use serde_json::{Map, Value as Json};

/// How old an event may be: a poller may take events queued a while ago.
const OLDEST_EVENT_SECS: i64 = 86_400;
/// How far ahead of our clock an event's `iat` may be.
const AHEAD_SECS: i64 = 60;

/// What the transmitter's configuration says (SSF 1.0 §7.1).
#[derive(Debug, Clone, Deserialize)]
pub struct Transmitter {
    pub issuer: String,
    pub jwks_uri: String,
    pub configuration_endpoint: Option<String>,
    pub verification_endpoint: Option<String>,
    #[serde(default)]
    pub delivery_methods_supported: Vec<String>,
}

/// What the transmitter's configuration and keys were when last fetched.
#[derive(Clone)]
pub(super) struct Known {
    transmitter: Transmitter,
    jwks: CoreJsonWebKeySet,
}

/// Why an event from the transmitter is not taken.
#[derive(Debug)]
pub enum SignalError {
    /// The transmitter's configuration or keys cannot be fetched now: worth sending again.
    Unavailable(String),
    /// Refused, with the error code of RFC 8935 §2.4 (`invalid_request`, `invalid_key`,
    /// `invalid_issuer`, `invalid_audience`).
    Refused { code: &'static str, why: String },
}

impl From<UpstreamError> for SignalError {
    fn from(e: UpstreamError) -> SignalError {
        match e {
            UpstreamError::Unavailable(why) => SignalError::Unavailable(why),
            UpstreamError::Denied(why) | UpstreamError::Invalid(why) => SignalError::Refused {
                code: "invalid_request",
                why,
            },
        }
    }
}

/// An event from the transmitter, verified: its type, what it says, whom it is about.
#[derive(Debug, Clone)]
pub struct ReceivedSignal {
    pub jti: String,
    pub event: String,
    pub payload: Map<String, Json>,
    pub subject: Json,
    /// Until when its `jti` must be remembered so that it is taken once.
    pub remember_until: i64,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: crate::signed_jwt::Audience,
    iat: i64,
    exp: Option<i64>,
    jti: String,
    sub_id: Option<Json>,
    events: Map<String, Json>,
}

/// Where the configuration of the transmitter `issuer` is: the well-known path goes
/// between the host and the issuer's path (SSF 1.0 §7.2.1).
pub fn configuration_url(issuer: &str) -> String {
    match url::Url::parse(issuer) {
        Ok(url) => {
            let path = url.path().trim_end_matches('/');
            let origin = url.origin().ascii_serialization();
            format!("{origin}/.well-known/ssf-configuration{path}")
        }
        Err(_) => format!("{issuer}/.well-known/ssf-configuration"),
    }
}

impl OidcProvider {
    /// The transmitter's configuration and keys, fetched on first use.
    pub(super) async fn transmitter(&self, http: &UpstreamHttp) -> Result<Known, UpstreamError> {
        let known = self.signals.read().unwrap_or_else(|e| e.into_inner()).clone();
        match known {
            Some(known) => Ok(known),
            None => self.fetch_transmitter(http).await,
        }
    }

    pub(super) async fn fetch_transmitter(&self, http: &UpstreamHttp) -> Result<Known, UpstreamError> {
        let receiver = self.settings.ssf.as_ref().ok_or_else(|| {
            UpstreamError::Denied("this upstream sends no Shared Signals ([upstreams.ssf] is not set)".into())
        })?;
        let url = receiver
            .configuration_url
            .clone()
            .unwrap_or_else(|| configuration_url(&self.settings.issuer));
        let transmitter: Transmitter = serde_json::from_slice(&get(http, &self.id, &url).await?)
            .map_err(|e| UpstreamError::Invalid(format!("{url} is not an SSF configuration: {e}")))?;
        let jwks = serde_json::from_slice(&get(http, &self.id, &transmitter.jwks_uri).await?)
            .map_err(|e| UpstreamError::Invalid(format!("{} is not a JWKS: {e}", transmitter.jwks_uri)))?;
        let known = Known { transmitter, jwks };
        *self.signals.write().unwrap_or_else(|e| e.into_inner()) = Some(known.clone());
        Ok(known)
    }

    /// The transmitter's configuration.
    pub async fn signal_transmitter(&self, http: &UpstreamHttp) -> Result<Transmitter, UpstreamError> {
        Ok(self.transmitter(http).await?.transmitter)
    }

    /// An access token of Gatehouse's client at the upstream, by client_credentials, for
    /// `scope`.
    pub async fn service_token(&self, http: &UpstreamHttp, scope: &str) -> Result<String, UpstreamError> {
        let metadata = self.metadata(http).await?;
        let auth_type = match self.settings.auth_method {
            crate::upstream::UpstreamAuthMethod::ClientSecretBasic => openidconnect::AuthType::BasicAuth,
            crate::upstream::UpstreamAuthMethod::ClientSecretPost => openidconnect::AuthType::RequestBody,
        };
        let client = openidconnect::core::CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.as_ref().map(|s| ClientSecret::new(s.0.clone())),
        )
        .set_auth_type(auth_type);
        let token = client
            .exchange_client_credentials()
            .map_err(|e| UpstreamError::Unavailable(format!("no token endpoint: {e}")))?
            .add_scope(Scope::new(scope.to_string()))
            .request_async(&http.to(&self.id, "token"))
            .await
            .map_err(super::answer::token_error)?;
        Ok(token.access_token().secret().clone())
    }

    /// The event `token` says, if the transmitter signed it for Gatehouse just now (its
    /// keys fetched once more for a key it started using since, at most once a minute).
    pub async fn verify_signal(&self, http: &UpstreamHttp, token: &str, now: i64) -> Result<ReceivedSignal, SignalError> {
        let known = self.transmitter(http).await.map_err(SignalError::from)?;
        let refused = |check| match check {
            Check::NoKey => SignalError::Refused {
                code: "invalid_key",
                why: "no key of the transmitter signed the event".into(),
            },
            Check::Refused(code, why) => SignalError::Refused { code, why },
        };
        let audience = self.settings.client_id.as_str();
        match verify(token, &known, audience, now) {
            Err(Check::NoKey) if self.may_fetch_keys(now) => {
                let known = self.fetch_transmitter(http).await.map_err(SignalError::from)?;
                verify(token, &known, audience, now).map_err(refused)
            }
            verified => verified.map_err(refused),
        }
    }

    fn may_fetch_keys(&self, now: i64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let last = self.signal_keys_fetched_at.load(Relaxed);
        now.saturating_sub(last) >= 60 && self.signal_keys_fetched_at.compare_exchange(last, now, Relaxed, Relaxed).is_ok()
    }
}

async fn get(http: &UpstreamHttp, upstream: &str, url: &str) -> Result<Vec<u8>, UpstreamError> {
    let request = http
        .client()
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json");
    let (status, body) = super::stream::send(http, upstream, url, request).await?;
    if !status.is_success() {
        return Err(UpstreamError::Unavailable(format!("{url} answered {status}")));
    }
    Ok(body)
}

/// Why [`verify`] did not take an event.
enum Check {
    /// No key of the transmitter's set signed it (perhaps one it started using since).
    NoKey,
    /// Refused, with the error code of RFC 8935 §2.4.
    Refused(&'static str, String),
}

fn verify(token: &str, known: &Known, audience: &str, now: i64) -> Result<ReceivedSignal, Check> {
    let invalid = |why: &str| Check::Refused("invalid_request", why.to_string());
    let jwt = SignedJwt::parse(token, "the security event token").map_err(|why| Check::Refused("invalid_request", why))?;
    let typ = jwt.header.typ.as_deref().unwrap_or_default();
    if !typ.eq_ignore_ascii_case("secevent+jwt") && !typ.eq_ignore_ascii_case("application/secevent+jwt") {
        return Err(invalid("the event's typ is not secevent+jwt"));
    }
    jwt.verify_with(&known.jwks, &ASYMMETRIC_ALGS).map_err(|refused| match refused {
        Refused::NoMatchingKey => Check::NoKey,
        Refused::Invalid(why) => Check::Refused("invalid_key", why),
    })?;
    let claims: Claims = jwt.claims().map_err(|why| Check::Refused("invalid_request", why))?;
    if claims.iss != known.transmitter.issuer {
        return Err(Check::Refused("invalid_issuer", "the event is from another issuer".into()));
    }
    if !claims.aud.contains(|aud| aud == audience) {
        return Err(Check::Refused("invalid_audience", "the event is for another audience".into()));
    }
    if claims.iat > now + AHEAD_SECS || claims.iat < now - OLDEST_EVENT_SECS {
        return Err(invalid("the event's iat is too far from now"));
    }
    if claims.exp.is_some_and(|exp| exp < now) {
        return Err(invalid("the event has expired"));
    }
    if claims.jti.is_empty() {
        return Err(invalid("the event has no jti"));
    }
    let mut events = claims.events.into_iter();
    let (Some((event, Json::Object(payload))), None) = (events.next(), events.next()) else {
        return Err(invalid("the event token must carry exactly one event, an object"));
    };
    // Before SSF 1.0, CAEP put the subject in the event.
    let subject = claims
        .sub_id
        .or_else(|| payload.get("subject").cloned())
        .ok_or_else(|| invalid("the event names no subject (sub_id)"))?;
    Ok(ReceivedSignal {
        jti: claims.jti,
        event,
        payload,
        subject,
        remember_until: claims.iat + OLDEST_EVENT_SECS + AHEAD_SECS,
    })
}
