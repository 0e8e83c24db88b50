//! A person's way through an authorization request: validating it, parking it while
//! they log in, linking the upstream identity to an account, the browser session,
//! consent, and the code. Plain functions over the store, taking `now`; no HTTP here.

use crate::config::{Client, Config, GrantType};
use crate::mapping::Mapped;
use crate::response::{ResponseMode, ResponseType};
use crate::secrets;
use crate::store::{
    Account, AuthorizationCode, AuthorizationRequest, CompletedLogin, Consent, PendingAuthorization, Session, Store,
    StoreError, UpstreamLink,
};
use serde::Deserialize;

/// How long a person has to log in upstream and decide on consent.
pub const PENDING_TTL: i64 = 15 * 60;

/// The scopes Gatehouse knows besides the config's custom ones.
const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "address", "phone", "offline_access"];

/// The parameters of `/authorize`, as sent (query or form).
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub response_mode: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    /// Gatehouse's own: preselects an upstream the client may use.
    pub upstream: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

/// Where an answer to the relying party goes.
#[derive(Debug, Clone)]
pub struct ReplyTo {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub state: Option<String>,
}

impl ReplyTo {
    pub fn of(request: &AuthorizationRequest) -> ReplyTo {
        ReplyTo {
            redirect_uri: request.redirect_uri.clone(),
            mode: request.response_mode,
            state: request.state.clone(),
        }
    }
}

/// Why an authorization request ends without a code.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: tell the person, never redirect.
    Untrusted { title: String, message: String },
    /// An OAuth error for the relying party (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
    Reply {
        to: ReplyTo,
        error: &'static str,
        description: String,
    },
}

impl AuthorizeError {
    pub fn reply(to: &ReplyTo, error: &'static str, description: impl Into<String>) -> AuthorizeError {
        AuthorizeError::Reply {
            to: to.clone(),
            error,
            description: description.into(),
        }
    }
}

/// A validated request and the upstream it asks for, if any.
pub struct Validated<'c> {
    pub client: &'c Client,
    pub request: AuthorizationRequest,
    pub upstream: Option<String>,
}

