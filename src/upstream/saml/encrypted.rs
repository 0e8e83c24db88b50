//! An `EncryptedAssertion` (SAML 2.0 Core §2.3.4, XML Encryption), decrypted with
//! Gatehouse's SP key by bergshamra's XML Encryption. Only the shape SAML IdPs send is
//! taken, checked before anything is decrypted: the Assertion as one `EncryptedData`
//! element, AES-GCM or AES-CBC, its cipher text inline, under a key sent in an
//! `EncryptedKey` by RSA-OAEP. RSA PKCS#1 v1.5 key transport (Bleichenbacher's oracle),
//! a `CipherReference` (a fetch the document would choose), key agreement and key
//! derivation are refused. Every failure reads the same to the IdP's side (the login
//! is refused), so the answer is no padding oracle.

use super::sp_key::SpKey;
use super::xml::{self, escape};
use bergshamra_enc::EncContext;
use bergshamra_keys::KeysManager;
use uppsala::{Document, NodeId};

pub const ENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const ENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
const DATA_METHODS: &[&str] = &[
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#aes192-gcm",
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
];
const KEY_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
];

/// The text of a document of its own holding `encrypted` (an `EncryptedAssertion` that
/// is a child of the document's root) with its Assertion decrypted in place; its root
/// declares the namespaces the original root did, so that prefixes the Assertion
/// inherited still mean what they meant.
pub fn decrypt(doc: &Document<'_>, encrypted: NodeId, key: &SpKey) -> Result<String, String> {
    check_shape(doc, encrypted)?;
    let root = doc.document_element().ok_or("the Response is empty")?;
    let declarations: String = doc
        .element(root)
        .map(|e| {
            e.namespace_declarations
                .iter()
                .map(|(prefix, uri)| match prefix.as_ref() {
                    "" => format!(" xmlns=\"{}\"", escape(uri)),
                    prefix => format!(" xmlns:{prefix}=\"{}\"", escape(uri)),
                })
                .collect()
        })
        .unwrap_or_default();
    let source = doc
        .node_source(encrypted)
        .ok_or("the EncryptedAssertion cannot be read")?;
    let alone = format!("<EncryptedAssertionHolder{declarations}>{source}</EncryptedAssertionHolder>");
    let mut keys = KeysManager::new();
    keys.add_key(key.decryption_key()?);
    let context = EncContext::new(keys)
        .with_disable_cipher_reference(true)
        .with_max_pbkdf2_iterations(0);
    bergshamra_enc::decrypt::decrypt(&context, &alone)
        .map_err(|_| "the EncryptedAssertion cannot be decrypted with the SP key".to_string())
}

fn check_shape(doc: &Document<'_>, encrypted: NodeId) -> Result<(), String> {
    let method = |node: NodeId| -> Result<String, String> {
        let method = xml::only_child(doc, node, ENC, "EncryptionMethod")?.ok_or("an encryption names no method")?;
        Ok(xml::attribute(doc, method, "Algorithm").unwrap_or_default().to_string())
    };
    let data = match xml::descendants(doc, encrypted, ENC, "EncryptedData").as_slice() {
        [one] if doc.parent(*one) == Some(encrypted) => *one,
        _ => return Err("the EncryptedAssertion must hold exactly one EncryptedData".into()),
    };
    if xml::attribute(doc, data, "Type").is_some_and(|t| t != ELEMENT) {
        return Err("the EncryptedAssertion's EncryptedData is not of an element".into());
    }
    let data_method = method(data)?;
    if !DATA_METHODS.contains(&data_method.as_str()) {
        return Err(format!("the Assertion is encrypted with {data_method}, not AES-GCM or AES-CBC"));
    }
    let keys = xml::descendants(doc, encrypted, ENC, "EncryptedKey");
    if keys.is_empty() {
        return Err("the EncryptedAssertion carries no EncryptedKey".into());
    }
    for key in keys {
        let key_method = method(key)?;
        if !KEY_METHODS.contains(&key_method.as_str()) {
            return Err(format!("the Assertion's key is sent with {key_method}, not RSA-OAEP"));
        }
    }
    let refused = [
        (ENC, "CipherReference"),
        (ENC, "AgreementMethod"),
        (ENC11, "DerivedKey"),
        (ENC11, "KeyDerivationMethod"),
    ];
    for (ns, local) in refused {
        if !xml::descendants(doc, encrypted, ns, local).is_empty() {
            return Err(format!("the EncryptedAssertion uses {local}, which is not taken"));
        }
    }
    Ok(())
}
