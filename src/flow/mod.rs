//! The authorization request's way from `/authorize` to the relying party (validation,
//! a live session or a login at an upstream, consent, and the answer) and the way out
//! again (RP-Initiated Logout). Each step is a
//! plain function of its inputs and `now` that returns an [`Outcome`], which says what
//! happens next (send the browser on, show a page, answer the relying party); `op/`
//! extracts the inputs and renders the outcome, and decides nothing itself. The RFC error
//! codes of the authorization endpoint live here.

mod acs_page;
mod after_login;
mod chooser;
mod deliver;
mod device;
mod idp_initiated;
mod jarm;
mod link;
mod logout;
pub mod par;
mod pending;
mod request;
mod request_object;
mod requirements;
mod sign_in;
mod start;
#[cfg(test)]
mod tests;
mod upstream_login;

pub use acs_page::returns_to as saml_returns_to;
pub use after_login::consent;
pub use chooser::{EmailLogin, by_email};
pub use jarm::seal;

/// The person's side of the device authorization grant.
pub mod device_sign_in {
    pub use super::device::{CodeRefused, DeviceAnswer, DeviceEntry, done, entry, submit};
}
pub use link::LinkForm;

/// Account linking's steps.
pub mod account_link {
    pub use super::link::{LINK_WINDOW_SECS, callback, choices, start};
}
pub use logout::{LogoutOutcome, LogoutParams, end_session, upstream_done};
pub use request::{AuthorizeParams, may_use};
pub use start::authorize;
pub use upstream_login::{PasswordLogin, begin, callback, password};

use crate::config::{Client, Config};
use crate::domain::client_documents::ClientDocuments;
use crate::keys::Keys;
use crate::limits::Guards;
use crate::response_type::ResponseMode;
use crate::store::{AuthorizationRequest, Store, StoreError};
use crate::telemetry::Telemetry;
use crate::tokens::TokenService;
use crate::upstream::{UpstreamHttp, Upstreams};
use std::sync::Arc;

/// What the flow's steps read and change: the settings, the store, the keys (to sign
/// and verify), the running upstreams with their mappings and HTTP client, the limits
/// and telemetry.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub keys: &'a Keys,
    pub upstreams: &'a Upstreams,
    pub http: &'a UpstreamHttp,
    pub guards: &'a Guards,
    pub telemetry: &'a Telemetry,
    pub clock: &'a crate::Clock,
    pub documents: &'a ClientDocuments,
    /// The published keys of clients, for their signed request objects.
    pub client_keys: &'a crate::client_keys::ClientKeys,
    /// Pushes Shared Signals to the endpoints apps name.
    pub signals_http: &'a crate::public_fetch::PublicFetch,
}

impl<'a> Ctx<'a> {
    /// The client `id`, configured or registered (`domain::clients`).
    pub async fn client(&self, id: &str, now: i64) -> Result<Option<Arc<Client>>, StoreError> {
        crate::domain::clients::find(self.config, self.store, self.documents, id, now).await
    }

    /// The back-channel outbox's view: ending a session tells its applications.
    pub fn outbox(&self) -> crate::domain::logout_outbox::Parts<'a> {
        crate::domain::logout_outbox::Parts {
            config: self.config,
            store: self.store,
            keys: self.keys,
            http: self.http.client(),
            signals_http: self.signals_http,
            telemetry: self.telemetry,
            clock: self.clock,
        }
    }

    /// The token grants' view, as of `now`: the flow hands out tokens at its end.
    pub fn tokens(&self, now: i64) -> TokenService<'a> {
        TokenService {
            config: self.config,
            store: self.store,
            keys: self.keys,
            telemetry: self.telemetry,
            guards: self.guards,
            renewal: self.renewal(),
            now,
        }
    }

    /// Refreshing at the upstreams: what an app's refresh may do there.
    pub fn renewal(&self) -> crate::domain::upstream_refresh::Renewal<'a> {
        crate::domain::upstream_refresh::Renewal {
            upstreams: self.upstreams,
            http: self.http,
            sealing: &self.keys.policy().sealing,
        }
    }
}

