//! Gatehouse: a federating OpenID Connect provider.
//!
//! [`App::build`] turns a validated [`Config`] into a running application (database,
//! signing keys, page templates); [`serve`] runs it on a listener until told to stop.
//! `main.rs` and the integration tests both start Gatehouse this way.

pub mod accounts;
pub mod backchannel;
pub mod client_keys;
pub mod clock;
pub mod config;
pub mod device;
pub mod dpop;
pub mod flow;
pub mod indexes;
pub mod keys;
pub mod limits;
pub mod logging;
pub mod mapping;
pub mod op;
pub mod operator;
pub mod reload;
pub mod response_type;
pub mod routes;
pub mod secrets;
pub mod sessions;
pub mod signed_jwt;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod upstream;
pub mod upstream_logout;
pub mod upstream_refresh;
pub mod verified_secrets;
pub mod web;
pub mod workers;

pub use clock::Clock;
pub use config::Config;

use keys::{KeyError, Keys};
use mapping::Mapping;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use store::{Store, StoreError};
use web::Pages;

/// How often expired records are swept and key rotation is checked.
const MAINTENANCE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// How often the back-channel outbox is looked at for retries that are due.
const DELIVERY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

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

/// Makes aws-lc-rs, the library that signs Gatehouse's tokens, rustls' crypto provider
/// for this process, so that TLS to upstreams needs no second crypto library. rustls
/// refuses to make a client before a provider is chosen; calling this again is harmless.
pub fn install_tls_provider() {
    let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The mapping of an upstream that names none: standard claims passed through.
const DEFAULT_MAPPING: &str = include_str!("../claim-mappings/generic-oidc.toml");

/// Each upstream's claim mapping, by upstream id.
pub type Mappings = HashMap<String, Arc<Mapping>>;

/// Reads and compiles the claim mapping of every upstream (the built-in pass-through
/// of standard claims for those that name none); reports every broken file.
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
            None => Mapping::parse(
                std::path::Path::new("claim-mappings/generic-oidc.toml (built in)"),
                DEFAULT_MAPPING,
            ),
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

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// One config's application. A reload makes a new one from the new config, mapping
/// files and templates; everything below `upstreams` outlives it (one database, one key
/// ring, one set of limits and metrics per process).
pub struct Inner {
    pub config: Config,
    pub pages: Pages,
    pub mappings: Mappings,
    /// The running upstreams, by id.
    pub upstreams: HashMap<String, Arc<upstream::Upstream>>,
    pub store: Store,
    pub keys: Arc<Keys>,
    /// The one client for calls to upstreams.
    pub http: upstream::UpstreamHttp,
    pub clock: Clock,
    /// The fetched keys of clients that publish them at a `jwks_uri`.
    pub client_keys: client_keys::ClientKeys,
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

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
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
}

/// What serves requests now.
struct Live {
    state: AppState,
    router: axum::Router,
}

impl App {
    /// Opens the database in `config.data_dir`, loads (or first generates) the signing
    /// keys and compiles the page templates.
    pub async fn build(config: Config, clock: Clock) -> Result<App, StartError> {
        install_tls_provider();
        let (mappings, pages) = load_referenced_files(&config)?;
        let store = Store::connect(&config.store, &config.data_dir).await?;
        indexes::fill_in(&store, &config, clock.now()).await?;
        let telemetry = telemetry::Telemetry::new(store.metrics());
        let policy = keys::KeyPolicy::new(&config, store.is_shared())?;
        let keys = Keys::open(store.clone(), policy, clock.clone()).await?;
        let http = upstream::UpstreamHttp::new(config.limits.upstream_response_bytes, telemetry.clone())
            .map_err(|e| StartError::Runtime(format!("no HTTP client: {e}")))?;
        let upstreams = upstream::open_all(&config);
        let verified_secrets =
            verified_secrets::VerifiedSecrets::new(verified_secrets::CAPACITY, verified_secrets::TRUSTED_FOR_SECS)
                .map_err(|e| StartError::Runtime(format!("no key for remembering secret checks: {e}")))?;
        let cookies = web::cookies::Cookies::for_issuer(config.issuer_is_https());
        let guards = limits::Guards::new(&config.limits)
            .map_err(|e| StartError::Runtime(format!("cannot start the password check threads: {e}")))?;
        let state = AppState(Arc::new(Inner {
            client_keys: client_keys::ClientKeys::for_clients(&config.clients),
            config,
            pages,
            mappings,
            upstreams,
            store,
            keys: Arc::new(keys),
            http,
            clock,
            verified_secrets: Arc::new(verified_secrets),
            dpop_nonces: Arc::default(),
            guards: Arc::new(guards),
            cookies,
            telemetry,
        }));
        Ok(App {
            live: Arc::new(arc_swap::ArcSwap::from_pointee(Live::of(state))),
            reloading: Arc::default(),
            discovery: Arc::default(),
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
            router: op::router(state.clone()),
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
        let mut tasks = self.discovery.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|task| !task.is_finished());
        for (id, upstream) in state.upstreams.iter().filter(|(_, u)| !u.is_ready()) {
            let (id, upstream, app) = (id.clone(), upstream.clone(), self.clone());
            tasks.push(tokio::spawn(async move {
                let mut pause = std::time::Duration::from_secs(1);
                while let Err(e) = upstream.prepare(&app.state().http).await {
                    let still_used = app
                        .state()
                        .upstreams
                        .get(&id)
                        .is_some_and(|u| Arc::ptr_eq(u, &upstream));
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

    fn stop_discovery(&self) -> Vec<tokio::task::JoinHandle<()>> {
        std::mem::take(&mut *self.discovery.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Serves `app` on `listener` until `shutdown` completes, running maintenance in the
/// background; then lets requests in flight finish for at most the config's
/// `shutdown_grace`, and returns once every write accepted is on disk. Requests still
/// running at the deadline are left behind: the caller ends the process (or runtime).
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    admin: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    // One shutdown signal for both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let state = app.state();
    let limits = state.config.limits.clone();
    let admin = admin.map(|listener| {
        let router = op::admin::router(app.clone());
        let stopped = until_stopped(stopped.clone());
        let limits = limits.clone();
        tokio::spawn(async move { web::server::serve(listener, move || router.clone(), &limits, stopped).await })
    });
    let maintenance = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(MAINTENANCE_INTERVAL);
            loop {
                ticks.tick().await;
                if let Err(e) = app.maintain().await {
                    tracing::error!(error = %e, "maintenance failed");
                }
            }
        })
    };
    let deliveries = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(DELIVERY_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let state = app.state();
                // A pass ends with its attempts, so that passes never pile up.
                match backchannel::deliver_due((&*state).into(), state.clock.now()).await {
                    Ok(attempts) => attempts.wait().await,
                    Err(e) => tracing::error!(error = %e, "the back-channel outbox cannot be read"),
                }
            }
        })
    };
    let key_poll = state.store.is_shared().then(|| {
        // Other replicas rotate keys too: pick up theirs well before they sign with them.
        let state = state.clone();
        let every = std::time::Duration::from_secs(state.config.store.poll_interval.as_secs());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = state.keys.refresh(state.clock.now()).await {
                    tracing::error!(error = %e, "re-reading the signing keys failed");
                }
            }
        })
    });
    app.prepare_upstreams(&state);
    // The end of the grace period, as a second signal that can be awaited many times.
    let grace = std::time::Duration::from_secs(state.config.shutdown_grace.as_secs());
    let (cut_off, deadline) = tokio::sync::watch::channel(false);
    {
        let stopped = until_stopped(stopped.clone());
        tokio::spawn(async move {
            stopped.await;
            tokio::time::sleep(grace).await;
            let _ = cut_off.send(true);
        });
    }
    tokio::select! {
        () = web::server::serve(listener, { let app = app.clone(); move || app.router() }, &limits, until_stopped(stopped)) => {}
        () = until_stopped(deadline.clone()) => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still running at the end of the shutdown grace period are cut off");
        }
    };
    if let Some(mut admin) = admin {
        tokio::select! {
            joined = &mut admin => match joined {
                Ok(()) => {}
                Err(e) => tracing::error!(error = %e, "the admin API task failed"),
            },
            () = until_stopped(deadline) => admin.abort(),
        }
    }
    for task in app
        .stop_discovery()
        .into_iter()
        .chain([maintenance, deliveries])
        .chain(key_poll)
    {
        task.abort();
        let _ = task.await;
    }
    state.store.flush().await?;
    Ok(())
}
