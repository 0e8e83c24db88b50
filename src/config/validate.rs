//! Turns the file as written into a [`Config`], checking every rule and
//! collecting every problem on the way.

use super::raw::{self, RawClient, RawKind, RawLocalUser, RawRoot, RawScope, RawTokens, RawUpstream, decode};
use super::*;
use crate::response::ResponseType;
use std::collections::HashSet;
use url::{Host, Url};

/// Scopes defined by OpenID Connect itself; custom scopes may not reuse these names.
const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "address", "phone", "offline_access"];

/// How long requests in flight may take to finish once a shutdown starts.
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::seconds(10);

pub fn validate(root: RawRoot, file: &Path, base: &Path, problems: &mut Vec<Problem>) -> Option<Config> {
    let issuer = validate_issuer(root.issuer, problems);
    let listen = validate_listen(root.listen.as_deref(), issuer.as_ref(), problems);
    let tokens = validate_tokens(root.tokens, problems);
    let scopes = validate_scopes(root.scopes, problems);
    let upstreams = validate_upstreams(root.upstreams, base, problems);
    let upstream_ids: HashSet<&str> = upstreams.iter().map(|u| u.id.as_str()).collect();
    let clients = validate_clients(root.clients, &upstream_ids, problems);
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
        scopes,
        clients,
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

/// Parses an http(s) URL and requires https unless the host is loopback.
fn web_url(key: &str, text: &str, problems: &mut Vec<Problem>) -> Option<Url> {
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(e) => {
            problems.push(Problem::new(key, format!("\"{text}\" is not an absolute URL ({e})")));
            return None;
        }
    };
    match url.scheme() {
        "https" => Some(url),
        "http" if is_loopback(&url) => Some(url),
        "http" => {
            problems.push(Problem::new(
                key,
                format!("\"{text}\" must use https (http is only allowed on loopback)"),
            ));
            None
        }
        other => {
            problems.push(Problem::new(key, format!("\"{text}\" has scheme {other}: use https")));
            None
        }
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
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
    TokenSettings {
        signing_alg: raw.signing_alg.unwrap_or(d.signing_alg),
        id_token_ttl: raw.id_token_ttl.unwrap_or(d.id_token_ttl),
        access_token_ttl: raw.access_token_ttl.unwrap_or(d.access_token_ttl),
        refresh_token_ttl: raw.refresh_token_ttl.unwrap_or(d.refresh_token_ttl),
        code_ttl: raw.code_ttl.unwrap_or(d.code_ttl),
        session_ttl: raw.session_ttl.unwrap_or(d.session_ttl),
        key_rotation: raw.key_rotation.unwrap_or(d.key_rotation),
    }
}

fn validate_scopes(
    scopes: BTreeMap<String, toml::Value>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (name, value) in scopes {
        let at = raw::join_key("scopes", &name);
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

fn validate_clients(
    clients: Vec<toml::Value>,
    upstream_ids: &HashSet<&str>,
    problems: &mut Vec<Problem>,
) -> Vec<Client> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, value) in clients.into_iter().enumerate() {
        let at = format!("clients[{i}]");
        let Some(raw) = decode::<RawClient>(value, &at, problems) else {
            continue;
        };
        if raw.id.is_empty() {
            problems.push(Problem::new(format!("{at}.id"), "must not be empty"));
        } else if !seen.insert(raw.id.clone()) {
            problems.push(Problem::new(
                format!("{at}.id"),
                format!("\"{}\" is used by another client", raw.id),
            ));
        }
        if let Some(client) = validate_client(raw, &at, upstream_ids, problems) {
            out.push(client);
        }
    }
    out
}

fn validate_client(
    raw: RawClient,
    at: &str,
    upstream_ids: &HashSet<&str>,
    problems: &mut Vec<Problem>,
) -> Option<Client> {
    let start = problems.len();
    let secret = match (raw.secret, raw.secret_hash) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                format!("{at}.secret_hash"),
                "set either secret or secret_hash, not both",
            ));
            None
        }
        (Some(secret), None) if secret.is_empty() => {
            problems.push(Problem::new(
                format!("{at}.secret"),
                "must not be empty (omit it for a public client)",
            ));
            None
        }
        (Some(secret), None) => Some(ClientSecret::Plain(secret)),
        (None, Some(hash)) => {
            check_argon2_hash(&format!("{at}.secret_hash"), &hash, problems);
            Some(ClientSecret::Argon2Hash(hash))
        }
        (None, None) => None,
    };
    let grant_types = raw
        .grant_types
        .clone()
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
    let response_types = response_types(at, raw.response_types.clone(), &grant_types, problems);
    if raw.redirect_uris.is_empty() && !response_types.is_empty() {
        problems.push(Problem::new(
            format!("{at}.redirect_uris"),
            "must list at least one redirect URI",
        ));
    }
    if let Some(uri) = &raw.backchannel_logout_uri {
        match Url::parse(uri) {
            Ok(url) if url.fragment().is_none() && matches!(url.scheme(), "https" | "http") => {}
            _ => problems.push(Problem::new(
                format!("{at}.backchannel_logout_uri"),
                format!("\"{uri}\" must be an absolute http(s) URL without fragment"),
            )),
        }
    }
    check_redirect_uris(&format!("{at}.redirect_uris"), &raw.redirect_uris, problems);
    check_redirect_uris(
        &format!("{at}.post_logout_redirect_uris"),
        &raw.post_logout_redirect_uris,
        problems,
    );
    if let Some(allowed) = &raw.upstreams {
        for (j, id) in allowed.iter().enumerate() {
            if !upstream_ids.contains(id.as_str()) {
                problems.push(Problem::new(
                    format!("{at}.upstreams[{j}]"),
                    format!("no upstream has id \"{id}\""),
                ));
            }
        }
    }
    if grant_types.is_empty() {
        problems.push(Problem::new(
            format!("{at}.grant_types"),
            "must list at least one grant type",
        ));
    } else if grant_types.contains(&GrantType::RefreshToken) && !grant_types.contains(&GrantType::AuthorizationCode) {
        problems.push(Problem::new(
            format!("{at}.grant_types"),
            "refresh_token needs authorization_code",
        ));
    } else if grant_types.contains(&GrantType::ClientCredentials) && secret.is_none() {
        problems.push(Problem::new(
            format!("{at}.grant_types"),
            "client_credentials is for confidential clients: set secret or secret_hash",
        ));
    }
    let default_method = if secret.is_some() {
        AuthMethod::ClientSecretBasic
    } else {
        AuthMethod::None
    };
    let method = raw.token_endpoint_auth_method.unwrap_or(default_method);
    match (secret.is_some(), method) {
        (true, AuthMethod::None) => problems.push(Problem::new(
            format!("{at}.token_endpoint_auth_method"),
            "\"none\" is for public clients: remove the secret, or use client_secret_basic or client_secret_post",
        )),
        (false, AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost) => problems.push(Problem::new(
            format!("{at}.token_endpoint_auth_method"),
            "needs secret or secret_hash; a public client uses \"none\"",
        )),
        _ => {}
    }
    (problems.len() == start).then(|| Client {
        name: raw.name.unwrap_or_else(|| raw.id.clone()),
        id: raw.id,
        secret,
        redirect_uris: raw.redirect_uris,
        post_logout_redirect_uris: raw.post_logout_redirect_uris,
        consent: raw.consent.unwrap_or(true),
        upstreams: raw.upstreams,
        grant_types,
        response_types,
        token_endpoint_auth_method: method,
        introspect: raw.introspect.unwrap_or(false),
        backchannel_logout_uri: raw.backchannel_logout_uri,
    })
}

