//! `kind = "saml"`: a SAML 2.0 identity provider, with Gatehouse as its Service Provider
//! (Web Browser SSO Profile, SAML 2.0 Profiles §4.1). The AuthnRequest goes by the
//! HTTP-Redirect binding; the Response comes back by HTTP-POST to the ACS, which hands it
//! on to `/callback/{id}` from Gatehouse's own origin, so that the browser that started
//! the login is known by its cookie there (the IdP's cross-site POST carries none). The
//! Response is checked in full (`response.rs`, `signature.rs`) before anything in it is
//! believed; the document the mapping reads is `document.rs`.

mod binding;
mod document;
mod encrypted;
mod idp;
mod logout;
mod metadata;
mod request;
mod response;
mod signature;
mod settings;
mod sp_key;
mod sp_logout;
mod sp_metadata;
mod time;
mod xml;

pub use settings::SamlSettings;
pub use sp_key::SpKey;

use super::{
    Authentication, Begin, Capabilities, Kind, LoggedOut, LoggingOut, LoginOptions, LogoutNotice, Once, Person, Return,
    UpstreamError, UpstreamSession,
};
use crate::config::Problem;
use response::{Expected, Refused};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// The largest `SAMLResponse` the ACS takes (base64), for the body limit of its route.
pub const LARGEST_RESPONSE: usize = response::LARGEST_RESPONSE;

pub struct SamlProvider {
    settings: SamlSettings,
    /// Gatehouse's entity id toward the IdP.
    sp_entity_id: String,
    /// `{issuer}/saml/{id}/acs`: where the IdP posts its Response.
    acs_url: String,
    /// `{issuer}/saml/{id}/slo`: where the IdP sends its LogoutRequests.
    slo_url: String,
    /// The identity provider's metadata as known now.
    idp: idp::Idp,
    /// Gatehouse's key toward the IdP: from `sp_key_file`, or the one it made and keeps
    /// in the store, given once the upstream runs ([`SamlProvider::use_kept_key`]).
    sp_key: RwLock<Option<Arc<SpKey>>>,
}

impl Kind for SamlProvider {
    type Settings = SamlSettings;

    fn settings(table: toml::Value, at: &str, base: &Path, problems: &mut Vec<Problem>) -> Option<SamlSettings> {
        settings::read(table, at, base, problems)
    }

    fn open(id: &str, settings: &SamlSettings, issuer: &str) -> Self {
        let base = format!("{issuer}{}", crate::routes::saml(id));
        SamlProvider {
            sp_entity_id: settings.sp_entity_id.clone().unwrap_or_else(|| base.clone()),
            acs_url: format!("{base}/acs"),
            slo_url: format!("{base}/slo"),
            idp: idp::Idp::new(id, &settings.idp),
            sp_key: RwLock::new(settings.sp_key.clone().map(Arc::new)),
            settings: settings.clone(),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            redirect: true,
            unsolicited: self.settings.allow_idp_initiated,
            logout: self.settings.logout_upstream,
            ..Capabilities::default()
        }
    }

    fn is_ready(&self) -> bool {
        self.idp.is_known()
    }

    /// The metadata fetched from `idp_metadata_url`, unless it is known already.
    async fn prepare(&self, http: &crate::upstream::UpstreamHttp, now: i64) -> Result<(), UpstreamError> {
        self.idp.current(http, now).await.map(|_| ())
    }

