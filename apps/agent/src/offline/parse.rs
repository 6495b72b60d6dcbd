//! From a user's message to what they want done: a small, deterministic grammar of the ways people
//! ask a to-do assistant for things. Titles keep the user's own words.

use std::sync::LazyLock;

use regex::Regex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Greet,
    Help,
    Thanks,
    Add {
        title: String,
    },
    List {
        filter: Filter,
    },
    Complete {
        target: Target,
    },
    Delete {
        target: Target,
    },
    Update {
        target: Target,
        title: String,
    },
    /// "delete all my tasks", "delete all tasks of user 7": refused, one task at a time.
    DeleteAll,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
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
}

fn re(pattern: &str) -> Regex {
    Regex::new(&format!("(?i){pattern}")).expect("the offline grammar's patterns are valid")
}

static GREETING: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:hi|hello|hey|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening))\b[\s,!.]*"));
static HELP: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:help|\?|what can you do|what do you do|how does this work|how do i use this|commands|what are your commands)\b",
    )
});
static THANKS: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:thanks|thank you|thx|ty|cheers|great,? thanks)\b"));
static DELETE_ALL: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:please\s+)?(?:delete|remove|clear|wipe|erase)\s+(?:all|every|everything)\b"));
static UPDATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:please\s+)?(?:change|rename|update|edit|retitle)\s+(?:the\s+(?:title|name)\s+of\s+)?(?P<target>.+?)(?:'s)?(?:\s+(?:title|name))?\s+(?:to|into|as)\s+(?P<title>.+)$",
    )
});
static COMPLETE: LazyLock<[Regex; 5]> = LazyLock::new(|| {
    [
        re(r"^(?:please\s+)?(?:mark|set|flag)\s+(?P<target>.+?)\s+(?:as\s+)?(?:complete|completed|done|finished)$"),
        re(r"^(?:please\s+)?(?:complete|finish|check off|tick off|cross off|close)\s+(?P<target>.+)$"),
        re(r"^(?:i\s+)?(?:have\s+|'ve\s+)?(?:just\s+)?(?:finished|completed|did)\s+(?P<target>.+)$"),
        re(r"^(?:i'?m\s+|i am\s+)?(?:all\s+)?done with\s+(?P<target>.+)$"),
        re(r"^(?P<target>.+?)\s+is\s+(?:now\s+)?(?:done|complete|completed|finished)$"),
    ]
});
static DELETE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:please\s+)?(?:delete|remove|cancel|drop|erase|get rid of|forget)\s+(?P<target>.+)$"));
static LIST_COMPLETED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:what(?:'s| is| have| did)?|which|show|list|see|display).*\b(?:completed|done|finished)\b|\bdid\s+i\s+(?:finish|complete)\b|^(?:completed|done|finished)(?:\s+tasks)?$",
    )
});
/// "not done yet", "haven't finished", "isn't complete", "unfinished": the opposite of done, which
/// must be read before "done" is, or the question gets the completed tasks as its answer.
static NEGATED_DONE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:\bnot|n't|n’t|\b(?:havent|hasnt|isnt|arent|didnt|dont|wasnt|werent)|\bnever)\s+(?:i\s+|we\s+)?(?:yet\s+)?(?:been\s+|be\s+)?(?:done|complete|completed|finished|checked off)\b|\byet to (?:be\s+)?(?:done|finished|completed)\b",
    )
});
static LIST_PENDING: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:pending|left|remaining|outstanding|open|incomplete|unfinished|not done|still (?:to do|todo|need|have))\b|^(?:what do i (?:still )?(?:need|have) to do)",
    )
});
static LIST_ALL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:(?:please\s+)?(?:show|list|display|see|view|get|give|read)\b.*|what(?:'s| is| are)?\b.*|which\b.*|(?:all\s+)?(?:my\s+)?(?:tasks|to-?dos|list|to-?do list)|what do i have.*)$",
    )
});
static TASK_NOUN: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:tasks?|to-?dos?|list|everything|agenda|plate)\b"));
static LIST_WORDS: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(?:tasks?|to-?dos?|list|anything|everything|what|whats|which|show)\b"));
static ADD_LIST: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:please\s+)?(?:can you\s+|could you\s+)?(?:add|create|new|put)\s+(?:a\s+|an\s+)?(?:new\s+)?(?:task|todo|to-do|item|reminder)?s?\s*(?:to\s+(?:my\s+)?(?:list|tasks)\s*)?(?::|called|named|to|for|that says)?\s*(?P<title>.+)$",
    )
});
static ADD_ONE: LazyLock<[Regex; 4]> = LazyLock::new(|| {
    [
        re(r"^(?:please\s+)?(?:can you\s+)?remind me to\s+(?P<title>.+)$"),
        re(r"^i\s+(?:need|have|want|must|should|gotta|got)\s+(?:to\s+)?(?:remember\s+to\s+)?(?P<title>.+)$"),
        re(r"^(?:remember|don't forget|do not forget|note)\s+(?:to\s+)?(?P<title>.+)$"),
        re(r"^(?:todo|task)\s*:\s*(?P<title>.+)$"),
    ]
});
static TITLE_TAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"\s+(?:to|on|in)\s+(?:my|the)\s+(?:list|tasks|to-?do list|todo list|task list)$"));
static TARGET_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:tasks?\s*|number\s*|no\.?\s*|#)*#?(?P<id>\d+)$"));
static TARGET_LAST: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:it|that|this|that one|this one|that task|this task|the last one|the last task)$"));
static CLAUSE_SPLIT: LazyLock<Regex> = LazyLock::new(|| re(r"(?:[.;!?]\s+|\s+and then\s+|,?\s+then\s+)"));
/// "… and show my tasks": an "and" (or comma) before a command starts a new request.
static COMMAND_JOIN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:,\s*|\s+)(?:and|also)\s+(?:(?:please|also)\s+)?(?:show|list|what|add|create|delete|remove|mark|complete|rename|change|update|remind)\b",
    )
});
static LIST_SPLIT: LazyLock<Regex> = LazyLock::new(|| re(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*"));

/// Every request in a message, in order ("add milk and eggs, then show my tasks").
pub fn parse(message: &str) -> Vec<Intent> {
    let mut intents = Vec::new();
    for sentence in CLAUSE_SPLIT.split(message.trim()) {
        for clause in split_commands(sentence) {
            intents.extend(parse_clause(clause));
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
        // Keep the command word: cut where "and" ends.
        let and_end = sentence[joint.start()..joint.end()]
            .to_lowercase()
            .find(|c: char| c.is_alphabetic())
            .map(|i| joint.start() + i)
            .and_then(|i| sentence[i..].find(char::is_whitespace).map(|w| i + w))
            .unwrap_or(joint.start());
        clauses.push(&sentence[start..joint.start()]);
        start = and_end;
    }
    clauses.push(&sentence[start..]);
    clauses
}

fn parse_clause(clause: &str) -> Vec<Intent> {
    let mut text = clean(clause);
    let mut intents = Vec::new();
    if let Some(m) = GREETING.find(&text) {
        intents.push(Intent::Greet);
        text = clean(&text[m.end()..]);
    }
    if text.is_empty() {
        return intents;
    }
    let lower = text.to_lowercase();
    intents.extend(parse_request(&text, &lower));
    intents
}

fn parse_request(text: &str, lower: &str) -> Vec<Intent> {
    if HELP.is_match(lower) {
        return vec![Intent::Help];
    }
    if THANKS.is_match(lower) {
        return vec![Intent::Thanks];
    }
    if DELETE_ALL.is_match(lower) {
        return vec![Intent::DeleteAll];
    }
    if let Some(c) = UPDATE.captures(text) {
        let title = title(&c["title"]);
        if let [target] = &targets(&c["target"])[..]
            && !title.is_empty()
        {
            return vec![Intent::Update {
                target: target.clone(),
                title,
            }];
        }
    }
    for pattern in COMPLETE.iter() {
        if let Some(c) = pattern.captures(text) {
            let found = targets(&c["target"]);
            if !found.is_empty() {
                return found.into_iter().map(|target| Intent::Complete { target }).collect();
            }
        }
    }
    if let Some(c) = DELETE.captures(text) {
        return targets(&c["target"])
            .into_iter()
            .map(|target| Intent::Delete { target })
            .collect();
    }
    if let Some(filter) = list_filter(lower) {
        return vec![Intent::List { filter }];
    }
    if let Some(c) = ADD_LIST.captures(text) {
        return LIST_SPLIT
            .split(&c["title"])
            .map(title)
            .filter(|t| !t.is_empty())
            .map(|title| Intent::Add { title })
            .collect();
    }
    for pattern in ADD_ONE.iter() {
        if let Some(c) = pattern.captures(text) {
            let title = title(&c["title"]);
            if !title.is_empty() {
                return vec![Intent::Add { title }];
            }
        }
    }
    vec![Intent::Unknown]
}

fn list_filter(lower: &str) -> Option<Filter> {
    let asks = LIST_WORDS.is_match(lower) || lower.ends_with('?');
    if NEGATED_DONE.is_match(lower) && asks {
        return Some(Filter::Pending);
    }
    if LIST_COMPLETED.is_match(lower) && asks {
        return Some(Filter::Completed);
    }
    if LIST_PENDING.is_match(lower) && asks {
        return Some(Filter::Pending);
    }
    (LIST_ALL.is_match(lower) && TASK_NOUN.is_match(lower)).then_some(Filter::All)
}

/// "tasks 2 and 3", "the milk task", "it" → the targets named.
fn targets(text: &str) -> Vec<Target> {
    let text = clean(text);
    let lower = text.to_lowercase();
    let lower = lower.strip_prefix("tasks ").unwrap_or(&lower);
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
    let mut words = text;
    for prefix in ["the ", "my ", "a ", "task ", "item "] {
        words = words.strip_prefix(prefix).unwrap_or(words);
    }
    for suffix in [" task", " item", " one", " todo", " to-do"] {
        words = words.strip_suffix(suffix).unwrap_or(words);
    }
    let words = words.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    (!words.is_empty()).then(|| Target::Words(words.to_string()))
}

/// A task title from the user's words: quotes, "to my list" and end punctuation removed, first
/// letter capitalised.
fn title(raw: &str) -> String {
    let text = clean(raw);
    let text = TITLE_TAIL.replace(&text, "");
    let text = text.trim_matches(|c: char| matches!(c, '"' | '\'' | '“' | '”' | '‘' | '’') || c.is_whitespace());
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn clean(text: &str) -> String {
    let text = text.trim().trim_end_matches(['.', '!', '?', ',', ';']).trim();
    let text = text
        .strip_prefix("please ")
        .or_else(|| text.strip_prefix("Please "))
        .unwrap_or(text);
    let text = text.trim_end_matches(" please").trim_end_matches(", please");
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_keep_the_users_words() {
        assert_eq!(
            parse("add a task to buy groceries"),
            [Intent::Add {
                title: "Buy groceries".into()
            }]
        );
        assert_eq!(
            parse("Add milk and eggs to my list"),
            [
                Intent::Add { title: "Milk".into() },
                Intent::Add { title: "Eggs".into() }
            ]
        );
        assert_eq!(
            parse("change task 1 to 'Call mom tonight'"),
            [Intent::Update {
                target: Target::Id(1),
                title: "Call mom tonight".into()
            }]
        );
    }
}
