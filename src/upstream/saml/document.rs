//! What the mapping of a SAML upstream reads: `name_id`, `name_id_format`,
//! `session_index`, `attributes` (by `Name`, each a list of values), `friendly` (by
//! `FriendlyName`, the same values) and `subject`, the stable id the upstream's
//! `subject` key chose (the NameID, or an attribute's first value).

use super::response::Asserted;
use super::settings::SubjectSource;
use serde_json::{Map, Value as Json, json};

pub fn of(asserted: &Asserted, subject: &SubjectSource) -> Result<Json, String> {
    let mut attributes: Map<String, Json> = Map::new();
    let mut friendly: Map<String, Json> = Map::new();
    for attribute in &asserted.attributes {
        let values: Vec<Json> = attribute.values.iter().cloned().map(Json::String).collect();
        extend(&mut attributes, &attribute.name, &values);
        if let Some(name) = &attribute.friendly_name {
            extend(&mut friendly, name, &values);
        }
    }
    let subject = match subject {
        SubjectSource::NameId => asserted.name_id.clone(),
        SubjectSource::Attribute(name) => attributes
            .get(name)
            .and_then(|values| values.get(0))
            .and_then(Json::as_str)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| format!("the Assertion has no attribute {name}, which subject names"))?
            .to_string(),
    };
    Ok(json!({
        "subject": subject,
        "name_id": asserted.name_id,
        "name_id_format": asserted.name_id_format,
        "session_index": asserted.session_index,
        "attributes": attributes,
        "friendly": friendly,
    }))
}

/// Adds `values` under `name`, after those an attribute of the same name brought.
fn extend(into: &mut Map<String, Json>, name: &str, values: &[Json]) {
    let list = into.entry(name.to_string()).or_insert_with(|| Json::Array(Vec::new()));
    if let Json::Array(list) = list {
        list.extend_from_slice(values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::saml::response::Attribute;

    fn asserted() -> Asserted {
        Asserted {
            assertion_id: "_a".into(),
            valid_until: 0,
            name_id: "nid-1".into(),
            name_id_format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into()),
            session_index: Some("s-1".into()),
            authn_instant: None,
            authn_context: None,
            attributes: vec![
                Attribute {
                    name: "urn:oid:0.9.2342.19200300.100.1.3".into(),
                    friendly_name: Some("mail".into()),
                    values: vec!["ada@example.org".into()],
                },
                Attribute {
                    name: "groups".into(),
                    friendly_name: None,
                    values: vec!["a".into(), "b".into()],
                },
            ],
        }
    }

    #[test]
    fn attributes_by_name_and_friendly_name_always_as_lists() {
        let document = of(&asserted(), &SubjectSource::NameId).unwrap();
        assert_eq!(document["subject"], "nid-1");
        assert_eq!(document["attributes"]["urn:oid:0.9.2342.19200300.100.1.3"], json!(["ada@example.org"]));
        assert_eq!(document["friendly"]["mail"], json!(["ada@example.org"]));
        assert_eq!(document["attributes"]["groups"], json!(["a", "b"]));
        assert_eq!(document["session_index"], "s-1");
    }

    #[test]
    fn the_subject_may_come_from_an_attribute_which_must_be_there() {
        let by_mail = SubjectSource::Attribute("urn:oid:0.9.2342.19200300.100.1.3".into());
        assert_eq!(of(&asserted(), &by_mail).unwrap()["subject"], "ada@example.org");
        let missing = SubjectSource::Attribute("employeeNumber".into());
        assert!(of(&asserted(), &missing).unwrap_err().contains("employeeNumber"));
    }
}
