//! The keys of a `kind = "saml"` upstream: where the identity provider's metadata is,
//! who Gatehouse is to it, what it asks for and what it accepts.

use super::metadata::{self, IdpMetadata};
use super::sp_key::SpKey;
use crate::config::checks::web_url;
use crate::config::{Duration, KindSettings, Problem, decode, same_settings};
use crate::upstream::acr_map::{AcrMap, OneOrMore};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct SamlSettings {
    /// Where the identity provider's metadata comes from.
    pub idp: IdpSource,
    /// Gatehouse's entity id toward it; `{issuer}/saml/{id}` when not given.
    pub sp_entity_id: Option<String>,
    /// The NameID format asked for (a full URN).
    pub name_id_format: String,
    /// Where the person's stable id comes from.
    pub subject: SubjectSource,
    /// Gatehouse's own key and certificate toward the IdP (`sp_key_file`, `sp_cert_file`);
    /// without them Gatehouse makes one and keeps it in the store.
    pub sp_key: Option<SpKey>,
    /// AuthnRequests are signed with `sp_key`.
    pub sign_requests: bool,
    /// Only an Assertion signed itself is taken (else the Response's signature over it
    /// will do).
    pub want_assertions_signed: bool,
    /// Responses nobody asked for (the IdP started the login) are taken, for the client
    /// their `RelayState` names.
    pub allow_idp_initiated: bool,
    /// A logout at Gatehouse goes on to the IdP's single logout service.
    pub logout_upstream: bool,
    /// The most the identity provider's clock may be off.
    pub clock_skew: Duration,
    pub acr_map: AcrMap,
}

/// Where the identity provider's metadata comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum IdpSource {
    /// `idp_metadata_file`, read with the config.
    File(IdpMetadata),
    /// `idp_metadata_url`, fetched when the upstream starts and again when it is due.
    Url(String),
}

/// `subject`: the NameID, or the first value of an attribute (by its `Name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectSource {
    NameId,
    Attribute(String),
}

impl KindSettings for SamlSettings {
    fn same_as(&self, other: &dyn KindSettings) -> bool {
        same_settings(self, other)
    }

    fn acr_values(&self) -> Vec<&str> {
        self.acr_map.ours().collect()
    }

    /// The eduPerson / urn:oid attribute names most SAML IdPs send.
    fn default_mapping(&self) -> (&'static str, &'static str) {
        (
            "claim-mappings/saml-generic.toml (built in)",
            include_str!("../../../claim-mappings/saml-generic.toml"),
        )
    }
}

const KIND: &str = "saml";
const DEFAULT_CLOCK_SKEW: Duration = Duration::seconds(120);
/// More skew than this is no clock being off: it is accepting old assertions.
const LARGEST_CLOCK_SKEW: Duration = Duration::seconds(600);
pub const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

