//! An upstream's `acr_map`: Gatehouse's acr values (what apps ask for and receive) and
//! the upstream's own values that stand for each. A value the map does not name is
//! the same on both sides.

use crate::config::Problem;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcrMap {
    /// Gatehouse's value → the upstream's values, the one to ask for first.
    values: BTreeMap<String, Vec<String>>,
}

/// One upstream value, or several.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum OneOrMore {
    One(String),
    More(Vec<String>),
}

impl AcrMap {
    /// Checks the map read from the config under `at`: every Gatehouse value names at
    /// least one upstream value, and no upstream value stands for two Gatehouse values.
    pub fn read(raw: BTreeMap<String, OneOrMore>, at: &str, problems: &mut Vec<Problem>) -> AcrMap {
        let mut values = BTreeMap::new();
        let mut owner: BTreeMap<String, String> = BTreeMap::new();
        for (ours, theirs) in raw {
            let key = format!("{at}.acr_map.{ours}");
            let theirs = match theirs {
                OneOrMore::One(value) => vec![value],
                OneOrMore::More(values) => values,
            };
            if ours.is_empty() || theirs.is_empty() || theirs.iter().any(String::is_empty) {
                problems.push(Problem::new(
                    key,
                    "must map a non-empty acr value to non-empty upstream values",
                ));
                continue;
            }
            for value in &theirs {
                if let Some(other) = owner.insert(value.clone(), ours.clone()) {
                    problems.push(Problem::new(
                        key.clone(),
                        format!("the upstream value \"{value}\" already stands for \"{other}\""),
                    ));
                }
            }
            values.insert(ours, theirs);
        }
        AcrMap { values }
    }

    /// Gatehouse's acr values that the map names.
    pub fn ours(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// What to ask the upstream for when an app asks for `ours`, in order, once each.
    pub fn to_upstream(&self, ours: &[String]) -> Vec<String> {
        let mut asked: Vec<String> = Vec::new();
        for value in ours {
            let theirs = self
                .values
                .get(value)
                .map_or(std::slice::from_ref(value), Vec::as_slice);
            for value in theirs {
                if !asked.contains(value) {
                    asked.push(value.clone());
                }
            }
        }
        asked
    }

    /// The Gatehouse value the upstream's `theirs` stands for.
    pub fn from_upstream(&self, theirs: &str) -> String {
        self.values
            .iter()
            .find(|(_, values)| values.iter().any(|v| v == theirs))
            .map_or(theirs, |(ours, _)| ours.as_str())
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &[&str])]) -> (AcrMap, Vec<Problem>) {
        let raw = entries
            .iter()
            .map(|(ours, theirs)| {
                let theirs = OneOrMore::More(theirs.iter().map(|v| v.to_string()).collect());
                (ours.to_string(), theirs)
            })
            .collect();
        let mut problems = Vec::new();
        (AcrMap::read(raw, "upstreams[0]", &mut problems), problems)
    }

    #[test]
    fn translates_both_ways_and_leaves_unnamed_values_alone() {
        let (acr, problems) = map(&[("urn:gatehouse:mfa", &["mfa", "hwk"]), ("urn:gatehouse:pwd", &["pwd"])]);
        assert!(problems.is_empty());
        let asked = acr.to_upstream(&["urn:gatehouse:mfa".into(), "other".into(), "urn:gatehouse:mfa".into()]);
        assert_eq!(asked, ["mfa", "hwk", "other"]);
        assert_eq!(acr.from_upstream("hwk"), "urn:gatehouse:mfa");
        assert_eq!(acr.from_upstream("pwd"), "urn:gatehouse:pwd");
        assert_eq!(acr.from_upstream("loa2"), "loa2");
    }

    #[test]
    fn an_upstream_value_stands_for_one_of_ours() {
        let (_, problems) = map(&[("a", &["x"]), ("b", &["x"]), ("c", &[])]);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["upstreams[0].acr_map.b", "upstreams[0].acr_map.c"]);
    }
}
