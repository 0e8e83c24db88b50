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
