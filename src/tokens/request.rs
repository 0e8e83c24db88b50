//! The parameters of a form request to an endpoint that authenticates clients, and the
//! token request they make, one variant per `grant_type` (RFC 6749 §4.1.3, §4.4.2, §6;
//! RFC 8628 §3.4; RFC 8693 §2.1; RFC 7523 §2.1).

use super::TokenError;

/// A form body as name/value pairs. RFC 6749 §3.2: a parameter is sent at most once.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `name`, if sent; `invalid_request` when it was sent twice.
    pub fn get(&self, name: &str) -> Result<Option<&str>, TokenError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(TokenError::InvalidRequest(format!("{name} is sent more than once")));
        }
        Ok(first)
    }

    /// The value of `name`; `invalid_request` when it is missing.
    pub fn required(&self, name: &str) -> Result<&str, TokenError> {
        self.get(name)?
            .ok_or_else(|| TokenError::InvalidRequest(format!("{name} is missing")))
    }

    /// Every value of `name`, for the parameters that may be sent more than once
    /// (`resource`, RFC 8707 §2).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn owned(&self, name: &str) -> Result<Option<String>, TokenError> {
        Ok(self.get(name)?.map(String::from))
    }
}

/// A token request, by grant type.
#[derive(Debug)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
        /// The resources (RFC 8707) the access token is for: the grant's, or fewer.
        resources: Vec<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
        resources: Vec<String>,
    },
    ClientCredentials {
        scope: Option<String>,
        resources: Vec<String>,
    },
    /// A device's poll (RFC 8628 §3.4).
    DeviceCode {
        device_code: String,
        resources: Vec<String>,
    },
    TokenExchange(Box<ExchangeRequest>),
    /// An upstream's JWT as the grant (RFC 7523 §2.1).
    JwtBearer {
        assertion: String,
        scope: Option<String>,
    },
}

/// A token exchange request (RFC 8693 §2.1).
#[derive(Debug)]
pub struct ExchangeRequest {
    pub subject_token: String,
    pub subject_token_type: String,
    /// The token of whoever acts for the subject, with its type.
    pub actor: Option<(String, String)>,
    /// `audience`, or else `resource`: the resource server the token is for.
    pub audience: Option<String>,
    pub scope: Option<String>,
}

/// The token types of RFC 8693 §3 that Gatehouse takes.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

impl ExchangeRequest {
    fn parse(params: &Params) -> Result<ExchangeRequest, TokenError> {
        let actor = match (params.get("actor_token")?, params.get("actor_token_type")?) {
            (Some(token), Some(kind)) => Some((token.to_string(), kind.to_string())),
            (None, None) => None,
            (Some(_), None) => return Err(TokenError::InvalidRequest("actor_token_type is missing".into())),
            (None, Some(_)) => {
                return Err(TokenError::InvalidRequest(
                    "actor_token_type is sent without an actor_token".into(),
                ));
            }
        };
        let audience = match (params.get("audience")?, params.get("resource")?) {
            (Some(audience), Some(resource)) if audience != resource => {
                return Err(TokenError::InvalidTarget(
                    "audience and resource name different targets".into(),
                ));
            }
            (audience, resource) => audience.or(resource).map(String::from),
        };
        if let Some(requested) = params.get("requested_token_type")?
            && requested != ACCESS_TOKEN_TYPE
        {
            return Err(TokenError::InvalidRequest(format!(
                "requested_token_type {requested} is not issued: only {ACCESS_TOKEN_TYPE}"
            )));
        }
        Ok(ExchangeRequest {
            subject_token: params.required("subject_token")?.to_string(),
            subject_token_type: params.required("subject_token_type")?.to_string(),
            actor,
            audience,
            scope: params.owned("scope")?,
        })
    }
}

impl TokenRequest {
    /// The `grant_type` value, for metrics.
    pub fn grant_type(&self) -> &'static str {
        match self {
            TokenRequest::AuthorizationCode { .. } => "authorization_code",
            TokenRequest::RefreshToken { .. } => "refresh_token",
            TokenRequest::ClientCredentials { .. } => "client_credentials",
            TokenRequest::DeviceCode { .. } => "device_code",
            TokenRequest::TokenExchange(_) => "token_exchange",
            TokenRequest::JwtBearer { .. } => "jwt_bearer",
        }
    }

    /// The grant type a client registers (`grant_types`) to make this request.
    pub fn registered_as(&self) -> crate::config::GrantType {
        use crate::config::GrantType;
        match self {
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
            TokenRequest::DeviceCode { .. } => GrantType::DeviceCode,
            TokenRequest::TokenExchange(_) => GrantType::TokenExchange,
            TokenRequest::JwtBearer { .. } => GrantType::JwtBearer,
        }
    }

    /// Reads the request `params` make: `grant_type` first, then what that grant needs.
    pub fn parse(params: &Params) -> Result<TokenRequest, TokenError> {
        match params.required("grant_type")? {
            "authorization_code" => Ok(TokenRequest::AuthorizationCode {
                code: params.required("code")?.to_string(),
                redirect_uri: params.owned("redirect_uri")?,
                code_verifier: params.owned("code_verifier")?,
                resources: params.all("resource"),
            }),
            "refresh_token" => Ok(TokenRequest::RefreshToken {
                refresh_token: params.required("refresh_token")?.to_string(),
                scope: params.owned("scope")?,
                resources: params.all("resource"),
            }),
            "client_credentials" => Ok(TokenRequest::ClientCredentials {
                scope: params.owned("scope")?,
                resources: params.all("resource"),
            }),
            "urn:ietf:params:oauth:grant-type:device_code" => Ok(TokenRequest::DeviceCode {
                device_code: params.required("device_code")?.to_string(),
                resources: params.all("resource"),
            }),
            "urn:ietf:params:oauth:grant-type:token-exchange" => {
                Ok(TokenRequest::TokenExchange(Box::new(ExchangeRequest::parse(params)?)))
            }
            "urn:ietf:params:oauth:grant-type:jwt-bearer" => Ok(TokenRequest::JwtBearer {
                assertion: params.required("assertion")?.to_string(),
                scope: params.owned("scope")?,
            }),
            other => Err(TokenError::UnsupportedGrantType(format!(
                "grant_type {other} is not supported"
            ))),
        }
    }
}
