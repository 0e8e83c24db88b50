//! Calls to the admin API of the server running with a config (`op/admin.rs`).

use crate::domain::accounts::Withdrawn;
use crate::domain::clients::ClientInfo;
use crate::domain::sessions::SessionInfo;
use crate::keys::KeyInfo;
use crate::routes::admin;
use crate::store::LinkedIdentity;
use std::net::SocketAddr;

pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// What the admin API answered, when it was not a success.
enum Failure {
    NotFound,
    Other(String),
}

impl AdminClient {
    pub fn new(addr: SocketAddr, token: &str) -> AdminClient {
        // A server listening on every address is reached on loopback.
        let host = if addr.ip().is_unspecified() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            addr.ip()
        };
        AdminClient {
            base: format!("http://{}", SocketAddr::new(host, addr.port())),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn keys(&self) -> Result<Vec<KeyInfo>, String> {
        self.call(reqwest::Method::GET, admin::KEYS)
            .await
            .map_err(Failure::text)
    }

    pub async fn rotate_key(&self) -> Result<String, String> {
        let answer: serde_json::Value = self
            .call(reqwest::Method::POST, admin::KEYS_ROTATE)
            .await
            .map_err(Failure::text)?;
        Ok(answer["kid"].as_str().unwrap_or_default().to_string())
    }

    pub async fn deliveries(&self) -> Result<Vec<crate::domain::logout_outbox::Queued>, String> {
        self.call(reqwest::Method::GET, admin::BACKCHANNEL)
            .await
            .map_err(Failure::text)
    }

    pub async fn sessions(&self, sub: Option<&str>) -> Result<Vec<SessionInfo>, String> {
        let query = sub.map(|s| {
            let sub: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
            format!("?sub={sub}")
        });
        let path = format!("{}{}", admin::SESSIONS, query.unwrap_or_default());
        self.call(reqwest::Method::GET, &path).await.map_err(Failure::text)
    }

    pub async fn end_session(&self, sid: &str) -> Result<bool, String> {
        let path = admin::SESSION.replace("{sid}", sid);
        match self.call::<serde_json::Value>(reqwest::Method::DELETE, &path).await {
            Ok(_) => Ok(true),
            Err(Failure::NotFound) => Ok(false),
            Err(failure) => Err(failure.text()),
        }
    }

    pub async fn account_links(&self, sub: &str) -> Result<Vec<LinkedIdentity>, String> {
        let path = admin::ACCOUNT_LINKS.replace("{sub}", &segment(sub));
        self.call(reqwest::Method::GET, &path).await.map_err(Failure::text)
    }

    pub async fn unlink(&self, sub: &str, upstream: &str) -> Result<LinkedIdentity, String> {
        let path = admin::ACCOUNT_LINK
            .replace("{sub}", &segment(sub))
            .replace("{upstream}", &segment(upstream));
        self.call(reqwest::Method::DELETE, &path).await.map_err(Failure::text)
    }

    pub async fn clients(&self) -> Result<Vec<ClientInfo>, String> {
        self.call(reqwest::Method::GET, admin::CLIENTS)
            .await
            .map_err(Failure::text)
    }

    pub async fn client(&self, id: &str) -> Result<Option<ClientInfo>, String> {
        let path = admin::CLIENT.replace("{client_id}", &segment(id));
        match self.call(reqwest::Method::GET, &path).await {
            Ok(client) => Ok(Some(client)),
            Err(Failure::NotFound) => Ok(None),
            Err(failure) => Err(failure.text()),
        }
    }

    pub async fn delete_client(&self, id: &str) -> Result<bool, String> {
        let path = admin::CLIENT.replace("{client_id}", &segment(id));
        match self.call::<serde_json::Value>(reqwest::Method::DELETE, &path).await {
            Ok(_) => Ok(true),
            Err(Failure::NotFound) => Ok(false),
            Err(failure) => Err(failure.text()),
        }
    }

    pub async fn withdraw_consent(&self, sub: &str, client: &str) -> Result<Withdrawn, String> {
        let path = admin::ACCOUNT_CONSENT
            .replace("{sub}", &segment(sub))
            .replace("{client}", &segment(client));
        self.call(reqwest::Method::DELETE, &path).await.map_err(|f| match f {
            Failure::NotFound => super::nothing_to_withdraw(sub, client),
            other => other.text(),
        })
    }

    /// One call; an empty answer (204) reads as the default value.
    async fn call<T: serde::de::DeserializeOwned + Default>(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<T, Failure> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .request(method, &url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| Failure::Other(format!("the admin API at {} does not answer: {e}", self.base)))?;
        match response.status() {
            reqwest::StatusCode::NO_CONTENT => Ok(T::default()),
            reqwest::StatusCode::NOT_FOUND => Err(Failure::NotFound),
            reqwest::StatusCode::UNAUTHORIZED => Err(Failure::Other("the admin API refused the admin_token".into())),
            status if status.is_success() => response.json().await.map_err(|e| Failure::Other(e.to_string())),
            status => {
                let said: Option<serde_json::Value> = response.json().await.ok();
                let error = said
                    .as_ref()
                    .and_then(|s| s["error"].as_str())
                    .unwrap_or_default()
                    .to_string();
                Err(Failure::Other(format!("the admin API answered {status}: {error}")))
            }
        }
    }
}

/// `text` as one URL path segment.
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl Failure {
    fn text(self) -> String {
        match self {
            Failure::NotFound => "not found".into(),
            Failure::Other(text) => text,
        }
    }
}
