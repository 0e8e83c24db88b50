//! The device's side of the device authorization grant (RFC 8628): a device that cannot
//! show a browser gets a device code and a short user code, shows the user code, and polls
//! the token endpoint while the person enters that code at `/device` on another screen and
//! signs in there (`flow::device`). Both codes are stored only as hashes.

use super::{ServerFault, TokenError, TokenService};
use crate::config::{Client, GrantType};
use crate::limits::Full;
use crate::response_type::ResponseType;
use crate::store::{DeviceGrant, DeviceStatus, DeviceUserCode, Store};
use crate::{routes, secrets};
use rand::RngCore;
use serde::Serialize;
use std::net::IpAddr;

/// How long a device code works.
pub const LIFETIME_SECS: i64 = 600;
/// The seconds a device waits between polls, at first.
pub const INTERVAL_SECS: i64 = 5;
/// What each `slow_down` adds to the interval (RFC 8628 §3.5).
const SLOW_DOWN_SECS: i64 = 5;
/// Consonants only (RFC 8628 §6.1): no vowels to spell words with, no digits to confuse
/// with letters, and case does not matter.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// 20^8 codes (about 34 bits): with entries rate-limited, guessing a live one is hopeless.
const USER_CODE_LEN: usize = 8;
/// How often a user code is drawn again when the one drawn is taken.
const DRAWS: usize = 4;

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Serialize)]
pub struct Authorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// `/device_authorization`: starts a device grant for `client` with the scopes it asks for.
/// A public client's grants count against its address among the pending logins.
pub async fn start(
    app: &TokenService<'_>,
    client: &Client,
    scope: Option<&str>,
    client_ip: Option<IpAddr>,
) -> Result<Authorization, TokenError> {
    let now = app.now;
    if !client.grant_types.contains(&GrantType::DeviceCode) {
        return Err(TokenError::UnauthorizedClient(
            "this client may not use the device authorization grant".into(),
        ));
    }
    let scope = crate::domain::scopes::granted_scopes(app.config, client, scope, ResponseType::CODE)
        .map_err(|refused| TokenError::InvalidScope(refused.to_string()))?;
    let device_code = secrets::random_token();
    let key = secrets::hash(&device_code);
    let expires_at = now + LIFETIME_SECS;
    let address = client_ip.filter(|_| !client.is_confidential());
    if let Err(full) = app
        .guards
        .pending_logins
        .admit(&quota_id(&key), address, now, expires_at)
    {
        let limit = match full {
            Full::Total => "pending_logins",
            Full::ThisAddress => "pending_logins_per_ip",
        };
        app.telemetry.refused(limit);
        return Err(TokenError::TemporarilyUnavailable(
            "too many sign-ins are in progress; try again later".into(),
        ));
    }
    let started = async {
        let user_code = claim_user_code(app.store, &key, expires_at, now).await?;
        let grant = DeviceGrant {
            client_id: client.id.clone(),
            scope,
            user_code: secrets::hash(&user_code),
            expires_at,
            interval: INTERVAL_SECS,
            last_polled_at: None,
            status: DeviceStatus::Pending { approval: None },
        };
        // Kept past its end, so that a late poll hears expired_token rather than invalid_grant.
        app.store
            .device_grants
            .put(&key, &grant, Some(expires_at + LIFETIME_SECS))
            .await?;
        Ok::<_, TokenError>(user_code)
    };
    let user_code = match started.await {
        Ok(user_code) => display(&user_code),
        Err(e) => {
            app.guards.pending_logins.release(&quota_id(&key));
            return Err(e);
        }
    };
    let verification_uri = format!("{}{}", app.config.issuer, routes::DEVICE);
    Ok(Authorization {
        device_code,
        verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
        verification_uri,
        user_code,
        expires_in: LIFETIME_SECS,
        interval: INTERVAL_SECS,
    })
}

/// The id a device grant is counted under among the pending logins.
pub fn quota_id(grant_key: &str) -> String {
    format!("device:{grant_key}")
}

/// Draws a user code nobody holds and stores it for the grant `key`; returns it normalised.
async fn claim_user_code(store: &Store, key: &str, expires_at: i64, now: i64) -> Result<String, TokenError> {
    let record = DeviceUserCode {
        device_grant: key.to_string(),
    };
    for _ in 0..DRAWS {
        let code = draw_user_code();
        if store
            .device_user_codes
            .insert_new(&secrets::hash(&code), &record, Some(expires_at), now)
            .await?
        {
            return Ok(code);
        }
    }
    Err(TokenError::Server(ServerFault::Broken(
        "no free user code was drawn".into(),
    )))
}

