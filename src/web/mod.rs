//! HTML pages shown to people: the template registry and its embedded defaults.

mod templates;

pub use templates::{Pages, TemplateProblem};
