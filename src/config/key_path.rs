//! How a key's place in the config is written in messages: `clients[0].redirect_uris[1]`,
//! `scopes."my scope"`.

/// `a` + `b` → `a.b`; `a` + `[0]` → `a[0]`.
pub fn join_path(at: &str, path: &str) -> String {
    match (at.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => at.to_string(),
        (false, false) if path.starts_with('[') => format!("{at}{path}"),
        (false, false) => format!("{at}.{path}"),
    }
}

/// Appends a table key, quoting it when it would not read as one key.
pub fn join_key(at: &str, key: &str) -> String {
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_string()
    } else {
        format!("\"{}\"", key.replace('"', "\\\""))
    };
    join_path(at, &key)
}
