//! `gatehouse sessions`: the live sessions, ending one, and the back-channel logout
//! tokens still owed to clients (through the admin API while the server runs).

use crate::{ConfigArg, operate};
use clap::Subcommand;
use gatehouse::clock::iso8601;
use std::path::Path;

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// Print the live sessions (one per login on one device), newest first.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this person's sessions (their `sub`).
        #[arg(long, allow_hyphen_values = true)]
        sub: Option<String>,
    },
    /// End a session: the browser is logged out and the refresh tokens of its logins stop
    /// working. A running server also sends back-channel logout to the session's clients.
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        /// The session id (`sid`, as `sessions list` and ID tokens show it); a random
        /// base64url token, so it may begin with `-`.
        #[arg(allow_hyphen_values = true)]
        sid: String,
    },
    /// Print the back-channel logout tokens still owed to clients, and those given up.
    Deliveries {
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub fn run(action: SessionsCommand) -> Result<(), String> {
    match action {
        SessionsCommand::List { config, sub } => list(&config.config, sub.as_deref()),
        SessionsCommand::Revoke { config, sid } => revoke(&config.config, &sid),
        SessionsCommand::Deliveries { config } => deliveries(&config.config),
    }
}

fn list(path: &Path, sub: Option<&str>) -> Result<(), String> {
    let sessions = operate(path, async |operator, _| operator.sessions(sub).await)?;
    if sessions.is_empty() {
        println!("no live sessions");
        return Ok(());
    }
    println!(
        "{:<44} {:<44} {:<12} {:<21} {:<21} CLIENTS",
        "SID", "SUB", "UPSTREAM", "SINCE", "EXPIRES"
    );
    for s in sessions {
        let expires = s.expires_at.map(iso8601).unwrap_or_default();
        println!(
            "{:<44} {:<44} {:<12} {:<21} {:<21} {}",
            s.sid,
            s.sub,
            s.upstream,
            iso8601(s.auth_time),
            expires,
            s.clients.join(",")
        );
    }
    Ok(())
}

fn deliveries(path: &Path) -> Result<(), String> {
    let queued = operate(path, async |operator, _| operator.deliveries().await)?;
    if queued.is_empty() {
        println!("no back-channel logout is waiting or given up");
        return Ok(());
    }
    println!(
        "{:<16} {:<44} {:<21} {:<8} {:<30} LAST ERROR",
        "CLIENT", "SID", "QUEUED", "ATTEMPTS", "STATE"
    );
    for q in queued {
        let state = match (q.gave_up_at, q.next_attempt_at) {
            (Some(at), _) => format!("given up {}", iso8601(at)),
            (None, Some(next)) => format!("next {}", iso8601(next)),
            (None, None) => "waiting".to_string(),
        };
        println!(
            "{:<16} {:<44} {:<21} {:<8} {:<30} {}",
            q.client_id,
            q.sid,
            iso8601(q.queued_at),
            q.attempts,
            state,
            q.last_error.unwrap_or_default()
        );
    }
    Ok(())
}

fn revoke(path: &Path, sid: &str) -> Result<(), String> {
    if !operate(path, async |operator, _| operator.end_session(sid).await)? {
        return Err(format!("no live session {sid}"));
    }
    println!("session {sid} ended; its clients are told by back-channel logout");
    Ok(())
}