/// The owned handles a [`Ctx`] borrows, cheap to clone: what a request handler holds
/// to run flow and token steps.
#[derive(Clone)]
pub struct Handles {
    pub config: Arc<Config>,
    pub store: Store,
    pub keys: Arc<Keys>,
    pub upstreams: Arc<Upstreams>,
    pub http: UpstreamHttp,
    pub guards: Arc<Guards>,
    pub telemetry: Telemetry,
    pub clock: crate::Clock,
    pub documents: Arc<ClientDocuments>,
    pub client_keys: Arc<crate::client_keys::ClientKeys>,
    pub signals_http: crate::public_fetch::PublicFetch,
}

impl Handles {
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            config: &self.config,
            store: &self.store,
            keys: &self.keys,
            upstreams: &self.upstreams,
            http: &self.http,
            guards: &self.guards,
            telemetry: &self.telemetry,
            clock: &self.clock,
            documents: &self.documents,
            client_keys: &self.client_keys,
            signals_http: &self.signals_http,
        }
    }

    /// The token floor's view, as of `now`.
    pub fn tokens(&self, now: i64) -> TokenService<'_> {
        self.ctx().tokens(now)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// Where an answer to the relying party goes.
#[derive(Debug, Clone)]
pub struct ReplyTo {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub state: Option<String>,
    /// Whom a JWT response (JARM) is for.
    pub client_id: String,
    /// The parameters are already one signed `response` (JARM): nothing goes beside it.
    pub sealed: bool,
}

impl ReplyTo {
    pub fn of(request: &AuthorizationRequest) -> ReplyTo {
        ReplyTo {
            redirect_uri: request.redirect_uri.clone(),
            mode: request.response_mode,
            state: request.state.clone(),
            client_id: request.client_id.clone(),
            sealed: false,
        }
    }
}

/// The error codes of the authorization endpoint (RFC 6749 §4.1.2.1, OpenID Connect
/// Core §3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidScope,
    UnsupportedResponseType,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    /// An essential acr could not be met (OpenID Connect Core 1.0 errata set 2 §3.1.2.6).
    UnmetAuthenticationRequirements,
    /// A `resource` this issuer issues no tokens for (RFC 8707 §2).
    InvalidTarget,
    /// A request object that is not signed right or says what it may not (RFC 9101 §6.3).
    InvalidRequestObject,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
        }
    }
}

/// One upstream on the chooser page.
#[derive(Debug)]
pub struct Choice {
    pub name: String,
    pub href: String,
}

/// A page of the person's account (linking another sign-in).
#[derive(Debug)]
pub struct AccountPage {
    pub title: String,
    pub message: String,
    /// Upstreams to link, each a form.
    pub choices: Vec<LinkChoice>,
    pub csrf: Option<String>,
}

/// A page of the device sign-in at `/device`.
#[derive(Debug)]
pub struct DevicePage {
    pub title: String,
    pub message: String,
    /// The form: to type a code in, or to confirm the one typed.
    pub form: Option<DeviceForm>,
    pub refused: Option<device::CodeRefused>,
}

#[derive(Debug)]
pub struct DeviceForm {
    pub action: String,
    pub csrf: String,
    pub user_code: String,
    /// Set when confirming: the application the code signs in to.
    pub client_name: Option<String>,
}

/// An upstream the account page offers to link.
#[derive(Debug)]
pub struct LinkChoice {
    pub name: String,
    pub action: String,
}

/// The chooser's "continue with your email" form.
#[derive(Debug)]
pub struct EmailForm {
    pub action: String,
    pub csrf: String,
}

/// The login form of a `local` upstream.
#[derive(Debug)]
pub struct PasswordForm {
    pub client_name: String,
    pub upstream_name: String,
    pub action: String,
    pub csrf: String,
    pub username: String,
    /// Set when the last try was refused.
    pub refused: Option<PasswordRefused>,
    /// The app's redirect URI, where the form's answer may end.
    pub returns_to: String,
}

