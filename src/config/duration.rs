//! Durations written the way operators write them: "90s", "15m", "12h", "30d".

use serde::{Deserialize, Deserializer};

/// A whole number of seconds, parsed from `<number><unit>` with unit s, m, h or d.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(u64);

impl Duration {
    pub const fn seconds(seconds: u64) -> Self {
        Duration(seconds)
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }

    /// The duration in seconds as the signed type that timestamps use.
    pub fn as_secs_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("\"{text}\" has no unit: write e.g. \"90s\", \"15m\", \"12h\" or \"30d\""))?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("\"{text}\" does not start with a whole number"))?;
        let factor = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("\"{text}\" has unknown unit \"{unit}\": use s, m, h or d")),
        };
        let seconds = number
            .checked_mul(factor)
            .filter(|s| i64::try_from(*s).is_ok())
            .ok_or_else(|| format!("\"{text}\" is too long"))?;
        if seconds == 0 {
            return Err(format!("\"{text}\" must be longer than zero"));
        }
        Ok(Duration(seconds))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::Duration;

    #[test]
    fn parses_each_unit() {
        assert_eq!(Duration::parse("90s"), Ok(Duration(90)));
        assert_eq!(Duration::parse("15m"), Ok(Duration(900)));
        assert_eq!(Duration::parse("12h"), Ok(Duration(43_200)));
        assert_eq!(Duration::parse("30d"), Ok(Duration(2_592_000)));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", "15", "m", "15x", "-5m", "0s", "1.5h", "99999999999999999999d"] {
            assert!(Duration::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
