//! Scopes as OAuth writes them (RFC 6749 §3.3): a list of case-sensitive words, each
//! once, in the order they were asked for, sent and stored as one space-separated string.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The built-in scope of Shared Signals stream management (SSF 1.0 §8.1): only clients
/// with `shared_signals = true` get it, by their own credentials.
pub const SSF_SCOPE: &str = "ssf";

/// A set of scopes. Reads and writes as the space-separated string it is on the wire, so
/// records and answers that hold one look as they did when they held the string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// The scopes of a `scope` parameter: split at spaces, each kept once.
    pub fn parse(text: &str) -> Scopes {
        text.split_whitespace().collect()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `scope` at the end, unless it is there already.
    pub fn push(&mut self, scope: &str) {
        if !self.contains(scope) {
            self.0.push(scope.to_string());
        }
    }

    /// The first of these scopes that `other` does not have, if any.
    pub fn first_not_in<'s>(&'s self, other: &Scopes) -> Option<&'s str> {
        self.iter().find(|s| !other.contains(s))
    }
}

impl<'a> FromIterator<&'a str> for Scopes {
    fn from_iter<I: IntoIterator<Item = &'a str>>(words: I) -> Scopes {
        let mut scopes = Scopes::default();
        for word in words {
            scopes.push(word);
        }
        scopes
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl From<String> for Scopes {
    fn from(text: String) -> Scopes {
        Scopes::parse(&text)
    }
}

impl From<&str> for Scopes {
    fn from(text: &str) -> Scopes {
        Scopes::parse(text)
    }
}

impl From<Scopes> for String {
    fn from(scopes: Scopes) -> String {
        scopes.to_string()
    }
}

impl PartialEq<&str> for Scopes {
    fn eq(&self, text: &&str) -> bool {
        *self == Scopes::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::Scopes;

    #[test]
    fn a_scope_parameter_is_split_at_spaces_and_each_scope_kept_once_in_order() {
        let scopes = Scopes::parse("openid  email openid profile");
        assert_eq!(scopes.iter().collect::<Vec<_>>(), ["openid", "email", "profile"]);
        assert_eq!(scopes.to_string(), "openid email profile");
    }

    #[test]
    fn scopes_are_whole_words_and_case_sensitive() {
        let scopes = Scopes::parse("openid email");
        assert!(scopes.contains("email"));
        assert!(!scopes.contains("mail") && !scopes.contains("Email"));
    }

    #[test]
    fn scopes_are_stored_as_the_string_they_are_on_the_wire() {
        let scopes = Scopes::parse("openid offline_access");
        assert_eq!(serde_json::to_string(&scopes).unwrap(), "\"openid offline_access\"");
        let back: Scopes = serde_json::from_str("\"openid offline_access\"").unwrap();
        assert_eq!(back, scopes);
    }

    #[test]
    fn the_first_scope_not_granted_is_named() {
        let granted = Scopes::parse("openid email");
        assert_eq!(Scopes::parse("openid profile").first_not_in(&granted), Some("profile"));
        assert_eq!(Scopes::parse("email").first_not_in(&granted), None);
    }
}
