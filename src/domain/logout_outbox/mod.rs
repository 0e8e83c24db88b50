//! OpenID Connect Back-Channel Logout 1.0: when a session ends, each client that got
//! something from it and registered a `backchannel_logout_uri` is owed a signed logout
//! token. The debt is written to the store's outbox in the same write that ends the
//! session, so a crash or a deploy loses none; the first attempt starts at once, and the
//! maintenance pass retries the rest with backoff for `[backchannel] retry_for`. Each
//! attempt first takes a lease on its message (a conditional write), so of several
//! replicas exactly one sends it at a time.

use crate::config::Config;
use crate::domain::signals::push::Prepared;
use crate::keys::{Keys, TokenType};
use crate::secrets;
use crate::store::{Commit, LogoutMessage, PushedSignal, Session, Store, StoreError, Versioned, Write};
use crate::telemetry::Telemetry;
use rand::Rng;
use serde_json::json;

mod listing;
pub use listing::{Queued, queued};

/// How long an attempt holds its message: more than a request to a client can take.
const LEASE_SECS: i64 = 30;
/// The longest pause between two attempts.
const LONGEST_PAUSE_SECS: f64 = 300.0;
/// How long a message that was given up stays listed.
const GAVE_UP_KEPT_SECS: i64 = 7 * 86_400;
/// How many attempts one pass starts at most.
const PER_PASS: usize = 64;
/// The key prefixes of messages still to be delivered, in the order they were queued, and
/// of those given up (kept apart, so that a pass reads only the first).
const WAITING: &str = "w:";
const GAVE_UP: &str = "g:";

