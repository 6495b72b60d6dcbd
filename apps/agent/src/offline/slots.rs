//! The engine's slot stage: a priority ("high priority", "urgent"), tags ("#work", "tagged
//! groceries") and a due date, each found in the normalised text and cut out of it, so that what
//! is left is the request and, for a new task, its title.

use std::sync::LazyLock;

use jiff::Zoned;
use regex::Regex;
use todo_core::domain::Priority;

use super::text::Text;
use super::when::{self, Due};

/// What a request says about a task besides its title.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    pub priority: Option<Priority>,
    pub tags: Vec<String>,
    pub due: Option<Due>,
}

impl Details {
    pub fn is_empty(&self) -> bool {
        self.priority.is_none() && self.tags.is_empty() && self.due.is_none()
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the slot patterns are valid")
}

static PRIORITY_LEVEL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:(?:with|at|as|of)\s+)?(?:(?:a|an)\s+)?(?P<level>highest|high|top|low|lowest|medium|normal|mid)[- ]priority\b|\b(?:(?:with|at|as)\s+)?(?:the\s+)?priority\s*(?:(?:of|to|as|is)\s+|:\s*)?(?P<level2>high|low|medium|normal)\b",
    )
});
/// "set the priority of X to low": the level at the end, once "priority" was said.
static PRIORITY_AT_END: LazyLock<Regex> =
    LazyLock::new(|| re(r"\s+(?:to|as)\s+(?P<level>high|low|medium|normal)(?:\s+priority)?\s*[.!]?$"));
static PRIORITY_WORD: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:(?:as|is)\s+)?(?P<not>not\s+(?:very\s+)?)?(?:(?:very|really|super)\s+)?(?P<word>urgent(?:ly)?|important|critical|top of (?:my|the) list)\b|\b(?P<low>no rush|whenever|someday|some day|low key)\b",
    )
});
static HASHTAG: LazyLock<Regex> = LazyLock::new(|| re(r"(?:^|\s)#(?P<tag>[\p{L}\p{N}][\p{L}\p{N}_\-/.]*)"));
static TAGGED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"[\s,]+(?:(?:and\s+)?tagged(?:\s+with|\s+as)?|with\s+(?:the\s+)?tags?|(?:and\s+)?tags?:|(?:and\s+)?labell?ed(?:\s+as)?)\s+(?P<tags>#?[\p{L}\p{N}][\p{L}\p{N}_\-]*(?:(?:\s*,\s*|\s+and\s+)#?[\p{L}\p{N}][\p{L}\p{N}_\-]*)*)\s*$",
    )
});

/// Cuts every slot out of `text`.
pub fn take(text: &mut Text<'_>, now: &Zoned) -> Details {
    Details {
        due: take_due(text, now),
        priority: take_priority(text),
        tags: take_tags(text),
    }
}

pub fn take_due(text: &mut Text<'_>, now: &Zoned) -> Option<Due> {
    let (range, due) = when::find(&text.norm(), now)?;
    text.cut(range);
    Some(due)
}

pub fn take_priority(text: &mut Text<'_>) -> Option<Priority> {
    let norm = text.norm();
    let level_at_end = || {
        norm.contains("priority")
            .then(|| PRIORITY_AT_END.captures(&norm))
            .flatten()
    };
    if let Some(c) = PRIORITY_LEVEL.captures(&norm).or_else(level_at_end) {
        let level = c.name("level").or_else(|| c.name("level2"))?.as_str();
        let priority = match level {
            "highest" | "high" | "top" => Priority::High,
            "low" | "lowest" => Priority::Low,
            _ => Priority::Medium,
        };
        text.cut(c.get(0)?.range());
        return Some(priority);
    }
    let c = PRIORITY_WORD.captures(&norm)?;
    let priority = if c.name("not").is_some() || c.name("low").is_some() {
        Priority::Low
    } else {
        Priority::High
    };
    text.cut(c.get(0)?.range());
    Some(priority)
}

