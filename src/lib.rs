//! Gatehouse: a federating OpenID Connect provider.
//!
//! [`App::build`] turns a validated [`Config`] into a running application (database,
//! signing keys, page templates); [`serve`] runs it on a listener until told to stop.
//! `main.rs` and the integration tests both start Gatehouse this way. The modules are
//! floors that import only downward; the README's "Development" section draws them.

pub mod app;
pub mod app_state;
pub mod client_keys;
pub mod clock;
pub mod config;
pub mod domain;
pub mod dpop;
pub mod flow;
pub mod keys;
pub mod limits;
pub mod logging;
pub mod mapping;
pub mod op;
pub mod operator;
pub mod public_fetch;
pub mod response_type;
pub mod routes;
pub mod scope;
pub mod secrets;
pub mod signed_jwt;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod upstream;
pub mod verified_secrets;
pub mod web;
pub mod workers;

pub use app::{App, Mappings, StartError, load_mappings, load_referenced_files, serve};
pub use app_state::{AppState, Inner};
pub use clock::Clock;
pub use config::Config;
pub use upstream::install_tls_provider;
