//! What an authorization request asks the authorization endpoint to hand back (its
//! response type: a code, an ID token, an access token, or a mix) and how the answer
//! travels to the relying party (its response mode). OpenID Connect Core §3 and
//! OAuth 2.0 Multiple Response Type Encoding Practices.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A response type: which of code, id_token and token the authorization endpoint returns.
/// Only the combinations OpenID Connect defines exist; the order of the words in a
/// request does not matter ("id_token code" is "code id_token").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseType {
    pub code: bool,
    pub id_token: bool,
    pub token: bool,
}

impl ResponseType {
    pub const CODE: ResponseType = ResponseType::new(true, false, false);

    /// Every response type Gatehouse supports, in the order discovery lists them.
    pub const ALL: [ResponseType; 6] = [
        ResponseType::CODE,
        ResponseType::new(false, true, false),
        ResponseType::new(false, true, true),
        ResponseType::new(true, true, false),
        ResponseType::new(true, false, true),
        ResponseType::new(true, true, true),
    ];

    const fn new(code: bool, id_token: bool, token: bool) -> ResponseType {
        ResponseType { code, id_token, token }
    }

    /// Parses a `response_type` value; `None` for anything OpenID Connect does not define
    /// (a repeated word, an unknown one, or `token` alone, which is OAuth without OpenID).
    pub fn parse(text: &str) -> Option<ResponseType> {
        let mut found = ResponseType::new(false, false, false);
        for word in text.split(' ') {
            let seen = match word {
                "code" => &mut found.code,
                "id_token" => &mut found.id_token,
                "token" => &mut found.token,
                _ => return None,
            };
            if std::mem::replace(seen, true) {
                return None;
            }
        }
        ResponseType::ALL.contains(&found).then_some(found)
    }

    /// Whether the authorization endpoint itself hands out a token (implicit or hybrid).
    pub fn returns_tokens(self) -> bool {
        self.id_token || self.token
    }

    /// The mode used when the request names none: query for a code alone, else fragment.
    pub fn default_mode(self) -> ResponseMode {
        if self.returns_tokens() {
            ResponseMode::Fragment
        } else {
            ResponseMode::Query
        }
    }

    pub fn as_str(self) -> &'static str {
        match (self.code, self.id_token, self.token) {
            (true, false, false) => "code",
            (false, true, false) => "id_token",
            (false, true, true) => "id_token token",
            (true, true, false) => "code id_token",
            (true, false, true) => "code token",
            (true, true, true) => "code id_token token",
            // No code and no ID token is no OpenID Connect type: `parse` never yields it.
            (false, false, _) => "none",
        }
    }
}

impl Default for ResponseType {
    fn default() -> Self {
        ResponseType::CODE
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ResponseType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResponseType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ResponseType::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "\"{text}\" is not a response type (one of: {})",
                ResponseType::ALL.map(ResponseType::as_str).join(", ")
            ))
        })
    }
}

/// How the answer reaches the relying party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query: for a code alone only, as tokens in a
    /// query leak through logs and Referer headers.
    #[default]
    Query,
    /// Parameters in the redirect URI's fragment, which the browser keeps to itself.
    Fragment,
    /// An auto-submitted HTML form that POSTs the parameters to the redirect URI.
    FormPost,
    /// The parameters in one JWT Gatehouse signed (JARM), sent as `response` in the query...
    QueryJwt,
    /// ...in the fragment...
    FragmentJwt,
    /// ...or by an auto-submitted form.
    FormPostJwt,
}

impl ResponseMode {
    /// The mode `text` names for a response that returns tokens or not (`jwt` alone is
    /// JARM in the response type's default mode, JARM §2.3.4).
    pub fn parse(text: &str, returns_tokens: bool) -> Option<ResponseMode> {
        match text {
            "query" => Some(ResponseMode::Query),
            "fragment" => Some(ResponseMode::Fragment),
            "form_post" => Some(ResponseMode::FormPost),
            "query.jwt" => Some(ResponseMode::QueryJwt),
            "fragment.jwt" => Some(ResponseMode::FragmentJwt),
            "form_post.jwt" => Some(ResponseMode::FormPostJwt),
            "jwt" if returns_tokens => Some(ResponseMode::FragmentJwt),
            "jwt" => Some(ResponseMode::QueryJwt),
            _ => None,
        }
    }

    /// Whether the response goes as a signed JWT (JARM).
    pub fn is_jwt(self) -> bool {
        matches!(
            self,
            ResponseMode::QueryJwt | ResponseMode::FragmentJwt | ResponseMode::FormPostJwt
        )
    }

    /// How the response (or its JWT) travels.
    pub fn carrier(self) -> ResponseMode {
        match self {
            ResponseMode::Query | ResponseMode::QueryJwt => ResponseMode::Query,
            ResponseMode::Fragment | ResponseMode::FragmentJwt => ResponseMode::Fragment,
            ResponseMode::FormPost | ResponseMode::FormPostJwt => ResponseMode::FormPost,
        }
    }

    pub const ALL: [&'static str; 7] = [
        "query",
        "fragment",
        "form_post",
        "query.jwt",
        "fragment.jwt",
        "form_post.jwt",
        "jwt",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defined_combination_parses_in_any_order() {
        for rt in ResponseType::ALL {
            assert_eq!(ResponseType::parse(rt.as_str()), Some(rt));
            let reversed: Vec<&str> = rt.as_str().split(' ').rev().collect();
            assert_eq!(ResponseType::parse(&reversed.join(" ")), Some(rt));
        }
    }

    #[test]
    fn undefined_values_do_not_parse() {
        for text in [
            "",
            "token",
            "none",
            "code code",
            "code  id_token",
            "Code",
            "code id_token x",
            "id_token\ttoken",
        ] {
            assert_eq!(ResponseType::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn tokens_default_to_the_fragment() {
        assert_eq!(ResponseType::CODE.default_mode(), ResponseMode::Query);
        for rt in &ResponseType::ALL[1..] {
            assert_eq!(rt.default_mode(), ResponseMode::Fragment, "{rt}");
        }
    }
}
