//! `[[resource_servers]]`: the APIs an access token may be exchanged into (RFC 8693), by the
//! `audience` a client names, each with the scopes a token for it may carry.

use super::{Problem, raw::decode};
use crate::mapping::STANDARD_SCOPES;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResourceServer {
    /// What `audience` (or `resource`) names it by, and what the token's `aud` says.
    pub audience: String,
    /// The scopes a token for it may carry; `None`: any the subject token had.
    pub scopes: Option<Vec<String>>,
}

impl ResourceServer {
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|s| s == scope))
    }
}

pub fn validate_resource_servers(
    tables: Vec<toml::Value>,
    scopes: &BTreeMap<String, Vec<String>>,
    problems: &mut Vec<Problem>,
) -> Vec<ResourceServer> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, table) in tables.into_iter().enumerate() {
        let at = format!("resource_servers[{i}]");
        let Some(server) = decode::<ResourceServer>(table, &at, problems) else {
            continue;
        };
        if server.audience.trim().is_empty() {
            problems.push(Problem::new(format!("{at}.audience"), "must not be empty"));
        } else if !seen.insert(server.audience.clone()) {
            problems.push(Problem::new(
                format!("{at}.audience"),
                format!("\"{}\" is named by another resource server", server.audience),
            ));
        }
        for (j, scope) in server.scopes.iter().flatten().enumerate() {
            if !STANDARD_SCOPES.contains(&scope.as_str()) && !scopes.contains_key(scope) {
                problems.push(Problem::new(
                    format!("{at}.scopes[{j}]"),
                    format!("\"{scope}\" is neither a standard scope nor one under [scopes]"),
                ));
            }
        }
        out.push(server);
    }
    out
}

/// `[resource_indicators]`: what a `resource` (RFC 8707) may name besides the
/// `[[resource_servers]]` audiences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ResourceIndicatorSettings {
    /// Any https URL on one of these hosts (an MCP server's own URL, say).
    pub allowed_hosts: Vec<String>,
}

pub fn validate_resource_indicators(
    table: Option<toml::Value>,
    problems: &mut Vec<Problem>,
) -> ResourceIndicatorSettings {
    let settings = table
        .and_then(|t| decode::<ResourceIndicatorSettings>(t, "resource_indicators", problems))
        .unwrap_or_default();
    for (i, host) in settings.allowed_hosts.iter().enumerate() {
        let parsed = url::Host::parse(host).is_ok() && !host.contains(['/', ':', '*']);
        if !parsed {
            problems.push(Problem::new(
                format!("resource_indicators.allowed_hosts[{i}]"),
                format!("\"{host}\" is not a host name (no scheme, port, path or wildcard)"),
            ));
        }
    }
    settings
}

impl ResourceIndicatorSettings {
    /// Whether `resource` is an https URL on an allowed host.
    pub fn allows(&self, resource: &url::Url) -> bool {
        resource.scheme() == "https"
            && resource
                .host_str()
                .is_some_and(|host| self.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
    }
}
