//! The fields that organise a task: how important it is, how it is grouped, and when it is due.
//! Every layer (REST, MCP, the agent, the UI) sends these through the rules here, so a value one
//! accepts, all accept.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ValidationError;

pub const TAGS_MAX: usize = 10;
pub const TAG_MAX_CHARS: usize = 30;

/// How important a task is. Stored as its rank (low 1, medium 2, high 3), so that sorting by
/// priority is sorting a number and an index can serve it.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Medium, Priority::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }

    pub fn rank(self) -> i32 {
        match self {
            Priority::Low => 1,
            Priority::Medium => 2,
            Priority::High => 3,
        }
    }

    pub fn from_rank(rank: i32) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.rank() == rank)
    }

    /// `high`, `medium` or `low`, in any case; `field` names the input in the error.
    pub fn parse(field: &'static str, raw: &str) -> Result<Priority, ValidationError> {
        let wanted = raw.trim();
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ValidationError::new(field, format!("{field} must be high, medium or low (got {raw:?})")))
    }
}

/// The characters a tag may hold (`TAG_PATTERN` in the OpenAPI document): anything but white
/// space (every character `trim_blank` trims, listed rather than written `\s`, as in
/// `TEXT_PATTERN`), control characters, zero-width and text-direction characters, `"`, `\`
/// and `,`; and not `#` first (clients drop the `#` of `#work`). JSON escapes none of these, so the stored list holds
/// `"work"` for the tag `work` and a filter can match exactly that.
pub const TAG_PATTERN: &str = r#"^[^\u0000-\u001f \u007f-\u009f\u00a0\u061c\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u2069\u3000\ufeff"\\,#][^\u0000-\u001f \u007f-\u009f\u00a0\u061c\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u2069\u3000\ufeff"\\,]*$"#;

fn tag_char(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || super::is_hidden_control(c)
        || super::is_zero_width(c)
        || ('\u{1c}'..='\u{1f}').contains(&c)
        || matches!(c, '\u{feff}' | '"' | '\\' | ','))
}

/// One tag, 1 to 30 characters of [`TAG_PATTERN`], stored lower-cased.
pub fn validate_tag(field: &'static str, raw: &str) -> Result<String, ValidationError> {
    let chars = raw.chars().count();
    if chars == 0 {
        return Err(ValidationError::new(field, format!("{field} must not be empty")));
    }
    if chars > TAG_MAX_CHARS {
        return Err(ValidationError::new(
            field,
            format!("a tag must be at most {TAG_MAX_CHARS} characters (got {chars} in {raw:?})"),
        ));
    }
    if raw.starts_with('#') {
        return Err(ValidationError::new(
            field,
            format!("write a tag without its #: {:?}", raw.trim_start_matches('#')),
        ));
    }
    if let Some(bad) = raw.chars().find(|c| !tag_char(*c)) {
        return Err(ValidationError::new(
            field,
            format!("a tag is one word without spaces, commas, quotes or backslashes ({raw:?} has {bad:?})"),
        ));
    }
    Ok(raw.to_lowercase())
}

/// A task's tags: at most ten given, each as [`validate_tag`], duplicates dropped (the first
/// kept, in order).
pub fn validate_tags(raw: &[String]) -> Result<Vec<String>, ValidationError> {
    if raw.len() > TAGS_MAX {
        return Err(ValidationError::new(
            "tags",
            format!("a task takes at most {TAGS_MAX} tags (got {})", raw.len()),
        ));
    }
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for one in raw {
        let tag = validate_tag("tags", one)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

/// Instants with four-digit years in UTC, which both engines store and sort alike (SQLite as
/// text) and every client formats.
fn in_range(at: DateTime<Utc>) -> bool {
    (0..=9999).contains(&chrono::Datelike::year(&at))
}

/// An RFC 3339 timestamp (`2026-03-03T17:00:00+01:00`), stored in UTC to the second.
pub fn parse_timestamp(field: &'static str, raw: &str) -> Result<DateTime<Utc>, ValidationError> {
    let at = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|e| {
            ValidationError::new(
                field,
                format!("{field} must be an RFC 3339 date-time such as 2026-03-03T17:00:00Z ({e}; got {raw:?})"),
            )
        })?
        .with_timezone(&Utc)
        .trunc_subsecs(0);
    if !in_range(at) {
        return Err(ValidationError::new(
            field,
            format!("{field} must fall in the years 0000 to 9999 in UTC"),
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_parse_in_any_case_and_rank_low_to_high() {
        assert_eq!(Priority::parse("priority", " HIGH ").unwrap(), Priority::High);
        let e = Priority::parse("priority", "urgent").unwrap_err();
        assert_eq!(
            (e.field, e.message.as_str()),
            ("priority", r#"priority must be high, medium or low (got "urgent")"#)
        );
        assert!(Priority::Low.rank() < Priority::Medium.rank() && Priority::Medium.rank() < Priority::High.rank());
        for p in Priority::ALL {
            assert_eq!(Priority::from_rank(p.rank()), Some(p));
        }
        assert_eq!(Priority::default(), Priority::Medium);
    }

    #[test]
    fn tags_are_single_lowercase_words_deduplicated_and_at_most_ten() {
        let tags = |raw: &[&str]| validate_tags(&raw.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            tags(&["Work", "work", "home-office", "Ünïcode_1", "c#", "100%"]).unwrap(),
            ["work", "home-office", "ünïcode_1", "c#", "100%"]
        );
        for bad in [
            "",
            "#work",
            "two words",
            " work",
            "a\"b",
            "a,b",
            "back\\slash",
            "nul\0",
            "\u{1f}",
            &"t".repeat(31),
        ] {
            let e = tags(&[bad]).unwrap_err();
            assert_eq!(e.field, "tags", "{bad:?}");
        }
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert!(validate_tags(&eleven).is_err());
        // The limit counts what was given, as the document's maxItems does.
        let mut twice: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
        twice.extend((0..5).map(|i| format!("T{i}")));
        assert_eq!(validate_tags(&twice).unwrap().len(), 5);
    }

    /// The document's pattern and the check here accept the same characters, first and after.
    #[test]
    fn the_tag_pattern_is_the_rule() {
        let pattern = regex::Regex::new(TAG_PATTERN).unwrap();
        for c in (0..0x3100u32).chain(0xfe00..0xff10).filter_map(char::from_u32) {
            let first = c.to_string();
            let later = format!("a{c}");
            assert_eq!(pattern.is_match(&later), tag_char(c), "{c:?} after the first");
            assert_eq!(pattern.is_match(&first), tag_char(c) && c != '#', "{c:?} first");
            assert_eq!(validate_tag("tags", &later).is_ok(), tag_char(c), "{c:?}");
        }
    }

    #[test]
    fn timestamps_are_rfc_3339_stored_in_utc_to_the_second() {
        let at = parse_timestamp("due_at", "2026-03-03T17:00:00.750+01:00").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-03-03T16:00:00+00:00");
        for bad in [
            "tomorrow",
            "2026-03-03",
            "2026-13-01T00:00:00Z",
            "0000-01-01T00:00:00+01:00",
            "",
        ] {
            assert_eq!(parse_timestamp("due_at", bad).unwrap_err().field, "due_at", "{bad:?}");
        }
    }
}
