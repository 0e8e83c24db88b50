//! The keys Gatehouse makes for itself toward SAML IdPs: a `saml` upstream without
//! `sp_key_file` gets an RSA key and a self-signed certificate, made once and kept in the
//! store under the upstream's id (the private key sealed like the signing keys), so that
//! every replica and every restart shows the IdP the same certificate in the SP metadata,
//! signs with the same key and decrypts what was encrypted for it.

use crate::config::Secret;
use crate::keys::Sealing;
use crate::store::{SamlSpKeyRecord, Store};
use crate::upstream::saml::SpKey;
use crate::upstream::{Upstream, Upstreams};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Gives each `saml` upstream of `upstreams` that waits for one its kept key, making it
/// first when there is none yet.
pub async fn give_kept_keys(store: &Store, sealing: &Sealing, upstreams: &Upstreams, now: i64) -> Result<(), String> {
    for (id, live) in upstreams {
        if let Upstream::Saml(saml) = &*live.kind
            && saml.needs_kept_key()
        {
            let key = kept(store, sealing, id, now)
                .await
                .map_err(|e| format!("upstream {id}: the SAML SP key: {e}"))?;
            saml.use_kept_key(key);
        }
    }
    Ok(())
}

/// What a sealed key is bound to: it opens for this upstream's record only.
fn aad(upstream: &str) -> String {
    format!("saml-sp-key:{upstream}")
}

async fn kept(store: &Store, sealing: &Sealing, upstream: &str, now: i64) -> Result<SpKey, String> {
    if let Some(record) = store.saml_sp_keys.get(upstream, now).await.map_err(|e| e.to_string())? {
        return open(sealing, upstream, &record);
    }
    let common_name = format!("Gatehouse SAML SP ({upstream})");
    let key = tokio::task::spawn_blocking(move || SpKey::generate(&common_name))
        .await
        .map_err(|e| format!("the key generation stopped: {e}"))??;
    let pem = Secret(key.pkcs8_pem()?);
    let mut record = SamlSpKeyRecord {
        private_key_pem: pem,
        sealed_private_key: None,
        certificate: STANDARD.encode(&key.certificate),
        created_at: now,
    };
    if sealing.can_seal() {
        let sealed = sealing
            .seal_secret(&aad(upstream), &record.private_key_pem)
            .map_err(|e| e.to_string())?;
        record.sealed_private_key = Some(sealed);
        record.private_key_pem = Secret::default();
    }
    let first = store
        .saml_sp_keys
        .insert_new(upstream, &record, None, now)
        .await
        .map_err(|e| e.to_string())?;
    if first {
        tracing::info!(%upstream, "made the SAML SP key and certificate");
        return Ok(key);
    }
    // Another replica made one at the same moment: everyone takes that one.
    let theirs = store
        .saml_sp_keys
        .get(upstream, now)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the SP key another replica made is gone")?;
    open(sealing, upstream, &theirs)
}

fn open(sealing: &Sealing, upstream: &str, record: &SamlSpKeyRecord) -> Result<SpKey, String> {
    let pem = match &record.sealed_private_key {
        Some(sealed) => sealing.open_secret(&aad(upstream), sealed).map_err(|e| e.to_string())?,
        None => record.private_key_pem.clone(),
    };
    let certificate = STANDARD
        .decode(&record.certificate)
        .map_err(|_| "the kept certificate is not base64")?;
    SpKey::from_kept(&pem.0, certificate)
}

/// Seals every kept SP key anew under the current key-encryption key (`gatehouse keys
/// rewrap`), so that an earlier one can be dropped from the config; how many there were.
pub async fn rewrap(store: &Store, sealing: &Sealing, now: i64) -> Result<usize, String> {
    if !sealing.can_seal() {
        return Ok(0);
    }
    let kept = store.saml_sp_keys.entries(now).await.map_err(|e| e.to_string())?;
    for (upstream, mut record) in kept.iter().cloned() {
        let pem = match &record.sealed_private_key {
            Some(sealed) => sealing
                .open_secret(&aad(&upstream), sealed)
                .map_err(|e| e.to_string())?,
            None => record.private_key_pem.clone(),
        };
        record.sealed_private_key = Some(sealing.seal_secret(&aad(&upstream), &pem).map_err(|e| e.to_string())?);
        record.private_key_pem = Secret::default();
        store
            .saml_sp_keys
            .put(&upstream, &record, None)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(kept.len())
}
