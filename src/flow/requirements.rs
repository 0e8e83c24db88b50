//! What a relying party asks of the person's authentication (freshness through
//! `max_age` and `prompt=login`, the acr through `acr_values` or an essential `acr` in the
//! `claims` parameter), and whether a session or a login at an upstream meets it. A login
//! that does not is refused: it never turns into a code.

use super::{ErrorCode, Outcome, ReplyTo};
use crate::store::{AuthContext, AuthorizationRequest, Session};
use crate::upstream::Authentication;
use serde_json::{Map, Value as Json};

/// How far an upstream's clock may be from ours when it says when the person
/// authenticated.
const CLOCK_LEEWAY_SECS: i64 = 30;

/// The acr values asked for and whether they are essential, from `acr_values` and the
/// `claims` parameter (OpenID Connect Core §3.1.2.1, §5.5.1.1); the latter's values take
/// precedence. The `claims` parameter is checked for shape; the claims it names are
/// released as the granted scopes allow (Core §5.5: a claim asked for is not promised).
pub fn requested_acr(acr_values: Option<&str>, claims: Option<&str>) -> Result<(Vec<String>, bool), String> {
    let mut values: Vec<String> = acr_values
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let Some(claims) = claims else {
        return Ok((values, false));
    };
    let claims: Map<String, Json> =
        serde_json::from_str(claims).map_err(|_| "the claims parameter must be a JSON object".to_string())?;
    for (member, requests) in &claims {
        let Json::Object(requests) = requests else {
            return Err(format!("claims.{member} must be a JSON object"));
        };
        for (claim, request) in requests {
            if !(request.is_null() || request.is_object()) {
                return Err(format!("claims.{member}.{claim} must be null or a JSON object"));
            }
        }
    }
    let Some(acr) = claims
        .get("id_token")
        .and_then(|r| r.get("acr"))
        .and_then(Json::as_object)
    else {
        return Ok((values, false));
    };
    let essential = match acr.get("essential") {
        None => false,
        Some(Json::Bool(essential)) => *essential,
        Some(_) => return Err("claims.id_token.acr.essential must be true or false".into()),
    };
    let named = match (acr.get("value"), acr.get("values")) {
        (Some(Json::String(value)), None) => Some(vec![value.clone()]),
        (None, Some(Json::Array(list))) => Some(
            list.iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<String>>>()
                .ok_or("claims.id_token.acr.values must be strings")?,
        ),
        (None, None) => None,
        _ => return Err("claims.id_token.acr takes a string value or a list of values".into()),
    };
    if let Some(named) = named {
        values = named;
    }
    Ok((values, essential))
}

/// Whether the live `session` meets the request, so that it can be answered without a
/// login at the upstream.
pub fn session_fits(session: &Session, request: &AuthorizationRequest, now: i64) -> bool {
    let forced = request.prompt.login() || request.prompt.select_account();
    let fresh = request
        .max_age
        .is_none_or(|max_age| now - session.auth.auth_time <= max_age);
    let acr_met = if request.acr_values.is_empty() {
        !request.acr_essential || session.auth.acr.is_some()
    } else {
        session
            .auth
            .acr
            .as_ref()
            .is_some_and(|acr| request.acr_values.contains(acr))
    };
    !forced && fresh && acr_met
}

/// The oldest authentication the request accepts, for a request made at `asked_at`:
/// `max_age` before it, or (with `prompt=login`) the request itself.
fn oldest_acceptable(request: &AuthorizationRequest, asked_at: i64) -> Option<i64> {
    if request.prompt.login() {
        return Some(asked_at);
    }
    request.max_age.map(|max_age| asked_at.saturating_sub(max_age))
}

/// How the person authenticated at the upstream, if that meets the request made at
/// `asked_at`; otherwise the refusal the relying party gets: `login_required` for an
/// authentication that is too old or of unknown time, `unmet_authentication_requirements`
/// for an essential acr that was not met.
pub fn check(
    request: &AuthorizationRequest,
    asked_at: i64,
    authentication: Authentication,
    now: i64,
) -> Result<AuthContext, Outcome> {
    let to = ReplyTo::of(request);
    let oldest = oldest_acceptable(request, asked_at);
    let auth_time = match (authentication.auth_time, oldest) {
        (Some(auth_time), _) if auth_time > now + CLOCK_LEEWAY_SECS => {
            return Err(Outcome::refuse(
                &to,
                ErrorCode::AccessDenied,
                "the identity provider says the person authenticated in the future",
            ));
        }
        (Some(auth_time), Some(oldest)) if auth_time < oldest - CLOCK_LEEWAY_SECS => {
            return Err(Outcome::refuse(
                &to,
                ErrorCode::LoginRequired,
                "the identity provider did not authenticate the person recently enough",
            ));
        }
        (None, Some(_)) => {
            return Err(Outcome::refuse(
                &to,
                ErrorCode::LoginRequired,
                "the identity provider did not say when the person authenticated",
            ));
        }
        (Some(auth_time), _) => auth_time.min(now),
        (None, None) => now,
    };
    let acr_met = match &authentication.acr {
        Some(acr) => request.acr_values.is_empty() || request.acr_values.contains(acr),
        None => false,
    };
    if request.acr_essential && !acr_met {
        return Err(Outcome::refuse(
            &to,
            ErrorCode::UnmetAuthenticationRequirements,
            "the identity provider did not authenticate the person as the acr asked for requires",
        ));
    }
    Ok(AuthContext {
        auth_time,
        acr: authentication.acr,
        amr: authentication.amr,
        idp: None,
        session_started_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::requested_acr;

    #[test]
    fn the_claims_parameter_names_the_acr_and_whether_it_is_essential() {
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["mfa","hwk"]},"email":null}}"#;
        assert_eq!(
            requested_acr(Some("pwd"), Some(claims)),
            Ok((vec!["mfa".into(), "hwk".into()], true))
        );
        let voluntary = r#"{"userinfo":{"name":null},"id_token":{"acr":{"value":"mfa"}}}"#;
        assert_eq!(requested_acr(None, Some(voluntary)), Ok((vec!["mfa".into()], false)));
        assert_eq!(
            requested_acr(Some("pwd mfa"), None),
            Ok((vec!["pwd".into(), "mfa".into()], false))
        );
        assert_eq!(
            requested_acr(Some("pwd"), Some(r#"{"id_token":{"acr":{"essential":true}}}"#)),
            Ok((vec!["pwd".into()], true))
        );
    }

    #[test]
    fn a_claims_parameter_of_the_wrong_shape_is_refused() {
        for bad in [
            "not json",
            "[]",
            r#"{"id_token":[]}"#,
            r#"{"id_token":{"acr":"mfa"}}"#,
            r#"{"id_token":{"acr":{"essential":"yes"}}}"#,
            r#"{"id_token":{"acr":{"values":[1]}}}"#,
            r#"{"id_token":{"acr":{"value":"a","values":["b"]}}}"#,
        ] {
            assert!(requested_acr(None, Some(bad)).is_err(), "{bad}");
        }
    }
}
