//! Gatehouse's own key toward a SAML IdP: an RSA key and its certificate, announced in
//! the SP metadata, given by `sp_key_file` and `sp_cert_file` (PKCS#8 PEM) or made by
//! Gatehouse ([`SpKey::generate`]) and kept in the store. It signs the messages
//! Gatehouse sends by the HTTP-Redirect binding, in the query (SAML 2.0 Bindings
//! §3.4.4.1): `SAMLRequest` or `SAMLResponse`, `RelayState` and `SigAlg`, URL-encoded, in
//! that order.

use crate::config::Problem;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use std::path::Path;

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

#[derive(Clone, PartialEq, Eq)]
pub struct SpKey {
    /// The private key, PKCS#8 DER (parsed again to sign: a login's cost is the signature).
    pkcs8: Vec<u8>,
    /// The certificate, DER, as the metadata carries it.
    pub certificate: Vec<u8>,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpKey { .. }")
    }
}

impl SpKey {
    /// Reads the key and certificate files, reporting problems under `at`'s keys.
    pub fn read(at: &str, key_file: &Path, cert_file: &Path, problems: &mut Vec<Problem>) -> Option<SpKey> {
        let key_key = format!("{at}.sp_key_file");
        let cert_key = format!("{at}.sp_cert_file");
        let pem = |key: &str, path: &Path, label: &str, problems: &mut Vec<Problem>| -> Option<Vec<u8>> {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => {
                    problems.push(Problem::new(key, format!("cannot read {}: {e}", path.display())));
                    return None;
                }
            };
            match pem_rfc7468::decode_vec(text.trim().as_bytes()) {
                Ok((found, der)) if found == label => Some(der),
                Ok((found, _)) => {
                    problems.push(Problem::new(
                        key,
                        format!("{}: holds a {found}, not a {label}", path.display()),
                    ));
                    None
                }
                Err(e) => {
                    problems.push(Problem::new(key, format!("{}: not PEM: {e}", path.display())));
                    None
                }
            }
        };
        let pkcs8 = pem(&key_key, key_file, "PRIVATE KEY", problems);
        let certificate = pem(&cert_key, cert_file, "CERTIFICATE", problems);
        if let Some(pkcs8) = &pkcs8
            && RsaKeyPair::from_pkcs8(pkcs8).is_err()
        {
            problems.push(Problem::new(
                key_key,
                format!("{}: not an RSA private key (PKCS#8)", key_file.display()),
            ));
            return None;
        }
        Some(SpKey {
            pkcs8: pkcs8?,
            certificate: certificate?,
        })
    }

    /// A new RSA-2048 key and a self-signed certificate for it naming `common_name`. The
    /// certificate's dates are not what the IdP trusts it by (it is pinned in the
    /// metadata), so it is valid from 1975 to 4096, as rcgen makes them. Slow (an RSA
    /// key generation): call it off the async workers.
    pub fn generate(common_name: &str) -> Result<SpKey, String> {
        use aws_lc_rs::encoding::AsDer;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| "no RSA key can be generated")?;
        let pkcs8 = pair.as_der().map_err(|_| "the RSA key cannot be encoded")?.as_ref().to_vec();
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_slice());
        let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
            .map_err(|e| format!("the RSA key cannot sign a certificate: {e}"))?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
        let certificate = params
            .self_signed(&signer)
            .map_err(|e| format!("no certificate can be made: {e}"))?;
        Ok(SpKey {
            pkcs8,
            certificate: certificate.der().to_vec(),
        })
    }

    /// A key kept before: PKCS#8 PEM and its certificate's DER.
    pub fn from_kept(pkcs8_pem: &str, certificate: Vec<u8>) -> Result<SpKey, String> {
        let (label, pkcs8) =
            pem_rfc7468::decode_vec(pkcs8_pem.trim().as_bytes()).map_err(|e| format!("the kept SP key is not PEM: {e}"))?;
        if label != "PRIVATE KEY" || RsaKeyPair::from_pkcs8(&pkcs8).is_err() {
            return Err("the kept SP key is not an RSA private key (PKCS#8)".into());
        }
        Ok(SpKey { pkcs8, certificate })
    }

    /// The private key as PKCS#8 PEM, to keep.
    pub fn pkcs8_pem(&self) -> Result<String, String> {
        pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, &self.pkcs8)
            .map_err(|_| "the SP key cannot be encoded".to_string())
    }

    /// The key as the XML Encryption library takes it, to decrypt what the IdP encrypted
    /// for the certificate.
    pub fn decryption_key(&self) -> Result<bergshamra_keys::Key, String> {
        let pem = self.pkcs8_pem()?;
        bergshamra_keys::loader::load_rsa_private_pem(pem.as_bytes()).map_err(|_| "the SP key cannot be used".to_string())
    }

    /// `query` (the binding's parameters, encoded) with `SigAlg` and `Signature` added.
    pub fn sign_query(&self, query: &str) -> Result<String, String> {
        let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let signed = format!("{query}&SigAlg={}", encode(RSA_SHA256));
        let pair = RsaKeyPair::from_pkcs8(&self.pkcs8).map_err(|_| "the SP key cannot be used")?;
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .map_err(|_| "the SP key cannot sign")?;
        let signature = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature);
        Ok(format!("{signed}&Signature={}", encode(&signature)))
    }
}

/// `base` (a URL that may have a query of its own) with the binding's `message` parameter
/// (`SAMLRequest` or `SAMLResponse`) and `relay_state`, signed when `key` is given.
pub fn redirect(
    base: &str,
    parameter: &str,
    message: &str,
    relay_state: Option<&str>,
    key: Option<&SpKey>,
) -> Result<String, String> {
    url::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let mut query = format!("{parameter}={}", encode(message));
    if let Some(relay_state) = relay_state {
        query.push_str(&format!("&RelayState={}", encode(relay_state)));
    }
    if let Some(key) = key {
        query = key.sign_query(&query)?;
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{separator}{query}"))
}
