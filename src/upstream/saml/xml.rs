//! Reading SAML's XML without trusting it: a size limit, no DTD (so no entity of any
//! kind, no XXE, no billion laughs), a depth limit, and text read whole.

use uppsala::{Document, NodeId, NodeKind};

pub const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Deeper than any SAML message nests (a Response is about eight levels deep).
const MOST_DEPTH: u32 = 64;

/// `text` parsed, refusing a DOCTYPE (and with it every entity declaration) and nesting
/// deeper than SAML ever does. The caller bounds the size before.
pub fn parse(text: &str) -> Result<Document<'_>, String> {
    uppsala::Parser::new()
        .with_forbid_dtd(true)
        .with_forbid_entities(true)
        .with_max_depth(MOST_DEPTH)
        .parse(text)
        .map_err(|e| format!("not well-formed XML, or XML with a DTD: {e}"))
}

/// Whether `node` is the element `local` of namespace `ns`.
pub fn is(doc: &Document<'_>, node: NodeId, ns: &str, local: &str) -> bool {
    doc.element(node).is_some_and(|e| e.matches_name_ns(ns, local))
}

/// The child elements `local` of namespace `ns` of `node`.
pub fn children(doc: &Document<'_>, node: NodeId, ns: &str, local: &str) -> Vec<NodeId> {
    doc.child_elements_by_name_ns(node, ns, local)
}

/// The one child element `local` of `node`: `Ok(None)` when there is none, an error
/// when there are several (a second one is never silently ignored).
pub fn only_child(doc: &Document<'_>, node: NodeId, ns: &str, local: &str) -> Result<Option<NodeId>, String> {
    let found = children(doc, node, ns, local);
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(format!("more than one {local} where one is allowed")),
    }
}

/// Every element `local` of namespace `ns` at or under `node`.
pub fn descendants(doc: &Document<'_>, node: NodeId, ns: &str, local: &str) -> Vec<NodeId> {
    let mut found: Vec<NodeId> = doc
        .descendants(node)
        .into_iter()
        .filter(|d| is(doc, *d, ns, local))
        .collect();
    if is(doc, node, ns, local) {
        found.insert(0, node);
    }
    found
}

pub fn attribute<'d>(doc: &'d Document<'_>, node: NodeId, name: &str) -> Option<&'d str> {
    doc.element(node)?.attributes.iter().find(|a| a.name.namespace_uri.is_none() && a.name.local_name == name).map(|a| &*a.value)
}

/// The text of an element that holds only text, whole: every text and CDATA piece
/// joined, comments and processing instructions skipped. A comment inside a value
/// (`admin@evil.example<!---->.trusted.example`) never cuts it short: canonical XML
/// without comments, which is what was signed, joins the pieces the same way. An
/// element inside the value is refused.
pub fn text(doc: &Document<'_>, node: NodeId) -> Result<String, String> {
    let mut whole = String::new();
    for child in doc.children_iter(node) {
        match doc.node_kind(child) {
            Some(NodeKind::Text(piece)) | Some(NodeKind::CData(piece)) => whole.push_str(piece),
            Some(NodeKind::Comment(_)) | Some(NodeKind::ProcessingInstruction(_)) => {}
            _ => return Err("a value holds an element where text belongs".into()),
        }
    }
    Ok(whole)
}

/// The trimmed text of the child `local` of `node`, if there is exactly one.
pub fn child_text(doc: &Document<'_>, node: NodeId, ns: &str, local: &str) -> Result<Option<String>, String> {
    match only_child(doc, node, ns, local)? {
        Some(child) => Ok(Some(text(doc, child)?.trim().to_string())),
        None => Ok(None),
    }
}

/// Escapes `value` for an XML attribute or text.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doctype_is_refused_so_no_entity_is_ever_expanded() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><r>&b;</r>"#;
        assert!(parse(laughs).is_err());
        let xxe = r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(parse(xxe).is_err());
        assert!(parse("<r>plain</r>").is_ok());
    }

    #[test]
    fn text_is_read_whole_across_comments() {
        let doc = parse("<r>admin@evil.example<!-- cut -->.trusted.example</r>").unwrap();
        let root = doc.document_element().unwrap();
        assert_eq!(text(&doc, root).unwrap(), "admin@evil.example.trusted.example");
        let doc = parse("<r>a<b/>c</r>").unwrap();
        assert!(text(&doc, doc.document_element().unwrap()).is_err());
    }

    #[test]
    fn nesting_deeper_than_saml_is_refused() {
        let deep = format!("{}{}", "<a>".repeat(200), "</a>".repeat(200));
        assert!(parse(&deep).is_err());
    }
}
