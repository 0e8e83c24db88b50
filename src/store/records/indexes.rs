//! Index records that find a person's sessions and refresh families by prefix, and the
//! one-time changes to the data that were made.

use serde::{Deserialize, Serialize};

/// A person's session in the index `account-sessions`, keyed by [`AccountSession::key`]:
/// a person's sessions are found by a prefix scan, whatever the number of all sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountSession {
    pub sid: String,
}

impl AccountSession {
    /// Length-prefixed, so that no `sub` is a prefix of another's keys.
    pub fn prefix(sub: &str) -> String {
        format!("{}:{sub}:", sub.len())
    }

    pub fn key(sub: &str, sid: &str) -> String {
        format!("{}{sid}", AccountSession::prefix(sub))
    }
}

/// A refresh family of a person and client, in the index `account-families`: what
/// withdrawing the person's consent to the client revokes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountFamily {
    pub family: super::FamilyId,
}

impl AccountFamily {
    pub fn prefix(sub: &str, client_id: &str) -> String {
        format!("{}:{sub}:{}:{client_id}:", sub.len(), client_id.len())
    }

    pub fn key(sub: &str, client_id: &str, family: &str) -> String {
        format!("{}{family}", AccountFamily::prefix(sub, client_id))
    }
}

/// A one-time change to the data that has been made, keyed by its name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Migration {
    pub done_at: i64,
}
