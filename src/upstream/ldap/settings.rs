//! The keys of a `kind = "ldap"` upstream: where the directory is and how to reach it,
//! the service account that searches it, where people and groups are and how they are
//! found, and whether an app's refresh reads the person again.

use super::filter;
use crate::config::checks::required;
use crate::config::{Duration, KindSettings, Problem, Secret, decode, same_settings};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct LdapSettings {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before anything is sent.
    pub start_tls: bool,
    /// The certificates (DER) that may sign the directory's, from `ca_file`; the system
    /// roots when empty.
    pub ca_certificates: Vec<Vec<u8>>,
    /// The service account that searches (`bind_dn`, `bind_password`); an anonymous
    /// search without one.
    pub service_account: Option<(String, Secret)>,
    pub user_base: String,
    /// A filter with `{username}`, which is escaped (RFC 4515) before it goes in.
    pub user_filter: String,
    /// Where groups are searched; no groups are read without it.
    pub group_base: Option<String>,
    /// A filter with `{dn}`, the person's (or, nested, a group's) DN, escaped.
    pub group_filter: String,
    pub group_name_attribute: String,
    /// Also the groups the person's groups are in.
    pub nested_groups: bool,
    /// A filter an entry that may not log in matches (besides AD's disabled flag).
    pub disabled_filter: Option<String>,
    /// The longest a connection, a bind or a search may take.
    pub timeout: Duration,
    pub refresh: RefreshPolicy,
    pub refresh_interval: Duration,
}

impl LdapSettings {
    pub fn is_ldaps(&self) -> bool {
        self.url.starts_with("ldaps://")
    }
}

impl KindSettings for LdapSettings {
    fn same_as(&self, other: &dyn KindSettings) -> bool {
        same_settings(self, other)
    }

    /// A directory is read again by the entry's id: no token of its own is kept.
    fn keeps_refresh_tokens(&self) -> bool {
        false
    }

    fn renew_on_app_refresh(&self) -> Option<Duration> {
        (self.refresh == RefreshPolicy::OnRefresh).then_some(self.refresh_interval)
    }

    /// A directory's `mail` is what its administrators typed, not a verified address.
    fn believes_email_verified(&self) -> bool {
        false
    }
}

/// `refresh`: what refreshing an app's tokens does at the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshPolicy {
    /// Nothing: the claims are those of the login.
    #[default]
    Never,
    /// The entry is read again with the service account; an entry gone or disabled ends
    /// the app's refresh family.
    OnRefresh,
}

const DEFAULT_USER_FILTER: &str = "(uid={username})";
const DEFAULT_GROUP_FILTER: &str = "(member={dn})";
const DEFAULT_TIMEOUT: Duration = Duration::seconds(5);
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::seconds(300);
/// A directory slower than this is as good as down for a person waiting at a form.
const LONGEST_TIMEOUT: Duration = Duration::seconds(60);

#[derive(Deserialize)]
struct RawLdap {
    url: Option<String>,
    start_tls: Option<bool>,
    ca_file: Option<String>,
    bind_dn: Option<String>,
    bind_password: Option<String>,
    user_base: Option<String>,
    user_filter: Option<String>,
    group_base: Option<String>,
    group_filter: Option<String>,
    group_name_attribute: Option<String>,
    nested_groups: Option<bool>,
    disabled_filter: Option<String>,
    timeout: Option<Duration>,
    refresh: Option<RefreshPolicy>,
    refresh_interval: Option<Duration>,
}

const KIND: &str = "ldap";