/// The NameID formats by their short names (SAML 2.0 Core §8.3).
const NAME_ID_FORMATS: &[(&str, &str)] = &[
    ("persistent", PERSISTENT),
    ("transient", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"),
    ("emailAddress", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
    ("unspecified", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
];

#[derive(Deserialize)]
struct RawSaml {
    idp_metadata_file: Option<String>,
    idp_metadata_url: Option<String>,
    sp_entity_id: Option<String>,
    name_id_format: Option<String>,
    subject: Option<String>,
    sign_requests: Option<bool>,
    sp_key_file: Option<String>,
    sp_cert_file: Option<String>,
    want_assertions_signed: Option<bool>,
    allow_idp_initiated: Option<bool>,
    logout_upstream: Option<bool>,
    clock_skew: Option<Duration>,
    acr_map: Option<BTreeMap<String, OneOrMore>>,
}

pub fn read(table: toml::Value, at: &str, base: &Path, problems: &mut Vec<Problem>) -> Option<SamlSettings> {
    let raw: RawSaml = decode(table, at, problems)?;
    let start = problems.len();
    let idp = match (&raw.idp_metadata_file, &raw.idp_metadata_url) {
        (Some(file), None) => {
            read_metadata(&format!("{at}.idp_metadata_file"), &base.join(file), problems).map(IdpSource::File)
        }
        (None, Some(url)) => {
            web_url(&format!("{at}.idp_metadata_url"), url, problems).map(|_| IdpSource::Url(url.clone()))
        }
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                format!("{at}.idp_metadata_url"),
                "cannot be given with idp_metadata_file: one of them",
            ));
            None
        }
        (None, None) => {
            problems.push(Problem::new(
                format!("{at}.idp_metadata_file"),
                format!("is required for kind = \"{KIND}\" (the identity provider's SAML metadata)"),
            ));
            None
        }
    };
    if let Some(id) = &raw.sp_entity_id
        && id.trim().is_empty()
    {
        problems.push(Problem::new(format!("{at}.sp_entity_id"), "must not be empty"));
    }
    let name_id_format = match raw.name_id_format.as_deref() {
        None => PERSISTENT.to_string(),
        Some(format) => match NAME_ID_FORMATS.iter().find(|(short, full)| format == *short || format == *full) {
            Some((_, full)) => full.to_string(),
            None if format.starts_with("urn:") => format.to_string(),
            None => {
                problems.push(Problem::new(
                    format!("{at}.name_id_format"),
                    "must be persistent, transient, emailAddress, unspecified or a NameID format URN",
                ));
                String::new()
            }
        },
    };
    let subject = match raw.subject.as_deref() {
        None | Some("name_id") => SubjectSource::NameId,
        Some(name) if !name.trim().is_empty() => SubjectSource::Attribute(name.to_string()),
        Some(_) => {
            problems.push(Problem::new(format!("{at}.subject"), "must be \"name_id\" or an attribute name"));
            SubjectSource::NameId
        }
    };
    let sp_key = match (&raw.sp_key_file, &raw.sp_cert_file) {
        (Some(key), Some(cert)) => SpKey::read(at, &base.join(key), &base.join(cert), problems),
        (Some(_), None) => {
            problems.push(Problem::new(format!("{at}.sp_cert_file"), "is required with sp_key_file"));
            None
        }
        (None, Some(_)) => {
            problems.push(Problem::new(format!("{at}.sp_key_file"), "is required with sp_cert_file"));
            None
        }
        (None, None) => None,
    };
    let sign_requests = raw.sign_requests.unwrap_or(false);
    let logout_upstream = raw.logout_upstream.unwrap_or(false);
    if logout_upstream
        && let Some(IdpSource::File(metadata)) = &idp
        && metadata.slo_url.is_none()
    {
        problems.push(Problem::new(
            format!("{at}.logout_upstream"),
            "the identity provider's metadata has no SingleLogoutService with the HTTP-Redirect binding",
        ));
    }
    let clock_skew = raw.clock_skew.unwrap_or(DEFAULT_CLOCK_SKEW);
    if clock_skew.as_secs_i64() > LARGEST_CLOCK_SKEW.as_secs_i64() {
        problems.push(Problem::new(format!("{at}.clock_skew"), "must be at most 10m"));
    }
    let acr_map = AcrMap::read(raw.acr_map.unwrap_or_default(), at, problems);
    if problems.len() > start {
        return None;
    }
    Some(SamlSettings {
        idp: idp?,
        sp_entity_id: raw.sp_entity_id,
        name_id_format,
        subject,
        sp_key,
        sign_requests,
        want_assertions_signed: raw.want_assertions_signed.unwrap_or(true),
        allow_idp_initiated: raw.allow_idp_initiated.unwrap_or(false),
        logout_upstream,
        clock_skew,
        acr_map,
    })
}

fn read_metadata(key: &str, path: &Path, problems: &mut Vec<Problem>) -> Option<IdpMetadata> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(Problem::new(key, format!("cannot read {}: {e}", path.display())));
            return None;
        }
    };
    match metadata::parse(&text) {
        Ok(idp) => Some(idp),
        Err(why) => {
            problems.push(Problem::new(key, format!("{}: {why}", path.display())));
            None
        }
    }
}
