//! The domain floor: the rules of accounts, sessions and tokens, as plain functions over
//! the store that take `now` and only the settings and services they read (never the
//! application object). Each step that changes several records at once is one function
//! here, written as one conditional store write.
//!
//! - `accounts`: accounts, the upstream identities linked to them, consent.
//! - `sessions`: browser sessions, the clients they signed in to, their end.
//! - `refresh_families`: the refresh chains of logins, which end together.
//! - `token_liveness`: what ends an access token before its `exp`.
//! - `scopes`: which of the scopes asked for are granted.
//! - `logout_outbox`: the back-channel logout tokens owed to applications, and their
//!   delivery with retries.
//! - `upstream_refresh`, `upstream_logout`: an upstream's refresh grant kept and
//!   renewed; an upstream's logout token received.
//! - `indexes`: the one-time fill-in of each person's session and family indexes.

pub mod accounts;
pub mod client_documents;
pub mod client_metadata;
pub mod clients;
pub mod indexes;
pub mod logout_outbox;
pub mod refresh_families;
pub mod resources;
pub mod saml_sp_keys;
pub mod scopes;
pub mod sessions;
pub mod signals;
pub mod token_liveness;
pub mod upstream_logout;
pub mod upstream_refresh;
