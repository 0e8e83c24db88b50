//! The `prompt` of an authorization request (OpenID Connect Core §3.1.2.1), checked once
//! when the request is read and asked by name afterwards. Stored as the list of its
//! values, as before it had a type.

use serde::{Deserialize, Serialize};

/// The values Gatehouse knows.
const KNOWN: [&str; 4] = ["none", "login", "consent", "select_account"];

/// The `prompt` values of a request, each known, `none` alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Prompt(Vec<String>);

impl Prompt {
    /// Reads the space-separated `prompt` parameter; refuses unknown values and `none`
    /// with others.
    pub fn parse(prompt: Option<&str>) -> Result<Prompt, String> {
        let values: Vec<String> = prompt
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        if let Some(unknown) = values.iter().find(|v| !KNOWN.contains(&v.as_str())) {
            return Err(format!("unknown prompt value \"{unknown}\""));
        }
        if values.iter().any(|p| p == "none") && values.len() > 1 {
            return Err("prompt=none cannot be combined with other values".into());
        }
        Ok(Prompt(values))
    }

    fn has(&self, value: &str) -> bool {
        self.0.iter().any(|v| v == value)
    }

    /// No page may be shown: answer from the session, or refuse.
    pub fn none(&self) -> bool {
        self.has("none")
    }

    /// The person must authenticate again, whatever session they have.
    pub fn login(&self) -> bool {
        self.has("login")
    }

    /// The person must be asked for consent again.
    pub fn consent(&self) -> bool {
        self.has("consent")
    }

    /// The person must be able to choose another account.
    pub fn select_account(&self) -> bool {
        self.has("select_account")
    }
}

#[cfg(test)]
mod tests {
    use super::Prompt;

    #[test]
    fn a_prompt_is_stored_as_the_list_of_its_values() {
        let prompt = Prompt::parse(Some("login  consent")).unwrap_or_default();
        assert_eq!(
            serde_json::to_string(&prompt).ok().as_deref(),
            Some(r#"["login","consent"]"#)
        );
        let stored: Option<Prompt> = serde_json::from_str(r#"["select_account"]"#).ok();
        assert!(stored.is_some_and(|p| p.select_account() && !p.login()));
        assert!(Prompt::parse(Some("none login")).is_err());
        assert!(Prompt::parse(Some("sometimes")).is_err());
    }
}