    /// The AuthnRequest, by the HTTP-Redirect binding, with `RelayState` the pending
    /// login. Its ID is kept (as the login's nonce) for the Response's `InResponseTo`.
    async fn begin(&self, http: &crate::upstream::UpstreamHttp, options: LoginOptions<'_>) -> Result<Begin, UpstreamError> {
        let idp = self.idp.current(http, options.now).await?;
        let id = request::new_id();
        let instant = crate::clock::iso8601(options.now);
        let authn_contexts = self.settings.acr_map.to_upstream(options.acr_values);
        let request = request::AuthnRequest {
            id: &id,
            issue_instant: &instant,
            destination: &idp.metadata.sso_url,
            sp_entity_id: &self.sp_entity_id,
            acs_url: &self.acs_url,
            name_id_format: &self.settings.name_id_format,
            force_authn: options.force_login || options.max_age == Some(0),
            authn_contexts: &authn_contexts,
        };
        let key = self.sp_key().filter(|_| self.settings.sign_requests);
        if self.settings.sign_requests && key.is_none() {
            return Err(UpstreamError::Unavailable("the SP key is not ready".into()));
        }
        let url = request
            .redirect_url(options.state, key.as_deref())
            .map_err(UpstreamError::Unavailable)?;
        Ok(Begin {
            url,
            nonce: Some(id),
            // SAML has no PKCE; the flow keeps one for every redirect, unused here.
            pkce_verifier: crate::secrets::random_token(),
        })
    }

    /// The IdP's LogoutRequest, `token` being the query of its redirect to the SLO
    /// service: signed by the IdP, for this SP. It names the IdP session (NameID and
    /// SessionIndex) whose Gatehouse sessions end.
    async fn verify_logout_token(
        &self,
        _http: &crate::upstream::UpstreamHttp,
        token: &str,
        now: i64,
    ) -> Result<LogoutNotice, UpstreamError> {
        let idp = self.idp.known_now()?;
        let request = logout::verify(token, &self.logout_expected(&idp, now)).map_err(UpstreamError::Invalid)?;
        let session = match request.session_indexes.as_slice() {
            [one] => LoggedOut::Session {
                sid: one.clone(),
                subject: Some(request.name_id),
            },
            // None, or several: every session of the person from this IdP.
            _ => LoggedOut::Subject(request.name_id),
        };
        Ok(LogoutNotice {
            session,
            jti: request.id,
            remember_until: request.valid_until,
        })
    }

    /// The IdP's logout service with a signed LogoutRequest for the IdP session the
    /// Gatehouse session came from; the IdP answers at Gatehouse's logout service
    /// ([`SamlProvider::logout_answered`]), whatever `post_logout_redirect_uri` says.
    async fn logout_url(&self, http: &crate::upstream::UpstreamHttp, out: LoggingOut<'_>) -> Option<String> {
        if !self.settings.logout_upstream {
            return None;
        }
        let (Some(name_id), Some(key)) = (out.subject, self.sp_key()) else {
            return None;
        };
        let idp = self.idp.current(http, out.now).await.ok()?;
        let destination = idp.metadata.slo_url.as_deref()?;
        let request = sp_logout::Request {
            destination,
            sp_entity_id: &self.sp_entity_id,
            name_id,
            name_id_format: &self.settings.name_id_format,
            session_index: out.sid,
            state: out.state,
            now: out.now,
        };
        sp_logout::request_url(&request, &key)
            .inspect_err(|e| tracing::warn!(error = %e, "no logout request can be made for the identity provider"))
            .ok()
    }

