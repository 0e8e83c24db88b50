//! Live reload (SIGHUP or `POST /admin/reload`): the config file, its mapping files and
//! templates are read and validated again, and if all is well the clients, upstreams,
//! scopes, mappings, templates and token lifetimes of the new config serve from the next
//! request on. Requests in flight finish on the config they started with. A config with
//! any problem changes nothing. Keys that cannot change in a running process keep their
//! running value and are reported as needing a restart.

use super::{App, StartError, load_referenced_files};
use crate::app_state::ReloadReport;
use crate::{AppState, Config, Inner};
use std::sync::Arc;

impl App {
    /// Reads the config file again and, if it and its files are valid, serves it.
    pub async fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.reloading.lock().await;
        let running = self.state();
        let file = running.config.file.clone();
        // Files are read and templates compiled off the async workers.
        let loaded = tokio::task::spawn_blocking(move || {
            let config = Config::load(&file, crate::upstream::KINDS)?;
            let (mappings, pages) = load_referenced_files(&config)?;
            Ok::<_, StartError>((config, mappings, pages))
        })
        .await;
        let (config, mappings, pages) = match loaded {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(e)) => return refused(&running, e.to_string().lines().map(String::from).collect()),
            Err(e) => return refused(&running, vec![format!("the reload failed: {e}")]),
        };
        let (config, needs_restart) = keep_restart_keys(config, &running.config);
        for warning in config.warnings() {
            tracing::warn!(key = %warning.key, "{}", warning.message);
        }
        let upstreams = crate::upstream::open_all(&config, &mappings, Some(&running.upstreams));
        let sealing = &running.keys.policy().sealing;
        let kept =
            crate::domain::saml_sp_keys::give_kept_keys(&running.store, sealing, &upstreams, running.clock.now());
        if let Err(e) = kept.await {
            return refused(&running, vec![e]);
        }
        let (client_keys, client_documents, signals_http) = match super::client_services(&config) {
            Ok(services) => services,
            Err(e) => return refused(&running, vec![e]),
        };
        let state = AppState::new(Inner {
            client_keys,
            client_documents,
            signals_http,
            config: Arc::new(config),
            pages: Arc::new(pages),
            upstreams: Arc::new(upstreams),
            store: running.store.clone(),
            keys: running.keys.clone(),
            http: running.http.clone(),
            clock: running.clock.clone(),
            verified_secrets: running.verified_secrets.clone(),
            dpop_nonces: running.dpop_nonces.clone(),
            guards: running.guards.clone(),
            cookies: running.cookies,
            telemetry: running.telemetry.clone(),
        });
        self.install(state.clone());
        self.prepare_upstreams(&state);
        state.telemetry.reloaded(true);
        tracing::info!(
            clients = state.config.clients.len(),
            upstreams = state.config.upstreams.len(),
            needs_restart = %needs_restart.join("; "),
            "config reloaded"
        );
        ReloadReport {
            applied: true,
            problems: Vec::new(),
            needs_restart,
        }
    }
}

fn refused(running: &AppState, problems: Vec<String>) -> ReloadReport {
    running.telemetry.reloaded(false);
    for problem in &problems {
        tracing::error!(problem = %problem, "config reload refused; the running config stays");
    }
    ReloadReport {
        applied: false,
        problems,
        needs_restart: Vec::new(),
    }
}

/// `new` with the running value of every key a running process cannot change, and the
/// names of those whose value differs.
fn keep_restart_keys(mut new: Config, running: &Config) -> (Config, Vec<String>) {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident).+, $name:literal) => {
            if new.$($field).+ != running.$($field).+ {
                changed.push(format!("{}: needs a restart", $name));
                new.$($field).+ = running.$($field).+.clone();
            }
        };
    }
    keep!(issuer, "issuer");
    keep!(listen, "listen");
    keep!(admin_listen, "admin_listen");
    keep!(data_dir, "data_dir");
    keep!(shutdown_grace, "shutdown_grace");
    keep!(store, "store");
    keep!(limits, "limits");
    keep!(log, "log");
    keep!(tokens.signing_alg, "tokens.signing_alg");
    keep!(tokens.key_rotation, "tokens.key_rotation");
    (new, changed)
}

/// Reloads on every SIGHUP, for as long as the process runs (`systemctl reload`).
#[cfg(unix)]
pub fn reload_on_sighup(app: &App) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGHUP: reload through the admin API");
            return;
        }
    };
    let app = app.clone();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config");
            app.reload().await;
        }
    });
}
