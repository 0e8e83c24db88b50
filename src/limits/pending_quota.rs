//! How many pending logins are live, in all and per client IP address, so that
//! `/authorize` refuses to park more than the config allows instead of filling the disk.
//!
//! Every parked login expires a fixed time after it was parked, so the ones admitted
//! form a queue in expiry order: counting is O(1) and the memory is bounded by the cap.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Too many pending logins in all.
    Total,
    /// Too many pending logins from this address.
    ThisAddress,
}

pub struct PendingQuota {
    total: usize,
    per_address: usize,
    live: Mutex<Live>,
}

#[derive(Default)]
struct Live {
    /// When each admitted login expires, and where it came from, oldest first.
    admitted: VecDeque<(i64, Option<IpAddr>)>,
    by_address: HashMap<IpAddr, usize>,
}

impl PendingQuota {
    pub fn new(total: usize, per_address: usize) -> PendingQuota {
        PendingQuota {
            total,
            per_address,
            live: Mutex::new(Live::default()),
        }
    }

    /// Counts one more pending login from `address` until `expires`, if there is room.
    pub fn admit(&self, address: Option<IpAddr>, now: i64, expires: i64) -> Result<(), Full> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.forget_expired(now);
        if live.admitted.len() >= self.total {
            return Err(Full::Total);
        }
        if let Some(address) = address {
            let from_here = live.by_address.entry(address).or_insert(0);
            if *from_here >= self.per_address {
                return Err(Full::ThisAddress);
            }
            *from_here += 1;
        }
        live.admitted.push_back((expires, address));
        Ok(())
    }
}

impl Live {
    fn forget_expired(&mut self, now: i64) {
        while let Some(&(expires, address)) = self.admitted.front() {
            if expires > now {
                break;
            }
            self.admitted.pop_front();
            if let Some(address) = address
                && let Some(count) = self.by_address.get_mut(&address)
            {
                *count -= 1;
                if *count == 0 {
                    self.by_address.remove(&address);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_the_live_logins_in_all_and_per_address_until_they_expire() {
        let quota = PendingQuota::new(3, 2);
        let (a, b) = (Some("192.0.2.1".parse().unwrap()), Some("192.0.2.2".parse().unwrap()));
        assert_eq!(quota.admit(a, 100, 200), Ok(()));
        assert_eq!(quota.admit(a, 101, 201), Ok(()));
        assert_eq!(quota.admit(a, 102, 202), Err(Full::ThisAddress));
        assert_eq!(quota.admit(b, 102, 202), Ok(()));
        assert_eq!(quota.admit(None, 103, 203), Err(Full::Total));
        assert_eq!(quota.admit(a, 200, 300), Ok(()), "the first one expired");
        assert_eq!(quota.admit(b, 200, 300), Err(Full::Total));
        assert_eq!(quota.admit(None, 202, 302), Ok(()), "room again once more expired");
        let live = quota.live.lock().unwrap();
        assert_eq!(live.admitted.len(), 2);
        assert_eq!(
            live.by_address.len(),
            1,
            "refusals are not counted, expired ones forgotten"
        );
    }
}
