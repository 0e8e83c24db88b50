//! SAML's times: `xs:dateTime` in UTC (SAML 2.0 Core §1.3.3), e.g. `2026-12-07T10:00:00Z`
//! or with a fraction of a second, as unix seconds.

/// `text` as unix seconds (a fraction of a second dropped); `None` when it is not an
/// RFC 3339 time with its zone.
pub fn parse(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.timestamp())
}

/// An `xs:duration` (XML Schema Part 2 §3.2.6, as SAML metadata's `cacheDuration` is
/// given: `PT6H`, `P1D`, `P1Y2M3DT4H5M6.7S`) in whole seconds, a year taken as 365 days
/// and a month as 30; `None` when it is not one or is negative.
pub fn parse_duration(text: &str) -> Option<i64> {
    let rest = text.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (rest, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    const DAY: f64 = 86_400.0;
    let date_units = [('Y', 365.0 * DAY), ('M', 30.0 * DAY), ('D', DAY)];
    let time_units = [('H', 3_600.0), ('M', 60.0), ('S', 1.0)];
    let seconds = sum_of(date, &date_units)? + time.map_or(Some(0.0), |time| sum_of(time, &time_units))?;
    (seconds < i64::MAX as f64).then_some(seconds as i64)
}

/// `text` as numbers each followed by its unit, the units in `units`' order, each once.
fn sum_of(text: &str, units: &[(char, f64)]) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = text;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (number, after) = rest.split_at(end);
        let unit = after.chars().next()?;
        let at = units[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        // Only seconds may have a fraction.
        if number.is_empty() || (number.contains('.') && unit != 'S') {
            return None;
        }
        total += number.parse::<f64>().ok()? * units[at].1;
        next_unit = at + 1;
        rest = &after[unit.len_utf8()..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::{parse, parse_duration};

    #[test]
    fn reads_durations_as_metadata_gives_them() {
        assert_eq!(parse_duration("PT6H"), Some(21_600));
        assert_eq!(parse_duration("P1D"), Some(86_400));
        assert_eq!(parse_duration("PT30M"), Some(1_800));
        assert_eq!(parse_duration("PT1.5S"), Some(1));
        assert_eq!(parse_duration("P1Y2M3DT4H5M6S"), Some(31_536_000 + 5_184_000 + 259_200 + 14_706));
        for wrong in ["", "P", "PT", "6H", "-P1D", "P1H", "PT1D", "P1DT", "P1.5D", "PT6H6H", "PT1M1H", "P D"] {
            assert_eq!(parse_duration(wrong), None, "{wrong}");
        }
    }

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
