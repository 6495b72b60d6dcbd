//! From a user's message to what they want done, in stages: split it into requests; normalise each
//! (case, apostrophes, contractions, typos: `text`); strip politeness and filler; cut out the slots
//! (a date, a priority, tags: `slots`); then read the action, with negation read before the word it
//! negates, and its target or title. Titles keep the user's own words.
//!
//! Precision over recall: a request the grammar cannot place is `Unknown` (the reply says what
//! the engine can do), never a guess that changes or reports the wrong tasks.

use std::sync::LazyLock;

use jiff::Zoned;
use regex::{Captures, Regex};
use todo_core::domain::Priority;

use super::slots::{self, Details, split_tags};
use super::text::{Text, squash};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Greet,
    Help,
    Thanks,
    Add {
        title: String,
        details: Details,
    },
    List {
        query: Query,
    },
    Complete {
        target: Target,
    },
    Delete {
        target: Target,
    },
    Update {
        target: Target,
        change: Change,
    },
    /// "delete all my tasks", "delete all tasks of user 7": refused, one task at a time.
    DeleteAll,
    /// "don't delete it": nothing to do, and saying so.
    Refrain,
    Unknown,
}

/// What an update changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub title: Option<String>,
    pub details: Details,
    pub remove_tags: Vec<String>,
    pub clear_due: bool,
}

/// Which tasks a question is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub filter: Filter,
    pub priority: Option<Priority>,
    pub tag: Option<String>,
    pub search: Option<String>,
    /// Due by the end of the day this many days from today, overdue included.
    pub due_within_days: Option<u32>,
    pub overdue: bool,
    /// "how many …": the answer is a count.
    pub count: bool,
}