/// Redirect URIs are compared exactly, so each must be absolute and carry no fragment
/// (RFC 6749 §3.1.2).
/// The response types a client may use: as listed (without repeats), or `code` alone when
/// it may use the authorization code grant. A type with a code needs that grant.
fn response_types(
    at: &str,
    listed: Option<Vec<ResponseType>>,
    grant_types: &[GrantType],
    problems: &mut Vec<Problem>,
) -> Vec<ResponseType> {
    let has_code_grant = grant_types.contains(&GrantType::AuthorizationCode);
    let Some(listed) = listed else {
        return if has_code_grant {
            vec![ResponseType::CODE]
        } else {
            Vec::new()
        };
    };
    if listed.is_empty() && has_code_grant {
        problems.push(Problem::new(
            format!("{at}.response_types"),
            "is empty: list \"code\" at least, or remove authorization_code from grant_types",
        ));
    }
    let mut types: Vec<ResponseType> = Vec::new();
    for (j, response_type) in listed.into_iter().enumerate() {
        if response_type.code && !has_code_grant {
            problems.push(Problem::new(
                format!("{at}.response_types[{j}]"),
                format!("\"{response_type}\" returns a code: add authorization_code to grant_types"),
            ));
        }
        if !types.contains(&response_type) {
            types.push(response_type);
        }
    }
    types
}