/// The logout token for `message` (Back-Channel Logout 1.0 §2.4), signed now.
async fn logout_token(
    config: &Config,
    keys: &Keys,
    message: &LogoutMessage,
    now: i64,
) -> Result<String, crate::keys::KeyError> {
    let claims = json!({
        "iss": config.issuer, "aud": message.client_id, "iat": now, "exp": now + 120, "jti": message.jti,
        "sub": message.sub, "sid": message.sid,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    keys.sign(&claims, TokenType::Logout).await
}

/// Adds to `write` a message for each client of `session` that takes logout tokens;
/// returns their keys.
pub fn stage_messages(
    store: &Store,
    config: &Config,
    write: &mut Write,
    session: &Session,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let give_up_at = now.saturating_add(config.backchannel.retry_for.as_secs_i64());
    let mut keys = Vec::new();
    for client_id in &session.clients {
        if config
            .client(client_id)
            .is_none_or(|c| c.backchannel_logout_uri.is_none())
        {
            continue;
        }
        let message = LogoutMessage {
            sub: session.sub.clone(),
            sid: session.sid.clone(),
            ..new_message(client_id, secrets::random_token(), now, give_up_at)
        };
        keys.push(stage(store, write, &message)?);
    }
    Ok(keys)
}

/// Adds to `write` a Security Event Token with `claims` for the push stream
/// `stream_key` of `client_id`, retried until `give_up_at`; returns its key.
pub fn stage_signal(
    store: &Store,
    write: &mut Write,
    client_id: &str,
    stream_key: &str,
    claims: serde_json::Value,
    now: i64,
    give_up_at: i64,
) -> Result<String, StoreError> {
    let jti = claims
        .get("jti")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    let message = LogoutMessage {
        signal: Some(PushedSignal {
            stream_key: stream_key.to_string(),
            claims,
        }),
        ..new_message(client_id, jti, now, give_up_at)
    };
    stage(store, write, &message)
}

/// A message for `client_id` queued now, to be attempted at once and retried until
/// `give_up_at`.
fn new_message(client_id: &str, jti: String, now: i64, give_up_at: i64) -> LogoutMessage {
    LogoutMessage {
        client_id: client_id.to_string(),
        sub: String::new(),
        sid: String::new(),
        jti,
        queued_at: now,
        attempts: 0,
        next_attempt_at: now,
        leased_until: None,
        give_up_at,
        gave_up_at: None,
        last_error: None,
        signal: None,
    }
}

fn stage(store: &Store, write: &mut Write, message: &LogoutMessage) -> Result<String, StoreError> {
    let key = format!("{WAITING}{:012}:{}", message.queued_at, secrets::random_token());
    // Kept past the last retry, so that a message whose time ran out while no process
    // ran is still found, and given up with a trace.
    let kept = message.give_up_at.saturating_add(GAVE_UP_KEPT_SECS);
    store.logout_outbox.stage_put(write, &key, message, Some(kept))?;
    Ok(key)
}

/// What delivering needs.
#[derive(Clone, Copy)]
pub struct Parts<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub keys: &'a Keys,
    pub http: &'a reqwest::Client,
    pub signals_http: &'a crate::public_fetch::PublicFetch,
    pub telemetry: &'a Telemetry,
    pub clock: &'a crate::Clock,
}

/// Attempts on their way, each to its client.
pub struct Deliveries(tokio::task::JoinSet<()>);

impl Deliveries {
    /// Waits until each attempt has ended (a command line must not exit before; what
    /// failed stays queued for the server).
    pub async fn wait(mut self) {
        while self.0.join_next().await.is_some() {}
    }

    /// Lets the attempts finish in the background (a server answers at once).
    pub fn detach(self) {
        tokio::spawn(self.wait());
    }
}

/// Starts an attempt for each message of `keys` that is due and free.
pub async fn start(app: Parts<'_>, keys: &[String], now: i64) -> Result<Deliveries, StoreError> {
    let mut attempts = tokio::task::JoinSet::new();
    for key in keys {
        let Some(current) = app.store.logout_outbox.read(key, now).await? else {
            continue;
        };
        if is_due(&current.value, now) && current.value.give_up_at <= now {
            let mut message = current.value.clone();
            message.last_error = Some("retry_for ended before it could be attempted again".into());
            let mut write = app.store.write(now);
            app.store.logout_outbox.expect(&mut write, key, Some(&current));
            stage_give_up(app.store, &mut write, key, &mut message, app.telemetry, now)?;
            // On a conflict another process got to it first.
            let _ = app.store.commit(write).await?;
            continue;
        }
        if let Some(attempt) = lease(app, key, &current, now).await? {
            attempts.spawn(attempt.run());
        }
    }
    Ok(Deliveries(attempts))
}

/// One pass over the outbox: an attempt for each message that is due and not being
/// attempted elsewhere (the messages of a crashed process are picked up here once their
/// lease runs out).
pub async fn deliver_due(app: Parts<'_>, now: i64) -> Result<Deliveries, StoreError> {
    let due: Vec<String> = app
        .store
        .logout_outbox
        .entries_with_prefix(WAITING, now)
        .await?
        .into_iter()
        .filter(|(_, m)| is_due(m, now))
        .map(|(key, _)| key)
        .take(PER_PASS)
        .collect();
    start(app, &due, now).await
}

fn is_due(message: &LogoutMessage, now: i64) -> bool {
    message.gave_up_at.is_none() && message.next_attempt_at <= now && message.leased_until.is_none_or(|l| l <= now)
}

/// What an attempt sends where.
enum Sending {
    /// A logout token, as a form (Back-Channel Logout 1.0 §2.5).
    Logout { uri: String, token: String },
    /// A Security Event Token to a push stream (RFC 8935 §2), with the Authorization
    /// header its receiver asked for.
    Signal {
        url: url::Url,
        authorization: Option<String>,
        set: String,
    },
    /// Nothing now: the stream is paused; the attempt counts as failed and is retried.
    Held,
}

/// An attempt that holds its message's lease.
struct Attempt {
    store: Store,
    http: reqwest::Client,
    signals_http: crate::public_fetch::PublicFetch,
    telemetry: Telemetry,
    clock: crate::Clock,
    key: String,
    leased: Versioned<LogoutMessage>,
    /// Where to, and the token; `None` when the client (or stream) takes it no more.
    send: Option<Sending>,
}

/// Takes the lease of the message `key` if it is due and free, and makes its token.
async fn lease(
    app: Parts<'_>,
    key: &str,
    current: &Versioned<LogoutMessage>,
    now: i64,
) -> Result<Option<Attempt>, StoreError> {
    if !is_due(&current.value, now) {
        return Ok(None);
    }
    let mut message = current.value.clone();
    message.attempts += 1;
    message.leased_until = Some(now + LEASE_SECS);
    let mut write = app.store.write(now);
    app.store.logout_outbox.expect(&mut write, key, Some(current));
    app.store
        .logout_outbox
        .stage_put(&mut write, key, &message, current.expires_at)?;
    if app.store.commit(write).await? == Commit::Conflict {
        return Ok(None);
    }
    let Some(leased) = app.store.logout_outbox.read(key, now).await? else {
        return Ok(None);
    };
    let send = match &message.signal {
        Some(signal) => match crate::domain::signals::push::prepare(app.store, app.keys, signal, now).await? {
            Some(Prepared::Send {
                url,
                authorization,
                set,
            }) => Some(Sending::Signal {
                url,
                authorization,
                set,
            }),
            Some(Prepared::Hold) => Some(Sending::Held),
            None => None,
        },
        None => {
            let uri = app
                .config
                .client(&message.client_id)
                .and_then(|c| c.backchannel_logout_uri.clone());
            match uri {
                Some(uri) => match logout_token(app.config, app.keys, &message, now).await {
                    Ok(token) => Some(Sending::Logout { uri, token }),
                    Err(e) => {
                        tracing::error!(client = %message.client_id, error = %e, "cannot sign a logout token");
                        None
                    }
                },
                None => None,
            }
        }
    };
    Ok(Some(Attempt {
        store: app.store.clone(),
        http: app.http.clone(),
        signals_http: app.signals_http.clone(),
        telemetry: app.telemetry.clone(),
        clock: app.clock.clone(),
        key: key.to_string(),
        leased,
        send,
    }))
}

impl Attempt {
    async fn run(self) {
        let client_id = self.leased.value.client_id.clone();
        let attempt = self.leased.value.attempts;
        let what = match self.leased.value.signal {
            Some(_) => "security event",
            None => "back-channel logout",
        };
        let failure = match &self.send {
            None if what == "security event" => Some("the stream no longer takes pushed events".to_string()),
            None => Some("the client no longer takes logout tokens".to_string()),
            Some(Sending::Logout { uri, token }) => {
                match self.http.post(uri).form(&[("logout_token", token)]).send().await {
                    Ok(response) if response.status().is_success() => None,
                    Ok(response) => Some(format!("answered {}", response.status())),
                    Err(e) => Some(format!("not reached: {e}")),
                }
            }
            Some(Sending::Held) => Some("the stream is paused".to_string()),
            Some(Sending::Signal {
                url,
                authorization,
                set,
            }) => {
                let sent = self
                    .signals_http
                    .post(
                        url,
                        "application/secevent+jwt",
                        authorization.as_deref(),
                        set.clone().into_bytes(),
                    )
                    .await;
                match sent {
                    Ok(status) if status.is_success() => None,
                    Ok(status) => Some(format!("answered {status}")),
                    Err(e) => Some(format!("not reached: {e}")),
                }
            }
        };
        let now = self.clock.now();
        let recorded = match failure {
            None => {
                tracing::info!(client = %client_id, attempt, "{what} delivered");
                self.telemetry
                    .outbox_attempt(self.leased.value.signal.is_some(), "sent");
                self.finish(None, now).await
            }
            Some(why) => {
                tracing::warn!(client = %client_id, attempt, reason = %why, "{what} failed");
                self.finish(Some(why), now).await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(client = %client_id, error = %e, "the outcome of a {what} cannot be recorded");
        }
    }

    /// Records the attempt: a delivered message leaves the outbox; a failed one waits for
    /// its next attempt, or is given up.
    async fn finish(&self, failure: Option<String>, now: i64) -> Result<(), StoreError> {
        let store = &self.store;
        let mut write = store.write(now);
        store.logout_outbox.expect(&mut write, &self.key, Some(&self.leased));
        let Some(why) = failure else {
            store.logout_outbox.stage_delete(&mut write, &self.key);
            // A conflict means another process took the message once the lease had run
            // out: its record of the outcome wins.
            let _ = store.commit(write).await?;
            return Ok(());
        };
        let mut message = self.leased.value.clone();
        message.leased_until = None;
        message.last_error = Some(why);
        let next = now.saturating_add(pause_after(message.attempts));
        if next >= message.give_up_at || self.send.is_none() {
            stage_give_up(store, &mut write, &self.key, &mut message, &self.telemetry, now)?;
        } else {
            message.next_attempt_at = next;
            self.telemetry.outbox_attempt(message.signal.is_some(), "retried");
            store
                .logout_outbox
                .stage_put(&mut write, &self.key, &message, self.leased.expires_at)?;
        }
        // As above: on a conflict, the process that took the message over records it.
        let _ = store.commit(write).await?;
        Ok(())
    }
}

/// Adds to `write` moving the waiting message `key` among the given-up ones, where it is
/// kept a while to be listed.
fn stage_give_up(
    store: &Store,
    write: &mut Write,
    key: &str,
    message: &mut LogoutMessage,
    telemetry: &Telemetry,
    now: i64,
) -> Result<(), StoreError> {
    message.gave_up_at = Some(now);
    message.leased_until = None;
    let what = match message.signal {
        Some(_) => "security event",
        None => "back-channel logout",
    };
    tracing::error!(client = %message.client_id, attempts = message.attempts, "{what} given up");
    telemetry.outbox_attempt(message.signal.is_some(), "abandoned");
    let kept = Some(now.saturating_add(GAVE_UP_KEPT_SECS));
    store.logout_outbox.stage_delete(write, key);
    store
        .logout_outbox
        .stage_put(write, &key.replacen(WAITING, GAVE_UP, 1), message, kept)
}

/// The pause after `attempts` failed attempts: 1 s, 2 s, 4 s ... up to five minutes,
/// each between half and one and a half times that, so that many messages to one client
/// that is down do not come back all at once.
fn pause_after(attempts: u32) -> i64 {
    let base = 2f64
        .powi(attempts.saturating_sub(1).min(20) as i32)
        .min(LONGEST_PAUSE_SECS);
    let jitter: f64 = rand::thread_rng().gen_range(0.5..1.5);
    (base * jitter).ceil() as i64
}
