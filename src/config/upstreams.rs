//! The `[[upstreams]]` tables: the keys every upstream has (`id`, `name`, `kind`,
//! `mapping`) are read here; the rest of the table belongs to its kind, which reads and
//! checks it (`upstream/<kind>/`), refusing keys it does not know.

use super::raw::{RawUpstream, decode};
use super::{Problem, Upstream, UpstreamKind};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The upstreams; `can_seal` says whether `[store]` has a key-encryption key, without
/// which no upstream's refresh token may be kept.
pub fn validate_upstreams(
    upstreams: Vec<toml::Value>,
    base: &Path,
    kinds: &[UpstreamKind],
    can_seal: bool,
    problems: &mut Vec<Problem>,
) -> Vec<Upstream> {
    let mut seen = HashSet::new();
    let mut domain_owners = HashMap::new();
    let mut out = Vec::new();
    // The problems of the table read last, named by its id once it is done.
    let mut named: Option<(usize, toml::Value)> = None;
    for (i, value) in upstreams.into_iter().enumerate() {
        if let Some((start, table)) = named.take() {
            super::name_table(&mut problems[start..], "upstream", &table);
        }
        named = Some((problems.len(), value.clone()));
        let at = format!("upstreams[{i}]");
        let toml::Value::Table(mut table) = value else {
            problems.push(Problem::new(at, "must be a table"));
            continue;
        };
        let common: toml::Table = RawUpstream::KEYS
            .iter()
            .filter_map(|key| table.remove(*key).map(|value| (key.to_string(), value)))
            .collect();
        let Some(raw) = decode::<RawUpstream>(toml::Value::Table(common), &at, problems) else {
            continue;
        };
        let Some(kind) = kinds.iter().find(|k| k.name == raw.kind) else {
            let expected: Vec<String> = kinds.iter().map(|k| format!("`{}`", k.name)).collect();
            problems.push(Problem::new(
                format!("{at}.kind"),
                format!(
                    "unknown variant `{}`, expected one of {}",
                    raw.kind,
                    expected.join(", ")
                ),
            ));
            continue;
        };
        let start = problems.len();
        check_id(&raw.id, &at, &mut seen, problems);
        let domains = check_domains(
            raw.domains.unwrap_or_default(),
            &raw.id,
            &at,
            &mut domain_owners,
            problems,
        );
        let mapping = raw.mapping.as_ref().map(|m| base.join(m));
        if let Some(path) = &mapping
            && !path.is_file()
        {
            problems.push(Problem::new(
                format!("{at}.mapping"),
                format!("file not found: {}", path.display()),
            ));
        }
        let settings = (kind.read)(toml::Value::Table(table), &at, base, problems);
        if settings.as_ref().is_some_and(|s| s.keeps_refresh_tokens()) && !can_seal {
            problems.push(Problem::new(
                format!("{at}.refresh"),
                "keeps the upstream's refresh tokens, which needs store.key_encryption_key to encrypt them",
            ));
        }
        if let (Some(settings), true) = (settings, problems.len() == start) {
            let trust_email_verified = raw
                .trust_email_verified
                .unwrap_or_else(|| settings.believes_email_verified());
            out.push(Upstream {
                name: raw.name.unwrap_or_else(|| raw.id.clone()),
                id: raw.id,
                mapping,
                kind: kind.name,
                settings,
                optional: raw.optional.unwrap_or(false),
                domains,
                hidden: raw.hidden.unwrap_or(false),
                trust_email_verified,
            });
        }
    }
    if let Some((start, table)) = named {
        super::name_table(&mut problems[start..], "upstream", &table);
    }
    out
}

/// An upstream id is part of the callback URL, and names one upstream.
fn check_id(id: &str, at: &str, seen: &mut HashSet<String>, problems: &mut Vec<Problem>) {
    let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if id.is_empty() || !id.chars().all(url_safe) {
        problems.push(Problem::new(
            format!("{at}.id"),
            "must be letters, digits, '-' or '_' (it is part of the callback URL)",
        ));
    } else if !seen.insert(id.to_string()) {
        problems.push(Problem::new(
            format!("{at}.id"),
            format!("\"{id}\" is used by another upstream"),
        ));
    }
}

/// An upstream's email `domains`, lowercase: host names, each claimed by one upstream.
fn check_domains(
    domains: Vec<String>,
    id: &str,
    at: &str,
    owners: &mut HashMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, domain) in domains.into_iter().enumerate() {
        let key = format!("{at}.domains[{i}]");
        let domain = domain.to_ascii_lowercase();
        let label_ok = |l: &str| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !domain.contains('.') || !domain.split('.').all(label_ok) {
            problems.push(Problem::new(
                key,
                format!("\"{domain}\" is not a domain name (like \"example.com\", without \"@\")"),
            ));
        } else if let Some(owner) = owners.insert(domain.clone(), id.to_string()) {
            problems.push(Problem::new(
                key,
                format!("\"{domain}\" is listed by upstream \"{owner}\" too"),
            ));
        } else {
            out.push(domain);
        }
    }
    out
}
