//! JWT Secured Authorization Response Mode (JARM): for `response_mode` `jwt`,
//! `query.jwt`, `fragment.jwt` or `form_post.jwt`, the parameters of the answer to the
//! relying party — a code or tokens, or an error — go as the claims of one JWT Gatehouse
//! signs (with `iss`, `aud` = the client, `exp` ten minutes on), sent as `response`.

use super::{Ctx, Outcome};
use crate::keys::TokenType;
use serde_json::{Map, Value as Json};

/// How long a signed authorization response is valid.
const LIFETIME_SECS: i64 = 600;

/// `outcome`, with an answer to the relying party in a JWT mode signed into `response`.
pub async fn seal(app: &Ctx<'_>, outcome: Outcome, now: i64) -> Outcome {
    let Outcome::Reply { mut to, params } = outcome else {
        return outcome;
    };
    if !to.mode.is_jwt() || to.sealed {
        return Outcome::Reply { to, params };
    }
    let mut claims = Map::new();
    claims.insert("iss".into(), Json::String(app.config.issuer.clone()));
    claims.insert("aud".into(), Json::String(to.client_id.clone()));
    claims.insert("exp".into(), Json::from(now + LIFETIME_SECS));
    if let Some(state) = &to.state {
        claims.insert("state".into(), Json::String(state.clone()));
    }
    for (name, value) in params {
        claims.insert(name.into(), Json::String(value));
    }
    match app
        .keys
        .sign(&Json::Object(claims), TokenType::AuthorizationResponse)
        .await
    {
        Ok(response) => {
            to.sealed = true;
            Outcome::Reply {
                to,
                params: vec![("response", response)],
            }
        }
        Err(e) => Outcome::Failed(format!("signing the authorization response: {e}")),
    }
}
