//! A directory entry as Gatehouse reads it, and the document the claim mapping reads
//! from it: `dn`, each attribute (a string when the entry holds it once, a list when
//! more often; binary values as base64, AD's `objectGUID` and `objectSid` in their string
//! forms), and `groups`.

use base64::Engine;
use ldap3::ResultEntry;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

/// Attributes that hold secrets: never read into a document, whatever the ACLs let the
/// service account see.
const SECRET_ATTRIBUTES: &[&str] = &[
    "userPassword",
    "unicodePwd",
    "authPassword",
    "sambaNTPassword",
    "sambaLMPassword",
    "pwdHistory",
    "supplementalCredentials",
    "dBCSPwd",
    "ntPwdHistory",
    "lmPwdHistory",
    "krbPrincipalKey",
];

/// One entry: its DN and its attributes, each with its values as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    pub attributes: BTreeMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    /// The entry of a search result, or `None` for what is not one (a referral) or does
    /// not parse: read without trusting the directory's encoding.
    pub fn of(raw: ResultEntry) -> Option<Entry> {
        let mut parts = raw.0.match_id(4)?.expect_constructed()?.into_iter();
        let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
        let mut attributes = BTreeMap::new();
        for attribute in parts.next()?.expect_constructed()? {
            let mut pair = attribute.expect_constructed()?.into_iter();
            let name = String::from_utf8(pair.next()?.expect_primitive()?).ok()?;
            let values = pair
                .next()?
                .expect_constructed()?
                .into_iter()
                .map(|value| value.expect_primitive())
                .collect::<Option<Vec<Vec<u8>>>>()?;
            if !is_secret(&name) {
                attributes.insert(name, values);
            }
        }
        Some(Entry { dn, attributes })
    }

    /// The values of `name` (attribute names are case-insensitive).
    pub fn values(&self, name: &str) -> &[Vec<u8>] {
        self.attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// The first value of `name` as text.
    pub fn text(&self, name: &str) -> Option<String> {
        self.values(name)
            .first()
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_string)
    }

    /// Whether AD marks the account disabled (`userAccountControl` bit 2, ACCOUNTDISABLE).
    pub fn disabled_in_active_directory(&self) -> bool {
        self.text("userAccountControl")
            .and_then(|flags| flags.trim().parse::<u32>().ok())
            .is_some_and(|flags| flags & 0x2 != 0)
    }

    /// The entry's stable id: `entryUUID` (RFC 4530) or AD's `objectGUID`, which stay
    /// when the entry is renamed or moved.
    pub fn stable_id(&self) -> Option<StableId> {
        if let Some(uuid) = self.text("entryUUID") {
            return Some(StableId::EntryUuid(uuid));
        }
        let guid = self.values("objectGUID").first()?;
        (guid.len() == 16).then(|| StableId::ObjectGuid(guid.clone()))
    }

    /// The document the claim mapping reads.
    pub fn document(&self, groups: Vec<String>) -> Json {
        let mut document = Map::new();
        document.insert("dn".into(), Json::String(self.dn.clone()));
        for (name, values) in &self.attributes {
            let shown: Vec<Json> = values.iter().map(|v| Json::String(shown_value(name, v))).collect();
            let value = match <[Json; 1]>::try_from(shown) {
                Ok([one]) => one,
                Err(many) => Json::Array(many),
            };
            document.insert(name.clone(), value);
        }
        document.insert("groups".into(), Json::Array(groups.into_iter().map(Json::String).collect()));
        Json::Object(document)
    }
}

/// How an entry is found again, whatever it is called by then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StableId {
    EntryUuid(String),
    ObjectGuid(Vec<u8>),
}

impl StableId {
    /// As kept for a session: `entryUUID:…` or `objectGUID:…` (the GUID's string form).
    pub fn to_subject(&self) -> String {
        match self {
            StableId::EntryUuid(uuid) => format!("entryUUID:{uuid}"),
            StableId::ObjectGuid(bytes) => format!("objectGUID:{}", guid_string(bytes)),
        }
    }

    pub fn from_subject(subject: &str) -> Option<StableId> {
        if let Some(uuid) = subject.strip_prefix("entryUUID:") {
            return Some(StableId::EntryUuid(uuid.to_string()));
        }
        subject
            .strip_prefix("objectGUID:")
            .and_then(guid_bytes)
            .map(StableId::ObjectGuid)
    }

    /// The filter that finds the entry.
    pub fn filter(&self) -> String {
        match self {
            StableId::EntryUuid(uuid) => format!("(entryUUID={})", ldap3::ldap_escape(uuid.as_str())),
            StableId::ObjectGuid(bytes) => super::filter::binary_equals("objectGUID", bytes),
        }
    }
}

fn is_secret(name: &str) -> bool {
    SECRET_ATTRIBUTES.iter().any(|s| s.eq_ignore_ascii_case(name))
}

