//! The groups a person is in: those whose `group_filter` names the person's DN, and with
//! `nested_groups` the groups those are in, and so on. Active Directory answers the whole
//! chain in one search (`LDAP_MATCHING_RULE_IN_CHAIN`); elsewhere Gatehouse walks it,
//! level by level, at most [`MOST_LEVELS`] deep, each group once (a cycle ends there).

use super::directory::{self, MOST_GROUPS};
use super::filter;
use super::settings::LdapSettings;
use crate::upstream::UpstreamError;
use ldap3::{Ldap, Scope};
use std::collections::{BTreeSet, HashSet};

/// The matching rule with which AD follows `member` through nested groups (MS-ADTS 3.1.1.3.4.4.1).
const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// How deep a walk through nested groups goes.
pub const MOST_LEVELS: usize = 8;

/// The names of the groups the entry `dn` is in.
pub async fn of(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    dn: &str,
    active_directory: bool,
) -> Result<Vec<String>, UpstreamError> {
    let Some(base) = &settings.group_base else {
        return Ok(Vec::new());
    };
    let name = settings.group_name_attribute.as_str();
    let limit = i32::try_from(MOST_GROUPS).unwrap_or(i32::MAX);
    if settings.nested_groups
        && active_directory
        && let Some(chain) = in_chain(&settings.group_filter)
    {
        let found = directory::search(ldap, base, Scope::Subtree, &filter::fill(&chain, "{dn}", dn), &[name], limit).await?;
        return Ok(names(found.iter().filter_map(|g| g.text(name))));
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut names_found = BTreeSet::new();
    let mut level = vec![dn.to_string()];
    let levels = if settings.nested_groups { MOST_LEVELS } else { 1 };
    for _ in 0..levels {
        let mut next = Vec::new();
        for member in &level {
            let wanted = filter::fill(&settings.group_filter, "{dn}", member);
            for group in directory::search(ldap, base, Scope::Subtree, &wanted, &[name], limit).await? {
                if seen.len() >= MOST_GROUPS || !seen.insert(group.dn.to_ascii_lowercase()) {
                    continue;
                }
                if let Some(group_name) = group.text(name) {
                    names_found.insert(group_name);
                }
                next.push(group.dn);
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    Ok(names_found.into_iter().collect())
}

/// The group filter asked through nested groups, when it is the one attribute match
/// AD can follow (`(member={dn})` becomes `(member:1.2.840.113556.1.4.1941:={dn})`).
fn in_chain(template: &str) -> Option<String> {
    let attribute = template.strip_prefix('(')?.strip_suffix("={dn})")?;
    let simple = !attribute.is_empty() && attribute.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    simple.then(|| format!("({attribute}:{IN_CHAIN}:={{dn}})"))
}

fn names(found: impl Iterator<Item = String>) -> Vec<String> {
    found.collect::<BTreeSet<_>>().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::in_chain;

    #[test]
    fn a_simple_member_filter_is_followed_through_the_chain_on_ad() {
        assert_eq!(
            in_chain("(member={dn})").as_deref(),
            Some("(member:1.2.840.113556.1.4.1941:={dn})")
        );
        assert_eq!(in_chain("(&(objectClass=group)(member={dn}))"), None);
    }
}