/// Checks an authorization request in the order the specs require: the client and
/// redirect URI first (failures are shown, not redirected), then everything else.
pub fn validate<'c>(config: &'c Config, params: AuthorizeParams) -> Result<Validated<'c>, AuthorizeError> {
    let untrusted = |title: &str, message: String| AuthorizeError::Untrusted {
        title: title.into(),
        message,
    };
    let client_id = params.client_id.as_deref().unwrap_or_default();
    let client = config.client(client_id).ok_or_else(|| {
        untrusted(
            "Unknown application",
            if client_id.is_empty() {
                "The sign-in request does not say which application it comes from.".into()
            } else {
                format!("No application with the id \"{client_id}\" is registered here.")
            },
        )
    })?;
    let redirect_uri = params.redirect_uri.clone().unwrap_or_default();
    if !client.redirect_uris.contains(&redirect_uri) {
        return Err(untrusted(
            "Invalid return address",
            format!(
                "{} asked to return you to an address it has not registered, so the sign-in was stopped.",
                client.name
            ),
        ));
    }
    // The response type decides where answers go (a code in the query, tokens in the
    // fragment), so it is read before any error is sent back.
    let response_type = params.response_type.as_deref().and_then(ResponseType::parse);
    let returns_tokens = response_type.is_some_and(ResponseType::returns_tokens);
    let asked_mode = params.response_mode.as_deref().map(|m| ResponseMode::parse(m).ok_or(m));
    let mode = match asked_mode {
        Some(Ok(mode)) if !(mode == ResponseMode::Query && returns_tokens) => mode,
        _ => response_type.unwrap_or_default().default_mode(),
    };
    let to = ReplyTo {
        redirect_uri: redirect_uri.clone(),
        mode,
        state: params.state.clone(),
    };
    let fail = |error, description: &str| Err(AuthorizeError::reply(&to, error, description));
    if params.request.is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    if params.request_uri.is_some() {
        return fail("request_uri_not_supported", "request_uri is not supported");
    }
    match asked_mode {
        Some(Err(_)) => return fail("invalid_request", "response_mode must be query, fragment or form_post"),
        Some(Ok(ResponseMode::Query)) if returns_tokens => {
            return fail(
                "invalid_request",
                "response_mode=query cannot carry tokens: use fragment or form_post",
            );
        }
        _ => {}
    }
    let response_type = match (params.response_type.as_deref(), response_type) {
        (None, _) => return fail("invalid_request", "response_type is missing"),
        (Some(text), None) => {
            return fail(
                "unsupported_response_type",
                &format!("\"{text}\" is not a response type this provider supports"),
            );
        }
        (Some(_), Some(response_type)) => response_type,
    };
    if !client.response_types.contains(&response_type) {
        return fail(
            "unsupported_response_type",
            &format!("this client may not use response_type={response_type}"),
        );
    }
    if response_type.id_token && params.nonce.is_none() {
        return fail(
            "invalid_request",
            "nonce is required when the authorization endpoint returns an ID token",
        );
    }
    let requested: Vec<&str> = params.scope.as_deref().unwrap_or_default().split_whitespace().collect();
    if !requested.contains(&"openid") {
        return fail("invalid_scope", "scope must include openid");
    }
    let mut granted: Vec<&str> = Vec::new();
    for scope in requested {
        let known = STANDARD_SCOPES.contains(&scope) || config.scopes.contains_key(scope);
        // A refresh token comes only from exchanging a code (OIDC Core §11).
        let allowed =
            scope != "offline_access" || (response_type.code && client.grant_types.contains(&GrantType::RefreshToken));
        if known && allowed && !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    // PKCE binds a code to its redemption: without a code there is nothing to bind.
    let code_challenge = if response_type.code {
        match code_challenge(client, params.code_challenge, params.code_challenge_method.as_deref()) {
            Ok(challenge) => challenge,
            Err(description) => return fail("invalid_request", description),
        }
    } else {
        None
    };
    let prompt: Vec<String> = params
        .prompt
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    for value in &prompt {
        if !["none", "login", "consent", "select_account"].contains(&value.as_str()) {
            return fail("invalid_request", &format!("unknown prompt value \"{value}\""));
        }
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return fail("invalid_request", "prompt=none cannot be combined with other values");
    }
    let max_age = match params.max_age.as_deref() {
        None | Some("") => None,
        Some(text) => match text.parse::<i64>() {
            Ok(seconds) if seconds >= 0 => Some(seconds),
            _ => {
                return fail(
                    "invalid_request",
                    "max_age must be a non-negative whole number of seconds",
                );
            }
        },
    };
    if let Some(upstream) = &params.upstream
        && !may_use(config, client, upstream)
    {
        return fail(
            "invalid_request",
            &format!("upstream \"{upstream}\" is not available to this client"),
        );
    }
    Ok(Validated {
        client,
        request: AuthorizationRequest {
            client_id: client.id.clone(),
            redirect_uri,
            scope: granted.join(" "),
            state: params.state,
            nonce: params.nonce,
            code_challenge,
            response_type,
            response_mode: mode,
            prompt,
            max_age,
            login_hint: params.login_hint,
        },
        upstream: params.upstream,
    })
}

/// The request's PKCE challenge (RFC 7636), checked: S256 only, required of public clients.
fn code_challenge(
    client: &Client,
    challenge: Option<String>,
    method: Option<&str>,
) -> Result<Option<String>, &'static str> {
    match (challenge, method) {
        (Some(challenge), Some("S256")) => {
            let valid = challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if valid {
                Ok(Some(challenge))
            } else {
                Err("code_challenge must be a base64url SHA-256 (43 characters)")
            }
        }
        (Some(_), None | Some("plain")) => Err("code_challenge_method must be S256 (plain is not accepted)"),
        (Some(_), Some(_)) => Err("code_challenge_method must be S256"),
        (None, Some(_)) => Err("code_challenge_method without code_challenge"),
        (None, None) if client.secret.is_none() => {
            Err("PKCE (code_challenge with S256) is required for public clients")
        }
        (None, None) => Ok(None),
    }
}

/// Whether `client` may log people in through the upstream `id`.
pub fn may_use(config: &Config, client: &Client, id: &str) -> bool {
    config.upstream(id).is_some()
        && client
            .upstreams
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|a| a == id))
}

/// The upstreams `client` may use, in config order.
pub fn usable_upstreams<'c>(config: &'c Config, client: &Client) -> Vec<&'c crate::config::Upstream> {
    config
        .upstreams
        .iter()
        .filter(|u| may_use(config, client, &u.id))
        .collect()
}