fn draw_user_code() -> String {
    let mut code = String::with_capacity(USER_CODE_LEN);
    let mut byte = [0u8; 1];
    while code.len() < USER_CODE_LEN {
        rand::rngs::OsRng.fill_bytes(&mut byte);
        // 240 is the largest multiple of 20 a byte holds: larger bytes would favour
        // the first letters, so they are drawn again.
        if byte[0] < 240 {
            code.push(char::from(
                USER_CODE_ALPHABET[usize::from(byte[0]) % USER_CODE_ALPHABET.len()],
            ));
        }
    }
    code
}

/// A user code as shown: two groups of four, `BDFG-HJKL`.
fn display(code: &str) -> String {
    let (first, second) = code.split_at(USER_CODE_LEN / 2);
    format!("{first}-{second}")
}

/// A user code as the person typed it, normalised (case, dashes and spaces do not
/// matter), when it can be one at all.
pub fn normalise(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// The key a typed user code is stored under, if it can be one.
pub fn user_code_key(typed: &str) -> Option<String> {
    normalise(typed).map(|code| secrets::hash(&code))
}

/// What polling found: the grant's code to redeem, and when the device code ends.
pub struct Approved {
    pub grant_key: String,
    pub code_key: String,
    pub expires_at: i64,
}

/// A poll of the token endpoint with `device_code` (RFC 8628 §3.4, §3.5): the person's
/// answer if they gave one, else `authorization_pending`, or `slow_down` (and a longer
/// interval) for a device that polls too often.
/// The token endpoint has checked that `client` registered for the grant.
pub async fn poll(store: &Store, client: &Client, device_code: &str, now: i64) -> Result<Approved, TokenError> {
    let key = secrets::hash(device_code);
    let invalid = || TokenError::InvalidGrant("the device code is invalid".into());
    for _ in 0..crate::store::MAX_RACES {
        let current = store.device_grants.read(&key, now).await?.ok_or_else(invalid)?;
        let grant = &current.value;
        if grant.client_id != client.id {
            return Err(invalid());
        }
        if now >= grant.expires_at {
            return Err(TokenError::ExpiredToken(
                "the device code expired before the person signed in".into(),
            ));
        }
        let too_soon = grant.last_polled_at.is_some_and(|last| now - last < grant.interval);
        if !too_soon {
            match &grant.status {
                DeviceStatus::Approved { code } => {
                    return Ok(Approved {
                        grant_key: key,
                        code_key: code.clone(),
                        expires_at: grant.expires_at,
                    });
                }
                DeviceStatus::Denied => {
                    return Err(TokenError::AccessDenied("the person did not allow access".into()));
                }
                DeviceStatus::Pending { .. } => {}
            }
        }
        let mut polled = grant.clone();
        polled.last_polled_at = Some(now);
        if too_soon {
            polled.interval += SLOW_DOWN_SECS;
        }
        let mut write = store.write(now);
        store.device_grants.expect(&mut write, &key, Some(&current));
        store
            .device_grants
            .stage_put(&mut write, &key, &polled, current.expires_at)?;
        if store.commit(write).await? == crate::store::Commit::Done {
            return Err(if too_soon {
                TokenError::SlowDown(format!(
                    "polled too often: wait {} seconds between polls",
                    polled.interval
                ))
            } else {
                TokenError::AuthorizationPending("the person has not signed in yet".into())
            });
        }
    }
    Err(invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_drawn_from_the_alphabet_and_read_back_however_typed() {
        for _ in 0..100 {
            let code = draw_user_code();
            assert_eq!(normalise(&code).as_deref(), Some(code.as_str()));
            let shown = display(&code);
            assert_eq!(shown.len(), 9);
            assert_eq!(normalise(&shown.to_lowercase()).as_deref(), Some(code.as_str()));
        }
        assert_eq!(normalise("bcdf ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalise("BCDF-GHJA"), None, "a vowel is never in a code");
        assert_eq!(normalise("BCDF-GHJ"), None, "too short");
        assert_eq!(normalise("BCDF-GHJKL"), None, "too long");
    }
}
