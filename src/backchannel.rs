//! OpenID Connect Back-Channel Logout 1.0: when a session ends, each client that got
//! something from it and registered a `backchannel_logout_uri` receives a signed logout
//! token. Delivery runs in the background and is retried; it never holds up the person.

use crate::config::Config;
use crate::keys::Keys;
use crate::secrets;
use crate::store::Session;
use serde_json::json;
use std::time::Duration;

/// How often delivery is tried, and the pause before the first retry (doubling after).
const ATTEMPTS: u32 = 3;
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// The logout token for `client_id` about `session` (Back-Channel Logout 1.0 §2.4).
pub fn logout_token(
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
    keys.sign(&claims, "logout+jwt")
}

/// Sends logout tokens for `session` to its clients, in the background.
pub fn notify(config: &Config, keys: &Keys, http: &reqwest::Client, session: &Session, now: i64) {
    for client_id in &session.clients {
        let Some(uri) = config.client(client_id).and_then(|c| c.backchannel_logout_uri.clone()) else {
            continue;
        };
        let token = match logout_token(config, keys, client_id, session, now) {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(client = %client_id, error = %e, "cannot sign a logout token");
                continue;
            }
        };
        let http = http.clone();
        let client_id = client_id.clone();
        tokio::spawn(async move { deliver(&http, &client_id, &uri, &token).await });
    }
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
