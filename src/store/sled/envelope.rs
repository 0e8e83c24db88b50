//! How a record is kept in sled: the JSON envelope `{"expires_at": N, "value": ...}`,
//! and the keys of the expiry index that orders every expiring record by its expiry.

use crate::store::StoreError;
use crate::store::write::{Stored, Version};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The envelope as read: the value stays raw JSON for the typed layer to decode.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(borrow)]
    value: &'a RawValue,
}

pub(super) fn decode(table: &'static str, bytes: &[u8]) -> Result<Stored, StoreError> {
    let envelope: RawEnvelope = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table,
        detail: e.to_string(),
    })?;
    Ok(Stored {
        value: envelope.value.get().as_bytes().to_vec(),
        expires_at: envelope.expires_at,
        version: Version(bytes.to_vec()),
    })
}

pub(super) fn decode_live(table: &'static str, bytes: &[u8], now: i64) -> Result<Option<Stored>, StoreError> {
    let stored = decode(table, bytes)?;
    Ok(is_live(stored.expires_at, now).then_some(stored))
}

pub(super) fn is_live(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|at| at > now)
}

/// The envelope's bytes. The value is JSON already, so it is spliced in, not re-encoded.
pub(super) fn encode(value: &[u8], expires_at: Option<i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 40);
    out.push(b'{');
    if let Some(at) = expires_at {
        out.extend_from_slice(format!("\"expires_at\":{at},").as_bytes());
    }
    out.extend_from_slice(b"\"value\":");
    out.extend_from_slice(value);
    out.push(b'}');
    out
}

/// The expiry of a stored envelope, without decoding its value.
pub(super) fn stored_expiry(bytes: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct ExpiryOnly {
        #[serde(default)]
        expires_at: Option<i64>,
    }
    serde_json::from_slice::<ExpiryOnly>(bytes).ok()?.expires_at
}

/// `expires_at` big-endian (so the index is ordered by time), then `table \0 key`.
pub(super) fn index_key(expires_at: i64, table: &str, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + table.len() + 1 + key.len());
    out.extend_from_slice(&sortable(expires_at));
    out.extend_from_slice(table.as_bytes());
    out.push(0);
    out.extend_from_slice(key);
    out
}

/// The table and key an index entry names.
pub(super) fn split_index_key(index_key: &[u8]) -> Option<(&str, &[u8])> {
    let rest = index_key.get(8..)?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let table = std::str::from_utf8(&rest[..nul]).ok()?;
    Some((table, &rest[nul + 1..]))
}

/// Maps i64 onto u64 preserving order, so negative times sort before positive ones.
pub(super) fn sortable(at: i64) -> [u8; 8] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_keep_the_format_of_earlier_versions() {
        let bytes = encode(br#"{"a":1}"#, Some(42));
        assert_eq!(bytes, br#"{"expires_at":42,"value":{"a":1}}"#);
        let stored = decode("keys", &bytes).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(stored.value, br#"{"a":1}"#);
        assert_eq!(stored.expires_at, Some(42));
        assert_eq!(stored_expiry(&bytes), Some(42));
        assert_eq!(encode(b"1", None), br#"{"value":1}"#);
    }

    #[test]
    fn index_keys_sort_by_time_and_name_their_record() {
        assert!(index_key(-5, "a", b"k") < index_key(3, "a", b"k"));
        assert!(index_key(3, "z", b"k") < index_key(4, "a", b"k"));
        let key = index_key(7, "codes", b"x:y");
        assert_eq!(split_index_key(&key), Some(("codes", &b"x:y"[..])));
    }
}
