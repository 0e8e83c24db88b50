//! The flow's pure decisions, without a server: request validation (scopes, PKCE,
//! prompt, max_age, nonce) and whether an authentication meets the request (prompt=login,
//! max_age, acr), at moments given by hand.

use super::request::{AuthorizeParams, Invalid, validate};
use super::requirements::{check, session_fits};
use super::{ErrorCode, Outcome};
use crate::config::Config;
use crate::store::{AuthContext, AuthorizationRequest, Session};
use crate::upstream::Authentication;

const CONFIG: &str = r#"
issuer = "https://login.example.com"
listen = "127.0.0.1:0"

[[clients]]
id = "web"
secret = "web-secret"
redirect_uris = ["https://app.example.com/cb"]
grant_types = ["authorization_code", "refresh_token"]
response_types = ["code", "id_token"]

[[clients]]
id = "spa"
redirect_uris = ["https://spa.example.com/cb"]

[[upstreams]]
id = "corp"
kind = "oidc"
issuer = "https://idp.example.com"
client_id = "gatehouse"
"#;

/// A moment, in seconds since the epoch.
const NOW: i64 = 1_800_000_000;

fn config() -> Config {
    Config::parse(std::path::Path::new("gatehouse.toml"), CONFIG, crate::upstream::KINDS)
        .unwrap_or_else(|problems| panic!("{problems:?}"))
}

fn params(client: &str, extra: &[(&str, &str)]) -> AuthorizeParams {
    let redirect = if client == "web" {
        "https://app.example.com/cb"
    } else {
        "https://spa.example.com/cb"
    };
    let mut pairs = vec![
        ("client_id".to_string(), client.to_string()),
        ("redirect_uri".to_string(), redirect.to_string()),
        ("response_type".to_string(), "code".to_string()),
        ("scope".to_string(), "openid".to_string()),
    ];
    for (name, value) in extra {
        pairs.retain(|(n, _)| n != name);
        pairs.push((name.to_string(), value.to_string()));
    }
    AuthorizeParams::from_pairs(&pairs).unwrap_or_else(|e| panic!("{e}"))
}

/// The request `params` make, or the error and description the app is sent.
fn validated(params: AuthorizeParams) -> Result<AuthorizationRequest, (ErrorCode, String)> {
    let config = config();
    let client = config.client(params.client_id.as_deref().unwrap_or_default());
    match validate(&config, client, params, Default::default()) {
        Ok(valid) => Ok(valid.request),
        Err(Invalid::Reply { error, description, .. }) => Err((error, description)),
        Err(Invalid::Untrusted { message, .. }) => panic!("untrusted: {message}"),
    }
}

fn refused(params: AuthorizeParams) -> ErrorCode {
    match validated(params) {
        Ok(request) => panic!("accepted: {request:?}"),
        Err((error, _)) => error,
    }
}

#[test]
fn scopes_are_the_known_ones_asked_for_once_each_and_openid_is_required() {
    let request = validated(params(
        "web",
        &[("scope", "openid email nonsense email offline_access")],
    ))
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(request.scope, "openid email offline_access");
    assert_eq!(refused(params("web", &[("scope", "email")])), ErrorCode::InvalidScope);
    // No refresh token comes from the front channel: offline_access needs a code.
    let implicit = validated(params(
        "web",
        &[
            ("response_type", "id_token"),
            ("nonce", "n"),
            ("scope", "openid offline_access"),
        ],
    ))
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(implicit.scope, "openid");
}

#[test]
fn pkce_is_s256_and_required_of_public_clients() {
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    assert_eq!(refused(params("spa", &[])), ErrorCode::InvalidRequest);
    assert_eq!(
        refused(params(
            "spa",
            &[("code_challenge", challenge), ("code_challenge_method", "plain")]
        )),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        refused(params(
            "spa",
            &[("code_challenge", "short"), ("code_challenge_method", "S256")]
        )),
        ErrorCode::InvalidRequest
    );
    let request = validated(params(
        "spa",
        &[("code_challenge", challenge), ("code_challenge_method", "S256")],
    ))
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(request.code_challenge.as_deref(), Some(challenge));
    // A confidential client may go without.
    assert!(validated(params("web", &[])).is_ok());
}

#[test]
fn prompt_max_age_and_nonce_are_checked() {
    assert_eq!(
        refused(params("web", &[("prompt", "none login")])),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        refused(params("web", &[("prompt", "sometimes")])),
        ErrorCode::InvalidRequest
    );
    assert_eq!(refused(params("web", &[("max_age", "-1")])), ErrorCode::InvalidRequest);
    assert_eq!(
        refused(params("web", &[("max_age", "soon")])),
        ErrorCode::InvalidRequest
    );
    // An ID token from the authorization endpoint needs a nonce (OIDC Core §3.2.2.1).
    assert_eq!(
        refused(params("web", &[("response_type", "id_token")])),
        ErrorCode::InvalidRequest
    );
    let request =
        validated(params("web", &[("prompt", "login consent"), ("max_age", "0")])).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(request.prompt.login() && request.prompt.consent() && !request.prompt.none());
    assert_eq!(request.max_age, Some(0));
}

