//! Dates as people say them ("tomorrow", "by Friday 5pm", "next week", "on 3 March", "in 2 days",
//! "tonight"), found in the normalised text and turned into the user's local date or date-time.
//! The calendar arithmetic is jiff's, in the user's own zone; the MCP server turns the local value
//! into UTC with the same zone.

use std::ops::Range;
use std::sync::LazyLock;

use jiff::civil::{Date, DateTime, Weekday};
use jiff::{ToSpan as _, Zoned};
use regex::{Captures, Regex};

/// A due date: a day (due by its end) or a local date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Day(Date),
    At(DateTime),
}

impl Due {
    pub fn date(self) -> Date {
        match self {
            Due::Day(date) => date,
            Due::At(at) => at.date(),
        }
    }

    /// As the MCP tools take it: `2026-03-03` or `2026-03-03T17:00`.
    pub fn argument(self) -> String {
        match self {
            Due::Day(date) => date.to_string(),
            Due::At(at) => at.strftime("%Y-%m-%dT%H:%M").to_string(),
        }
    }
}

// Full names only (and "tues", "weds", "thurs"): "sat", "wed" and "sun" are words of titles too.
const WEEKDAY: &str = r"monday|tuesday|tues|wednesday|weds|thursday|thurs|friday|saturday|sunday";
const MONTH: &str = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t|tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?";
const NUMBER: &str = r"\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|couple of";
const CLOCK: &str = r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<meridiem>am|pm|a\.m\.|p\.m\.)|(?P<hour24>\d{1,2}):(?P<minute24>\d{2})";
const PART: &str = r"noon|midday|midnight|in the morning|in the afternoon|in the evening|at night|morning|afternoon|evening|night|eod|end of day";

static PHRASE: LazyLock<Regex> = LazyLock::new(|| {
    let day = format!(
        r"(?P<day>today|tonight|this evening|this afternoon|this morning|the day after tomorrow|day after tomorrow|tomorrow(?: morning| afternoon| evening| night)?|(?P<which>this|next|coming|this coming)?\s*(?P<weekday>{WEEKDAY})\b|(?P<weekpart>(?:the\s+)?end of (?:the|this) week|this week|next week|(?:this|next|the)\s+weekend|weekend|end of (?:the|this) month|this month|next month)|in\s+(?P<count>{NUMBER})\s+(?P<unit>minutes?|mins?|hours?|hrs?|days?|weeks?|months?)|(?P<count2>{NUMBER})\s+(?P<unit2>days?|weeks?|months?)\s+from\s+(?:now|today)|(?:the\s+)?(?P<dom>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month>{MONTH})\b(?:,?\s+(?P<year>\d{{4}}))?|(?P<month2>{MONTH})\s+(?:the\s+)?(?P<dom2>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<year2>\d{{4}}))?|(?P<iso>\d{{4}}-\d{{2}}-\d{{2}})(?:[t\s](?P<isotime>\d{{2}}:\d{{2}}))?)"
    );
    let lead = r"(?:(?:due|by|on|before|for|until|till|to|from|starting|at)\s+)*";
    // A time before the day ("5pm tomorrow"), after it ("Friday at 5pm"), or alone ("at 9am",
    // never a bare "morning": that is a title's word).
    let before = format!(r"(?:(?:at|by)\s+)?(?:{CLOCK}|(?P<part>{PART}))");
    let after = format!(
        r"(?:(?:at|by|@)\s*)?(?:{}|(?P<b_part>{PART}))",
        CLOCK.replace("?P<", "?P<b_")
    );
    let alone = format!(
        r"(?:at|by|@)\s*(?:{}|(?P<c_part>noon|midday|midnight))",
        CLOCK.replace("?P<", "?P<c_")
    );
    Regex::new(&format!(
        r"\b{lead}(?:(?:{before}\s+(?:on\s+)?)?{day}(?:\s*,?\s*{after})?|{alone})(?:\b|$)"
    ))
    .expect("the date pattern is valid")
});

/// A date phrase in `text`: where it is and what it means, read relative to `now`.
pub fn find(text: &str, now: &Zoned) -> Option<(Range<usize>, Due)> {
    PHRASE.captures_iter(text).find_map(|c| {
        let whole = c.get(0)?;
        interpret(&c, now).map(|due| (whole.range(), due))
    })
}

