//! The application object: what one config's running application holds (config, pages,
//! store, keys, upstreams, limits...), which the router and the serve loop hold. Nothing
//! else sees it whole: request handlers are given the handles they read (cut from it in
//! `app/router.rs`), and the maintenance loops the [`flow::Handles`] made here.

use crate::keys::Keys;
use crate::store::Store;
use crate::web::Pages;
use crate::{Clock, Config, client_keys, dpop, flow, limits, telemetry, upstream, verified_secrets, web};
use std::sync::Arc;

/// One config's running application. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// One config's application. A reload makes a new one from the new config, mapping
/// files and templates; everything below `upstreams` outlives it (one database, one key
/// ring, one set of limits and metrics per process).
pub struct Inner {
    pub config: Arc<Config>,
    pub pages: Arc<Pages>,
    /// The upstreams as they run (table, kind, mapping), by id.
    pub upstreams: Arc<upstream::Upstreams>,
    pub store: Store,
    pub keys: Arc<Keys>,
    /// The one client for calls to upstreams.
    pub http: upstream::UpstreamHttp,
    pub clock: Clock,
    /// The fetched keys of clients that publish them at a `jwks_uri`.
    pub client_keys: Arc<client_keys::ClientKeys>,
    /// The clients that Client ID Metadata Documents describe, as fetched lately.
    pub client_documents: Arc<crate::domain::client_documents::ClientDocuments>,
    /// Pushes Shared Signals to the endpoints apps name (public addresses only).
    pub signals_http: crate::public_fetch::PublicFetch,
    /// Hashed client secrets that passed their check lately.
    pub verified_secrets: Arc<verified_secrets::VerifiedSecrets>,
    /// The server's DPoP nonces as this process last read them.
    pub dpop_nonces: Arc<dpop::Nonces>,
    /// The bounds on password checks, failed passwords and pending logins.
    pub guards: Arc<limits::Guards>,
    /// The names and flags of the cookies, by the issuer's scheme.
    pub cookies: web::cookies::Cookies,
    pub telemetry: telemetry::Telemetry,
}

impl AppState {
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }

    /// The handles the flow and token steps borrow, and most request handlers hold.
    pub fn handles(&self) -> flow::Handles {
        flow::Handles {
            config: self.config.clone(),
            store: self.store.clone(),
            keys: self.keys.clone(),
            upstreams: self.upstreams.clone(),
            http: self.http.clone(),
            guards: self.guards.clone(),
            telemetry: self.telemetry.clone(),
            clock: self.clock.clone(),
            documents: self.client_documents.clone(),
            client_keys: self.client_keys.clone(),
            signals_http: self.signals_http.clone(),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// What a reload did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ReloadReport {
    /// Whether the new config serves now.
    pub applied: bool,
    /// Why it does not: `FILE: key: what is wrong`, one per problem.
    pub problems: Vec<String>,
    /// Keys whose new value takes effect only after a restart.
    pub needs_restart: Vec<String>,
}