fn check_redirect_uris(at: &str, uris: &[String], problems: &mut Vec<Problem>) {
    for (j, uri) in uris.iter().enumerate() {
        let key = format!("{at}[{j}]");
        match Url::parse(uri) {
            Err(_) => problems.push(Problem::new(key, format!("\"{uri}\" is not an absolute URI"))),
            Ok(url) if url.fragment().is_some() => {
                problems.push(Problem::new(key, format!("\"{uri}\" must not have a fragment (#...)")))
            }
            Ok(_) => {}
        }
    }
}

fn check_argon2_hash(key: &str, hash: &str, problems: &mut Vec<Problem>) {
    match argon2::PasswordHash::new(hash) {
        Ok(parsed) if parsed.algorithm.as_str().starts_with("argon2") => {}
        Ok(parsed) => problems.push(Problem::new(
            key,
            format!("is a {} hash; only argon2 is accepted", parsed.algorithm),
        )),
        Err(e) => problems.push(Problem::new(key, format!("is not an argon2 PHC string ({e})"))),
    }
}

fn validate_upstreams(upstreams: Vec<toml::Value>, base: &Path, problems: &mut Vec<Problem>) -> Vec<Upstream> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, value) in upstreams.into_iter().enumerate() {
        let at = format!("upstreams[{i}]");
        let Some(raw) = decode::<RawUpstream>(value, &at, problems) else {
            continue;
        };
        let start = problems.len();
        if raw.id.is_empty()
            || !raw
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.push(Problem::new(
                format!("{at}.id"),
                "must be letters, digits, '-' or '_' (it is part of the callback URL)",
            ));
        } else if !seen.insert(raw.id.clone()) {
            problems.push(Problem::new(
                format!("{at}.id"),
                format!("\"{}\" is used by another upstream", raw.id),
            ));
        }
        let mapping = raw.mapping.as_ref().map(|m| base.join(m));
        if let Some(path) = &mapping
            && !path.is_file()
        {
            problems.push(Problem::new(
                format!("{at}.mapping"),
                format!("file not found: {}", path.display()),
            ));
        }
        let kind = validate_kind(&raw, &at, base, problems);
        if let (Some(kind), true) = (kind, problems.len() == start) {
            out.push(Upstream {
                name: raw.name.unwrap_or_else(|| raw.id.clone()),
                id: raw.id,
                mapping,
                kind,
            });
        }
    }
    out
}

fn validate_kind(raw: &RawUpstream, at: &str, base: &Path, problems: &mut Vec<Problem>) -> Option<UpstreamKind> {
    let kind_name = match raw.kind {
        RawKind::Oidc => "oidc",
        RawKind::Oauth2 => "oauth2",
        RawKind::Local => "local",
    };
    let present: [(&str, bool, &[RawKind]); 12] = [
        ("issuer", raw.issuer.is_some(), &[RawKind::Oidc]),
        ("userinfo", raw.userinfo.is_some(), &[RawKind::Oidc]),
        ("logout_upstream", raw.logout_upstream.is_some(), &[RawKind::Oidc]),
        ("attributes_url", raw.attributes_url.is_some(), &[RawKind::Oidc]),
        ("authorization_url", raw.authorization_url.is_some(), &[RawKind::Oauth2]),
        ("token_url", raw.token_url.is_some(), &[RawKind::Oauth2]),
        ("userinfo_url", raw.userinfo_url.is_some(), &[RawKind::Oauth2]),
        ("client_id", raw.client_id.is_some(), &[RawKind::Oidc, RawKind::Oauth2]),
        (
            "client_secret",
            raw.client_secret.is_some(),
            &[RawKind::Oidc, RawKind::Oauth2],
        ),
        ("scopes", raw.scopes.is_some(), &[RawKind::Oidc, RawKind::Oauth2]),
        (
            "auth_method",
            raw.auth_method.is_some(),
            &[RawKind::Oidc, RawKind::Oauth2],
        ),
        ("users", raw.users.is_some(), &[RawKind::Local]),
    ];
    for (key, is_set, kinds) in present {
        if is_set && !kinds.contains(&raw.kind) {
            problems.push(Problem::new(
                format!("{at}.{key}"),
                format!("does not apply to kind \"{kind_name}\""),
            ));
        }
    }
    let required = |key: &str, value: &Option<String>, problems: &mut Vec<Problem>| -> Option<String> {
        if value.is_none() {
            problems.push(Problem::new(
                format!("{at}.{key}"),
                format!("is required for kind \"{kind_name}\""),
            ));
        }
        value.clone()
    };
    let url = |key: &str, value: &Option<String>, problems: &mut Vec<Problem>| -> Option<String> {
        let text = required(key, value, problems)?;
        web_url(&format!("{at}.{key}"), &text, problems).map(|_| text.trim_end_matches('/').to_string())
    };
    match raw.kind {
        RawKind::Oidc => {
            let scopes = raw
                .scopes
                .clone()
                .unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]);
            if !scopes.iter().any(|s| s == "openid") {
                problems.push(Problem::new(
                    format!("{at}.scopes"),
                    "must include \"openid\" for an oidc upstream",
                ));
            }
            let issuer = url("issuer", &raw.issuer, problems);
            let attributes_url = match &raw.attributes_url {
                Some(_) => Some(url("attributes_url", &raw.attributes_url, problems)?),
                None => None,
            };
            let client_id = required("client_id", &raw.client_id, problems);
            Some(UpstreamKind::Oidc(OidcUpstream {
                issuer: issuer?,
                client_id: client_id?,
                client_secret: raw.client_secret.clone(),
                auth_method: raw.auth_method.unwrap_or_default(),
                scopes,
                userinfo: raw.userinfo.unwrap_or(false),
                logout_upstream: raw.logout_upstream.unwrap_or(false),
                attributes_url,
            }))
        }
        RawKind::Oauth2 => {
            let authorization_url = url("authorization_url", &raw.authorization_url, problems);
            let token_url = url("token_url", &raw.token_url, problems);
            let userinfo_url = url("userinfo_url", &raw.userinfo_url, problems);
            let client_id = required("client_id", &raw.client_id, problems);
            Some(UpstreamKind::OAuth2(OAuth2Upstream {
                authorization_url: authorization_url?,
                token_url: token_url?,
                userinfo_url: userinfo_url?,
                client_id: client_id?,
                client_secret: raw.client_secret.clone(),
                auth_method: raw.auth_method.unwrap_or_default(),
                scopes: raw.scopes.clone().unwrap_or_default(),
            }))
        }
        RawKind::Local => Some(UpstreamKind::Local(LocalUpstream {
            users: load_local_users(raw.users.clone(), &format!("{at}.users"), base, problems),
        })),
    }
}