pub fn read(table: toml::Value, at: &str, base: &Path, problems: &mut Vec<Problem>) -> Option<LdapSettings> {
    let raw: RawLdap = decode(table, at, problems)?;
    let start = problems.len();
    let url = required(at, KIND, "url", &raw.url, problems).and_then(|url| checked_url(at, &url, problems));
    let start_tls = raw.start_tls.unwrap_or(false);
    if start_tls && url.as_deref().is_some_and(|u| u.starts_with("ldaps://")) {
        problems.push(Problem::new(
            format!("{at}.start_tls"),
            "cannot be used with an ldaps:// url, which is TLS from the start",
        ));
    }
    let ca_certificates = match &raw.ca_file {
        Some(file) => read_certificates(&format!("{at}.ca_file"), &base.join(file), problems),
        None => Vec::new(),
    };
    let service_account = match (raw.bind_dn, raw.bind_password) {
        (Some(dn), Some(password)) if !dn.trim().is_empty() && !password.is_empty() => Some((dn, Secret(password))),
        (Some(_), Some(password)) if password.is_empty() => {
            problems.push(Problem::new(
                format!("{at}.bind_password"),
                "must not be empty (a bind with an empty password is an anonymous one)",
            ));
            None
        }
        (Some(_), Some(_)) => {
            problems.push(Problem::new(format!("{at}.bind_dn"), "must not be empty"));
            None
        }
        (Some(_), None) => {
            problems.push(Problem::new(format!("{at}.bind_password"), "is required with bind_dn"));
            None
        }
        (None, Some(_)) => {
            problems.push(Problem::new(format!("{at}.bind_dn"), "is required with bind_password"));
            None
        }
        (None, None) => None,
    };
    let user_base = required(at, KIND, "user_base", &raw.user_base, problems);
    let user_filter = raw.user_filter.unwrap_or_else(|| DEFAULT_USER_FILTER.into());
    filter::check_template(&format!("{at}.user_filter"), &user_filter, "{username}", problems);
    let group_filter = raw.group_filter.unwrap_or_else(|| DEFAULT_GROUP_FILTER.into());
    filter::check_template(&format!("{at}.group_filter"), &group_filter, "{dn}", problems);
    if let Some(disabled) = &raw.disabled_filter {
        filter::check_template(&format!("{at}.disabled_filter"), disabled, "", problems);
    }
    let nested_groups = raw.nested_groups.unwrap_or(false);
    if raw.group_base.is_none() && nested_groups {
        problems.push(Problem::new(
            format!("{at}.nested_groups"),
            "needs group_base: no groups are read without it",
        ));
    }
    let group_name_attribute = raw.group_name_attribute.unwrap_or_else(|| "cn".into());
    if group_name_attribute.trim().is_empty() {
        problems.push(Problem::new(format!("{at}.group_name_attribute"), "must not be empty"));
    }
    let timeout = raw.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout.as_secs_i64() < 1 || timeout.as_secs_i64() > LONGEST_TIMEOUT.as_secs_i64() {
        problems.push(Problem::new(
            format!("{at}.timeout"),
            "must be between 1s and 60s",
        ));
    }
    let refresh = raw.refresh.unwrap_or_default();
    if raw.refresh_interval.is_some() && refresh == RefreshPolicy::Never {
        problems.push(Problem::new(
            format!("{at}.refresh_interval"),
            "only applies with refresh = \"on_refresh\"",
        ));
    }
    if problems.len() > start {
        return None;
    }
    Some(LdapSettings {
        url: url?,
        start_tls,
        ca_certificates,
        service_account,
        user_base: user_base?,
        user_filter,
        group_base: raw.group_base,
        group_filter,
        group_name_attribute,
        nested_groups,
        disabled_filter: raw.disabled_filter,
        timeout,
        refresh,
        refresh_interval: raw.refresh_interval.unwrap_or(DEFAULT_REFRESH_INTERVAL),
    })
}

/// The directory's URL: `ldap://` or `ldaps://`, a host, and nothing after the port (a
/// base DN in the URL would be ignored, so it is refused).
fn checked_url(at: &str, text: &str, problems: &mut Vec<Problem>) -> Option<String> {
    let key = format!("{at}.url");
    let Ok(url) = url::Url::parse(text) else {
        problems.push(Problem::new(key, "is not a URL (ldap://host or ldaps://host)"));
        return None;
    };
    if url.scheme() != "ldap" && url.scheme() != "ldaps" {
        problems.push(Problem::new(key, "must start with ldap:// or ldaps://"));
        return None;
    }
    if url.host_str().is_none_or(str::is_empty) {
        problems.push(Problem::new(key, "has no host"));
        return None;
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || !url.username().is_empty() {
        problems.push(Problem::new(
            key,
            "must be the server only (ldap://host:port): the bases and the service account have keys of their own",
        ));
        return None;
    }
    Some(text.trim_end_matches('/').to_string())
}

/// The certificates of a PEM file, each as DER.
fn read_certificates(key: &str, path: &Path, problems: &mut Vec<Problem>) -> Vec<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certificates: Result<Vec<Vec<u8>>, String> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
        .and_then(|certificates| {
            certificates
                .map(|c| c.map(|c| c.to_vec()))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))
        });
    match certificates {
        Ok(certificates) if certificates.is_empty() => {
            problems.push(Problem::new(key, format!("{}: holds no certificate", path.display())));
            Vec::new()
        }
        Ok(certificates) => certificates,
        Err(message) => {
            problems.push(Problem::new(key, message));
            Vec::new()
        }
    }
}