impl Query {
    pub fn status(filter: Filter) -> Query {
        Query {
            filter,
            ..Query::default()
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Filter {
    #[default]
    All,
    Pending,
    Completed,
}

impl Filter {
    pub fn as_str(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Pending => "pending",
            Filter::Completed => "completed",
        }
    }
}

/// Which task a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Id(i64),
    /// Words of its title, e.g. "groceries" for "Buy groceries".
    Words(String),
    /// "it", "that one": the task the conversation last talked about.
    Last,
    /// "the second task", "the last one": a place in the list last shown (or in all tasks).
    Nth(Position),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// 1 is the first.
    From(usize),
    Final,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the offline grammar's patterns are valid")
}

static GREETING: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:hi|hello|hey|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening))\b[\s,!.]*"));
static LEADING_FILLER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:\s*(?:please|kindly|could you|can you|would you|will you|oh|ok|okay|so|and|also|hey|um|uh|well|actually|just|now|quickly|one more thing)\b[\s,:]*)+",
    )
});
static TRAILING_FILLER: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:[\s,]*\b(?:please|thanks|thank you|for me|too|as well)\b)*[\s.!?,;:]*$"));
static HELP: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:help|\?|what can you do|what do you do|how does this work|how do i use this|commands|what are your commands)\b",
    )
});
static THANKS: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:thanks|thank you|cheers|great,? thanks)\b"));
static DELETE_ALL: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:delete|remove|clear|wipe|erase)\s+(?:all|every|everything)\b"));
static REFRAIN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:do not|never|no need to|no,? do not|stop|you do not need to)\s+(?:\w+\s+)?(?:delete|remove|complete|mark|finish|rename|change|add|cancel|touch|update|drop)\b",
    )
});
static RENAME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:change|rename|update|edit|retitle)\s+(?:the\s+(?:title|name)\s+of\s+)?(?P<target>.+?)(?:'s)?(?:\s+(?:title|name))?\s+(?:to|into|as)\s+(?P<title>.+)$",
    )
});
/// With a slot cut out: "make the report [urgent]", "move rent [to friday]".
static UPDATE_DETAILS: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        re(
            r"^(?:set|change|update|move)\s+(?:the\s+)?(?:due date|deadline|date|priority)\s+(?:of|for|on)\s+(?P<target>.+?)(?:\s+(?:as|to))?$",
        ),
        re(
            r"^(?:make|mark|set|flag|change|move|push|reschedule|postpone|bump|put|update|schedule)\s+(?P<target>.+?)(?:\s+(?:as|to|priority|due|for|into|at|back))*$",
        ),
        re(r"^(?P<target>.+?)\s+(?:is|should be done|needs to be done|has to be done|must be done)$"),
    ]
});
static TAG_TASK: LazyLock<[Regex; 2]> = LazyLock::new(|| {
    [
        re(r"^(?:tag|label)\s+(?P<target>.+?)\s+(?:with|as)\s+(?P<tags>.+)$"),
        re(r"^(?:add|put)\s+(?:the\s+)?(?:tags?|labels?)\s+(?P<tags>.+?)\s+(?:to|on)\s+(?P<target>.+)$"),
    ]
});
static UNTAG_TASK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:untag|remove\s+(?:the\s+)?(?:tags?|labels?)|take\s+(?:the\s+)?(?:tags?|labels?))\s+(?P<tags>.+?)\s+(?:from|off)\s+(?P<target>.+)$",
    )
});
static CLEAR_DUE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:remove|clear|drop|delete)\s+(?:the\s+)?(?:due date|deadline|date)\s+(?:of|from|on|for)\s+(?P<target>.+)$")
});
static ASK_ABOUT_TASK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:did|have|has)\s+i\s+(?:already\s+)?(?:finish|finished|complete|completed|do|done)\s+(?P<target>.+?)(?:\s+(?:yet|already))?$",
    )
});
static COMPLETE: LazyLock<[Regex; 5]> = LazyLock::new(|| {
    [
        re(r"^(?:mark|set|flag)\s+(?P<target>.+?)\s+(?:as\s+)?(?:complete|completed|done|finished)$"),
        re(r"^(?:complete|finish|check off|tick off|cross off|close)\s+(?P<target>.+)$"),
        re(
            r"^(?:i\s+(?:have\s+)?(?:just\s+|already\s+|finally\s+)?(?:did|finished|completed)|(?:have\s+)?(?:just\s+|already\s+|finally\s+)?(?:finished|completed))\s+(?P<target>.+)$",
        ),
        re(r"^(?:i am\s+)?(?:all\s+)?done with\s+(?P<target>.+)$"),
        re(r"^(?P<target>.+?)\s+is\s+(?:now\s+)?(?:done|complete|completed|finished)$"),
    ]
});
static DELETE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:delete|remove|cancel|drop|erase|get rid of|forget about|forget|scrap|ditch)\s+(?P<target>.+)$")
});
/// "not done yet", "have not finished", "is not complete", "unfinished": the opposite of done,
/// read before "done" is, or the question gets the completed tasks as its answer.
static NEGATED_DONE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\bnot\s+(?:\w+\s+)?(?:yet\s+)?(?:been\s+|be\s+)?(?:done|complete|completed|finished|checked off|ticked off)\b|\bnever\s+(?:done|finished|completed)\b|\byet to (?:be\s+)?(?:done|finished|completed)\b|\b(?:not|n't)\s+(?:finished|done)\b",
    )
});
static LIST_COMPLETED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:what(?: is| have| did)?|which|show|list|see|display|how many).*\b(?:completed|done|finished|ticked off|checked off)\b|\bdid\s+i\s+(?:finish|complete|do|get done)\b|\bhave\s+i\s+(?:finished|completed|done)\b|^(?:completed|done|finished)(?:\s+tasks)?$",
    )
});
static LIST_PENDING: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:pending|left|remaining|outstanding|open|incomplete|unfinished|undone|to do|todo|not done|on my plate|still (?:to do|todo|need|have|open|pending))\b|^(?:what do i (?:still )?(?:need|have) to do)|\bwhat is next\b",
    )
});
static LIST_ALL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:(?:show|list|display|see|view|get|give|read|tell)\b.*|what(?: is| are)?\b.*|which\b.*|(?:all\s+)?(?:my\s+)?(?:tasks|todos|list|todo list)|what do i have.*|do i have.*)$",
    )
});
static TASK_NOUN: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(?:tasks?|todos?|list|everything|anything|agenda|plate|things|stuff|items?)\b"));
static LIST_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b(?:tasks?|todos?|list|anything|everything|what|which|show|how many|any|things|items|tell me)\b")
});
static OVERDUE: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:overdue|past due|late|missed|behind on|behind)\b"));
static DUE_SOON: LazyLock<Regex> =
    LazyLock::new(|| re(r"\bdue\s+(?:soon|shortly|anytime soon)\b|\bcoming up\b|\bupcoming\b"));
