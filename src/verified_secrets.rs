//! A bounded, short memory of hashed client secrets that passed their argon2 check.
//!
//! argon2 costs tens of milliseconds by design, which a confidential client with a
//! `secret_hash` would otherwise pay on every token request. Only a keyed hash (HMAC with
//! a key made at start-up, never stored) of the client, its configured hash and the
//! presented secret is kept, never the secret; a wrong secret is never remembered, so
//! what is kept is bounded by the clients with a correct secret as well as by `capacity`.

use crate::limits::{CheckError, PasswordChecks};
use aws_lc_rs::hmac;
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a successful check is trusted: short, so that a client whose secret leaks
/// and is replaced in the config (a restart) or whose process is long-lived gains little.
pub const TRUSTED_FOR_SECS: i64 = 300;
/// At most this many remembered checks; far above the clients of one deployment.
pub const CAPACITY: usize = 1024;

pub struct VerifiedSecrets {
    key: hmac::Key,
    trusted_for: i64,
    capacity: usize,
    /// Keyed hash → until when it is trusted (unix seconds).
    verified: Mutex<HashMap<[u8; 32], i64>>,
}

impl VerifiedSecrets {
    pub fn new(capacity: usize, trusted_for: i64) -> Result<VerifiedSecrets, aws_lc_rs::error::Unspecified> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        Ok(VerifiedSecrets {
            key: hmac::Key::generate(hmac::HMAC_SHA256, &rng)?,
            trusted_for,
            capacity,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `secret` matches the argon2 `hash` configured for `client_id`: remembered
    /// from a recent check, or checked now through `checks`.
    pub async fn verify(
        &self,
        checks: &PasswordChecks,
        client_id: &str,
        hash: &str,
        secret: &str,
        now: i64,
    ) -> Result<bool, CheckError> {
        if self.holds(client_id, hash, secret, now) {
            return Ok(true);
        }
        let (owned_hash, owned_secret) = (hash.to_string(), secret.to_string());
        let verified = checks
            .run(
                // A burst with a secret not yet remembered waits for the first check
                // instead of all running it.
                || self.holds(client_id, hash, secret, now).then_some(true),
                move || crate::secrets::verify_password(&owned_hash, &owned_secret),
            )
            .await?;
        if verified {
            self.remember(client_id, hash, secret, now);
        }
        Ok(verified)
    }

    /// Whether `secret` passed the check against `hash` for `client_id` recently.
    fn holds(&self, client_id: &str, hash: &str, secret: &str, now: i64) -> bool {
        let tag = self.tag(client_id, hash, secret);
        self.lock().get(&tag).is_some_and(|until| *until > now)
    }

    /// Remembers that `secret` passed the check against `hash` for `client_id` at `now`.
    fn remember(&self, client_id: &str, hash: &str, secret: &str, now: i64) {
        let tag = self.tag(client_id, hash, secret);
        let mut verified = self.lock();
        if verified.len() >= self.capacity && !verified.contains_key(&tag) {
            verified.retain(|_, until| *until > now);
            // Still full of live entries: the one that expires first goes.
            if verified.len() >= self.capacity
                && let Some(soonest) = verified.iter().min_by_key(|(_, until)| **until).map(|(t, _)| *t)
            {
                verified.remove(&soonest);
            }
        }
        verified.insert(tag, now.saturating_add(self.trusted_for));
    }

    /// How many checks are remembered (expired ones included until they are pushed out).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn tag(&self, client_id: &str, hash: &str, secret: &str) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.key);
        // Length-prefixed, so that no two different triples hash the same input.
        for part in [client_id, hash, secret] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part.as_bytes());
        }
        let mut tag = [0; 32];
        tag.copy_from_slice(context.sign().as_ref());
        tag
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], i64>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA";

    #[test]
    fn remembers_only_the_exact_client_hash_and_secret_for_a_while() {
        let checks = VerifiedSecrets::new(8, 300).unwrap();
        assert!(!checks.holds("app", HASH, "right", 1000));
        checks.remember("app", HASH, "right", 1000);
        assert!(checks.holds("app", HASH, "right", 1299));
        assert!(!checks.holds("app", HASH, "right", 1300), "trusted for a bounded time");
        assert!(!checks.holds("app", HASH, "wrong", 1000));
        assert!(!checks.holds("other", HASH, "right", 1000), "bound to the client");
        assert!(
            !checks.holds("app", "$argon2id$other", "right", 1000),
            "bound to the hash"
        );
        // No split of the same characters between the parts collides.
        checks.remember("ab", HASH, "c", 1000);
        assert!(!checks.holds("a", HASH, "bc", 1000));
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        let checks = VerifiedSecrets::new(4, 300).unwrap();
        for n in 0..10 {
            checks.remember(&format!("client{n}"), HASH, "secret", 1000 + n);
            assert!(checks.len() <= 4);
        }
        assert!(checks.holds("client9", HASH, "secret", 1010), "the newest is kept");
        assert!(!checks.holds("client0", HASH, "secret", 1010), "the oldest went first");
    }
}
