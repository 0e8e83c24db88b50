//! The application object: what one config's running application holds (config, pages,
//! store, keys, upstreams, limits...), which the router and the serve loop hold. Nothing
//! else sees it whole: request handlers are given the handles they read (cut from it in
//! `app/router.rs`), and the maintenance loops the narrow views made here.

use crate::keys::Keys;
use crate::store::Store;
use crate::web::Pages;
use crate::{Clock, Config, client_keys, domain, dpop, limits, telemetry, upstream, verified_secrets, web};
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

// The narrow views the floors below take.

impl<'a> From<&'a Inner> for domain::logout_outbox::Parts<'a> {
    fn from(app: &'a Inner) -> Self {
        app.flow().outbox()
    }
}

impl Inner {
    /// The authorization flow's view.
    pub fn flow(&self) -> crate::flow::Ctx<'_> {
        crate::flow::Ctx {
            config: &self.config,
            store: &self.store,
            keys: &self.keys,
            upstreams: &self.upstreams,
            http: &self.http,
            guards: &self.guards,
            telemetry: &self.telemetry,
            clock: &self.clock,
        }
    }
}

impl AppState {
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
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