fn request(extra: &[(&str, &str)]) -> AuthorizationRequest {
    validated(params("web", extra)).unwrap_or_else(|e| panic!("{e:?}"))
}

fn authenticated(auth_time: Option<i64>, acr: Option<&str>) -> Authentication {
    Authentication {
        auth_time,
        acr: acr.map(String::from),
        amr: Vec::new(),
    }
}

fn refusal(outcome: Result<AuthContext, Outcome>) -> String {
    match outcome {
        Err(Outcome::Reply { params, .. }) => params
            .iter()
            .find(|(name, _)| *name == "error")
            .map(|(_, value)| value.clone())
            .unwrap_or_default(),
        other => panic!("not a refusal: {other:?}"),
    }
}

#[test]
fn an_authentication_must_be_as_fresh_as_prompt_and_max_age_ask() {
    let asked_at = NOW - 60;
    // prompt=login: an authentication from before the request does not do.
    let login = request(&[("prompt", "login")]);
    assert_eq!(
        refusal(check(&login, asked_at, authenticated(Some(asked_at - 300), None), NOW)),
        "login_required"
    );
    let fresh = check(&login, asked_at, authenticated(Some(asked_at + 10), None), NOW);
    assert_eq!(fresh.map(|auth| auth.auth_time).ok(), Some(asked_at + 10));
    // max_age=600: ten minutes before the request.
    let max_age = request(&[("max_age", "600")]);
    assert!(check(&max_age, asked_at, authenticated(Some(asked_at - 500), None), NOW).is_ok());
    assert_eq!(
        refusal(check(
            &max_age,
            asked_at,
            authenticated(Some(asked_at - 900), None),
            NOW
        )),
        "login_required"
    );
    // A freshness asked for cannot be shown without a time.
    assert_eq!(
        refusal(check(&max_age, asked_at, authenticated(None, None), NOW)),
        "login_required"
    );
    // No time asked for: the answer's moment.
    let plain = request(&[]);
    assert_eq!(
        check(&plain, asked_at, authenticated(None, None), NOW)
            .map(|a| a.auth_time)
            .ok(),
        Some(NOW)
    );
    // An authentication in the future is refused outright.
    assert_eq!(
        refusal(check(&plain, asked_at, authenticated(Some(NOW + 3600), None), NOW)),
        "access_denied"
    );
}

#[test]
fn an_essential_acr_must_be_met() {
    let essential = request(&[("claims", r#"{"id_token":{"acr":{"essential":true,"values":["mfa"]}}}"#)]);
    assert_eq!(
        refusal(check(&essential, NOW, authenticated(Some(NOW), Some("pwd")), NOW)),
        "unmet_authentication_requirements"
    );
    let met = check(&essential, NOW, authenticated(Some(NOW), Some("mfa")), NOW);
    assert_eq!(met.ok().and_then(|auth| auth.acr).as_deref(), Some("mfa"));
    // A voluntary acr that was not met is no refusal.
    let voluntary = request(&[("acr_values", "mfa")]);
    assert!(check(&voluntary, NOW, authenticated(Some(NOW), Some("pwd")), NOW).is_ok());
}

fn session(auth_time: i64, acr: Option<&str>) -> Session {
    Session {
        sid: "sid".into(),
        secret_hash: String::new(),
        sub: "alice".into(),
        upstream: "corp".into(),
        auth: AuthContext {
            auth_time,
            acr: acr.map(String::from),
            ..AuthContext::default()
        },
        upstream_subject: None,
        upstream_sid: None,
        clients: Vec::new(),
        must_reauthenticate: false,
    }
}

#[test]
fn a_live_session_answers_only_what_it_meets() {
    let recent = session(NOW - 60, Some("mfa"));
    assert!(session_fits(&recent, &request(&[]), NOW));
    assert!(!session_fits(&recent, &request(&[("prompt", "login")]), NOW));
    assert!(!session_fits(&recent, &request(&[("prompt", "select_account")]), NOW));
    assert!(session_fits(&recent, &request(&[("max_age", "120")]), NOW));
    assert!(!session_fits(&recent, &request(&[("max_age", "30")]), NOW));
    assert!(session_fits(&recent, &request(&[("acr_values", "mfa hwk")]), NOW));
    assert!(!session_fits(
        &session(NOW - 60, Some("pwd")),
        &request(&[("acr_values", "mfa")]),
        NOW
    ));
}
