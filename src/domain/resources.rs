//! Resource indicators (RFC 8707): the APIs an access token is for, named by `resource`
//! at `/authorize`, `/par` and `/token`. Each must be a `[[resource_servers]]` audience
//! or an https URL on a `[resource_indicators] allowed_hosts` host; the access token's
//! `aud` is then the resources instead of the client.

use crate::config::Config;

/// The most resources one request may name.
pub const MOST: usize = 10;

/// `requested`, each checked (RFC 8707 §2: an absolute URI without fragment, and one
/// this issuer issues tokens for), without repeats; why not as `invalid_target` says it.
pub fn checked(config: &Config, requested: &[String]) -> Result<Vec<String>, String> {
    if requested.len() > MOST {
        return Err(format!("at most {MOST} resources may be named"));
    }
    let mut resources: Vec<String> = Vec::new();
    for resource in requested {
        let url = url::Url::parse(resource).map_err(|_| format!("resource \"{resource}\" is not an absolute URI"))?;
        if url.fragment().is_some() {
            return Err(format!("resource \"{resource}\" must not have a fragment"));
        }
        let known =
            config.resource_servers.iter().any(|s| s.audience == *resource) || config.resource_indicators.allows(&url);
        if !known {
            return Err(format!(
                "\"{resource}\" is not a resource this issuer issues tokens for"
            ));
        }
        if !resources.contains(resource) {
            resources.push(resource.clone());
        }
    }
    Ok(resources)
}

/// The resources of a token request against those of its grant: none named keeps the
/// grant's; named, each must be among them (RFC 8707 §2.2: a token for fewer), or,
/// when the grant named none, a resource this issuer issues tokens for.
pub fn narrowed(config: &Config, granted: &[String], requested: &[String]) -> Result<Vec<String>, String> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    let requested = checked(config, requested)?;
    if !granted.is_empty()
        && let Some(outside) = requested.iter().find(|r| !granted.contains(r))
    {
        return Err(format!(
            "\"{outside}\" was not granted: a token may narrow the resources, never widen them"
        ));
    }
    Ok(requested)
}

/// The `aud` of an access token for `resources` of `client_id`: the client when none.
pub fn audience(client_id: &str, resources: &[String]) -> serde_json::Value {
    match resources {
        [] => serde_json::json!(client_id),
        [one] => serde_json::json!(one),
        many => serde_json::json!(many),
    }
}
