//! The last step: the answer to the relying party, with what the request's response type
//! asks for (a code, tokens, or both).

use super::Ctx;
use super::{ErrorCode, Flow, Outcome, ReplyTo};
use crate::config::Config;
use crate::domain::sessions;
use crate::secrets;
use crate::store::{AuthorizationCode, AuthorizationRequest, CompletedLogin, IssuedJti, Store, StoreError};

pub(super) async fn deliver(
    app: &Ctx<'_>,
    request: AuthorizationRequest,
    done: CompletedLogin,
    now: i64,
) -> Flow<Outcome> {
    let to = ReplyTo::of(&request);
    sessions::note_client(app.store, app.config, &request.client_id, &done.sid, now).await?;
    let response_type = request.response_type;
    let access = response_type.token.then(|| IssuedJti {
        jti: secrets::random_token(),
        exp: now + app.config.tokens.access_token_ttl.as_secs_i64(),
    });
    let code = if response_type.code {
        let issued = Issued {
            request: request.clone(),
            login: done.clone(),
            front_channel_access_token: access.clone(),
        };
        Some(issue_code(app.store, app.config, issued, now).await?)
    } else {
        None
    };
    let mut params = Vec::new();
    if response_type.returns_tokens() {
        let tokens = match app
            .tokens(now)
            .front_channel(&request, &done, code.as_deref(), access.as_ref())
            .await
        {
            Ok(tokens) => tokens,
            Err(error) => {
                tracing::error!(?error, "tokens for the authorization response cannot be issued");
                return Ok(Outcome::refuse(
                    &to,
                    ErrorCode::ServerError,
                    "the server could not issue tokens",
                ));
            }
        };
        // The grant of tokens from the authorization endpoint (RFC 6749 §4.2; OpenID
        // Connect Core §3.3 calls it hybrid when a code comes too).
        let grant = if response_type.code { "hybrid" } else { "implicit" };
        if let Some(access) = tokens.access_token {
            app.telemetry.token_issued("access", grant);
            params.push(("access_token", access.token));
            params.push(("token_type", "Bearer".to_string()));
            params.push(("expires_in", access.expires_in.to_string()));
            params.push(("scope", request.scope.to_string()));
        }
        if let Some(id_token) = tokens.id_token {
            app.telemetry.token_issued("id", grant);
            params.push(("id_token", id_token));
        }
    }
    if let Some(code) = code {
        params.insert(0, ("code", code));
    }
    Ok(Outcome::Reply { to, params })
}

/// What a code is issued for.
struct Issued {
    request: AuthorizationRequest,
    login: CompletedLogin,
    front_channel_access_token: Option<IssuedJti>,
}

/// Issues an authorization code for a completed login; returns the code.
async fn issue_code(store: &Store, config: &Config, issued: Issued, now: i64) -> Result<String, StoreError> {
    let code = secrets::random_token();
    let record = AuthorizationCode {
        request: issued.request,
        login: issued.login,
        issued_at: now,
        redeemed: None,
        front_channel_access_token: issued.front_channel_access_token,
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
