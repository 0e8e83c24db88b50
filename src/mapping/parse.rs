//! Reading a mapping file: every key checked, every template compiled, every problem
//! reported as `FILE: claims.KEY: problem`.

use super::helpers;
use super::spec::{Claim, Mapping, Source, ValueType};
use crate::config::{ConfigError, Problem, join_key, toml_to_json};
use handlebars::Handlebars;
use handlebars::template::{Parameter, Template, TemplateElement};
use std::path::Path;

/// The keys that make a table one claim's recipe rather than an object claim.
const SOURCES: &[&str] = &["template", "from", "value"];
const OPTIONS: &[&str] = &["type", "default"];

impl Mapping {
    /// Parses and compiles the mapping `text`, read from `file` (named in problems).
    pub fn parse(file: &Path, text: &str) -> Result<Mapping, ConfigError> {
        let mut problems = Vec::new();
        let mut registry = helpers::registry();
        let mut subject = "{{sub}}".to_string();
        let mut claims = Vec::new();
        match toml::from_str::<toml::Table>(text) {
            Err(e) => problems.push(Problem::new("", format!("not valid TOML: {}", e.message().trim()))),
            Ok(table) => {
                for (key, value) in table {
                    match (key.as_str(), value) {
                        ("subject", toml::Value::String(text)) => subject = text,
                        ("subject", _) => {
                            problems.push(Problem::new("subject", "must be a template string, e.g. \"{{sub}}\""))
                        }
                        ("claims", toml::Value::Table(fields)) => {
                            claims = parse_fields(fields, "claims", &mut registry, &mut problems)
                        }
                        ("claims", _) => problems.push(Problem::new("claims", "must be a table: [claims]")),
                        (other, _) => problems.push(Problem::new(
                            join_key("", other),
                            "unknown key (a mapping has `subject` and a [claims] table)",
                        )),
                    }
                }
            }
        }
        compile(&mut registry, "subject", &subject, &mut problems);
        if problems.is_empty() {
            Ok(Mapping {
                registry,
                subject: "subject".into(),
                claims,
            })
        } else {
            Err(ConfigError {
                file: file.to_path_buf(),
                problems,
            })
        }
    }
}

fn parse_fields(
    fields: toml::Table,
    at: &str,
    registry: &mut Handlebars<'static>,
    problems: &mut Vec<Problem>,
) -> Vec<(String, Claim)> {
    let top_level = at == "claims";
    let mut out = Vec::new();
    for (name, value) in fields {
        let key = join_key(at, &name);
        if !is_json_safe(&name) {
            problems.push(Problem::new(
                &key,
                "a claim name must be printable ASCII without spaces, quotes or backslashes",
            ));
            continue;
        }
        if top_level && super::PROTECTED_CLAIMS.contains(&name.as_str()) {
            problems.push(Problem::new(
                &key,
                format!("\"{name}\" is set by Gatehouse itself, not by a mapping"),
            ));
            continue;
        }
        if let Some(claim) = parse_claim(value, &key, registry, problems) {
            out.push((name, claim));
        }
    }
    out
}

fn parse_claim(
    value: toml::Value,
    key: &str,
    registry: &mut Handlebars<'static>,
    problems: &mut Vec<Problem>,
) -> Option<Claim> {
    let mut table = match value {
        toml::Value::String(source) => {
            return compile(registry, key, &source, problems).then(|| Claim::Single {
                source: Source::Template(key.to_string()),
                coerce: None,
                default: None,
            });
        }
        toml::Value::Table(table) => table,
        _ => {
            problems.push(Problem::new(
                key,
                "must be a template string or a table ({ from = ... }, { template = ... }, { value = ... } or fields)",
            ));
            return None;
        }
    };
    let is_recipe = table
        .keys()
        .any(|k| SOURCES.contains(&k.as_str()) || OPTIONS.contains(&k.as_str()));
    if !is_recipe {
        if table.is_empty() {
            problems.push(Problem::new(
                key,
                "is empty: give it a template, from, value, or fields",
            ));
            return None;
        }
        let fields = parse_fields(table, key, registry, problems);
        return Some(Claim::Object(fields));
    }
    let start = problems.len();
    let sources: Vec<&str> = SOURCES.iter().copied().filter(|s| table.contains_key(*s)).collect();
    for unknown in table
        .keys()
        .filter(|k| !SOURCES.contains(&k.as_str()) && !OPTIONS.contains(&k.as_str()))
    {
        problems.push(Problem::new(
            join_key(key, unknown),
            "unknown key (a claim table has one of template, from, value, and optionally type and default)",
        ));
    }
    let coerce = match table.remove("type") {
        None => None,
        Some(toml::Value::String(t)) => match t.as_str() {
            "string" => Some(ValueType::String),
            "bool" => Some(ValueType::Bool),
            "number" => Some(ValueType::Number),
            "json" => Some(ValueType::Json),
            _ => {
                problems.push(Problem::new(
                    format!("{key}.type"),
                    format!("\"{t}\" is not a type: use string, bool, number or json"),
                ));
                None
            }
        },
        Some(_) => {
            problems.push(Problem::new(
                format!("{key}.type"),
                "must be one of \"string\", \"bool\", \"number\", \"json\"",
            ));
            None
        }
    };
    let default = table.remove("default").map(|v| toml_to_json(&v));
    let source = match sources.as_slice() {
        [] => {
            problems.push(Problem::new(key, "needs a source: template, from or value"));
            None
        }
        [_, _, ..] => {
            problems.push(Problem::new(
                key,
                format!("has two sources ({}): keep one", sources.join(", ")),
            ));
            None
        }
        [one] => match (*one, table.remove(*one)) {
            ("template", Some(toml::Value::String(source))) => {
                compile(registry, key, &source, problems).then(|| Source::Template(key.to_string()))
            }
            ("template", _) => {
                problems.push(Problem::new(format!("{key}.template"), "must be a template string"));
                None
            }
            ("from", Some(toml::Value::String(path))) => match parse_path(&path) {
                Ok(path) => Some(Source::From(path)),
                Err(message) => {
                    problems.push(Problem::new(format!("{key}.from"), message));
                    None
                }
            },
            ("from", _) => {
                problems.push(Problem::new(
                    format!("{key}.from"),
                    "must be a path string, e.g. \"profile.name.first\"",
                ));
                None
            }
            (_, value) => value.map(|v| Source::Value(toml_to_json(&v))),
        },
    };
    if problems.len() > start {
        return None;
    }
    source.map(|source| Claim::Single {
        source,
        coerce,
        default,
    })
}

