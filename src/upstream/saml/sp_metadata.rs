//! Gatehouse's SP metadata for one IdP (SAML 2.0 Metadata §2.4.4): what the IdP's
//! administrator registers: the entity id, the ACS (HTTP-POST), the single logout service
//! (HTTP-Redirect), the NameID format, and the certificate of Gatehouse's SP key when it
//! has one (for signing, and for the assertions the IdP encrypts).

use super::xml::escape;

pub fn xml(
    entity_id: &str,
    acs_url: &str,
    slo_url: &str,
    name_id_format: &str,
    want_assertions_signed: bool,
    sign_requests: bool,
    certificate: Option<&[u8]>,
) -> String {
    // The one key signs Gatehouse's messages and decrypts what the IdP encrypts for it;
    // the methods it prefers are announced (Metadata §2.4.1.1), AES-GCM and RSA-OAEP.
    let key = certificate.map_or(String::new(), |der| {
        let key_info = format!(
            concat!(
                r#"<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">"#,
                "<ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
            ),
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der)
        );
        format!(
            concat!(
                r#"<md:KeyDescriptor use="signing">{key_info}</md:KeyDescriptor>"#,
                r#"<md:KeyDescriptor use="encryption">{key_info}"#,
                r#"<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>"#,
                r#"<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/>"#,
                r#"<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>"#,
                "</md:KeyDescriptor>"
            ),
            key_info = key_info
        )
    });
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "\n",
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">"#,
            r#"<md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="{want}""#,
            r#" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{key}"#,
            r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{slo}"/>"#,
            r#"<md:NameIDFormat>{format}</md:NameIDFormat>"#,
            r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>"#,
            "</md:SPSSODescriptor></md:EntityDescriptor>\n"
        ),
        entity_id = escape(entity_id),
        want = want_assertions_signed,
        signed = sign_requests,
        key = key,
        format = escape(name_id_format),
        acs = escape(acs_url),
        slo = escape(slo_url),
    )
}
