//! The person's side of the device authorization grant (RFC 8628 §3.3) at `/device`: they
//! type the user code their device shows (or follow `verification_uri_complete`, which
//! fills it in), confirm the application it names (§5.4: a code someone else sent them
//! would sign *that* person's device in), and sign in as at `/authorize`. The sign-in's
//! answer comes back to `/device/done`, which hands it to the polling device.

use super::Ctx;
use super::request::Validated;
use super::{DeviceForm, DevicePage, Flow, Outcome, settle};
use crate::response_type::{ResponseMode, ResponseType};
use crate::store::{AuthorizationRequest, DeviceGrant, DeviceStatus, StoreError, Versioned};
use crate::tokens::device_grant;
use crate::{routes, secrets};
use serde::Deserialize;
use std::net::IpAddr;

/// What the `/device` form sends: the code, and once it was confirmed, the decision.
#[derive(Debug, Deserialize)]
pub struct DeviceEntry {
    pub csrf: String,
    pub user_code: String,
    pub decision: Option<String>,
}

/// The answer of the sign-in at `/device/done`: a code for the device, or an error.
#[derive(Debug, Default, Deserialize)]
pub struct DeviceAnswer {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// Why a user code is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefused {
    /// Unknown, expired or answered already.
    Wrong,
    /// Too many wrong codes lately from this address: wait this many seconds.
    Wait(i64),
}

/// The token every `/device` form of this browser carries.
fn csrf_of(browser: &str) -> String {
    secrets::hash(&format!("device code\0{browser}"))
}

/// `GET /device`: the form to type the code in, filled in when the link carried it.
pub fn entry(browser: &str, user_code: Option<&str>) -> Outcome {
    form_page(browser, user_code.unwrap_or_default(), None, None)
}

fn form_page(browser: &str, user_code: &str, client_name: Option<String>, refused: Option<CodeRefused>) -> Outcome {
    let title = match &client_name {
        Some(name) => format!("Sign in to {name} on your device?"),
        None => "Sign in on your device".to_string(),
    };
    let message = match &client_name {
        Some(_) => "Continue only if you started this on your own device and it shows this code.",
        None => "Enter the code your device shows.",
    };
    Outcome::Device(Box::new(DevicePage {
        title,
        message: message.into(),
        form: Some(DeviceForm {
            action: routes::DEVICE.into(),
            csrf: csrf_of(browser),
            user_code: user_code.to_string(),
            client_name,
        }),
        refused,
    }))
}

fn message_page(title: &str, message: &str) -> Outcome {
    Outcome::Device(Box::new(DevicePage {
        title: title.into(),
        message: message.into(),
        form: None,
        refused: None,
    }))
}

/// `POST /device`: a typed code is shown back with the application it signs in to; a
/// confirmed one starts the sign-in, a cancelled one refuses the device. Wrong codes back
/// off per address, as wrong passwords do, and at most `user_code_failures_per_hour` of
/// them are taken from an address in an hour.
pub async fn submit(
    app: &Ctx<'_>,
    entry: DeviceEntry,
    browser: Option<&str>,
    session_cookie: Option<&str>,
    client_ip: Option<IpAddr>,
    now: i64,
) -> Outcome {
    let Some(browser) = browser.filter(|b| secrets::equal(&csrf_of(b), &entry.csrf)) else {
        return Outcome::Expired;
    };
    let (failures, per_hour) = (&app.guards.user_code_failures, &app.guards.user_code_failures_per_hour);
    let limit_key = format!("user code\0{}", client_ip.map(|ip| ip.to_string()).unwrap_or_default());
    if let Some(wait) = failures
        .wait(&limit_key, now)
        .or_else(|| per_hour.wait(&limit_key, now))
    {
        return form_page(browser, &entry.user_code, None, Some(CodeRefused::Wait(wait)));
    }
    let submitted = async {
        let Some((key, current)) = waiting_grant(app, &entry.user_code, now).await? else {
            failures.failed(&limit_key, now);
            per_hour.failed(&limit_key, now);
            return Ok(form_page(browser, &entry.user_code, None, Some(CodeRefused::Wrong)));
        };
        let Some(client) = app.client(&current.value.client_id, now).await? else {
            // A reload removed the client since the device asked.
            return Ok(Outcome::Expired);
        };
        // A right code forgets none of the address's wrong ones: anyone can mint a code of
        // their own, and entering it must not buy more guesses at others'.
        match entry.decision.as_deref() {
            None => Ok(form_page(browser, &entry.user_code, Some(client.name.clone()), None)),
            Some("continue") => {
                let validated = Validated {
                    client: &client,
                    request: sign_in_request(app, &key, &current, now).await?,
                    upstream: None,
                };
                super::start::decide(app, validated, browser, session_cookie, client_ip, now).await
            }
            Some(_) => {
                answer(app, &key, &current, DeviceStatus::Denied, current.expires_at, now).await?;
                Ok(message_page(
                    "The device was not signed in",
                    "You cancelled: the device that shows this code gets no access. You can close this window.",
                ))
            }
        }
    };
    settle(submitted.await)
}

