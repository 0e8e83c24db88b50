//! Gatehouse's SP metadata for one IdP (SAML 2.0 Metadata §2.4.4): what the IdP's
//! administrator registers: the entity id, the ACS (HTTP-POST), the single logout service
//! (HTTP-Redirect) and the NameID format.

use super::xml::escape;

pub fn xml(entity_id: &str, acs_url: &str, slo_url: &str, name_id_format: &str, want_assertions_signed: bool) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "\n",
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">"#,
            r#"<md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="{want}""#,
            r#" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
            r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{slo}"/>"#,
            r#"<md:NameIDFormat>{format}</md:NameIDFormat>"#,
            r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>"#,
            "</md:SPSSODescriptor></md:EntityDescriptor>\n"
        ),
        entity_id = escape(entity_id),
        want = want_assertions_signed,
        format = escape(name_id_format),
        acs = escape(acs_url),
        slo = escape(slo_url),
    )
}
