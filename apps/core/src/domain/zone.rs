//! The user's time zone: what "tomorrow", "Friday 5pm" and a due date without a time mean.
//! Everything is stored in UTC; a zone only turns what a person says into an instant.

use chrono::{DateTime, Utc};

use super::ValidationError;
use super::fields::parse_timestamp;

pub const ZONE_MAX_CHARS: usize = 64;

/// An IANA time zone such as `Europe/Berlin`, as a browser's `Intl` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl Default for UserZone {
    fn default() -> Self {
        UserZone::utc()
    }
}

impl UserZone {
    pub fn utc() -> UserZone {
        UserZone {
            name: "UTC".into(),
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    /// Looks the name up in the built-in time zone database; `field` names the input in the error.
    pub fn parse(field: &'static str, raw: &str) -> Result<UserZone, ValidationError> {
        let name = raw.trim();
        let unknown = || {
            ValidationError::new(
                field,
                format!("{field} must be an IANA time zone such as Europe/Berlin or America/New_York (got {raw:?})"),
            )
        };
        if name.is_empty() || name.chars().count() > ZONE_MAX_CHARS {
            return Err(unknown());
        }
        let zone = jiff::tz::db().get(name).map_err(|_| unknown())?;
        Ok(UserZone {
            name: zone.iana_name().unwrap_or(name).to_string(),
            zone,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &jiff::tz::TimeZone {
        &self.zone
    }

    /// `at` in this zone.
    pub fn local(&self, at: DateTime<Utc>) -> jiff::Zoned {
        jiff::Timestamp::from_second(at.timestamp())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(self.zone.clone())
    }

    /// The instant a local wall-clock time names here (the later one when clocks go back, the
    /// first valid one after a gap when they go forward).
    pub fn instant(&self, local: jiff::civil::DateTime) -> Option<DateTime<Utc>> {
        let zoned = local.to_zoned(self.zone.clone()).ok()?;
        DateTime::from_timestamp(zoned.timestamp().as_second(), 0)
    }

    /// The last second of `date` here: what a due date without a time means, so a task due
    /// today is not overdue until the day is over.
    pub fn end_of_day(&self, date: jiff::civil::Date) -> Option<DateTime<Utc>> {
        self.instant(date.at(23, 59, 59, 0))
    }
}

/// Every zone name `UserZone::parse` accepts, sorted: the OpenAPI document lists them, so a client
/// (or a schema-driven test) knows the valid values before it sends one.
pub fn zone_names() -> Vec<String> {
    let mut names: Vec<String> = jiff::tz::db().available().map(|name| name.to_string()).collect();
    names.sort();
    names.dedup();
    names
}

/// A due date as people and models write it: an RFC 3339 instant (`2026-03-03T17:00:00+01:00`),
/// a local date-time (`2026-03-03T17:00`, in `zone`) or a date (`2026-03-03`, the end of that
/// day in `zone`).
pub fn parse_due(field: &'static str, raw: &str, zone: &UserZone) -> Result<DateTime<Utc>, ValidationError> {
    let text = raw.trim();
    if let Ok(at) = parse_timestamp(field, text) {
        return Ok(at);
    }
    let bad = || {
        ValidationError::new(
            field,
            format!(
                "{field} must be a date (2026-03-03), a local date-time (2026-03-03T17:00) or RFC 3339 (got {raw:?})"
            ),
        )
    };
    // jiff reads the date of a date-time as a date, so a time is looked for first.
    let local = if text.contains(['T', 't', ' ']) {
        zone.instant(text.parse::<jiff::civil::DateTime>().map_err(|_| bad())?)
    } else {
        zone.end_of_day(text.parse::<jiff::civil::Date>().map_err(|_| bad())?)
    };
    let at = local.ok_or_else(bad)?;
    if !(0..=9999).contains(&chrono::Datelike::year(&at)) {
        return Err(bad());
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_iana_names() {
        assert_eq!(
            UserZone::parse("time_zone", "Europe/Berlin").unwrap().name(),
            "Europe/Berlin"
        );
        for bad in ["", "Mars/Olympus", "Europe/Berlin\0", &"A".repeat(65)] {
            assert_eq!(
                UserZone::parse("time_zone", bad).unwrap_err().field,
                "time_zone",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_due_date_means_the_users_day_and_time() {
        let berlin = UserZone::parse("tz", "Europe/Berlin").unwrap();
        let due = |raw: &str, zone: &UserZone| parse_due("due", raw, zone).unwrap().to_rfc3339();
        // A date alone is the end of that day where the user is.
        assert_eq!(due("2026-03-03", &berlin), "2026-03-03T22:59:59+00:00");
        assert_eq!(due("2026-07-03", &berlin), "2026-07-03T21:59:59+00:00");
        assert_eq!(due("2026-03-03", &UserZone::utc()), "2026-03-03T23:59:59+00:00");
        assert_eq!(due("2026-03-03T17:00", &berlin), "2026-03-03T16:00:00+00:00");
        // An instant with its offset is that instant, whatever the zone.
        assert_eq!(due("2026-03-03T17:00:00-05:00", &berlin), "2026-03-03T22:00:00+00:00");
        for bad in ["friday", "2026-02-30", "", "17:00"] {
            assert_eq!(parse_due("due", bad, &berlin).unwrap_err().field, "due", "{bad:?}");
        }
    }
}