static HOW_MANY: LazyLock<Regex> = LazyLock::new(|| re(r"\bhow many\b|\bcount\b|\bnumber of\b"));
static FIND: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:find|search(?:\s+for)?|look\s+(?:for|up)|where is|where are|locate|any tasks?\s+(?:about|mentioning|with|for)|(?:show|list)\s+(?:me\s+)?(?:the\s+)?tasks?\s+(?:about|mentioning|containing|with|for))\s+(?P<q>.+)$",
    )
});
/// "show my work tasks": the word before "tasks" is a tag unless it is one of these.
static TAG_BEFORE_TASKS: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(?P<tag>[\p{L}\p{N}_\-]+)\s+(?:tasks|todos|items|stuff)\b"));
const NOT_TAGS: &[&str] = &[
    "my",
    "the",
    "all",
    "any",
    "your",
    "of",
    "pending",
    "completed",
    "complete",
    "done",
    "open",
    "remaining",
    "finished",
    "unfinished",
    "incomplete",
    "outstanding",
    "high",
    "low",
    "medium",
    "priority",
    "urgent",
    "important",
    "overdue",
    "these",
    "those",
    "many",
    "other",
    "current",
    "old",
    "new",
    "our",
    "more",
    "some",
    "what",
    "which",
    "show",
    "list",
    "me",
    "every",
    "due",
    "upcoming",
    "next",
    "today's",
    "late",
    "existing",
    "active",
    "undone",
    "left",
    "i",
    "of",
    "those",
    "latest",
    "recent",
    "first",
    "last",
    "completed",
];
static ADD_LIST: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:add|create|new|put|make)\s+(?:a\s+|an\s+)?(?:new\s+)?(?:(?:task|todo|item|reminder|entry)s?\b)?\s*(?:to\s+(?:my\s+)?(?:list|tasks)\s*)?(?::|called|named|titled|to|for|that says|saying|about)?\s*(?P<title>.+)$",
    )
});
static ADD_ONE: LazyLock<[Regex; 5]> = LazyLock::new(|| {
    [
        re(r"^(?:do not|never)\s+(?:let me\s+)?forget\s+(?:to\s+|about\s+)?(?P<title>.+)$"),
        re(
            r"^(?:remind me|set a reminder|make a note|note down|jot down)\s+(?:to|about|that i need to|that i have to|:)?\s*(?P<title>.+)$",
        ),
        re(r"^i\s+(?:need|have|want|must|should|got|ought)\s+(?:to\s+)?(?:remember\s+to\s+)?(?P<title>.+)$"),
        re(r"^(?:remember|note)\s+(?:to\s+)?(?P<title>.+)$"),
        re(r"^(?:todo|task)\s*:\s*(?P<title>.+)$"),
    ]
});
static TITLE_TAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)[\s,]+(?:to|on|in|onto)\s+(?:my|the)\s+(?:list|tasks|to-?do list|todo list|task list)$"));
static TARGET_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:tasks?\s*|number\s*|no\.?\s*|#)*#?(?P<id>\d+)$"));
static TARGET_LAST: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:it|that|this|that one|this one|that task|this task|the one i just added)$"));
static TARGET_NTH: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:the\s+)?(?P<n>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|1st|2nd|3rd|4th|5th|6th|7th|8th|9th|10th|last)\s*(?:one|task|item|todo)?(?:\s+(?:on|in)\s+(?:the|my)\s+list)?$",
    )
});
static CLAUSE_SPLIT: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)(?:[.;!?]\s+|\s+and then\s+|,?\s+then\s+)"));
/// "… and show my tasks": an "and" (or comma) before a command starts a new request.
static COMMAND_JOIN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:,\s*|\s+)(?:and|also|oh and)\s+(?:(?:please|also)\s+)?(?:show|list|what|add|create|delete|remove|mark|complete|rename|change|update|remind|tag|make|move)\b",
    )
});
static LIST_SPLIT: LazyLock<Regex> = LazyLock::new(|| re(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*"));

/// Every request in a message, in order ("add milk and eggs, then show my tasks"), with dates read
/// in UTC as of now.
pub fn parse(message: &str) -> Vec<Intent> {
    parse_at(message, &Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC))
}

/// The same, with "tomorrow" and "Friday 5pm" read as of `now`, in its zone.
pub fn parse_at(message: &str, now: &Zoned) -> Vec<Intent> {
    let mut intents = Vec::new();
    for sentence in CLAUSE_SPLIT.split(message.trim()) {
        for clause in split_commands(sentence) {
            intents.extend(parse_clause(clause, now));
        }
    }
    if intents.is_empty() {
        intents.push(Intent::Unknown);
    }
    intents
}

fn split_commands(sentence: &str) -> Vec<&str> {
    let mut clauses = Vec::new();
    let mut start = 0;
    for joint in COMMAND_JOIN.find_iter(sentence) {
        // Keep the command word: cut where the last joining word ends.
        let command = sentence[..joint.end()]
            .rfind(char::is_whitespace)
            .map_or(joint.start(), |i| i + 1);
        clauses.push(&sentence[start..joint.start()]);
        start = command;
    }
    clauses.push(&sentence[start..]);
    clauses
}

fn parse_clause(clause: &str, now: &Zoned) -> Vec<Intent> {
    let mut intents = Vec::new();
    let mut rest = clause.trim();
    if let Some(m) = GREETING.find(&rest.to_lowercase()) {
        intents.push(Intent::Greet);
        rest = rest.get(m.end()..).unwrap_or("").trim();
    }
    let mut text = Text::new(rest);
    let question = text.norm().trim_end().ends_with('?');
    strip_filler(&mut text);
    if text.norm().trim().is_empty() {
        return intents;
    }
    intents.extend(parse_request(&text, question, now));
    intents
}

fn strip_filler(text: &mut Text<'_>) {
    let norm = text.norm();
    if let Some(m) = TRAILING_FILLER
        .find(&norm)
        .filter(|m| !m.is_empty() && !norm[..m.start()].trim().is_empty())
    {
        text.cut(m.range());
    }
    let norm = text.norm();
    if let Some(m) = LEADING_FILLER
        .find(&norm)
        .filter(|m| !m.is_empty() && m.end() < norm.trim_end().len())
    {
        text.cut(m.range());
    }
}

fn parse_request(text: &Text<'_>, question: bool, now: &Zoned) -> Vec<Intent> {
    let norm = text.norm().trim().to_string();
    let mut slotted = text.clone();
    let details = slots::take(&mut slotted, now);
    let slotted_norm = slotted.norm().trim().to_string();
    let captured = |c: &Captures<'_>, name: &str, from: &Text<'_>| {
        c.name(name).map(|m| from.original(m.range())).unwrap_or_default()
    };

    if HELP.is_match(&norm) {
        return vec![Intent::Help];
    }
    if THANKS.is_match(&norm) {
        return vec![Intent::Thanks];
    }
    if let Some(c) = ADD_ONE[0].captures(&slotted_norm) {
        return add(&captured(&c, "title", &slotted), details);
    }
    if REFRAIN.is_match(&norm) {
        return vec![Intent::Refrain];
    }
    if DELETE_ALL.is_match(&norm) {
        return vec![Intent::DeleteAll];
    }
    if let Some(c) = ASK_ABOUT_TASK.captures(&norm) {
        let words = search_words(&captured(&c, "target", text));
        if !words.is_empty() && !matches!(words.as_str(), "anything" | "everything" | "all" | "it" | "today") {
            return vec![Intent::List {
                query: Query {
                    search: Some(words),
                    ..Query::default()
                },
            }];
        }
    }
    // Tags and due dates first: "remove the tag work from X" must not delete X.
    for pattern in TAG_TASK.iter() {
        if let Some(c) = pattern.captures(&norm)
            && let [target] = &targets(&captured(&c, "target", text))[..]
        {
            let tags = split_tags(&captured(&c, "tags", text));
            return update(
                target.clone(),
                Change {
                    details: Details {
                        tags,
                        ..Details::default()
                    },
                    ..Change::default()
                },
            );
        }
    }
    if let Some(c) = UNTAG_TASK.captures(&norm)
        && let [target] = &targets(&captured(&c, "target", text))[..]
    {
        return update(
            target.clone(),
            Change {
                remove_tags: split_tags(&captured(&c, "tags", text)),
                ..Change::default()
            },
        );
    }
    if let Some(c) = CLEAR_DUE.captures(&norm)
        && let [target] = &targets(&captured(&c, "target", text))[..]
    {
        return update(
            target.clone(),
            Change {
                clear_due: true,
                ..Change::default()
            },
        );
    }
    if let Some(c) = RENAME.captures(&norm) {
        // "change the report to high priority" changes its priority, not its title.
        let new_title = captured(&c, "title", text);
        let mut title_text = Text::new(&new_title);
        let title_details = slots::take(&mut title_text, now);
        let rest = title(&title_text.original(0..title_text.norm().len()));
        if let [target] = &targets(&captured(&c, "target", text))[..] {
            if rest.is_empty() && !title_details.is_empty() {
                return update(
                    target.clone(),
                    Change {
                        details: title_details,
                        ..Change::default()
                    },
                );
            }
            let new_title = title(&new_title);
            if !new_title.is_empty() {
                return update(
                    target.clone(),
                    Change {
                        title: Some(new_title),
                        ..Change::default()
                    },
                );
            }
        }
    }
    if !details.is_empty() && !question {
        for pattern in UPDATE_DETAILS.iter() {
            if let Some(c) = pattern.captures(&slotted_norm)
                && let [target] = &targets(&captured(&c, "target", &slotted))[..]
            {
                return update(
                    target.clone(),
                    Change {
                        details: details.clone(),
                        ..Change::default()
                    },
                );
            }
        }
    }
    if !question {
        for pattern in COMPLETE.iter() {
            if let Some(c) = pattern.captures(&norm) {
                let found = targets(&captured(&c, "target", text));
                if !found.is_empty() {
                    return found.into_iter().map(|target| Intent::Complete { target }).collect();
                }
            }
        }
        if let Some(c) = DELETE.captures(&norm) {
            let found = targets(&captured(&c, "target", text));
            if !found.is_empty() {
                return found.into_iter().map(|target| Intent::Delete { target }).collect();
            }
        }
    }
    if let Some(c) = ADD_LIST.captures(&slotted_norm)
        && !question
    {
        let raw = captured(&c, "title", &slotted);
        let titles: Vec<String> = if details.is_empty() {
            LIST_SPLIT.split(&raw).map(title).filter(|t| !t.is_empty()).collect()
        } else {
            // One task with its details: "add milk and eggs by friday" is one errand.
            vec![title(&raw)]
        };
        if !titles.is_empty() && !titles.iter().all(|t| t.is_empty()) {
            return titles
                .into_iter()
                .filter(|t| !t.is_empty())
                .map(|title| Intent::Add {
                    title,
                    details: details.clone(),
                })
                .collect();
        }
    }
    if let Some(c) = ADD_ONE[4].captures(&slotted_norm) {
        return add(&captured(&c, "title", &slotted), details);
    }
    if let Some(query) = list_query(&norm, &slotted_norm, text, &details, question, now) {
        return vec![Intent::List { query }];
    }
    for pattern in &ADD_ONE[1..] {
        if let Some(c) = pattern.captures(&slotted_norm) {
            let added = add(&captured(&c, "title", &slotted), details.clone());
            if !added.is_empty() {
                return added;
            }
        }
    }
    // "#work finish slides": a title with a tag is a new task.
    if !details.tags.is_empty() && !question && norm.contains('#') {
        let added = add(&slotted.original(0..slotted.norm().len()), details);
        if !added.is_empty() {
            return added;
        }
    }
    vec![Intent::Unknown]
}

fn add(raw: &str, details: Details) -> Vec<Intent> {
    let title = title(raw);
    if title.is_empty() {
        return Vec::new();
    }
    vec![Intent::Add { title, details }]
}

fn update(target: Target, change: Change) -> Vec<Intent> {
    vec![Intent::Update { target, change }]
}

/// A question about tasks, read from the message with its slots cut out (`slotted`) and without.
fn list_query(
    norm: &str,
    slotted: &str,
    text: &Text<'_>,
    details: &Details,
    question: bool,
    now: &Zoned,
) -> Option<Query> {
    let asks = LIST_WORDS.is_match(norm) || question || norm.starts_with("any");
    if let Some(c) = FIND.captures(norm) {
        let words = search_words(&c.name("q").map(|m| text.original(m.range())).unwrap_or_default());
        if !words.is_empty() {
            return Some(Query {
                search: Some(words),
                ..Query::default()
            });
        }
    }
    if !asks {
        return None;
    }
    let filter = if NEGATED_DONE.is_match(slotted) {
        Some(Filter::Pending)
    } else if LIST_COMPLETED.is_match(slotted) {
        Some(Filter::Completed)
    } else if LIST_PENDING.is_match(slotted) {
        Some(Filter::Pending)
    } else {
        None
    };
    let overdue = OVERDUE.is_match(slotted);
    let due_within_days = if let Some(due) = details.due {
        let days = now.date().until(due.date()).ok()?.get_days();
        Some(u32::try_from(days.max(0)).unwrap_or(0))
    } else if DUE_SOON.is_match(slotted) {
        Some(3)
    } else {
        None
    };
    let tag = details.tags.first().cloned().or_else(|| {
        TAG_BEFORE_TASKS
            .captures(slotted)
            .map(|c| c["tag"].to_string())
            .filter(|t| !NOT_TAGS.contains(&t.as_str()))
    });
    let count = HOW_MANY.is_match(norm);
    let narrowed = overdue || due_within_days.is_some() || details.priority.is_some() || tag.is_some() || count;
    if filter.is_none() && !narrowed && !(LIST_ALL.is_match(slotted) && TASK_NOUN.is_match(slotted)) {
        return None;
    }
    // Open tasks are what a question about dates or importance is after.
    let filter = filter.unwrap_or(if overdue || due_within_days.is_some() || details.priority.is_some() {
        Filter::Pending
    } else {
        Filter::All
    });
    Some(Query {
        filter,
        priority: details.priority,
        tag,
        search: None,
        due_within_days,
        overdue,
        count,
    })
}

/// "the dentist task" → "dentist".
fn search_words(raw: &str) -> String {
    let mut words = squash(raw.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace()));
    for prefix in ["the ", "my ", "a ", "an ", "any ", "task ", "tasks ", "one ", "about "] {
        if words.to_lowercase().starts_with(prefix) {
            words = words[prefix.len()..].to_string();
        }
    }
    for suffix in [" task", " tasks", " one", " todo", " item", " thing"] {
        if words.to_lowercase().ends_with(suffix) {
            words.truncate(words.len() - suffix.len());
        }
    }
    words
        .trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace())
        .to_string()
}

