//! What is still owed and what was given up, as `gatehouse sessions deliveries` and
//! `GET /admin/backchannel` list it.

use crate::store::{Store, StoreError};

/// What `gatehouse sessions deliveries` shows of a queued message.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Queued {
    pub client_id: String,
    pub sid: String,
    pub queued_at: i64,
    pub attempts: u32,
    pub next_attempt_at: Option<i64>,
    pub gave_up_at: Option<i64>,
    pub last_error: Option<String>,
}

/// The messages still waiting and those given up, oldest first.
pub async fn queued(store: &Store, now: i64) -> Result<Vec<Queued>, StoreError> {
    Ok(store
        .logout_outbox
        .entries(now)
        .await?
        .into_iter()
        .map(|(_, m)| Queued {
            next_attempt_at: m.gave_up_at.is_none().then_some(m.next_attempt_at),
            client_id: m.client_id,
            sid: m.sid,
            queued_at: m.queued_at,
            attempts: m.attempts,
            gave_up_at: m.gave_up_at,
            last_error: m.last_error,
        })
        .collect())
}
