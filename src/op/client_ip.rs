//! The client's address as an extractor, for the limits counted per address.

use crate::config::Config;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The client's IP address; `None` when the connection's peer is not known (a router
/// served without the peer address, as in-process callers do).
pub struct ClientIp(pub Option<IpAddr>);

/// The proxies trusted to name the client are in the config's `[limits]`.
impl<S: Send + Sync> FromRequestParts<S> for ClientIp
where
    Arc<Config>: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let config = Arc::<Config>::from_ref(state);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(ClientIp(crate::limits::client_ip(peer, &parts.headers, &config.limits)))
    }
}
