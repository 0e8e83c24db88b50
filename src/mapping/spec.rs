//! A compiled mapping and its evaluation.

use super::helpers::is_empty;
use handlebars::{Context, Handlebars};
use serde_json::{Map, Value as Json};
use std::fmt;

/// A mapping file, validated and with its templates compiled.
pub struct Mapping {
    pub(super) registry: Handlebars<'static>,
    /// The registry name of the subject template.
    pub(super) subject: String,
    pub(super) claims: Vec<(String, Claim)>,
}

/// How one claim is made.
pub(super) enum Claim {
    Single {
        source: Source,
        coerce: Option<ValueType>,
        default: Option<Json>,
    },
    /// An object claim (like `address`) built from its own fields.
    Object(Vec<(String, Claim)>),
}

pub(super) enum Source {
    /// The registry name of a compiled template.
    Template(String),
    /// A path into the input document.
    From(Vec<String>),
    /// A literal.
    Value(Json),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ValueType {
    String,
    Bool,
    Number,
    Json,
}

/// What a mapping made of one upstream document.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The upstream's stable id for the person.
    pub subject: String,
    pub claims: Map<String, Json>,
}

/// Why a mapping could not be evaluated on a document: which claim, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct EvalError {
    /// `subject` or `claims.NAME` (`claims.address.locality` for a field).
    pub key: String,
    pub message: String,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl Mapping {
    /// Maps `input` (the upstream's claims as one JSON object) to a subject and claims.
    /// Claims whose result is empty are left out; a value that cannot take the
    /// declared `type` is an error naming the claim.
    pub fn evaluate(&self, input: &Json) -> Result<Mapped, EvalError> {
        // One context for every template: building it copies the whole input.
        let context = Context::from(input.clone());
        let input = Input { json: input, context };
        let subject = self.subject(&input)?;
        if subject.is_empty() {
            return Err(EvalError {
                key: "subject".into(),
                message: "is empty: the input has no value where `subject` looks".into(),
            });
        }
        let claims = self.evaluate_fields(&self.claims, &input, "claims")?;
        Ok(Mapped { subject, claims })
    }

    /// The claim names this mapping can produce, for discovery's `claims_supported`.
    pub fn claim_names(&self) -> impl Iterator<Item = &str> {
        self.claims.iter().map(|(name, _)| name.as_str())
    }

    fn evaluate_fields(
        &self,
        fields: &[(String, Claim)],
        input: &Input,
        at: &str,
    ) -> Result<Map<String, Json>, EvalError> {
        let mut out = Map::new();
        for (name, claim) in fields {
            let key = format!("{at}.{name}");
            if let Some(value) = self.evaluate_claim(claim, input, &key)? {
                out.insert(name.clone(), value);
            }
        }
        Ok(out)
    }

    fn evaluate_claim(&self, claim: &Claim, input: &Input, key: &str) -> Result<Option<Json>, EvalError> {
        let (source, coerce, default) = match claim {
            Claim::Object(fields) => {
                let fields = self.evaluate_fields(fields, input, key)?;
                return Ok((!fields.is_empty()).then_some(Json::Object(fields)));
            }
            Claim::Single {
                source,
                coerce,
                default,
            } => (source, coerce, default),
        };
        let value = match source {
            Source::Template(name) => Json::String(self.render(name, input, key)?),
            Source::From(path) => lookup(input.json, path).cloned().unwrap_or(Json::Null),
            Source::Value(value) => value.clone(),
        };
        let value = if is_empty(&value) { default.clone() } else { Some(value) };
        match (value, coerce) {
            (Some(value), Some(to)) => coerce_to(value, *to).map(Some).map_err(|message| EvalError {
                key: key.to_string(),
                message,
            }),
            (value, _) => Ok(value),
        }
    }

    /// Renders a template, trims it and collapses inner runs of whitespace.
    fn render(&self, name: &str, input: &Input, key: &str) -> Result<String, EvalError> {
        let text = self.render_exactly(name, input, key)?;
        Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    fn render_exactly(&self, name: &str, input: &Input, key: &str) -> Result<String, EvalError> {
        self.registry
            .render_with_context(name, &input.context)
            .map_err(|e| EvalError {
                key: key.to_string(),
                message: format!("the template fails: {}", e.reason()),
            })
    }

    /// The subject exactly as rendered: no trimming, no collapsed spaces, since two
    /// upstream subjects that differ only in spacing are two people. A value the
    /// template shows that is an object or a list fails (it would render as a
    /// placeholder, the same for every person).
    fn subject(&self, input: &Input) -> Result<String, EvalError> {
        let failed = |message: String| EvalError {
            key: "subject".into(),
            message,
        };
        let shown = self
            .registry
            .get_template(&self.subject)
            .map(shown_paths)
            .unwrap_or_default();
        for path in shown {
            if let Some(Json::Object(_) | Json::Array(_)) = lookup(input.json, &path) {
                let path = path.join(".");
                return Err(failed(format!(
                    "{{{{{path}}}}} is an object or a list: a subject must be a string or a number"
                )));
            }
        }
        self.render_exactly(&self.subject, input, "subject")
    }
}

/// The document being mapped, with its template context built once.
struct Input<'a> {
    json: &'a Json,
    context: Context,
}

