//! OpenID Connect Back-Channel Logout 1.0: when a session ends, each client that got
//! something from it and registered a `backchannel_logout_uri` receives a signed logout
//! token. Delivery runs in the background and is retried; it never holds up the person.

use crate::config::Config;
use crate::keys::{Keys, TokenType};
use crate::secrets;
use crate::store::Session;
use serde_json::json;
use std::time::Duration;

/// How often delivery is tried, and the pause before the first retry (doubling after).
const ATTEMPTS: u32 = 3;
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// The logout token for `client_id` about `session` (Back-Channel Logout 1.0 §2.4).
pub async fn logout_token(
    config: &Config,
    keys: &Keys,
    client_id: &str,
    session: &Session,
    now: i64,
) -> Result<String, crate::keys::KeyError> {
    let claims = json!({
        "iss": config.issuer, "aud": client_id, "iat": now, "exp": now + 120, "jti": secrets::random_token(),
        "sub": session.sub, "sid": session.sid,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    keys.sign(&claims, TokenType::Logout).await
}

/// Ends the session `sid` (its refresh families revoked) and starts telling its clients;
/// `None` when there is no such live session.
pub async fn end_session(app: Parts<'_>, sid: &str, now: i64) -> Result<Option<Deliveries>, crate::store::StoreError> {
    let ended = crate::sessions::end(app.store, app.config, sid, now).await?;
    Ok(match ended {
        Some(session) => Some(notify(app, &session, now).await),
        None => None,
    })
}

/// What ending a session needs.
#[derive(Clone, Copy)]
pub struct Parts<'a> {
    pub config: &'a Config,
    pub store: &'a crate::store::Store,
    pub keys: &'a Keys,
    pub http: &'a reqwest::Client,
}

impl<'a> From<&'a crate::Inner> for Parts<'a> {
    fn from(app: &'a crate::Inner) -> Self {
        Parts {
            config: &app.config,
            store: &app.store,
            keys: &app.keys,
            http: app.http.client(),
        }
    }
}

/// Logout tokens on their way to a session's clients, each delivery retried on its own.
pub struct Deliveries(tokio::task::JoinSet<()>);

impl Deliveries {
    /// Waits until every delivery has succeeded or given up (a command line that ends a
    /// session must not exit before).
    pub async fn wait(mut self) {
        while self.0.join_next().await.is_some() {}
    }

    /// Lets the deliveries finish in the background (a server answers at once).
    pub fn detach(self) {
        tokio::spawn(self.wait());
    }
}

/// Sends logout tokens for `session` to its clients.
async fn notify(app: Parts<'_>, session: &Session, now: i64) -> Deliveries {
    let mut deliveries = tokio::task::JoinSet::new();
    for client_id in &session.clients {
        let Some(uri) = app
            .config
            .client(client_id)
            .and_then(|c| c.backchannel_logout_uri.clone())
        else {
            continue;
        };
        let token = match logout_token(app.config, app.keys, client_id, session, now).await {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(client = %client_id, error = %e, "cannot sign a logout token");
                continue;
            }
        };
        let http = app.http.clone();
        let client_id = client_id.clone();
        deliveries.spawn(async move { deliver(&http, &client_id, &uri, &token).await });
    }
    Deliveries(deliveries)
}

async fn deliver(http: &reqwest::Client, client_id: &str, uri: &str, token: &str) {
    let mut pause = FIRST_PAUSE;
    for attempt in 1..=ATTEMPTS {
        let outcome = http.post(uri).form(&[("logout_token", token)]).send().await;
        match outcome {
            Ok(response) if response.status().is_success() => {
                tracing::info!(client = %client_id, attempt, "back-channel logout delivered");
                return;
            }
            Ok(response) => {
                tracing::warn!(client = %client_id, attempt, status = %response.status(), "back-channel logout refused")
            }
            Err(e) => tracing::warn!(client = %client_id, attempt, error = %e, "back-channel logout failed"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    tracing::error!(client = %client_id, "back-channel logout given up after {ATTEMPTS} attempts");
}
