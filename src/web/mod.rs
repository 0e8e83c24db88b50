//! What the web sees: the HTTP server, and the HTML pages shown to people (the template
//! registry and its embedded defaults).

pub mod cookies;
pub mod server;
mod templates;

pub use templates::{FormAction, Pages, TemplateProblem};
