//! What an upstream kind provides, and the macro that turns the list of kinds in
//! `upstream/mod.rs` into the config's `kind`-tagged settings enum and the running
//! upstream enum, dispatching to each kind. A kind is a folder with a type implementing
//! [`Kind`]; adding one is that folder and one line in the list.

use super::{Begin, LoggingOut, LoginOptions, LogoutNotice, Person, Refreshed, Return, UpstreamError};
use crate::config::Problem;
use crate::config::Secret;
use crate::limits::{CheckError, PasswordChecks};
use std::path::Path;

/// How a person logs in at an upstream, and what else it can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The person is sent there and comes back to `/callback/{id}`.
    pub redirect: bool,
    /// The person types a username and password on Gatehouse's own form.
    pub password: bool,
    /// Gatehouse can send the person on to the upstream's own logout.
    pub logout: bool,
    /// Gatehouse can refresh what the upstream said about the person without a login.
    pub refresh: bool,
    /// The upstream may send a person back that no login of Gatehouse's sent there (a
    /// SAML IdP's own, unsolicited Response).
    pub unsolicited: bool,
}

/// One kind of upstream. Every capability a kind lacks keeps its default, which refuses.
// Kinds live in this crate and are called through the enum on their concrete types,
// whose futures are known to be Send where they are; no bound is needed on the trait.
#[allow(async_fn_in_trait)]
pub trait Kind: Sized {
    /// What the kind's keys of an `[[upstreams]]` table say, validated.
    type Settings: crate::config::KindSettings + Clone + PartialEq;

    /// Reads the kind's own keys of `table` (every other key is refused as unknown),
    /// reporting problems under `at`; relative paths are resolved against `base`.
    fn settings(table: toml::Value, at: &str, base: &Path, problems: &mut Vec<Problem>) -> Option<Self::Settings>;

    /// The running upstream `id` of Gatehouse at `issuer`.
    fn open(id: &str, settings: &Self::Settings, issuer: &str) -> Self;

    fn capabilities(&self) -> Capabilities;

    /// Whether [`Kind::prepare`] has succeeded (what `/healthz/ready` waits for).
    fn is_ready(&self) -> bool {
        true
    }

    /// Gets ready to log people in (fetches discovery or metadata) at `now`; retried
    /// until it succeeds.
    async fn prepare(&self, _http: &crate::upstream::UpstreamHttp, _now: i64) -> Result<(), UpstreamError> {
        Ok(())
    }

    /// Where to send the person to log in, and what to keep for the callback.
    async fn begin(
        &self,
        _http: &crate::upstream::UpstreamHttp,
        _options: LoginOptions<'_>,
    ) -> Result<Begin, UpstreamError> {
        Err(UpstreamError::Denied("this upstream does not send people away".into()))
    }

    /// What the upstream says about the person who came back.
    async fn finish(&self, _http: &crate::upstream::UpstreamHttp, _back: Return<'_>) -> Result<Person, UpstreamError> {
        Err(UpstreamError::Denied("this upstream does not send people away".into()))
    }

    /// The person if `password` is `username`'s (their document, and the session a
    /// refresh reads them again by), `None` if it is not. Every check passes `gate`,
    /// which bounds how many run at once: a hash is checked on its threads, a directory's
    /// bind waits on the network with a place among them.
    async fn check_password(
        &self,
        _http: &crate::upstream::UpstreamHttp,
        _gate: &PasswordChecks,
        _username: &str,
        _password: &str,
    ) -> Result<Option<Person>, CheckError> {
        Ok(None)
    }

    /// What the upstream's logout token `token` names, if it is valid (Back-Channel
    /// Logout 1.0 §2.6); whether its `jti` was seen before is the caller's to check.
    async fn verify_logout_token(
        &self,
        _http: &crate::upstream::UpstreamHttp,
        _token: &str,
        _now: i64,
    ) -> Result<LogoutNotice, UpstreamError> {
        Err(UpstreamError::Denied(
            "this upstream does not send logout tokens".into(),
        ))
    }

    /// Refreshes the upstream's tokens of the person `subject` with `refresh_token` (for
    /// kinds that keep one), and what it says of them now. A refusal means the grant or
    /// the person is gone.
    async fn refresh(
        &self,
        _http: &crate::upstream::UpstreamHttp,
        _refresh_token: Option<&Secret>,
        _subject: &str,
        _now: i64,
    ) -> Result<Refreshed, UpstreamError> {
        Err(UpstreamError::Denied("this upstream does not refresh".into()))
    }

    /// The person a token the upstream issued to an app names, verified, for token
    /// exchange (RFC 8693); only upstreams with `exchange = true` take one.
    async fn exchange(
        &self,
        _http: &crate::upstream::UpstreamHttp,
        _token: &str,
        _kind: crate::upstream::SubjectToken,
        _now: i64,
    ) -> Result<crate::upstream::Person, UpstreamError> {
        Err(UpstreamError::Denied(
            "this upstream's tokens cannot be exchanged".into(),
        ))
    }

