//! The id of a refresh family.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A refresh family's id: its session's id, a colon and a random part, so that the
/// families of a session are the keys that start with [`FamilyId::prefix_of_session`].
/// Stored as the string it is; reads as a `&str` where a table key is wanted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FamilyId(String);

impl FamilyId {
    /// A new family for a login in the session `sid`.
    pub fn new(sid: &str) -> FamilyId {
        FamilyId(format!(
            "{}{}",
            FamilyId::prefix_of_session(sid),
            crate::secrets::random_token()
        ))
    }

    /// The family a key of the `refresh-families` table names.
    pub fn from_key(key: String) -> FamilyId {
        FamilyId(key)
    }

    /// What the id of every refresh family of the session `sid` starts with.
    pub fn prefix_of_session(sid: &str) -> String {
        format!("{sid}:")
    }
}

impl std::ops::Deref for FamilyId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::FamilyId;

    #[test]
    fn a_family_is_found_by_its_sessions_prefix_and_no_other() {
        let family = FamilyId::new("s1");
        assert!(family.starts_with(&FamilyId::prefix_of_session("s1")));
        assert!(!family.starts_with(&FamilyId::prefix_of_session("s")));
        assert_ne!(FamilyId::new("s1"), family);
    }

    #[test]
    fn a_family_id_is_stored_as_its_string() {
        let family = FamilyId::new("s1");
        assert_eq!(serde_json::to_string(&family).unwrap(), format!("\"{family}\""));
    }
}