/// "tasks 2 and 3", "the milk task", "it" → the targets named.
fn targets(raw: &str) -> Vec<Target> {
    let lower = squash(&raw.to_lowercase());
    let lower = lower.trim_end_matches(['.', '!', '?', ',']);
    let lower = lower.strip_prefix("tasks ").unwrap_or(lower);
    let parts: Vec<&str> = LIST_SPLIT.split(lower).filter(|p| !p.is_empty()).collect();
    // A list of ids ("2 and 3") splits; words ("salt and pepper") stay one title.
    if parts.len() > 1 && parts.iter().all(|p| TARGET_ID.is_match(p)) {
        return parts.into_iter().filter_map(target).collect();
    }
    target(lower).into_iter().collect()
}

fn target(text: &str) -> Option<Target> {
    let text = text.trim();
    if let Some(c) = TARGET_ID.captures(text) {
        return c["id"].parse().ok().map(Target::Id);
    }
    if TARGET_LAST.is_match(text) {
        return Some(Target::Last);
    }
    if let Some(c) = TARGET_NTH.captures(text) {
        let ordinals = [
            "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
        ];
        let n = &c["n"];
        if n == "last" {
            return Some(Target::Nth(Position::Final));
        }
        let place = ordinals
            .iter()
            .position(|o| *o == n)
            .map(|i| i + 1)
            .or_else(|| n.trim_end_matches(|c: char| c.is_alphabetic()).parse().ok())?;
        return Some(Target::Nth(Position::From(place)));
    }
    let mut words = text;
    for prefix in ["the ", "my ", "a ", "task ", "item "] {
        words = words.strip_prefix(prefix).unwrap_or(words);
    }
    for suffix in [" task", " item", " one", " todo"] {
        words = words.strip_suffix(suffix).unwrap_or(words);
    }
    let words = words.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    (!words.is_empty()).then(|| Target::Words(words.to_string()))
}