/// The users of a `local` upstream: inline, or from the file the key names (relative to
/// the config file); problems in that file are reported under the key, naming the file.
fn load_local_users(users: Option<toml::Value>, at: &str, base: &Path, problems: &mut Vec<Problem>) -> Vec<LocalUser> {
    let (values, file) = match users {
        None => return Vec::new(),
        Some(toml::Value::Array(values)) => (values, None),
        Some(toml::Value::String(path)) => {
            let path = base.join(path);
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|text| {
                    toml::from_str::<toml::Value>(&text)
                        .map_err(|e| format!("{}: not valid TOML: {}", path.display(), e.message().trim()))
                });
            let value = match parsed {
                Ok(value) => value,
                Err(message) => {
                    problems.push(Problem::new(at, message));
                    return Vec::new();
                }
            };
            let mut in_file = Vec::new();
            let Some(raw::RawUsersFile { users }) = decode(value, "", &mut in_file) else {
                problems.extend(
                    in_file
                        .into_iter()
                        .map(|p| Problem::new(at, format!("{}: {}: {}", path.display(), p.key, p.message))),
                );
                return Vec::new();
            };
            (users, Some(path))
        }
        Some(_) => {
            problems.push(Problem::new(
                at,
                "must be [[upstreams.users]] tables or the path of a users file",
            ));
            return Vec::new();
        }
    };
    // Problems inside a users file name the file and the path within it.
    let (key_base, mut own) = match &file {
        Some(_) => ("users".to_string(), Vec::new()),
        None => (at.to_string(), Vec::new()),
    };
    let mut raw_users = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        if let Some(user) = decode::<RawLocalUser>(value, &format!("{key_base}[{i}]"), &mut own) {
            raw_users.push(user);
        }
    }
    let users = validate_local_users(&raw_users, &key_base, &mut own);
    match file {
        Some(path) => problems.extend(
            own.into_iter()
                .map(|p| Problem::new(at, format!("{}: {}: {}", path.display(), p.key, p.message))),
        ),
        None => problems.extend(own),
    }
    users
}

fn validate_local_users(users: &[RawLocalUser], at: &str, problems: &mut Vec<Problem>) -> Vec<LocalUser> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let at = format!("{at}[{i}]");
        if user.username.is_empty() {
            problems.push(Problem::new(format!("{at}.username"), "must not be empty"));
        } else if !seen.insert(user.username.as_str()) {
            problems.push(Problem::new(
                format!("{at}.username"),
                format!("\"{}\" is used by another user", user.username),
            ));
        }
        check_argon2_hash(&format!("{at}.password_hash"), &user.password_hash, problems);
        let attributes = user
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect();
        out.push(LocalUser {
            username: user.username.clone(),
            password_hash: user.password_hash.clone(),
            attributes,
        });
    }
    out
}