    /// Checks the Response the ACS handed on and makes the person of its Assertion.
    async fn finish(&self, _http: &crate::upstream::UpstreamHttp, back: Return<'_>) -> Result<Person, UpstreamError> {
        // No request: a login the IdP started, taken only when the upstream allows them.
        let request_id = match back.nonce {
            None if !self.settings.allow_idp_initiated => {
                return Err(UpstreamError::Denied("no AuthnRequest was kept for this login".into()));
            }
            kept => kept,
        };
        let encoded = back
            .callback
            .saml_response
            .as_deref()
            .ok_or_else(|| UpstreamError::Invalid("the identity provider sent no SAMLResponse".into()))?;
        let idp = self.idp.known_now()?;
        let sp_key = self.sp_key();
        let expected = Expected {
            acs_url: &self.acs_url,
            sp_entity_id: &self.sp_entity_id,
            idp: &idp.metadata,
            request_id,
            want_assertions_signed: self.settings.want_assertions_signed,
            sp_key: sp_key.as_deref(),
            clock_skew: self.settings.clock_skew.as_secs_i64(),
            now: back.now,
        };
        let asserted = response::validate(encoded, &expected).map_err(|refused| match refused {
            Refused::Status(said) => UpstreamError::Denied(format!("the identity provider answered {said}")),
            Refused::Invalid(why) => UpstreamError::Invalid(why),
        })?;
        let document = document::of(&asserted, &self.settings.subject)
            .map_err(UpstreamError::Invalid)?;
        let acr = asserted
            .authn_context
            .as_deref()
            .map(|theirs| self.settings.acr_map.from_upstream(theirs));
        Ok(Person {
            authentication: Authentication {
                auth_time: asserted.authn_instant,
                acr,
                amr: Vec::new(),
            },
            session: Some(UpstreamSession {
                subject: asserted.name_id.clone(),
                sid: asserted.session_index.clone(),
                refresh_token: None,
                email: None,
            }),
            once: Some(Once {
                id: asserted.assertion_id.clone(),
                until: asserted.valid_until,
            }),
            document,
        })
    }
}

impl SamlProvider {
    fn logout_expected<'a>(&'a self, idp: &'a idp::Known, now: i64) -> logout::Expected<'a> {
        logout::Expected {
            slo_url: &self.slo_url,
            idp_entity_id: &idp.metadata.entity_id,
            keys: idp.binding_keys(),
            clock_skew: self.settings.clock_skew.as_secs_i64(),
            now,
        }
    }

    /// Where to send the browser after the IdP's LogoutRequest in `raw_query` was taken:
    /// the IdP's logout service with a LogoutResponse; `None` when it has none.
    pub fn logout_response_url(&self, raw_query: &str, now: i64) -> Result<Option<String>, String> {
        let idp = self.idp.known_now().map_err(|e| e.to_string())?;
        let Some(slo_url) = &idp.metadata.slo_url else {
            return Ok(None);
        };
        let request = logout::verify(raw_query, &self.logout_expected(&idp, now))?;
        let relay_state = binding::relay_state(raw_query);
        let instant = crate::clock::iso8601(now);
        let key = self.sp_key();
        logout::response_url(slo_url, &self.sp_entity_id, &request.id, relay_state.as_deref(), &instant, key.as_deref())
            .map(Some)
    }

    /// The pending logout the IdP's LogoutResponse in `raw_query` (to the SLO service)
    /// answers, once it is verified.
    pub fn logout_answered(&self, raw_query: &str) -> Result<String, String> {
        let idp = self.idp.known_now().map_err(|e| e.to_string())?;
        let expected = sp_logout::Expected {
            slo_url: &self.slo_url,
            idp_entity_id: &idp.metadata.entity_id,
            keys: idp.binding_keys(),
        };
        sp_logout::answered(raw_query, &expected)
    }

    /// Gatehouse's SP metadata for this IdP: its entity id and ACS.
    pub fn sp_metadata(&self) -> String {
        sp_metadata::xml(
            &self.sp_entity_id,
            &self.acs_url,
            &self.slo_url,
            &self.settings.name_id_format,
            self.settings.want_assertions_signed,
            self.settings.sign_requests,
            self.sp_key().as_ref().map(|key| key.certificate.as_slice()),
        )
    }

    fn sp_key(&self) -> Option<Arc<SpKey>> {
        self.sp_key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether it waits for a key Gatehouse keeps for it (no `sp_key_file` was given).
    pub fn needs_kept_key(&self) -> bool {
        self.sp_key().is_none()
    }

    /// The key Gatehouse made for it and keeps in the store.
    pub fn use_kept_key(&self, key: SpKey) {
        *self.sp_key.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(key));
    }
}