fn interpret(c: &Captures<'_>, now: &Zoned) -> Option<Due> {
    let today = now.date();
    let time = time_of(c, "").or_else(|| time_of(c, "b_"));
    if c.name("day").is_none() {
        // A time alone: today, or tomorrow once it has passed.
        let time = time_of(c, "c_")??;
        let at = today.to_datetime(time);
        let at = if at <= now.datetime() {
            at.checked_add(1.day()).ok()?
        } else {
            at
        };
        return Some(Due::At(at));
    }
    let day = c.name("day")?.as_str();
    let with_time = |date: Date, default: Option<jiff::civil::Time>| match time.flatten().or(default) {
        Some(t) => Due::At(date.to_datetime(t)),
        None => Due::Day(date),
    };
    let evening = jiff::civil::time(20, 0, 0, 0);
    if let Some(weekday) = c.name("weekday") {
        let target = weekday_of(weekday.as_str())?;
        let which = c.name("which").map(|m| m.as_str());
        let coming = if today.weekday() == target {
            // Today, unless the time it names has passed: "by Friday 5pm" said on a Friday
            // evening means next Friday, never a deadline already missed.
            match time.flatten() {
                Some(t) if today.to_datetime(t) <= now.datetime() => today.checked_add(7.days()).ok()?,
                _ => today,
            }
        } else {
            today.nth_weekday(1, target).ok()?
        };
        let date = if which == Some("next") {
            // "next Friday": the Friday of next week.
            let next_monday = today.nth_weekday(1, Weekday::Monday).ok()?;
            next_monday
                .checked_add(i64::from(target.to_monday_zero_offset()).days())
                .ok()?
        } else {
            coming
        };
        return Some(with_time(date, None));
    }
    if let Some(part) = c.name("weekpart") {
        let part = part.as_str();
        let sunday = if today.weekday() == Weekday::Sunday {
            today
        } else {
            today.nth_weekday(1, Weekday::Sunday).ok()?
        };
        let date = if part.contains("month") {
            let first_of_month = today.first_of_month();
            if part.contains("next") {
                first_of_month.checked_add(1.month()).ok()?
            } else {
                today.last_of_month()
            }
        } else if part.contains("weekend") {
            let saturday = if matches!(today.weekday(), Weekday::Saturday | Weekday::Sunday) {
                today
            } else {
                today.nth_weekday(1, Weekday::Saturday).ok()?
            };
            if part.contains("next") && saturday == today {
                saturday.checked_add(7.days()).ok()?
            } else {
                saturday
            }
        } else if part.contains("next") {
            // "next week": its Monday, as planners mean it.
            today.nth_weekday(1, Weekday::Monday).ok()?
        } else if part == "this week" && sunday == today {
            // Said on a Sunday, "this week" is the one ahead (a week that begins on Sunday, or the
            // next seven days); "the end of the week" is still today.
            today.checked_add(7.days()).ok()?
        } else {
            sunday
        };
        return Some(with_time(date, None));
    }
    if let Some(unit) = c.name("unit").or_else(|| c.name("unit2")) {
        let count = count_of(c.name("count").or_else(|| c.name("count2"))?.as_str())?;
        let unit = unit.as_str();
        if unit.starts_with("min") || unit.starts_with('h') {
            let span = if unit.starts_with('h') {
                count.hours()
            } else {
                count.minutes()
            };
            let at = now.checked_add(span).ok()?.datetime();
            return Some(Due::At(at.round(jiff::Unit::Minute).ok()?));
        }
        let date = if unit.starts_with('d') {
            today.checked_add(count.days()).ok()?
        } else if unit.starts_with('w') {
            today.checked_add(count.weeks()).ok()?
        } else {
            today.checked_add(count.months()).ok()?
        };
        return Some(with_time(date, None));
    }
    if let Some(month) = c.name("month").or_else(|| c.name("month2")) {
        let dom: i8 = c.name("dom").or_else(|| c.name("dom2"))?.as_str().parse().ok()?;
        let month = month_of(month.as_str())?;
        let year = c.name("year").or_else(|| c.name("year2"));
        let date = match year {
            Some(y) => Date::new(y.as_str().parse().ok()?, month, dom).ok()?,
            None => {
                let this_year = Date::new(today.year(), month, dom).ok()?;
                // A day already past this year is next year's.
                if this_year < today {
                    Date::new(today.year() + 1, month, dom).ok()?
                } else {
                    this_year
                }
            }
        };
        return Some(with_time(date, None));
    }
    if let Some(iso) = c.name("iso") {
        let date: Date = iso.as_str().parse().ok()?;
        return match c.name("isotime") {
            Some(t) => Some(Due::At(date.to_datetime(t.as_str().parse().ok()?))),
            None => Some(with_time(date, None)),
        };
    }
    let tomorrow = today.checked_add(1.day()).ok()?;
    let part_time = |text: &str| part_of_day(text).flatten();
    match day {
        "today" => Some(with_time(today, None)),
        "tonight" => Some(with_time(today, Some(evening))),
        "this evening" | "this afternoon" | "this morning" => Some(with_time(today, part_time(day))),
        "the day after tomorrow" | "day after tomorrow" => Some(with_time(tomorrow.checked_add(1.day()).ok()?, None)),
        _ if day.starts_with("tomorrow") => {
            let part = day.strip_prefix("tomorrow").map(str::trim).filter(|p| !p.is_empty());
            Some(with_time(tomorrow, part.and_then(part_time)))
        }
        _ => None,
    }
}