/// The live session behind the session cookie `cookie`.
pub async fn find_session(store: &Store, cookie: Option<&str>, now: i64) -> Result<Option<Session>, StoreError> {
    let Some((sid, secret)) = cookie.and_then(|c| c.split_once('.')) else {
        return Ok(None);
    };
    let session = store.sessions.get(sid, now).await?;
    Ok(session.filter(|s| secrets::equal(&s.secret_hash, &secrets::hash(secret))))
}

/// Whether `session` satisfies the request's `prompt` and `max_age`.
pub fn session_fits(session: &Session, request: &AuthorizationRequest, now: i64) -> bool {
    let forced = request.prompt.iter().any(|p| p == "login" || p == "select_account");
    let fresh = request.max_age.is_none_or(|max_age| now - session.auth_time <= max_age);
    !forced && fresh
}

/// Parks a request while the person logs in; returns its id (also the upstream `state`).
pub async fn park(
    store: &Store,
    request: AuthorizationRequest,
    browser: &str,
    login: Option<CompletedLogin>,
    force_login: bool,
    now: i64,
) -> Result<(String, PendingAuthorization), StoreError> {
    let id = secrets::random_token();
    let pending = PendingAuthorization {
        request,
        browser: secrets::hash(browser),
        csrf: secrets::random_token(),
        upstream: None,
        upstream_nonce: None,
        pkce_verifier: None,
        force_login,
        login,
    };
    store
        .pending_authorizations
        .put(&id, &pending, Some(now + PENDING_TTL))
        .await?;
    Ok((id, pending))
}

/// The parked request `id`, if it exists and belongs to this browser.
pub async fn resume(
    store: &Store,
    id: &str,
    browser: Option<&str>,
    now: i64,
) -> Result<Option<PendingAuthorization>, StoreError> {
    let Some(pending) = store.pending_authorizations.get(id, now).await? else {
        return Ok(None);
    };
    Ok(browser
        .filter(|b| secrets::equal(&secrets::hash(b), &pending.browser))
        .map(|_| pending))
}

/// Finds or creates the account of an upstream identity and records its latest claims;
/// returns the account's `sub`.
pub async fn link_account(store: &Store, upstream: &str, mapped: &Mapped, now: i64) -> Result<String, StoreError> {
    let key = UpstreamLink::key(upstream, &mapped.subject);
    let link = UpstreamLink {
        sub: secrets::random_token(),
        linked_at: now,
    };
    // Two first logins at once must end in one account: the first link written wins.
    if !store.upstream_links.insert_new(&key, &link, None, now).await? {
        tracing::debug!("known upstream identity");
    }
    let sub = store
        .upstream_links
        .get(&key, now)
        .await?
        .map(|l| l.sub)
        .unwrap_or(link.sub);
    store
        .accounts
        .update(&sub, now, |account| {
            let created_at = account.map_or(now, |a| a.created_at);
            Some((
                Account {
                    sub: sub.clone(),
                    upstream: upstream.to_string(),
                    upstream_subject: mapped.subject.clone(),
                    claims: mapped.claims.clone(),
                    created_at,
                    updated_at: now,
                },
                None,
            ))
        })
        .await?;
    Ok(sub)
}

/// Starts a browser session; returns the cookie value and the session.
pub async fn start_session(
    store: &Store,
    config: &Config,
    sub: &str,
    upstream: &str,
    now: i64,
) -> Result<(String, Session), StoreError> {
    let secret = secrets::random_token();
    let session = Session {
        sid: secrets::random_token(),
        secret_hash: secrets::hash(&secret),
        sub: sub.to_string(),
        upstream: upstream.to_string(),
        auth_time: now,
        clients: Vec::new(),
    };
    let expires = now + config.tokens.session_ttl.as_secs_i64();
    store.sessions.put(&session.sid, &session, Some(expires)).await?;
    Ok((format!("{}.{secret}", session.sid), session))
}

/// What `sessions list` shows of a session.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct SessionInfo {
    pub sid: String,
    pub sub: String,
    pub upstream: String,
    pub auth_time: i64,
    pub expires_at: Option<i64>,
    pub clients: Vec<String>,
}

