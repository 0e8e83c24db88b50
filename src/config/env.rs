//! `${NAME}` in any string value is replaced by the environment variable NAME;
//! `$$` stands for a literal `$`.

use super::Problem;

/// Replaces every `${NAME}` in the string values of `value`, reporting each
/// variable that is not set under the key path where it was used.
pub fn interpolate(value: &mut toml::Value, path: &str, problems: &mut Vec<Problem>) {
    interpolate_with(value, path, problems, &|name| std::env::var(name).ok());
}

fn interpolate_with(
    value: &mut toml::Value,
    path: &str,
    problems: &mut Vec<Problem>,
    lookup: &dyn Fn(&str) -> Option<String>,
) {
    match value {
        toml::Value::String(text) => match expand(text, lookup) {
            Ok(expanded) => *text = expanded,
            Err(message) => problems.push(Problem::new(path, message)),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_with(item, &format!("{path}[{i}]"), problems, lookup);
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                interpolate_with(item, &super::key_path::join_key(path, key), problems, lookup);
            }
        }
        _ => {}
    }
}

fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or("\"${\" is not closed by \"}\" (write \"$$\" for a literal \"$\")")?;
            let name = &body[..end];
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("\"${{{name}}}\" is not a valid environment variable name"));
            }
            let found = lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&found);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "SECRET").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn replaces_set_variables_and_keeps_other_text() {
        assert_eq!(expand("a-${SECRET}-b", &lookup), Ok("a-s3cr3t-b".into()));
        assert_eq!(expand("cost $5, $$HOME", &lookup), Ok("cost $5, $HOME".into()));
    }

    #[test]
    fn reports_missing_and_malformed_variables() {
        assert_eq!(
            expand("${NOPE}", &lookup),
            Err("environment variable NOPE is not set".into())
        );
        assert!(expand("${OPEN", &lookup).is_err());
        assert!(expand("${1BAD}", &lookup).is_err());
    }

    #[test]
    fn reports_the_key_path_of_each_problem() {
        let mut value: toml::Value =
            toml::from_str("[[clients]]\nsecret = \"${NOPE}\"\nredirect_uris = [\"ok\", \"${ALSO_NOPE}\"]")
                .unwrap_or_else(|e| panic!("{e}"));
        let mut problems = Vec::new();
        interpolate_with(&mut value, "", &mut problems, &lookup);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"clients[0].secret"), "{keys:?}");
        assert!(keys.contains(&"clients[0].redirect_uris[1]"), "{keys:?}");
    }
}