fn shown_value(name: &str, value: &[u8]) -> String {
    if name.eq_ignore_ascii_case("objectGUID") && value.len() == 16 {
        return guid_string(value);
    }
    if name.eq_ignore_ascii_case("objectSid")
        && let Some(sid) = sid_string(value)
    {
        return sid;
    }
    match std::str::from_utf8(value) {
        Ok(text) => text.to_string(),
        Err(_) => base64::engine::general_purpose::STANDARD.encode(value),
    }
}

/// A GUID's string form: its first three fields are little-endian on the wire (MS-DTYP
/// §2.3.4), the last eight bytes as they come.
pub fn guid_string(b: &[u8]) -> String {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut first: Vec<u8> = b[0..4].to_vec();
    first.reverse();
    let mut second: Vec<u8> = b[4..6].to_vec();
    second.reverse();
    let mut third: Vec<u8> = b[6..8].to_vec();
    third.reverse();
    format!("{}-{}-{}-{}-{}", hex(&first), hex(&second), hex(&third), hex(&b[8..10]), hex(&b[10..16]))
}

/// The bytes of a GUID's string form.
fn guid_bytes(text: &str) -> Option<Vec<u8>> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok())
        .collect::<Option<_>>()?;
    let mut wire = bytes.clone();
    wire[0..4].reverse();
    wire[4..6].reverse();
    wire[6..8].reverse();
    Some(wire)
}

/// A SID's string form `S-1-5-21-…` (MS-DTYP §2.4.2.2), if the bytes are one.
fn sid_string(b: &[u8]) -> Option<String> {
    let (&revision, rest) = b.split_first()?;
    let (&count, rest) = rest.split_first()?;
    if rest.len() != 6 + 4 * usize::from(count) {
        return None;
    }
    let authority = rest[..6].iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
    let mut sid = format!("S-{revision}-{authority}");
    for chunk in rest[6..].chunks_exact(4) {
        let sub = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        sid.push_str(&format!("-{sub}"));
    }
    Some(sid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attributes: &[(&str, &[&[u8]])]) -> Entry {
        Entry {
            dn: "uid=ada,ou=people,dc=example,dc=org".into(),
            attributes: attributes
                .iter()
                .map(|(n, v)| (n.to_string(), v.iter().map(|b| b.to_vec()).collect()))
                .collect(),
        }
    }

    #[test]
    fn an_attribute_held_once_is_a_string_and_more_often_a_list() {
        let e = entry(&[("mail", &[b"ada@example.org"]), ("cn", &[b"Ada", b"Ada Lovelace"])]);
        let doc = e.document(vec!["staff".into()]);
        assert_eq!(doc["dn"], "uid=ada,ou=people,dc=example,dc=org");
        assert_eq!(doc["mail"], "ada@example.org");
        assert_eq!(doc["cn"], serde_json::json!(["Ada", "Ada Lovelace"]));
        assert_eq!(doc["groups"], serde_json::json!(["staff"]));
    }

    #[test]
    fn binary_values_are_shown_as_text() {
        // The GUID {01020304-0506-0708-090a-0b0c0d0e0f10} as AD sends it.
        let guid: &[u8] = &[4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16];
        // S-1-5-21-1: revision 1, authority 5, two subauthorities.
        let sid: &[u8] = &[1, 2, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0];
        let e = entry(&[("objectGUID", &[guid]), ("objectSid", &[sid]), ("jpegPhoto", &[&[0xff, 0xd8]])]);
        let doc = e.document(Vec::new());
        assert_eq!(doc["objectGUID"], "01020304-0506-0708-090a-0b0c0d0e0f10");
        assert_eq!(doc["objectSid"], "S-1-5-21-1");
        assert_eq!(doc["jpegPhoto"], "/9g=");
        let id = e.stable_id().unwrap();
        assert_eq!(StableId::from_subject(&id.to_subject()), Some(id));
    }

    #[test]
    fn the_stable_id_is_the_entry_uuid_first() {
        let e = entry(&[("entryUUID", &[b"8180e2f2-8656-1041-8481-0fa4383ee9e8"])]);
        let id = e.stable_id().unwrap();
        assert_eq!(id.to_subject(), "entryUUID:8180e2f2-8656-1041-8481-0fa4383ee9e8");
        assert_eq!(id.filter(), "(entryUUID=8180e2f2-8656-1041-8481-0fa4383ee9e8)");
    }

    #[test]
    fn ad_disabled_accounts_are_recognised() {
        assert!(entry(&[("userAccountControl", &[b"514"])]).disabled_in_active_directory());
        assert!(!entry(&[("userAccountControl", &[b"512"])]).disabled_in_active_directory());
        assert!(!entry(&[]).disabled_in_active_directory());
    }
}
