//! OpenID Connect Discovery 1.0: what this provider offers. Only what is implemented
//! is listed; each endpoint adds itself here as it lands.

use super::{AppState, routes};
use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Serialize;

#[derive(Serialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub jwks_uri: String,
    pub id_token_signing_alg_values_supported: Vec<String>,
}

pub fn metadata(state: &AppState) -> ProviderMetadata {
    let issuer = &state.config.issuer;
    ProviderMetadata {
        issuer: issuer.clone(),
        jwks_uri: format!("{issuer}{}", routes::JWKS),
        id_token_signing_alg_values_supported: vec![state.keys.signing_alg().to_string()],
    }
}

pub async fn handler(State(state): State<AppState>) -> impl IntoResponse {
    Json(metadata(&state))
}
