//! `[log]`: how the server's log is written.

use super::{Problem, raw::decode};
use serde::Deserialize;

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Text when standard error is a terminal, JSON otherwise (a file, journald, a pipe).
    Auto,
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter: a level (`info`) or per-module directives
    /// (`info,gatehouse::store=debug`). `RUST_LOG`, when set, wins.
    pub level: String,
    /// Take the request id from an incoming `X-Request-Id` (set by a reverse proxy the
    /// operator runs) instead of making one.
    pub trust_request_id: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Auto,
            level: "info".to_string(),
            trust_request_id: false,
        }
    }
}

pub fn validate_log(log: Option<toml::Value>, problems: &mut Vec<Problem>) -> LogSettings {
    let Some(log) = log else {
        return LogSettings::default();
    };
    let Some(log) = decode::<LogSettings>(log, "log", problems) else {
        return LogSettings::default();
    };
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&log.level) {
        problems.push(Problem::new(
            "log.level",
            format!(
                "\"{}\" is not a level or filter (e.g. \"info\" or \"info,gatehouse=debug\"): {e}",
                log.level
            ),
        ));
        return LogSettings::default();
    }
    log
}
