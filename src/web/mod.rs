//! HTML pages shown to people: the template registry and its embedded defaults.

pub mod cookies;
mod templates;

pub use templates::{Pages, TemplateProblem};