/// The time a phrase names: `Some(None)` for "end of day" and "midnight" (the day itself),
/// `None` when it names none.
fn time_of(c: &Captures<'_>, prefix: &str) -> Option<Option<jiff::civil::Time>> {
    let get = |name: &str| c.name(&format!("{prefix}{name}")).map(|m| m.as_str());
    if let Some(hour) = get("hour") {
        let mut hour: i8 = hour.parse().ok()?;
        let minute: i8 = get("minute").map_or(Some(0), |m| m.parse().ok())?;
        let pm = get("meridiem").is_some_and(|m| m.starts_with('p'));
        if !(1..=12).contains(&hour) {
            return None;
        }
        if pm && hour < 12 {
            hour += 12;
        } else if !pm && hour == 12 {
            hour = 0;
        }
        return jiff::civil::Time::new(hour, minute, 0, 0).ok().map(Some);
    }
    if let Some(hour) = get("hour24") {
        let minute = get("minute24")?;
        return jiff::civil::Time::new(hour.parse().ok()?, minute.parse().ok()?, 0, 0)
            .ok()
            .map(Some);
    }
    get("part").and_then(part_of_day)
}

fn part_of_day(text: &str) -> Option<Option<jiff::civil::Time>> {
    let hour = match text.trim() {
        t if t.contains("morning") => 9,
        t if t.contains("noon") || t.contains("midday") => 12,
        t if t.contains("afternoon") => 15,
        t if t.contains("evening") => 18,
        t if t.contains("night") => 20,
        "midnight" | "eod" | "end of day" => return Some(None),
        _ => return None,
    };
    Some(Some(jiff::civil::time(hour, 0, 0, 0)))
}

fn weekday_of(text: &str) -> Option<Weekday> {
    Some(match text.get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn month_of(text: &str) -> Option<i8> {
    let months = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let index = months.iter().position(|m| text.starts_with(m))?;
    i8::try_from(index + 1).ok()
}

fn count_of(text: &str) -> Option<i64> {
    let words = [
        "a", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    ];
    if let Some(i) = words.iter().position(|w| *w == text) {
        return i64::try_from(i.max(1)).ok();
    }
    match text {
        "an" => Some(1),
        "a couple of" | "couple of" => Some(2),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Zoned {
        // A Thursday morning in London.
        "2026-12-03T10:00:00+00:00[Europe/London]".parse().unwrap()
    }

    fn due(text: &str) -> Option<String> {
        find(text, &now()).map(|(_, due)| due.argument())
    }

    #[test]
    fn reads_the_ways_people_say_dates() {
        for (said, meant) in [
            ("due tomorrow", "2026-12-04"),
            ("by friday 5pm", "2026-12-04T17:00"),
            ("by friday at 5:30 pm", "2026-12-04T17:30"),
            ("next week", "2026-12-07"),
            ("on 3 march", "2027-03-03"),
            ("on the 3rd of march", "2027-03-03"),
            ("march 3rd", "2027-03-03"),
            ("december 24", "2026-12-24"),
            ("in 2 days", "2026-12-05"),
            ("in two weeks", "2026-12-17"),
            ("in an hour", "2026-12-03T11:00"),
            ("tonight", "2026-12-03T20:00"),
            ("tomorrow morning", "2026-12-04T09:00"),
            ("at 9am", "2026-12-04T09:00"),
            ("at 3pm", "2026-12-03T15:00"),
            ("today", "2026-12-03"),
            ("thursday", "2026-12-03"),
            ("thursday 11am", "2026-12-03T11:00"),
            ("by thursday 9am", "2026-12-10T09:00"),
            ("next thursday", "2026-12-10"),
            ("next monday", "2026-12-07"),
            ("monday", "2026-12-07"),
            ("this weekend", "2026-12-05"),
            ("end of the month", "2026-12-31"),
            ("next month", "2027-01-01"),
            ("2026-12-24", "2026-12-24"),
            ("5pm tomorrow", "2026-12-04T17:00"),
            ("the day after tomorrow", "2026-12-05"),
        ] {
            assert_eq!(due(said).as_deref(), Some(meant), "{said:?}");
        }
    }

    #[test]
    fn on_a_sunday_this_week_is_the_week_ahead() {
        let sunday: Zoned = "2026-12-06T21:00:00+00:00[Europe/London]".parse().unwrap();
        let on_sunday = |text: &str| find(text, &sunday).map(|(_, due)| due.argument());
        assert_eq!(on_sunday("this week").as_deref(), Some("2026-12-13"));
        assert_eq!(on_sunday("by the end of the week").as_deref(), Some("2026-12-06"));
        assert_eq!(on_sunday("next week").as_deref(), Some("2026-12-07"));
        assert_eq!(
            due("this week").as_deref(),
            Some("2026-12-06"),
            "on a Thursday, up to Sunday"
        );
    }

    #[test]
    fn ordinary_words_are_not_dates() {
        for text in [
            "read chapter 3",
            "buy 2 apples",
            "call mom",
            "fix the sat nav",
            "morning run",
            "sunscreen",
        ] {
            assert_eq!(due(text), None, "{text:?}");
        }
    }
}
