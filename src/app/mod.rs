//! The application: built from a config ([`App::build`]), served ([`serve`]), reloaded
//! (`reload.rs`), with the maintenance that runs beside it.

mod reload;
mod router;
mod serve;
mod signals;

pub use crate::app_state::ReloadReport;
pub use reload::reload_on_sighup;
pub use serve::serve;

use crate::keys::{self, KeyError, Keys};
pub use crate::mapping::Mappings;

use crate::mapping::Mapping;
use crate::store::{Store, StoreError};
use crate::web::Pages;
use crate::{AppState, Clock, Config, Inner, client_keys, config, domain, install_tls_provider, limits, op};
use crate::{telemetry, upstream, verified_secrets, web};
use std::collections::HashMap;
use std::sync::Arc;

/// Why Gatehouse could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Problems in the files the config refers to (mappings, templates), one per line.
    #[error("{}", .0.join("\n"))]
    Files(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("{0}")]
    Runtime(String),
}

/// Reads and compiles the claim mapping of every upstream (its kind's built-in one for
/// those that name none); reports every broken file.
pub fn load_mappings(config: &Config) -> Result<Mappings, Vec<config::ConfigError>> {
    let mut mappings = HashMap::new();
    let mut errors = Vec::new();
    for upstream in &config.upstreams {
        let parsed = match &upstream.mapping {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Mapping::parse(path, &text),
                Err(e) => Err(config::ConfigError {
                    file: path.clone(),
                    problems: vec![config::Problem::new("", format!("cannot read: {e}"))],
                }),
            },
            None => {
                let (name, text) = upstream.settings.default_mapping();
                Mapping::parse(std::path::Path::new(name), text)
            }
        };
        match parsed {
            Ok(mapping) => {
                mappings.insert(upstream.id.clone(), Arc::new(mapping));
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(mappings) } else { Err(errors) }
}

/// Loads the mapping files and page templates the config refers to, as `serve` and
/// `check` both do, reporting every problem in any of them.
pub fn load_referenced_files(config: &Config) -> Result<(Mappings, Pages), StartError> {
    let mappings = load_mappings(config);
    let pages = Pages::load(config.templates_dir.as_deref());
    match (mappings, pages) {
        (Ok(mappings), Ok(pages)) => Ok((mappings, pages)),
        (mappings, pages) => {
            let mut problems: Vec<String> = Vec::new();
            if let Err(errors) = mappings {
                problems.extend(errors.iter().map(ToString::to_string));
            }
            if let Err(errors) = pages {
                problems.extend(errors.iter().map(ToString::to_string));
            }
            Err(StartError::Files(problems))
        }
    }
}

/// A built application: open database, loaded keys, compiled pages, and the router
/// that serves them; a reload swaps the last two at once.
#[derive(Clone)]
pub struct App {
    live: Arc<arc_swap::ArcSwap<Live>>,
    /// One reload at a time (SIGHUP and the admin API may ask together).
    reloading: Arc<tokio::sync::Mutex<()>>,
    /// The discovery tasks of the upstreams, ended with the server.
    discovery: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// The Shared Signals receivers, by the running upstream each serves.
    receivers: Arc<std::sync::Mutex<Receivers>>,
}

/// The Shared Signals receiver tasks, each with the running upstream it serves.
type Receivers = Vec<(Arc<crate::upstream::Upstream>, tokio::task::JoinHandle<()>)>;

/// What serves requests now.
struct Live {
    state: AppState,
    router: axum::Router,
}

/// The admin listener's handle on the application: the state of the config that runs
/// now, and a reload.
impl op::admin::Running for App {
    fn handles(&self) -> crate::flow::Handles {
        App::state(self).handles()
    }
    fn reload(&self) -> op::admin::Reloading {
        let app = self.clone();
        Box::pin(async move { app.reload().await })
    }
}

impl App {
    /// Opens the database in `config.data_dir`, loads (or first generates) the signing
    /// keys and compiles the page templates.
    pub async fn build(config: Config, clock: Clock) -> Result<App, StartError> {
        install_tls_provider();
        let (mappings, pages) = load_referenced_files(&config)?;
        let store = Store::connect(&config.store, &config.data_dir).await?;
        domain::indexes::fill_in(&store, &config, clock.now()).await?;
        let telemetry = telemetry::Telemetry::new(store.metrics());
        let policy = keys::KeyPolicy::new(&config, store.is_shared())?;
        let keys = Keys::open(store.clone(), policy, clock.clone()).await?;
        let http = upstream::UpstreamHttp::new(config.limits.upstream_response_bytes, telemetry.clone())
            .map_err(|e| StartError::Runtime(format!("no HTTP client: {e}")))?;
        let upstreams = upstream::open_all(&config, &mappings, None);
        domain::saml_sp_keys::give_kept_keys(&store, &keys.policy().sealing, &upstreams, clock.now())
            .await
            .map_err(StartError::Runtime)?;
        let verified_secrets =
            verified_secrets::VerifiedSecrets::new(verified_secrets::CAPACITY, verified_secrets::TRUSTED_FOR_SECS)
                .map_err(|e| StartError::Runtime(format!("no key for remembering secret checks: {e}")))?;
        let cookies = web::cookies::Cookies::for_issuer(config.issuer_is_https());
        let guards = limits::Guards::new(&config.limits)
            .map_err(|e| StartError::Runtime(format!("cannot start the password check threads: {e}")))?;
        let (client_keys, client_documents, signals_http) = client_services(&config).map_err(StartError::Runtime)?;
        let state = AppState::new(Inner {
            client_keys,
            client_documents,
            signals_http,
            config: Arc::new(config),
            pages: Arc::new(pages),
            upstreams: Arc::new(upstreams),
            store,
            keys: Arc::new(keys),
            http,
            clock,
            verified_secrets: Arc::new(verified_secrets),
            dpop_nonces: Arc::default(),
            guards: Arc::new(guards),
            cookies,
            telemetry,
        });
        Ok(App {
            live: Arc::new(arc_swap::ArcSwap::from_pointee(Live::of(state))),
            reloading: Arc::default(),
            discovery: Arc::default(),
            receivers: Arc::default(),
        })
    }

    /// The public router of the config that runs now.
    pub fn router(&self) -> axum::Router {
        self.live.load().router.clone()
    }

    /// The state of the config that runs now. Hold it no longer than needed: a state
    /// held after [`serve`] returns keeps the database open.
    pub fn state(&self) -> AppState {
        self.live.load().state.clone()
    }

    /// Makes `state` the one that serves from the next request on.
    fn install(&self, state: AppState) {
        self.live.store(Arc::new(Live::of(state)));
    }

    /// Sweeps expired records and rotates the signing key when due.
    pub async fn maintain(&self) -> Result<(), StartError> {
        let state = self.state();
        let now = state.clock.now();
        let swept = state.store.sweep(now).await?;
        state.telemetry.swept(swept);
        if swept > 0 {
            tracing::debug!(swept, "expired records removed");
        }
        if let Some(kid) = state.keys.rotate_if_due(now).await? {
            tracing::info!(%kid, "signing key rotated");
        }
        Ok(())
    }
}

impl Live {
    fn of(state: AppState) -> Live {
        Live {
            router: router::router(state.clone()),
            state,
        }
    }
}

impl App {
    /// Gets each upstream of `state` that is not ready yet (an `oidc` upstream's
    /// discovery) ready, retrying with growing pauses until it answers: an upstream that
    /// is down at start-up does not stop Gatehouse, and its logins work once it is back
    /// (a login also tries discovery itself). A task ends when a reload removes its
    /// upstream.
    fn prepare_upstreams(&self, state: &AppState) {
        self.start_receivers(state);
        let mut tasks = self.discovery.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|task| !task.is_finished());
        for (id, upstream) in state.upstreams.iter().filter(|(_, u)| !u.is_ready()) {
            let (id, upstream, app) = (id.clone(), upstream.clone(), self.clone());
            tasks.push(tokio::spawn(async move {
                let mut pause = std::time::Duration::from_secs(1);
                while let Err(e) = upstream.prepare(&app.state().http, app.state().clock.now()).await {
                    let still_used = app
                        .state()
                        .upstreams
                        .get(&id)
                        .is_some_and(|u| Arc::ptr_eq(&u.kind, &upstream.kind));
                    if !still_used {
                        return;
                    }
                    tracing::warn!(upstream = %id, error = %e, retry_in = ?pause, "upstream discovery failed");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(60));
                }
            }));
        }
    }

    /// Starts a Shared Signals receiver for each upstream that sends them and has none
    /// running for its running kind.
    fn start_receivers(&self, state: &AppState) {
        let mut running = self.receivers.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|(kind, task)| {
            let kept = state.upstreams.values().any(|u| Arc::ptr_eq(&u.kind, kind));
            if !kept {
                task.abort();
            }
            kept && !task.is_finished()
        });
        for (id, upstream) in state.upstreams.iter().filter(|(_, u)| u.signals().is_some()) {
            if running.iter().any(|(kind, _)| Arc::ptr_eq(kind, &upstream.kind)) {
                continue;
            }
            let task = tokio::spawn(signals::receive(self.clone(), id.clone(), upstream.kind.clone()));
            running.push((upstream.kind.clone(), task));
        }
    }

    /// The discovery and Shared Signals tasks, for the server to end.
    fn stop_discovery(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = std::mem::take(&mut *self.discovery.lock().unwrap_or_else(|e| e.into_inner()));
        let receivers = std::mem::take(&mut *self.receivers.lock().unwrap_or_else(|e| e.into_inner()));
        tasks.extend(receivers.into_iter().map(|(_, task)| task));
        tasks
    }
}

/// What finds and checks clients beyond the config: the keys at their `jwks_uri`s and
/// their metadata documents, both fetched from URLs clients name (see `public_fetch`).
pub(crate) fn client_services(
    config: &Config,
) -> Result<
    (
        Arc<client_keys::ClientKeys>,
        Arc<domain::client_documents::ClientDocuments>,
        crate::public_fetch::PublicFetch,
    ),
    String,
> {
    let settings = &config.client_id_metadata_documents;
    let public = crate::public_fetch::PublicFetch::new(std::time::Duration::from_secs(5), settings.allow_loopback)
        .map_err(|e| format!("no HTTP client: {e}"))?;
    Ok((
        Arc::new(client_keys::ClientKeys::for_clients(&config.clients, public.clone())),
        Arc::new(domain::client_documents::ClientDocuments::new(settings.clone(), public)),
        signals_http(config)?,
    ))
}

/// What pushes Security Event Tokens to the endpoints apps name for their streams.
pub(crate) fn signals_http(config: &Config) -> Result<crate::public_fetch::PublicFetch, String> {
    crate::public_fetch::PublicFetch::new(std::time::Duration::from_secs(10), config.shared_signals.allow_loopback)
        .map_err(|e| format!("no HTTP client: {e}"))
}
