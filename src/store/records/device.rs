//! The device authorization grant's records (RFC 8628).

use serde::{Deserialize, Serialize};

/// A device authorization grant (RFC 8628), keyed by the hash of its device code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceGrant {
    pub client_id: String,
    /// The scopes that will be granted.
    pub scope: crate::scope::Scopes,
    /// The key of its user code in `device-user-codes`.
    pub user_code: String,
    /// When the device code stops working (it is kept a while longer, to say so).
    pub expires_at: i64,
    /// The seconds the device must wait between polls; each `slow_down` adds five.
    pub interval: i64,
    pub last_polled_at: Option<i64>,
    pub status: DeviceStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the person; once they entered the user code, `approval` is the hash of
    /// the secret their sign-in carries back in its `state`.
    Pending {
        approval: Option<String>,
    },
    /// Signed in: the key (hash) of the code the sign-in issued, which polling redeems.
    Approved {
        code: String,
    },
    Denied,
}

/// A user code, keyed by the hash of its normalised form: the device grant it names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceUserCode {
    pub device_grant: String,
}
