//! The identity provider as Gatehouse knows it now: its metadata from
//! `idp_metadata_file`, or fetched from `idp_metadata_url` when the upstream starts and
//! again once the copy is due (its `validUntil`, its `cacheDuration` or a day, whichever
//! comes first). A fetch that fails, or brings metadata that does not read or has
//! expired, keeps the last good copy: an IdP's web server having a bad minute does not
//! stop its logins.

use super::metadata::{self, IdpMetadata};
use super::settings::IdpSource;
use crate::upstream::UpstreamError;
use crate::upstream::http::{FetchError, UpstreamHttp};
use std::sync::{Arc, RwLock};

/// A copy is fetched again after a day at the latest.
const LONGEST_KEPT: i64 = 86_400;
/// ... and not sooner than this, whatever its `cacheDuration` says.
const SHORTEST_KEPT: i64 = 60;
/// After a failed fetch, the last good copy serves this long before the next try.
const RETRY_AFTER: i64 = 300;

/// One copy of the metadata, with what is made from it once.
pub struct Known {
    pub metadata: IdpMetadata,
    /// The public keys (SPKI DER) of its signing certificates, for signatures in a
    /// redirect's query.
    pub keys: Vec<Vec<u8>>,
    /// When to fetch it again (unix seconds); never for a file.
    due: i64,
}

impl Known {
    /// Its keys as the logout bindings check with them.
    pub fn binding_keys(&self) -> super::binding::IdpKeys<'_> {
        super::binding::IdpKeys {
            spki: &self.keys,
            certificates: &self.metadata.signing_certificates,
        }
    }

    fn of(metadata: IdpMetadata, due: i64) -> Arc<Known> {
        let keys = metadata
            .signing_certificates
            .iter()
            .filter_map(|der| bergshamra_keys::loader::load_x509_cert_der(der).ok()?.to_spki_der())
            .collect();
        Arc::new(Known { metadata, keys, due })
    }
}

pub struct Idp {
    /// The upstream's id, for logs and the upstream-call metrics.
    upstream: String,
    url: Option<String>,
    known: RwLock<Option<Arc<Known>>>,
    /// Held by the one caller fetching, so that a due copy is fetched once, not by every
    /// login that finds it due.
    fetching: tokio::sync::Mutex<()>,
}

impl Idp {
    pub fn new(upstream: &str, source: &IdpSource) -> Idp {
        let (url, known) = match source {
            IdpSource::File(metadata) => (None, Some(Known::of(metadata.clone(), i64::MAX))),
            IdpSource::Url(url) => (Some(url.clone()), None),
        };
        Idp {
            upstream: upstream.to_string(),
            url,
            known: RwLock::new(known),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn known(&self) -> Option<Arc<Known>> {
        self.known.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn keep(&self, known: Arc<Known>) {
        *self.known.write().unwrap_or_else(|e| e.into_inner()) = Some(known);
    }

    /// Whether a copy is known (what `/healthz/ready` waits for).
    pub fn is_known(&self) -> bool {
        self.known().is_some()
    }

    /// The copy known now, without fetching: what checks an IdP's answer.
    pub fn known_now(&self) -> Result<Arc<Known>, UpstreamError> {
        self.known()
            .ok_or_else(|| UpstreamError::Unavailable("the identity provider's metadata has not been fetched yet".into()))
    }

    /// The copy to start a login with: fetched first when none is known yet, and again
    /// (by one caller, the others going on with the last good copy) when it is due.
    pub async fn current(&self, http: &UpstreamHttp, now: i64) -> Result<Arc<Known>, UpstreamError> {
        let Some(url) = &self.url else {
            return self.known_now();
        };
        match self.known() {
            Some(known) if known.due > now => Ok(known),
            Some(known) => {
                let Ok(_fetching) = self.fetching.try_lock() else {
                    return Ok(known);
                };
                match self.fetch(http, url, now).await {
                    Ok(fresh) => Ok(fresh),
                    Err(e) => {
                        tracing::warn!(
                            upstream = %self.upstream, error = %e, retry_in_secs = RETRY_AFTER,
                            "the identity provider's metadata cannot be fetched again: the last good copy is kept"
                        );
                        let postponed = Arc::new(Known {
                            metadata: known.metadata.clone(),
                            keys: known.keys.clone(),
                            due: now + RETRY_AFTER,
                        });
                        self.keep(postponed.clone());
                        Ok(postponed)
                    }
                }
            }
            None => {
                let _fetching = self.fetching.lock().await;
                match self.known() {
                    Some(known) => Ok(known),
                    None => self.fetch(http, url, now).await,
                }
            }
        }
    }

    async fn fetch(&self, http: &UpstreamHttp, url: &str, now: i64) -> Result<Arc<Known>, UpstreamError> {
        let request = http
            .client()
            .get(url)
            .header(reqwest::header::ACCEPT, "application/samlmetadata+xml, application/xml;q=0.9, */*;q=0.1");
        let (status, body) = http
            .to(&self.upstream, "metadata")
            .fetch(request)
            .await
            .map_err(|e| match e {
                FetchError::Http(e) => UpstreamError::Unavailable(format!("{url} failed: {e}")),
                too_large @ FetchError::TooLarge(_) => UpstreamError::Invalid(format!("{url}: {too_large}")),
            })?;
        if !status.is_success() {
            return Err(UpstreamError::Unavailable(format!("{url} answered {status}")));
        }
        let text = String::from_utf8(body).map_err(|_| UpstreamError::Invalid(format!("{url} is not UTF-8")))?;
        let metadata = metadata::parse(&text).map_err(|why| UpstreamError::Invalid(format!("{url} {why}")))?;
        if metadata.valid_until.is_some_and(|until| until <= now) {
            return Err(UpstreamError::Invalid(format!("{url} has expired (its validUntil has passed)")));
        }
        let kept = metadata
            .cache_duration
            .unwrap_or(LONGEST_KEPT)
            .clamp(SHORTEST_KEPT, LONGEST_KEPT);
        let due = metadata.valid_until.map_or(now + kept, |until| until.min(now + kept));
        tracing::info!(
            upstream = %self.upstream, entity_id = %metadata.entity_id, next_fetch_in_secs = due - now,
            "the identity provider's metadata was fetched"
        );
        let known = Known::of(metadata, due);
        self.keep(known.clone());
        Ok(known)
    }
}
