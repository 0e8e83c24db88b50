//! The template helpers a mapping may use, beside handlebars' own. Missing values are
//! `null` here (templates run in non-strict mode) and count as empty.

use handlebars::{Handlebars, handlebars_helper};
use serde_json::Value as Json;

/// Every helper name a mapping template may call.
pub const ALLOWED: &[&str] = &[
    // handlebars' built-ins (its `log` is removed: it would write personal data to the log)
    "if", "unless", "each", "with", "lookup", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not", "len",
    // Gatehouse's
    "lower", "upper", "trim", "coalesce", "join", "find",
];

/// Whether a value counts as absent: missing, null, an empty string or collection.
pub fn is_empty(value: &Json) -> bool {
    match value {
        Json::Null => true,
        Json::String(s) => s.trim().is_empty(),
        Json::Array(items) => items.is_empty(),
        Json::Object(fields) => fields.is_empty(),
        Json::Bool(_) | Json::Number(_) => false,
    }
}

/// A scalar as template text; null and collections render as nothing.
fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => b.to_string(),
        Json::Null | Json::Array(_) | Json::Object(_) => String::new(),
    }
}

handlebars_helper!(lower: |value: Json| text(value).to_lowercase());
handlebars_helper!(upper: |value: Json| text(value).to_uppercase());
handlebars_helper!(trim: |value: Json| text(value).trim().to_string());
handlebars_helper!(coalesce: |*args| args.into_iter().find(|v| !is_empty(v)).cloned().unwrap_or(Json::Null));
handlebars_helper!(join: |items: Json, separator: Json| match items {
    Json::Array(items) => items
        .iter()
        .map(text)
        .filter(|s| !s.trim().is_empty())
        .collect::<Vec<_>>()
        .join(&text(separator)),
    other => text(other),
});
handlebars_helper!(find: |items: Json, field: Json, wanted: Json| match items {
    Json::Array(items) => items
        .iter()
        .find(|item| item.get(text(field)).is_some_and(|v| loosely_equal(v, wanted)))
        .cloned()
        .unwrap_or(Json::Null),
    _ => Json::Null,
});

/// `find emails "primary" true` should also match `"primary": "true"` as upstreams
/// are not always careful with types.
fn loosely_equal(a: &Json, b: &Json) -> bool {
    a == b || (!matches!(a, Json::Array(_) | Json::Object(_)) && text(a) == text(b) && !text(a).is_empty())
}

/// A registry for mapping templates: no HTML escaping (claims are not HTML), no
/// logging helper, and Gatehouse's helpers.
pub fn registry() -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.register_escape_fn(handlebars::no_escape);
    registry.unregister_helper("log");
    registry.unregister_helper("raw");
    registry.register_helper("lower", Box::new(lower));
    registry.register_helper("upper", Box::new(upper));
    registry.register_helper("trim", Box::new(trim));
    registry.register_helper("coalesce", Box::new(coalesce));
    registry.register_helper("join", Box::new(join));
    registry.register_helper("find", Box::new(find));
    registry
}