pub fn take_tags(text: &mut Text<'_>) -> Vec<String> {
    let mut tags = Vec::new();
    // Every hashtag of one reading of the text at once, cut from the last so that the earlier
    // ones keep their place: linear in the message, where one hashtag per reading was
    // quadratic (a 64 KiB message of "#a and …" took minutes). A cut can leave another hashtag
    // at the start ("#a#b"), so a few more readings, never many.
    for _ in 0..4 {
        let norm = text.norm();
        let found: Vec<(std::ops::Range<usize>, String)> = HASHTAG
            .captures_iter(&norm)
            .filter_map(|c| {
                Some((
                    c.get(0)?.range(),
                    c.name("tag")?.as_str().trim_end_matches(['.', '/']).to_string(),
                ))
            })
            .collect();
        let mut cut = Vec::new();
        for (range, tag) in found.into_iter().rev() {
            // A match that ends inside a word the text keeps whole ("#mom's") cuts nothing,
            // and is no tag.
            if text.cut(range) {
                cut.push(tag);
            }
        }
        if cut.is_empty() {
            break;
        }
        tags.extend(cut.into_iter().rev());
    }
    let norm = text.norm();
    if let Some(c) = TAGGED.captures(&norm)
        && let Some(list) = c.name("tags")
    {
        tags.extend(split_tags(list.as_str()));
        if let Some(whole) = c.get(0) {
            text.cut(whole.range());
        }
    }
    let mut unique = Vec::new();
    for tag in tags {
        if !tag.is_empty() && !unique.contains(&tag) {
            unique.push(tag);
        }
    }
    unique
}

/// "groceries, home and errands" → the three tags.
pub fn split_tags(list: &str) -> Vec<String> {
    list.split([',', ' '])
        .map(|t| t.trim().trim_start_matches('#').to_lowercase())
        .filter(|t| !t.is_empty() && t != "and")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(message: &str) -> (String, Details) {
        let now: Zoned = "2026-12-03T10:00:00+00:00[Europe/London]".parse().unwrap();
        let mut text = Text::new(message);
        let details = take(&mut text, &now);
        let norm = text.norm();
        (text.original(0..norm.len()), details)
    }

    #[test]
    fn priorities_tags_and_dates_leave_the_title() {
        let (title, details) = slots("add a high priority task to pay rent by Friday");
        assert_eq!(title, "add task to pay rent");
        assert_eq!(details.priority, Some(Priority::High));
        assert_eq!(details.due.map(Due::argument).as_deref(), Some("2026-12-04"));

        let (title, details) = slots("#work finish slides");
        assert_eq!(
            (title.as_str(), details.tags),
            ("finish slides", vec!["work".to_string()])
        );

        let (title, details) = slots("add milk tagged groceries and home");
        assert_eq!(title, "add milk");
        assert_eq!(details.tags, ["groceries", "home"]);

        let (title, details) = slots("water the plants, not urgent");
        assert_eq!(
            (title.as_str(), details.priority),
            ("water the plants,", Some(Priority::Low))
        );

        // A hashtag glued to what cannot be cut apart ends the search, and the message is read.
        // ("#mom's" once looped for ever, pushing "mom" until memory ran out.)
        for glued in ["#mom's birthday", "remember #mom's birthday", "#a.b'"] {
            let (title, _) = slots(glued);
            assert!(!title.is_empty(), "{glued:?}");
        }

        let (title, details) = slots("plan trip #travel #family, #summer");
        assert_eq!(details.tags, ["travel", "family", "summer"], "{title}");

        // As long as a message may be, one hashtag over and over: read in a few passes, not one
        // pass per hashtag.
        let (_, details) = slots(&"#errand and ".repeat(64 * 1024 / 12));
        assert_eq!(details.tags, ["errand"]);

        let (title, details) = slots("Call Mom");
        assert_eq!((title.as_str(), details), ("Call Mom", Details::default()));
    }
}