/// Why a password form comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRefused {
    Wrong,
    /// Too many wrong passwords lately for this username or address: wait this many seconds.
    Wait(i64),
    /// Every password check is taken: try again in a moment.
    Busy,
    /// The directory that checks the password cannot be reached: try again later.
    Unavailable,
}

impl PasswordRefused {
    pub fn message(self) -> String {
        match self {
            PasswordRefused::Wrong => "Wrong username or password.".into(),
            PasswordRefused::Wait(1) => "Too many failed sign-ins. Try again in a second.".into(),
            PasswordRefused::Wait(seconds) => {
                format!("Too many failed sign-ins. Try again in {seconds} seconds.")
            }
            PasswordRefused::Busy => "Too many sign-ins right now. Try again in a moment.".into(),
            PasswordRefused::Unavailable => {
                "Sign-in is temporarily unavailable: the directory cannot be reached. Try again later.".into()
            }
        }
    }
}

/// Ask whether `client_name` may have what `scopes` describe.
#[derive(Debug)]
pub struct ConsentPage {
    pub client_name: String,
    /// For a client nobody vouched for (it registered itself): what the person can
    /// tell it by, since its name is its own claim.
    pub unvetted: Option<String>,
    pub scopes: Vec<String>,
    pub pending: String,
    pub csrf: String,
    /// The app's redirect URI, where the form's answer ends.
    pub returns_to: String,
}

/// What happens after a step.
#[derive(Debug)]
pub enum Outcome {
    /// Send the browser on: to an upstream, or to the login of the upstream chosen.
    Redirect(String),
    /// Let the person choose an upstream.
    Chooser {
        client_name: String,
        upstreams: Vec<Choice>,
        email: Option<EmailForm>,
        /// Why the chooser is shown again (an email of an unknown domain).
        notice: Option<String>,
    },
    PasswordForm(Box<PasswordForm>),
    Consent(Box<ConsentPage>),
    /// Answer the relying party: a code, tokens, or an error.
    Reply {
        to: ReplyTo,
        params: Vec<(&'static str, String)>,
    },
    /// The client or redirect URI cannot be trusted: tell the person, never redirect.
    Untrusted {
        title: String,
        message: String,
    },
    /// A page of the person's account.
    Account(Box<AccountPage>),
    /// A page of the device sign-in.
    Device(Box<DevicePage>),
    /// The login link is expired, used up, or another browser's.
    Expired,
    /// Something broke on our side; the detail is logged, not shown.
    Failed(String),
    /// The store cannot be reached now: try again in a moment (503).
    Unavailable(String),
}

impl Outcome {
    /// An error for the relying party.
    pub fn refuse(to: &ReplyTo, error: ErrorCode, description: impl Into<String>) -> Outcome {
        let description = description.into();
        tracing::info!(error = error.as_str(), %description, "authorization request refused");
        Outcome::Reply {
            to: to.clone(),
            params: vec![("error", error.as_str().into()), ("error_description", description)],
        }
    }
}

impl From<StoreError> for Outcome {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            return Outcome::Unavailable(e.to_string());
        }
        Outcome::Failed(e.to_string())
    }
}

/// A step's outcome, and the browser session it started (the cookie value to set).
#[derive(Debug)]
pub struct Step {
    pub outcome: Outcome,
    pub session_cookie: Option<String>,
}

impl From<Outcome> for Step {
    fn from(outcome: Outcome) -> Self {
        Step {
            outcome,
            session_cookie: None,
        }
    }
}

/// A step that ends early with an outcome of its own (an error page, a refusal).
type Flow<T> = Result<T, Outcome>;

/// The outcome of a step, whichever way it ended.
fn settle(result: Flow<Outcome>) -> Outcome {
    result.unwrap_or_else(|outcome| outcome)
}
