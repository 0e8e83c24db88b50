//! Search filters from the config's templates: a value goes in only escaped (RFC 4515
//! §3: `*`, `(`, `)`, `\` and NUL as `\XX`), so that a username cannot change what the
//! filter asks.

use crate::config::Problem;

/// `template` with every `placeholder` replaced by `value`, escaped.
pub fn fill(template: &str, placeholder: &str, value: &str) -> String {
    template.replace(placeholder, &ldap3::ldap_escape(value))
}

/// The filter that finds an entry by its binary id (AD's `objectGUID`): each byte as
/// `\XX`.
pub fn binary_equals(attribute: &str, bytes: &[u8]) -> String {
    let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
    format!("({attribute}={escaped})")
}

/// Reports a template that does not hold `placeholder` (when one is wanted) or does not
/// make a valid filter once filled.
pub fn check_template(key: &str, template: &str, placeholder: &str, problems: &mut Vec<Problem>) {
    if !placeholder.is_empty() && !template.contains(placeholder) {
        problems.push(Problem::new(key, format!("must contain {placeholder}")));
        return;
    }
    let sample = if placeholder.is_empty() {
        template.to_string()
    } else {
        fill(template, placeholder, "sample")
    };
    if ldap3::parse_filter(&sample).is_err() {
        problems.push(Problem::new(key, "is not a valid LDAP filter (RFC 4515)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_username_holds_cannot_change_the_filter() {
        assert_eq!(fill("(uid={username})", "{username}", "*"), "(uid=\\2a)");
        assert_eq!(
            fill("(uid={username})", "{username}", "a)(uid=*"),
            "(uid=a\\29\\28uid=\\2a)"
        );
        assert_eq!(fill("(uid={username})", "{username}", "a\\b\0"), "(uid=a\\5cb\\00)");
        // UTF-8 goes in as it is (RFC 4515 §3 allows it).
        assert_eq!(fill("(uid={username})", "{username}", "zoë"), "(uid=zoë)");
        assert!(ldap3::parse_filter(fill("(uid={username})", "{username}", "a)(|(uid=*")).is_ok());
    }

    #[test]
    fn a_binary_id_is_matched_byte_by_byte() {
        assert_eq!(binary_equals("objectGUID", &[0x01, 0xab]), "(objectGUID=\\01\\ab)");
    }

    #[test]
    fn templates_are_checked() {
        let mut problems = Vec::new();
        check_template("u.user_filter", "(uid=x)", "{username}", &mut problems);
        check_template("u.group_filter", "(member={dn}", "{dn}", &mut problems);
        check_template("u.disabled_filter", "(pwdAccountLockedTime=*)", "", &mut problems);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["u.user_filter", "u.group_filter"]);
    }
}