/// A task title from the user's words: quotes, "to my list" and end punctuation removed, first
/// letter capitalised.
fn title(raw: &str) -> String {
    let text = squash(raw);
    let text = TITLE_TAIL.replace(&text, "");
    let text = text.trim_matches(|c: char| {
        matches!(
            c,
            '"' | '\'' | '“' | '”' | '‘' | '’' | ',' | '.' | '!' | '?' | ';' | ':' | '-'
        ) || c.is_whitespace()
    });
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(title: &str) -> Intent {
        Intent::Add {
            title: title.into(),
            details: Details::default(),
        }
    }

    #[test]
    fn titles_keep_the_users_words() {
        assert_eq!(parse("add a task to buy groceries"), [add("Buy groceries")]);
        assert_eq!(parse("Add milk and eggs to my list"), [add("Milk"), add("Eggs")]);
        assert_eq!(
            parse("change task 1 to 'Call mom tonight'"),
            [Intent::Update {
                target: Target::Id(1),
                change: Change {
                    title: Some("Call mom tonight".into()),
                    ..Change::default()
                }
            }]
        );
    }

    #[test]
    fn negation_is_read_before_the_word_it_negates() {
        let pending = |text: &str| match &parse(text)[..] {
            [Intent::List { query }] => query.filter == Filter::Pending,
            _ => false,
        };
        for text in [
            "which tasks are not done yet?",
            "what haven't I finished",
            "whats left",
            "what is still open?",
        ] {
            assert!(pending(text), "{text:?}: {:?}", parse(text));
        }
        assert_eq!(parse("don't delete it"), [Intent::Refrain]);
        assert!(
            matches!(&parse("don't let me forget to renew my passport")[..], [Intent::Add { title, .. }] if title == "Renew my passport")
        );
    }
}
