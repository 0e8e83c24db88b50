//! The claim-mapping engine: declarative files that turn what an upstream says about a
//! person into standard OpenID Connect claims. Pure: JSON in, claims out, no I/O.
//!
//! A mapping is parsed and every template compiled once ([`Mapping::parse`]); each login
//! then evaluates it against the upstream's document ([`Mapping::evaluate`]); the claims
//! a relying party receives are what its granted scopes release ([`release`]).

mod helpers;
mod parse;
mod release;
mod spec;

pub use release::{STANDARD_SCOPES, release, standard_scope_claims};
pub use spec::{EvalError, Mapped, Mapping};

/// Each upstream's claim mapping, by upstream id.
pub type Mappings = std::collections::HashMap<String, std::sync::Arc<Mapping>>;

/// Claims that Gatehouse itself sets in its tokens; a mapping may not produce them.
pub const PROTECTED_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "sid",
    "idp",
];
