//! Turns the file as written into a [`Config`], checking every rule and
//! collecting every problem on the way.

use super::UpstreamKind;
use super::checks::web_url;
use super::clients::{Known, validate_clients};
use super::raw::{RawRoot, RawScope, RawTokens, decode};
use super::upstreams::validate_upstreams;
use super::*;
use crate::mapping::STANDARD_SCOPES;
use std::collections::HashSet;
use url::{Host, Url};

/// How long requests in flight may take to finish once a shutdown starts.
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::seconds(10);

pub fn validate(
    root: RawRoot,
    file: &Path,
    base: &Path,
    kinds: &[UpstreamKind],
    problems: &mut Vec<Problem>,
) -> Option<Config> {
    let issuer = validate_issuer(root.issuer, problems);
    let listen = validate_listen(root.listen.as_deref(), issuer.as_ref(), problems);
    let tokens = validate_tokens(root.tokens, problems);
    let limits = super::limits::validate_limits(root.limits, problems);
    let store = super::store::validate_store(root.store, base, problems);
    let log = super::log::validate_log(root.log, problems);
    let chooser = super::chooser::validate_chooser(root.chooser, problems);
    let dpop = super::dpop::validate_dpop(root.dpop, problems);
    let backchannel = super::backchannel::validate_backchannel(root.backchannel, problems);
    let scopes = validate_scopes(root.scopes, problems);
    let upstreams = validate_upstreams(
        root.upstreams,
        base,
        kinds,
        store.key_encryption_key.is_some(),
        problems,
    );
    let upstream_ids: HashSet<&str> = upstreams.iter().map(|u| u.id.as_str()).collect();
    let exchangeable: HashSet<&str> = upstreams
        .iter()
        .filter(|u| u.settings.exchange_audiences().is_some())
        .map(|u| u.id.as_str())
        .collect();
    let known = Known {
        upstreams: &upstream_ids,
        exchangeable: &exchangeable,
        scopes: &scopes,
    };
    let resource_servers = super::resource_servers::validate_resource_servers(root.resource_servers, &scopes, problems);
    let clients = validate_clients(root.clients, &known, problems);
    let registration = super::registration::validate_registration(root.registration, &scopes, problems);
    let resource_indicators = super::resource_servers::validate_resource_indicators(root.resource_indicators, problems);
    let client_id_metadata_documents =
        super::client_documents::validate_client_documents(root.client_id_metadata_documents, problems);
    let shared_signals = super::shared_signals::validate_shared_signals(root.shared_signals, problems);
    let data_dir = base.join(root.data_dir.as_deref().unwrap_or("data"));
    let templates_dir = root.templates_dir.map(|dir| base.join(dir));
    let (admin_listen, admin_token) = validate_admin(root.admin_listen, root.admin_token, problems);
    if let Some(dir) = &templates_dir
        && !dir.is_dir()
    {
        problems.push(Problem::new(
            "templates_dir",
            format!("{} is not a folder", dir.display()),
        ));
    }
    Some(Config {
        file: file.to_path_buf(),
        issuer: issuer?.as_str().trim_end_matches('/').to_string(),
        listen: listen?,
        data_dir,
        templates_dir,
        admin_listen,
        admin_token,
        shutdown_grace: root.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
        tokens,
        limits,
        store,
        log,
        chooser,
        dpop,
        backchannel,
        registration,
        client_id_metadata_documents,
        shared_signals,
        resource_indicators,
        resource_servers,
        scopes,
        clients: clients.into_iter().map(std::sync::Arc::new).collect(),
        upstreams,
    })
}

fn validate_issuer(issuer: Option<String>, problems: &mut Vec<Problem>) -> Option<Url> {
    let Some(issuer) = issuer else {
        problems.push(Problem::new(
            "issuer",
            "is required, e.g. issuer = \"https://login.example.com\"",
        ));
        return None;
    };
    let url = web_url("issuer", &issuer, problems)?;
    if url.query().is_some() || url.fragment().is_some() {
        problems.push(Problem::new("issuer", "must not have a query or a fragment"));
        return None;
    }
    Some(url)
}

fn validate_listen(listen: Option<&str>, issuer: Option<&Url>, problems: &mut Vec<Problem>) -> Option<SocketAddr> {
    if let Some(listen) = listen {
        return match listen.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.push(Problem::new(
                    "listen",
                    format!("\"{listen}\" is not an address like \"127.0.0.1:8080\""),
                ));
                None
            }
        };
    }
    let issuer = issuer?;
    let port = issuer.port_or_known_default().unwrap_or(443);
    let ip = match issuer.host() {
        Some(Host::Ipv4(ip)) => ip.into(),
        Some(Host::Ipv6(ip)) => ip.into(),
        Some(Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => std::net::Ipv4Addr::LOCALHOST.into(),
        _ => {
            problems.push(Problem::new(
                "listen",
                "is required when the issuer's host is a name: set the address to bind, e.g. \"0.0.0.0:8080\"",
            ));
            return None;
        }
    };
    Some(SocketAddr::new(ip, port))
}

