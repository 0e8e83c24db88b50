//! The grants' pure decisions, without a server: reading a token request, PKCE, DPoP
//! binding, and narrowing a refresh's scope.

use super::TokenError;
use super::grants::{check_bound_key, check_pkce};
use super::refresh::narrowed_scope;
use super::request::{ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, Params, TokenRequest};
use crate::scope::Scopes;

fn parse(pairs: &[(&str, &str)]) -> Result<TokenRequest, TokenError> {
    let params = Params::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect());
    TokenRequest::parse(&params)
}

fn code(result: Result<impl std::fmt::Debug, TokenError>) -> &'static str {
    match result {
        Ok(fine) => panic!("accepted: {fine:?}"),
        Err(e) => e.code(),
    }
}

#[test]
fn a_token_request_is_read_by_its_grant_type() {
    let request = parse(&[
        ("grant_type", "authorization_code"),
        ("code", "c"),
        ("code_verifier", "v"),
    ]);
    assert!(matches!(
        request,
        Ok(TokenRequest::AuthorizationCode { code, redirect_uri: None, code_verifier: Some(v), .. }) if code == "c" && v == "v"
    ));
    assert!(matches!(
        parse(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "r"),
            ("scope", "openid")
        ]),
        Ok(TokenRequest::RefreshToken { scope: Some(_), .. })
    ));
    assert_eq!(code(parse(&[("code", "c")])), "invalid_request");
    assert_eq!(code(parse(&[("grant_type", "authorization_code")])), "invalid_request");
    assert_eq!(code(parse(&[("grant_type", "password")])), "unsupported_grant_type");
    // RFC 6749 §3.2: a parameter is sent at most once.
    assert_eq!(
        code(parse(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "a"),
            ("refresh_token", "b")
        ])),
        "invalid_request"
    );
}

#[test]
fn a_token_exchange_names_its_tokens_and_one_target() {
    let exchange = "urn:ietf:params:oauth:grant-type:token-exchange";
    let base = [
        ("grant_type", exchange),
        ("subject_token", "t"),
        ("subject_token_type", ID_TOKEN_TYPE),
    ];
    let Ok(TokenRequest::TokenExchange(request)) = parse(&base) else {
        panic!("not read as an exchange");
    };
    assert_eq!(
        (request.subject_token_type.as_str(), request.actor.is_none()),
        (ID_TOKEN_TYPE, true)
    );
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        parse(&pairs)
    };
    assert_eq!(code(with(&[("actor_token", "a")])), "invalid_request");
    assert_eq!(
        code(with(&[("actor_token_type", ACCESS_TOKEN_TYPE)])),
        "invalid_request"
    );
    assert_eq!(
        code(with(&[("audience", "api"), ("resource", "other")])),
        "invalid_target"
    );
    assert_eq!(
        code(with(&[("requested_token_type", ID_TOKEN_TYPE)])),
        "invalid_request"
    );
    let Ok(TokenRequest::TokenExchange(one)) = with(&[("resource", "api")]) else {
        panic!("a resource alone names the target");
    };
    assert_eq!(one.audience.as_deref(), Some("api"));
}

#[test]
fn the_code_verifier_must_match_the_challenge() {
    // RFC 7636 Appendix B.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    assert!(check_pkce(Some(challenge), Some(verifier)).is_ok());
    assert_eq!(
        code(check_pkce(Some(challenge), Some("another-verifier"))),
        "invalid_grant"
    );
    assert_eq!(code(check_pkce(Some(challenge), None)), "invalid_grant");
    assert_eq!(code(check_pkce(None, Some(verifier))), "invalid_grant");
    assert!(check_pkce(None, None).is_ok());
}

#[test]
fn a_bound_token_needs_a_proof_of_its_own_key() {
    assert!(check_bound_key(None, None, "code").is_ok());
    assert!(check_bound_key(None, Some("jkt"), "code").is_ok());
    assert!(check_bound_key(Some("jkt"), Some("jkt"), "code").is_ok());
    assert_eq!(code(check_bound_key(Some("jkt"), None, "code")), "invalid_dpop_proof");
    assert_eq!(
        code(check_bound_key(Some("jkt"), Some("other"), "code")),
        "invalid_grant"
    );
}

#[test]
fn a_refresh_may_only_narrow_the_scope() {
    let granted = &Scopes::parse("openid email offline_access");
    assert_eq!(narrowed_scope(granted, None).ok().as_ref(), Some(granted));
    assert_eq!(
        narrowed_scope(granted, Some("openid  email"))
            .map(|s| s.to_string())
            .ok()
            .as_deref(),
        Some("openid email")
    );
    assert_eq!(code(narrowed_scope(granted, Some("openid profile"))), "invalid_scope");
}

#[test]
fn each_request_names_the_grant_type_a_client_registers_for_it() {
    use crate::config::GrantType;
    let cases = [
        (
            vec![("grant_type", "authorization_code"), ("code", "c")],
            GrantType::AuthorizationCode,
        ),
        (
            vec![("grant_type", "refresh_token"), ("refresh_token", "r")],
            GrantType::RefreshToken,
        ),
        (vec![("grant_type", "client_credentials")], GrantType::ClientCredentials),
        (
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", "d"),
            ],
            GrantType::DeviceCode,
        ),
        (
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("subject_token", "t"),
                ("subject_token_type", ID_TOKEN_TYPE),
            ],
            GrantType::TokenExchange,
        ),
    ];
    for (pairs, registered) in cases {
        let request = parse(&pairs).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(request.registered_as(), registered, "{}", request.grant_type());
    }
}