/// The input paths a template shows directly (`{{sub}}`, `{{profile.id}}`), outside
/// helpers and blocks.
fn shown_paths(template: &handlebars::Template) -> Vec<Vec<String>> {
    use handlebars::template::{Parameter, TemplateElement};
    use handlebars::{Path, PathSeg};
    template
        .elements
        .iter()
        .filter_map(|element| match element {
            TemplateElement::Expression(shown) | TemplateElement::HtmlExpression(shown) if shown.params.is_empty() => {
                match &shown.name {
                    Parameter::Name(name) => Some(vec![name.clone()]),
                    Parameter::Path(Path::Relative((segments, _))) => segments
                        .iter()
                        .map(|segment| match segment {
                            PathSeg::Named(name) => Some(name.clone()),
                            _ => None,
                        })
                        .collect(),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

/// Follows a path of object keys and array indexes.
pub(super) fn lookup<'a>(input: &'a Json, path: &[String]) -> Option<&'a Json> {
    path.iter().try_fold(input, |current, segment| match current {
        Json::Object(fields) => fields.get(segment),
        Json::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn coerce_to(value: Json, to: ValueType) -> Result<Json, String> {
    // A preview of at most 40 characters; counted in characters, not bytes, so that the
    // cut never falls inside one.
    let shown = || {
        let text = value.to_string();
        if text.chars().count() > 40 {
            text.chars().take(37).chain("...".chars()).collect()
        } else {
            text
        }
    };
    match (to, &value) {
        (ValueType::Json, Json::String(text)) => {
            serde_json::from_str(text).map_err(|e| format!("{} is not JSON text ({e})", shown()))
        }
        (ValueType::Json, _) => Ok(value),
        (ValueType::String, Json::String(_)) => Ok(value),
        (ValueType::String, Json::Number(n)) => Ok(Json::String(n.to_string())),
        (ValueType::String, Json::Bool(b)) => Ok(Json::String(b.to_string())),
        (ValueType::Bool, Json::Bool(_)) => Ok(value),
        (ValueType::Bool, Json::String(s)) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(Json::Bool(true)),
        (ValueType::Bool, Json::String(s)) if s.eq_ignore_ascii_case("false") || s == "0" => Ok(Json::Bool(false)),
        (ValueType::Bool, Json::Number(n)) if n.as_u64() == Some(1) => Ok(Json::Bool(true)),
        (ValueType::Bool, Json::Number(n)) if n.as_u64() == Some(0) => Ok(Json::Bool(false)),
        (ValueType::Number, Json::Number(_)) => Ok(value),
        (ValueType::Number, Json::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Json::from)
            .ok()
            .or_else(|| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Json::Number)
            })
            .ok_or_else(|| format!("{} cannot be a number", shown())),
        (ValueType::String, _) => Err(format!("{} cannot be a string", shown())),
        (ValueType::Bool, _) => Err(format!("{} cannot be a boolean", shown())),
        (ValueType::Number, _) => Err(format!("{} cannot be a number", shown())),
    }
}