/// The live sessions, of one person when `sub` is given, newest first.
pub async fn list_sessions(store: &Store, sub: Option<&str>, now: i64) -> Result<Vec<SessionInfo>, StoreError> {
    let mut sessions = Vec::new();
    for (sid, _) in store.sessions.entries(now).await? {
        let Some((session, expires_at)) = store.sessions.get_with_expiry(&sid, now).await? else {
            continue;
        };
        if sub.is_none_or(|sub| sub == session.sub) {
            sessions.push(SessionInfo {
                sid: session.sid,
                sub: session.sub,
                upstream: session.upstream,
                auth_time: session.auth_time,
                expires_at,
                clients: session.clients,
            });
        }
    }
    sessions.sort_by_key(|s| std::cmp::Reverse(s.auth_time));
    Ok(sessions)
}

/// Ends the session `sid`: removes it and revokes the refresh tokens its logins got.
/// Returns the session, so its clients can be told.
pub async fn end_session(store: &Store, sid: &str, now: i64) -> Result<Option<Session>, StoreError> {
    let Some(session) = store.sessions.take(sid, now).await? else {
        return Ok(None);
    };
    for (family, _) in store
        .refresh_families
        .entries_with_prefix(&format!("{sid}:"), now)
        .await?
    {
        store
            .refresh_families
            .update(&family, now, |current| {
                current.map(|mut f| {
                    f.revoked = true;
                    (f, Some(now + 24 * 3600))
                })
            })
            .await?;
    }
    Ok(Some(session))
}

/// Whether the person must be asked before `request`'s claims go to `client`.
pub async fn needs_consent(
    store: &Store,
    client: &Client,
    sub: &str,
    request: &AuthorizationRequest,
    now: i64,
) -> Result<bool, StoreError> {
    if !client.consent {
        return Ok(false);
    }
    if request.prompt.iter().any(|p| p == "consent") {
        return Ok(true);
    }
    let granted = store.consents.get(&Consent::key(sub, &client.id), now).await?;
    Ok(!granted.is_some_and(|g| {
        request
            .scope
            .split_whitespace()
            .all(|s| g.scopes.iter().any(|x| x == s))
    }))
}

/// Remembers that `sub` allowed `client_id` the request's scopes (adding to earlier ones).
pub async fn remember_consent(
    store: &Store,
    sub: &str,
    client_id: &str,
    scope: &str,
    now: i64,
) -> Result<(), StoreError> {
    store
        .consents
        .update(&Consent::key(sub, client_id), now, |current| {
            let mut scopes = current.map(|c| c.scopes).unwrap_or_default();
            for s in scope.split_whitespace() {
                if !scopes.iter().any(|x| x == s) {
                    scopes.push(s.to_string());
                }
            }
            Some((
                Consent {
                    scopes,
                    granted_at: now,
                },
                None,
            ))
        })
        .await?;
    Ok(())
}

/// Remembers that `client_id` received something from the session `sid`, so that it is
/// told when the session ends (back-channel logout).
pub async fn note_client(
    store: &Store,
    config: &Config,
    client_id: &str,
    sid: &str,
    now: i64,
) -> Result<(), StoreError> {
    store
        .sessions
        .update(sid, now, |session| {
            session.map(|mut s| {
                if !s.clients.iter().any(|c| c == client_id) {
                    s.clients.push(client_id.to_string());
                }
                let expires = s.auth_time + config.tokens.session_ttl.as_secs_i64();
                (s, Some(expires))
            })
        })
        .await?;
    Ok(())
}

/// Issues an authorization code for a completed login; returns the code.
pub async fn issue_code(
    store: &Store,
    config: &Config,
    request: AuthorizationRequest,
    login: CompletedLogin,
    now: i64,
) -> Result<String, StoreError> {
    let code = secrets::random_token();
    let record = AuthorizationCode {
        request,
        login,
        issued_at: now,
        redeemed: None,
    };
    // Kept past its lifetime so that a replay is recognised (and revokes what the code
    // issued) until the tokens it issued have expired.
    let keep = config
        .tokens
        .code_ttl
        .as_secs_i64()
        .max(config.tokens.access_token_ttl.as_secs_i64())
        .max(config.tokens.refresh_token_ttl.as_secs_i64());
    store
        .codes
        .put(&secrets::hash(&code), &record, Some(now + keep))
        .await?;
    Ok(code)
}