/// `profile.emails.0.value` or `profile.emails.[0].value` → its segments.
fn parse_path(path: &str) -> Result<Vec<String>, String> {
    if path.contains("{{") {
        return Err(format!(
            "\"{path}\" is a template, not a path: write template = \"{path}\""
        ));
    }
    // Keys separated by dots; a key in brackets may hold dots itself (a SAML attribute
    // named by an OID or a URL: `attributes.[urn:oid:2.5.4.42].0`).
    let mut segments = Vec::new();
    let mut rest = path;
    loop {
        let (segment, after) = match rest.strip_prefix('[') {
            Some(inner) => {
                let end = inner
                    .find(']')
                    .ok_or_else(|| format!("\"{path}\" has a [ without its ]"))?;
                (&inner[..end], &inner[end + 1..])
            }
            None => rest.split_at(rest.find('.').unwrap_or(rest.len())),
        };
        if segment.is_empty() {
            return Err(format!(
                "\"{path}\" has an empty segment: write keys separated by single dots"
            ));
        }
        segments.push(segment.to_string());
        if after.is_empty() {
            return Ok(segments);
        }
        rest = after
            .strip_prefix('.')
            .filter(|next| !next.is_empty())
            .ok_or_else(|| format!("\"{path}\" has an empty segment: write keys separated by single dots"))?;
    }
}

/// Compiles `source` under `name`, checking that it only calls known helpers.
fn compile(registry: &mut Handlebars<'static>, name: &str, source: &str, problems: &mut Vec<Problem>) -> bool {
    let template = match Template::compile(source) {
        Ok(template) => template,
        Err(e) => {
            problems.push(Problem::new(name, format!("template syntax: {e}")));
            return false;
        }
    };
    let start = problems.len();
    check_elements(&template.elements, name, problems);
    if problems.len() > start {
        return false;
    }
    registry.register_template(name, template);
    true
}

fn check_elements(elements: &[TemplateElement], key: &str, problems: &mut Vec<Problem>) {
    for element in elements {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(call) | TemplateElement::HtmlExpression(call) => {
                let is_call = !call.params.is_empty() || !call.hash.is_empty();
                check_call(&call.name, &call.params, is_call, key, problems);
            }
            TemplateElement::HelperBlock(call) => {
                check_call(&call.name, &call.params, true, key, problems);
                for inner in call.template.iter().chain(call.inverse.iter()) {
                    check_elements(&inner.elements, key, problems);
                }
            }
            TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                problems.push(Problem::new(key, "partials ({{> ...}}) are not available in mappings"))
            }
            TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => problems.push(
                Problem::new(key, "decorators ({{* ...}}) are not available in mappings"),
            ),
            // A construct a later handlebars adds is refused until it has been looked at.
            _ => problems.push(Problem::new(
                key,
                "this template construct is not available in mappings",
            )),
        }
    }
}

fn check_call(name: &Parameter, params: &[Parameter], is_call: bool, key: &str, problems: &mut Vec<Problem>) {
    if let Parameter::Name(helper) = name
        && is_call
        && !helpers::ALLOWED.contains(&helper.as_str())
    {
        problems.push(Problem::new(
            key,
            format!(
                "unknown helper \"{helper}\" (available: {})",
                helpers::ALLOWED.join(", ")
            ),
        ));
    }
    for param in params {
        if let Parameter::Subexpression(sub) = param {
            check_elements(std::slice::from_ref(&sub.element), key, problems);
        }
    }
}

/// Printable ASCII without spaces, quotes or backslashes: safe as a JSON member name
/// and in every RP library.
fn is_json_safe(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}
