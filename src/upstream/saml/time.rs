//! SAML's times: `xs:dateTime` in UTC (SAML 2.0 Core §1.3.3), e.g. `2026-12-07T10:00:00Z`
//! or with a fraction of a second, as unix seconds.

/// `text` as unix seconds (a fraction of a second dropped); `None` when it is not an
/// RFC 3339 time with its zone.
pub fn parse(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_utc_times_with_and_without_fractions() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse("2023-11-14T22:13:20.999Z"), Some(1_700_000_000));
        assert_eq!(parse("2023-11-14T23:13:20+01:00"), Some(1_700_000_000));
        assert_eq!(parse("2023-11-14T22:13:20"), None, "a time without its zone is not UTC");
        assert_eq!(parse("yesterday"), None);
    }
}
