//! How many pending logins are live (parked and not yet finished), in all and per client
//! IP address, so that `/authorize` refuses to park more than the config allows instead
//! of filling the disk. A finished login gives its place back at once, so many people
//! behind one address (an office's NAT) who finish their logins never meet the cap; a
//! flood of requests that never finish does.
//!
//! Every parked login expires a fixed time after it was parked, so the ones admitted
//! form a queue in expiry order: forgetting expired ones costs no scan.

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
    /// Each live login: when it expires and where it came from.
    by_id: HashMap<String, (i64, Option<IpAddr>)>,
    /// The same (and, until they are passed over, finished ones), oldest first.
    by_expiry: VecDeque<(i64, String)>,
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

    /// Counts the login `id` from `address` until `expires` or until it is released, if
    /// there is room.
    pub fn admit(&self, id: &str, address: Option<IpAddr>, now: i64, expires: i64) -> Result<(), Full> {
        let mut live = self.lock();
        live.forget_expired(now);
        if live.by_id.len() >= self.total {
            return Err(Full::Total);
        }
        if let Some(address) = address {
            let from_here = live.by_address.entry(address).or_insert(0);
            if *from_here >= self.per_address {
                return Err(Full::ThisAddress);
            }
            *from_here += 1;
        }
        live.by_id.insert(id.to_string(), (expires, address));
        live.by_expiry.push_back((expires, id.to_string()));
        Ok(())
    }

    /// Gives back the place of the login `id` (finished, or void); nothing if it had none.
    pub fn release(&self, id: &str) {
        let mut live = self.lock();
        if let Some((_, address)) = live.by_id.remove(id) {
            live.uncount(address);
        }
        // Finished logins stay in the expiry queue until passed over; a busy server that
        // finishes many drops them before the queue outgrows the live ones by much.
        if live.by_expiry.len() > 2 * self.total {
            let Live { by_id, by_expiry, .. } = &mut *live;
            by_expiry.retain(|(_, id)| by_id.contains_key(id));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Live {
    fn forget_expired(&mut self, now: i64) {
        while let Some((expires, _)) = self.by_expiry.front() {
            if *expires > now {
                break;
            }
            let Some((_, id)) = self.by_expiry.pop_front() else {
                break;
            };
            if let Some((_, address)) = self.by_id.remove(&id) {
                self.uncount(address);
            }
        }
    }

    fn uncount(&mut self, address: Option<IpAddr>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_the_live_logins_in_all_and_per_address_until_they_expire_or_finish() {
        let quota = PendingQuota::new(3, 2);
        let (a, b) = (Some("192.0.2.1".parse().unwrap()), Some("192.0.2.2".parse().unwrap()));
        assert_eq!(quota.admit("1", a, 100, 200), Ok(()));
        assert_eq!(quota.admit("2", a, 101, 201), Ok(()));
        assert_eq!(quota.admit("3", a, 102, 202), Err(Full::ThisAddress));
        assert_eq!(quota.admit("4", b, 102, 202), Ok(()));
        assert_eq!(quota.admit("5", None, 103, 203), Err(Full::Total));
        assert_eq!(quota.admit("6", a, 200, 300), Ok(()), "the first one expired");
        assert_eq!(quota.admit("7", b, 200, 300), Err(Full::Total));
        quota.release("4");
        assert_eq!(
            quota.admit("8", b, 200, 300),
            Ok(()),
            "a finished login gives its place back"
        );
        quota.release("4");
        assert_eq!(quota.admit("9", None, 200, 300), Err(Full::Total), "only once");
        let live = quota.lock();
        assert_eq!(live.by_id.len(), 3);
        assert_eq!(live.by_address.values().sum::<usize>(), 3, "refusals are not counted");
    }

    #[test]
    fn finished_logins_do_not_pile_up_in_the_expiry_queue() {
        let quota = PendingQuota::new(10, 10);
        for n in 0..1000 {
            let id = n.to_string();
            quota.admit(&id, None, 100, 1000).unwrap();
            quota.release(&id);
        }
        assert!(quota.lock().by_expiry.len() <= 21);
    }
}