/// The grant a typed user code names, while it waits for the person.
async fn waiting_grant(
    app: &Ctx<'_>,
    typed: &str,
    now: i64,
) -> Result<Option<(String, Versioned<DeviceGrant>)>, StoreError> {
    let Some(code_key) = device_grant::user_code_key(typed) else {
        return Ok(None);
    };
    let Some(named) = app.store.device_user_codes.get(&code_key, now).await? else {
        return Ok(None);
    };
    let grant = app.store.device_grants.read(&named.device_grant, now).await?;
    Ok(grant
        .filter(|g| now < g.value.expires_at && matches!(g.value.status, DeviceStatus::Pending { .. }))
        .map(|g| (named.device_grant, g)))
}

/// The authorization request the person's sign-in runs with: the grant's client and
/// scopes, answered to `/device/done` with a `state` only this sign-in knows.
async fn sign_in_request(
    app: &Ctx<'_>,
    key: &str,
    current: &Versioned<DeviceGrant>,
    now: i64,
) -> Flow<AuthorizationRequest> {
    let secret = secrets::random_token();
    let approval = Some(secrets::hash(&secret));
    let status = DeviceStatus::Pending { approval };
    if !answer(app, key, current, status, current.expires_at, now).await? {
        return Err(Outcome::Expired);
    }
    Ok(AuthorizationRequest {
        client_id: current.value.client_id.clone(),
        redirect_uri: format!("{}{}", app.config.issuer, routes::DEVICE_DONE),
        scope: current.value.scope.clone(),
        state: Some(format!("{key}.{secret}")),
        nonce: None,
        code_challenge: None,
        response_type: ResponseType::CODE,
        response_mode: ResponseMode::Query,
        prompt: crate::store::Prompt::default(),
        max_age: None,
        login_hint: None,
        acr_values: Vec::new(),
        acr_essential: false,
        ui_locales: None,
        dpop_jkt: None,
        device_grant: Some(key.to_string()),
        // A device names its resources at the token endpoint, which narrows to them.
        resources: Vec::new(),
    })
}

/// Moves the grant `key` from `current` to `status`, kept until `keep`; a final answer
/// retires its user code. `false` when the grant changed since it was read.
async fn answer(
    app: &Ctx<'_>,
    key: &str,
    current: &Versioned<DeviceGrant>,
    status: DeviceStatus,
    keep: Option<i64>,
    now: i64,
) -> Result<bool, StoreError> {
    let is_final = !matches!(status, DeviceStatus::Pending { .. });
    let mut answered = current.value.clone();
    answered.status = status;
    let store = &app.store;
    let mut write = store.write(now);
    store.device_grants.expect(&mut write, key, Some(current));
    store.device_grants.stage_put(&mut write, key, &answered, keep)?;
    if is_final {
        store
            .device_user_codes
            .stage_delete(&mut write, &current.value.user_code);
    }
    let done = store.commit(write).await? == crate::store::Commit::Done;
    if done && is_final {
        app.guards.pending_logins.release(&device_grant::quota_id(key));
    }
    Ok(done)
}

/// `GET /device/done`: where the sign-in started at `/device` answers. Its code is handed
/// to the device's next poll; an `access_denied` refuses the device; another error leaves
/// the code to be entered again.
pub async fn done(app: &Ctx<'_>, answer_params: DeviceAnswer, now: i64) -> Outcome {
    let answered = async {
        let (key, secret) = answer_params
            .state
            .as_deref()
            .and_then(|s| s.split_once('.'))
            .ok_or(Outcome::Expired)?;
        let current = app.store.device_grants.read(key, now).await?.ok_or(Outcome::Expired)?;
        let DeviceStatus::Pending {
            approval: Some(approval),
        } = &current.value.status
        else {
            return Err(Outcome::Expired);
        };
        if !secrets::equal(&secrets::hash(secret), approval) || now >= current.value.expires_at {
            return Err(Outcome::Expired);
        }
        match (&answer_params.code, answer_params.error.as_deref()) {
            (Some(code), None) => {
                let code_key = secrets::hash(code);
                let (record, code_kept) = app
                    .store
                    .codes
                    .get_with_expiry(&code_key, now)
                    .await?
                    .ok_or(Outcome::Expired)?;
                if record.request.device_grant.as_deref() != Some(key) {
                    return Err(Outcome::Expired);
                }
                // Kept as long as the code is, so that a replayed device code is recognised.
                let keep = current.expires_at.max(code_kept);
                let status = DeviceStatus::Approved { code: code_key };
                if !answer(app, key, &current, status, keep, now).await? {
                    return Err(Outcome::Expired);
                }
                Ok(message_page(
                    "You are signed in on your device",
                    "Go back to your device: it continues by itself. You can close this window.",
                ))
            }
            (_, Some("access_denied")) => {
                answer(app, key, &current, DeviceStatus::Denied, current.expires_at, now).await?;
                Ok(message_page(
                    "The device was not signed in",
                    "Access was not allowed: the device that shows this code gets no access. You can close this window.",
                ))
            }
            _ => Ok(message_page(
                "The sign-in did not complete",
                "Enter the code your device shows again to try once more.",
            )),
        }
    };
    settle(answered.await)
}
