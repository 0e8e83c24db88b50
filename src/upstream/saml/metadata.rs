//! The identity provider's SAML metadata (SAML 2.0 Metadata §2): who it is, where its
//! single sign-on and logout services take HTTP-Redirect requests, and the certificates
//! it signs with. Only its `EntityDescriptor` with one `IDPSSODescriptor` is read.

use super::xml::{self, DSIG, METADATA};
use base64::Engine;

const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// Metadata bigger than this is not one IdP's.
pub const LARGEST_METADATA: usize = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// Where AuthnRequests go (HTTP-Redirect binding).
    pub sso_url: String,
    /// Where LogoutRequests go (HTTP-Redirect binding), when it takes them.
    pub slo_url: Option<String>,
    /// The certificates (DER) its signatures may be made with.
    pub signing_certificates: Vec<Vec<u8>>,
    /// It asks for signed AuthnRequests (`WantAuthnRequestsSigned`).
    pub wants_signed_requests: bool,
    /// `validUntil`, as unix seconds: the metadata must not be used after it.
    pub valid_until: Option<i64>,
    /// `cacheDuration`, in seconds: how long a fetched copy may be kept before it is
    /// fetched again.
    pub cache_duration: Option<i64>,
}

/// Reads the metadata in `text`; the error says what is missing or wrong.
pub fn parse(text: &str) -> Result<IdpMetadata, String> {
    if text.len() > LARGEST_METADATA {
        return Err(format!("is larger than {} KiB", LARGEST_METADATA / 1024));
    }
    let doc = xml::parse(text)?;
    let root = doc.document_element().ok_or("has no root element")?;
    if !xml::is(&doc, root, METADATA, "EntityDescriptor") {
        return Err("is not SAML metadata: its root must be an md:EntityDescriptor".into());
    }
    let entity_id = xml::attribute(&doc, root, "entityID")
        .filter(|id| !id.trim().is_empty())
        .ok_or("has no entityID")?
        .to_string();
    let valid_until = xml::attribute(&doc, root, "validUntil")
        .map(|at| super::time::parse(at).ok_or(format!("validUntil \"{at}\" is not a time")))
        .transpose()?;
    let cache_duration = xml::attribute(&doc, root, "cacheDuration")
        .map(|d| super::time::parse_duration(d).ok_or(format!("cacheDuration \"{d}\" is not a duration")))
        .transpose()?;
    let idp = match xml::children(&doc, root, METADATA, "IDPSSODescriptor").as_slice() {
        [one] => *one,
        [] => return Err(format!("entity {entity_id} has no IDPSSODescriptor: it is not an identity provider")),
        _ => return Err(format!("entity {entity_id} has more than one IDPSSODescriptor")),
    };
    let protocols = xml::attribute(&doc, idp, "protocolSupportEnumeration").unwrap_or_default();
    if !protocols.split_whitespace().any(|p| p == SAML2_PROTOCOL) {
        return Err(format!("entity {entity_id}'s IDPSSODescriptor does not support SAML 2.0"));
    }
    let redirect_location = |service: &str| {
        xml::children(&doc, idp, METADATA, service)
            .into_iter()
            .filter(|s| xml::attribute(&doc, *s, "Binding") == Some(REDIRECT_BINDING))
            .find_map(|s| xml::attribute(&doc, s, "Location").map(str::to_string))
    };
    let sso_url = redirect_location("SingleSignOnService").ok_or(format!(
        "entity {entity_id} has no SingleSignOnService with the HTTP-Redirect binding"
    ))?;
    let slo_url = redirect_location("SingleLogoutService");
    for url in std::iter::once(&sso_url).chain(&slo_url) {
        let parsed = url::Url::parse(url).map_err(|_| format!("{url} is not a URL"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(format!("{url} is not an http(s) URL"));
        }
    }
    let mut signing_certificates = Vec::new();
    for descriptor in xml::children(&doc, idp, METADATA, "KeyDescriptor") {
        if !matches!(xml::attribute(&doc, descriptor, "use"), None | Some("signing")) {
            continue;
        }
        for certificate in xml::descendants(&doc, descriptor, DSIG, "X509Certificate") {
            let encoded: String = xml::text(&doc, certificate)?.split_whitespace().collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| format!("entity {entity_id} has a signing X509Certificate that is not base64"))?;
            signing_certificates.push(der);
        }
    }
    if signing_certificates.is_empty() {
        return Err(format!("entity {entity_id} has no signing certificate (KeyDescriptor use=\"signing\")"));
    }
    let wants_signed_requests = xml::attribute(&doc, idp, "WantAuthnRequestsSigned") == Some("true");
    Ok(IdpMetadata {
        entity_id,
        sso_url,
        slo_url,
        signing_certificates,
        wants_signed_requests,
        valid_until,
        cache_duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "MIIBszCCAVmgAwIBAgIUZmFrZQ==";

    fn metadata(descriptor: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/saml">{descriptor}</md:EntityDescriptor>"#
        )
    }

    fn idp(inner: &str) -> String {
        metadata(&format!(
            r#"<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{inner}</md:IDPSSODescriptor>"#
        ))
    }

    const KEY: &str = r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
        MIIBszCCAVmgAwIBAgIUZmFrZQ==
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#;
    const SSO: &str = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/post"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>"#;

    #[test]
    fn reads_the_entity_its_redirect_service_and_signing_certificate() {
        let read = parse(&idp(&format!("{KEY}{SSO}"))).unwrap();
        assert_eq!(read.entity_id, "https://idp.example/saml");
        assert_eq!(read.sso_url, "https://idp.example/sso");
        assert_eq!(read.slo_url, None);
        assert_eq!(
            read.signing_certificates,
            vec![base64::engine::general_purpose::STANDARD.decode(CERT).unwrap()]
        );
    }

    #[test]
    fn says_what_is_missing() {
        assert!(parse(&idp(SSO)).unwrap_err().contains("no signing certificate"));
        assert!(parse(&idp(KEY)).unwrap_err().contains("no SingleSignOnService"));
        assert!(parse(&metadata("")).unwrap_err().contains("no IDPSSODescriptor"));
        assert!(parse("<x/>").unwrap_err().contains("EntityDescriptor"));
        assert!(parse("<md:EntityDescriptor").is_err());
        let encryption_only = KEY.replace("use=\"signing\"", "use=\"encryption\"");
        assert!(parse(&idp(&format!("{encryption_only}{SSO}"))).unwrap_err().contains("no signing certificate"));
    }
}
