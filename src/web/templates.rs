//! Page templates: the defaults are compiled into the binary; a folder named by
//! `templates_dir` may replace any of them by file name.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use handlebars::Handlebars;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// The form_post page's one script, exactly as `templates/form_post.hbs` has it: the page's
/// policy allows this script by its hash and no other (a template that changes it keeps
/// its button, which works without the script).
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// Every template Gatehouse renders, with its embedded default. Partials are named
/// here too, so an override folder can restyle the shared layout.
const EMBEDDED: &[(&str, &str)] = &[
    ("layout", include_str!("../../templates/layout.hbs")),
    ("error", include_str!("../../templates/error.hbs")),
    ("chooser", include_str!("../../templates/chooser.hbs")),
    ("login", include_str!("../../templates/login.hbs")),
    ("consent", include_str!("../../templates/consent.hbs")),
    ("form_post", include_str!("../../templates/form_post.hbs")),
    ("logout", include_str!("../../templates/logout.hbs")),
    ("account", include_str!("../../templates/account.hbs")),
    ("device", include_str!("../../templates/device.hbs")),
];

/// A template that does not load: which file, and why.
#[derive(Debug, Clone)]
pub struct TemplateProblem {
    pub file: PathBuf,
    pub message: String,
}

impl fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

/// The compiled page templates.
pub struct Pages {
    registry: Handlebars<'static>,
}

impl Pages {
    /// Compiles the embedded templates, each replaced by `<dir>/<name>.hbs` when that
    /// file exists. Reports every template that fails and every `.hbs` file in `dir`
    /// that names no template (a typo would otherwise be ignored).
    pub fn load(dir: Option<&Path>) -> Result<Pages, Vec<TemplateProblem>> {
        let mut registry = Handlebars::new();
        let mut problems = Vec::new();
        for (name, embedded) in EMBEDDED {
            let (file, source) = match dir.map(|d| d.join(format!("{name}.hbs"))) {
                Some(path) if path.is_file() => match std::fs::read_to_string(&path) {
                    Ok(text) => (path, text),
                    Err(e) => {
                        problems.push(TemplateProblem {
                            file: path,
                            message: format!("cannot read: {e}"),
                        });
                        continue;
                    }
                },
                _ => (
                    PathBuf::from(format!("templates/{name}.hbs (embedded)")),
                    (*embedded).to_string(),
                ),
            };
            if let Err(e) = registry.register_template_string(name, source) {
                problems.push(TemplateProblem {
                    file,
                    message: e.to_string(),
                });
            }
        }
        if let Some(dir) = dir {
            problems.extend(unknown_files(dir));
        }
        if problems.is_empty() {
            Ok(Pages { registry })
        } else {
            Err(problems)
        }
    }

    /// How many templates are loaded.
    pub fn len(&self) -> usize {
        self.registry.get_templates().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renders the template `name` with `data` (escaped by handlebars).
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, handlebars::RenderError> {
        self.registry.render(name, data)
    }

    /// A page without a form (CSP `form-action 'none'`).
    pub fn page<T: Serialize>(&self, status: StatusCode, name: &str, data: &T) -> Response {
        self.page_with_forms(status, name, data, &FormAction::Nowhere)
    }

    /// A page as an HTML response that is never cached nor framed, whose forms may post
    /// where `forms` says.
    pub fn page_with_forms<T: Serialize>(
        &self,
        status: StatusCode,
        name: &str,
        data: &T,
        forms: &FormAction,
    ) -> Response {
        match self.render(name, data) {
            Ok(html) => {
                let mut response = (status, Html(html)).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
                // Page addresses carry pending-login ids: no other site learns them.
                headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
                let script = if name == "form_post" {
                    let hash = STANDARD.encode(Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
                    format!("script-src 'sha256-{hash}'; ")
                } else {
                    String::new()
                };
                let policy = format!(
                    "default-src 'none'; {script}style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'{}",
                    forms.directive()
                );
                // Fixed words, a base64 hash and serialized origins: a valid header value.
                if let Ok(policy) = HeaderValue::from_str(&policy) {
                    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
                }
                response
            }
            Err(e) => {
                tracing::error!(template = name, error = %e, "a page does not render");
                (StatusCode::INTERNAL_SERVER_ERROR, "this page cannot be shown").into_response()
            }
        }
    }

    /// The error page: what happened, and what the person can do about it.
    pub fn error(&self, status: StatusCode, title: &str, message: &str, hint: &str) -> Response {
        self.page(
            status,
            "error",
            &serde_json::json!({ "title": title, "message": message, "hint": hint }),
        )
    }
}

/// Where a page's forms may go (CSP `form-action`). Browsers apply it to the redirects
/// that answer a form as well, so it names where those end too.
pub enum FormAction {
    Nowhere,
    /// To Gatehouse only.
    SelfOnly,
    /// To Gatehouse, and on to the app at this redirect URI (a login or consent form).
    SelfThenApp(String),
    /// Straight to the app at this redirect URI (form_post).
    App(String),
    /// Not restricted: the logout confirmation's answer may go on to any upstream's
    /// logout endpoint, whose address is known only then.
    Anywhere,
}

impl FormAction {
    fn directive(&self) -> String {
        match self {
            FormAction::Nowhere => "; form-action 'none'".into(),
            FormAction::SelfOnly => "; form-action 'self'".into(),
            FormAction::SelfThenApp(uri) => format!("; form-action 'self' {}", source_of(uri)),
            FormAction::App(uri) => format!("; form-action {}", source_of(uri)),
            FormAction::Anywhere => String::new(),
        }
    }
}

/// The CSP source of a registered redirect URI: its origin, or its scheme for an app's
/// private-use scheme (RFC 8252), whose URLs have no origin.
fn source_of(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(url) if url.origin().is_tuple() => url.origin().ascii_serialization(),
        Ok(url) => format!("{}:", url.scheme()),
        // Registered URIs parse (checked at load); nothing else is allowed then.
        Err(_) => "'none'".into(),
    }
}

fn unknown_files(dir: &Path) -> Vec<TemplateProblem> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![TemplateProblem {
            file: dir.to_path_buf(),
            message: "cannot read this folder".into(),
        }];
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "hbs"))
        .filter(|path| {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            !EMBEDDED.iter().any(|(name, _)| *name == stem)
        })
        .map(|file| TemplateProblem {
            file,
            message: format!(
                "names no Gatehouse template (known: {})",
                EMBEDDED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        })
        .collect()
}