    /// Where to send the person to log out at the upstream too, coming back to
    /// Gatehouse with `out.state` (at `out.post_logout_redirect_uri`, or where the kind's
    /// own binding says).
    async fn logout_url(&self, _http: &crate::upstream::UpstreamHttp, _out: LoggingOut<'_>) -> Option<String> {
        None
    }
}

/// Declares the upstream kinds: `"config name" => Variant(module::Type)`, each module
/// being the kind's folder.
macro_rules! upstream_kinds {
    ($($name:literal => $variant:ident($module:ident::$kind:ident)),+ $(,)?) => {
        $(pub mod $module;)+

        /// A running upstream, by kind (boxed: kinds differ much in size).
        pub enum Upstream {
            $($variant(Box<$module::$kind>)),+
        }

        /// The kinds, as the config is read with them ([`crate::config::Config::load`]).
        pub const KINDS: &[$crate::config::UpstreamKind] = &[$(
            $crate::config::UpstreamKind {
                name: $name,
                read: |table, at, base, problems| {
                    use $crate::upstream::Kind;
                    $module::$kind::settings(table, at, base, problems)
                        .map(|s| std::sync::Arc::new(s) as std::sync::Arc<dyn $crate::config::KindSettings>)
                },
            }
        ),+];

        impl Upstream {
            /// The running upstream `id` of Gatehouse at `issuer`, from the settings its
            /// kind read; `None` for settings no kind here made.
            pub fn open(settings: &dyn $crate::config::KindSettings, id: &str, issuer: &str) -> Option<Upstream> {
                use $crate::upstream::Kind;
                let settings: &dyn std::any::Any = settings;
                $(
                    if let Some(settings) = settings.downcast_ref::<<$module::$kind as Kind>::Settings>() {
                        return Some(Upstream::$variant(Box::new($module::$kind::open(id, settings, issuer))));
                    }
                )+
                None
            }
        }

        impl Upstream {
            pub fn capabilities(&self) -> $crate::upstream::Capabilities {
                use $crate::upstream::Kind;
                match self { $(Upstream::$variant(u) => u.capabilities()),+ }
            }

            /// Whether it can take logins now (an `oidc` upstream: once discovered).
            pub fn is_ready(&self) -> bool {
                use $crate::upstream::Kind;
                match self { $(Upstream::$variant(u) => u.is_ready()),+ }
            }

            pub async fn prepare(&self, http: &crate::upstream::UpstreamHttp, now: i64) -> Result<(), UpstreamError> {
                use $crate::upstream::Kind;
                match self { $(Upstream::$variant(u) => u.prepare(http, now).await),+ }
            }

            pub async fn begin(&self, http: &crate::upstream::UpstreamHttp, options: LoginOptions<'_>) -> Result<Begin, UpstreamError> {
                use $crate::upstream::Kind;
                match self { $(Upstream::$variant(u) => u.begin(http, options).await),+ }
            }

            pub async fn finish(&self, http: &crate::upstream::UpstreamHttp, back: Return<'_>) -> Result<$crate::upstream::Person, UpstreamError> {
                use $crate::upstream::Kind;
                match self { $(Upstream::$variant(u) => u.finish(http, back).await),+ }
            }

            pub async fn check_password(&self, http: &crate::upstream::UpstreamHttp, gate: &$crate::limits::PasswordChecks, username: &str, password: &str) -> Result<Option<$crate::upstream::Person>, $crate::limits::CheckError> {
                use $crate::upstream::Kind;
                match self { $(Upstream::$variant(u) => u.check_password(http, gate, username, password).await),+ }
            }

            pub async fn verify_logout_token(&self, http: &crate::upstream::UpstreamHttp, token: &str, now: i64) -> Result<$crate::upstream::LogoutNotice, UpstreamError> {
                use $crate::upstream::Kind;
                match self { $(Upstream::$variant(u) => u.verify_logout_token(http, token, now).await),+ }
            }

            pub async fn refresh(&self, http: &crate::upstream::UpstreamHttp, refresh_token: Option<&$crate::config::Secret>, subject: &str, now: i64) -> Result<$crate::upstream::Refreshed, UpstreamError> {
                use $crate::upstream::Kind;
                match self { $(Upstream::$variant(u) => u.refresh(http, refresh_token, subject, now).await),+ }
            }

            pub async fn exchange(&self, http: &crate::upstream::UpstreamHttp, token: &str, kind: $crate::upstream::SubjectToken, now: i64) -> Result<$crate::upstream::Person, UpstreamError> {
                use $crate::upstream::Kind;
                match self { $(Upstream::$variant(u) => u.exchange(http, token, kind, now).await),+ }
            }

            pub async fn logout_url(&self, http: &crate::upstream::UpstreamHttp, out: $crate::upstream::LoggingOut<'_>) -> Option<String> {
                use $crate::upstream::Kind;
                match self { $(Upstream::$variant(u) => u.logout_url(http, out).await),+ }
            }
        }
    };
}

pub(crate) use upstream_kinds;