/// The admin API: off unless `admin_listen` is set (an address, or a port on loopback);
/// then `admin_token` is required.
fn validate_admin(
    listen: Option<toml::Value>,
    token: Option<String>,
    problems: &mut Vec<Problem>,
) -> (Option<SocketAddr>, Option<Secret>) {
    let listen = match listen {
        None => None,
        Some(toml::Value::Integer(port)) => match u16::try_from(port) {
            Ok(port) if port > 0 => Some(SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), port)),
            _ => {
                problems.push(Problem::new("admin_listen", format!("{port} is not a port number")));
                None
            }
        },
        Some(toml::Value::String(text)) => match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.push(Problem::new(
                    "admin_listen",
                    format!("\"{text}\" is not an address like \"127.0.0.1:9091\""),
                ));
                None
            }
        },
        Some(_) => {
            problems.push(Problem::new(
                "admin_listen",
                "must be an address (\"127.0.0.1:9091\") or a port (9091)",
            ));
            None
        }
    };
    let token = match (&listen, token) {
        (_, Some(token)) if token.len() < 16 => {
            problems.push(Problem::new(
                "admin_token",
                "must be at least 16 characters (use ${ADMIN_TOKEN})",
            ));
            None
        }
        (Some(_), None) => {
            problems.push(Problem::new("admin_token", "is required when admin_listen is set"));
            None
        }
        (_, token) => token.map(Secret),
    };
    (listen, token)
}

fn validate_tokens(tokens: Option<toml::Value>, problems: &mut Vec<Problem>) -> TokenSettings {
    let raw: RawTokens = tokens.and_then(|t| decode(t, "tokens", problems)).unwrap_or_default();
    let d = TokenSettings::default();
    let settings = TokenSettings {
        signing_alg: raw.signing_alg.unwrap_or(d.signing_alg),
        id_token_ttl: raw.id_token_ttl.unwrap_or(d.id_token_ttl),
        access_token_ttl: raw.access_token_ttl.unwrap_or(d.access_token_ttl),
        refresh_token_ttl: raw.refresh_token_ttl.unwrap_or(d.refresh_token_ttl),
        refresh_token_absolute_ttl: raw.refresh_token_absolute_ttl.unwrap_or(d.refresh_token_absolute_ttl),
        code_ttl: raw.code_ttl.unwrap_or(d.code_ttl),
        session_ttl: raw.session_ttl.unwrap_or(d.session_ttl),
        key_rotation: raw.key_rotation.unwrap_or(d.key_rotation),
        consent_ttl: raw.consent_ttl.unwrap_or(d.consent_ttl),
        refresh_retry_window_secs: match raw.refresh_retry_window.as_deref().map(str::trim) {
            None => d.refresh_retry_window_secs,
            Some(off) if is_zero_duration(off) => 0,
            Some(text) => match Duration::parse(text) {
                Ok(window) => window.as_secs_i64(),
                Err(why) => {
                    problems.push(Problem::new("tokens.refresh_retry_window", why));
                    d.refresh_retry_window_secs
                }
            },
        },
    };
    if settings.refresh_token_absolute_ttl.as_secs_i64() < settings.refresh_token_ttl.as_secs_i64() {
        problems.push(Problem::new(
            "tokens.refresh_token_absolute_ttl",
            "is shorter than refresh_token_ttl: make it at least as long",
        ));
    }
    settings
}

/// "0s", "0m", ...: a duration of nothing, which only some keys take (to mean "off").
fn is_zero_duration(text: &str) -> bool {
    text.strip_suffix(['s', 'm', 'h', 'd'])
        .is_some_and(|number| !number.is_empty() && number.chars().all(|c| c == '0'))
}

fn validate_scopes(
    scopes: BTreeMap<String, toml::Value>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (name, value) in scopes {
        let at = super::key_path::join_key("scopes", &name);
        if STANDARD_SCOPES.contains(&name.as_str()) {
            problems.push(Problem::new(
                &at,
                format!("\"{name}\" is a standard OpenID Connect scope and cannot be redefined"),
            ));
            continue;
        }
        if !is_scope_token(&name) {
            problems.push(Problem::new(
                &at,
                "a scope name must be printable ASCII without spaces, quotes or backslashes",
            ));
            continue;
        }
        let Some(scope) = decode::<RawScope>(value, &at, problems) else {
            continue;
        };
        if scope.claims.is_empty() {
            problems.push(Problem::new(format!("{at}.claims"), "must name at least one claim"));
        }
        out.insert(name, scope.claims);
    }
    out
}

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
fn is_scope_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}
