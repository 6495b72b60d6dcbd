//! The domain types every service shares, and the rules that keep them valid.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

mod fields;
mod listing;
mod zone;

pub use fields::{Priority, TAG_MAX_CHARS, TAG_PATTERN, TAGS_MAX, parse_timestamp, validate_tag, validate_tags};
pub use listing::{
    CURSOR_PATTERN, Cursor, CursorKey, PAGE_DEFAULT, PAGE_MAX, SEARCH_MAX_CHARS, SortOrder, TaskPage, TaskQuery,
    TaskSort, validate_search,
};
pub use zone::{UserZone, ZONE_MAX_CHARS, parse_due, zone_names};

pub const TITLE_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 1000;
pub const PASSWORD_MIN_CHARS: usize = 8;
/// argon2 accepts long inputs, but hashing megabytes on every sign-in is a denial-of-service lever.
pub const PASSWORD_MAX_CHARS: usize = 256;
pub const NAME_MAX_CHARS: usize = 100;
pub const EMAIL_MAX_CHARS: usize = 254;

/// A rule broken by user input: the field and a message a person (or a model) can act on.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        ValidationError {
            field,
            message: message.into(),
        }
    }
}

/// A task as stored and as every API returns it.
///
/// Rows are decoded by position (see `db::tasks`), so the field order here is the column order of
/// every task query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: i64,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    pub priority: Priority,
    /// Lowercase labels, at most ten, in the order they were given.
    pub tags: Vec<String>,
    /// When the task is due, if it is; RFC 3339 in UTC.
    #[serde(serialize_with = "timestamp::serialize_optional")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl Task {
    /// Pending and past its due date at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.completed && self.due_at.is_some_and(|due| due < now)
    }
}

/// RFC 3339 timestamps, formatted into a buffer first: chrono's own `Serialize` streams through
/// `collect_str`, which makes serde_json escape it one `char` at a time, and that was the largest
/// cost of listing tasks.
pub mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn serialize_optional<S: Serializer>(value: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }
}

/// Which tasks a listing returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    #[default]
    All,
    Pending,
    Completed,
}

impl StatusFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::All => "all",
            StatusFilter::Pending => "pending",
            StatusFilter::Completed => "completed",
        }
    }

    pub fn parse(raw: &str) -> Result<StatusFilter, ValidationError> {
        [StatusFilter::All, StatusFilter::Pending, StatusFilter::Completed]
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or_else(|| {
                ValidationError::new(
                    "status",
                    format!("status must be all, pending or completed (got {raw:?})"),
                )
            })
    }
}

/// `raw` without the white space around it, white space being every character any tool that
/// checks the OpenAPI document counts as such: Unicode's, the four information separators
/// U+001C–U+001F (which Python's regular expressions count too) and U+FEFF (ECMAScript's).
/// `TEXT_PATTERN` lists exactly these, so a text the document calls blank is refused as blank.
pub fn trim_blank(raw: &str) -> &str {
    raw.trim_matches(is_blank)
}

/// One character `trim_blank` trims.
pub fn is_blank(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c) || c == '\u{feff}'
}

/// The text patterns of the OpenAPI document (`TEXT_PATTERN`, `NO_NUL_PATTERN`): the NUL
/// character is refused everywhere, since PostgreSQL's text cannot hold it; the others must not be
/// blank. "Blank" is spelled out as the very characters `trim_blank` trims rather than as `\s`,
/// which each regular-expression engine reads its own way (ECMAScript's leaves out U+0085,
/// Python's ASCII mode everything past U+007F): a fuzzer generating from the document once sent
/// U+0085 as a valid message, which the backend refused as blank.
pub const TEXT_PATTERN: &str = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff][^\u0000]*$";
pub const NO_NUL_PATTERN: &str = r"^[^\u0000]*$";

/// A title's pattern: one line of text someone can see. Blank around it is trimmed; inside it,
/// no control character (a newline could fake a line in the assistant's list reply) and no
/// bidirectional override or isolate (U+202E turns `gpj.exe` into what reads as `exe.jpg`); and
/// at least one character that is neither blank nor zero-width (two U+200B are not a title).
/// Zero-width joiners stay allowed inside: emoji sequences and Persian script need them.
pub const TITLE_PATTERN: &str = r"^[\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*[^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]*[^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u200b-\u200d\u2060-\u2064][^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]*[\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*$";

/// Characters no title or tag may hold inside it: C0 and C1 controls, line and paragraph
/// separators, and the bidirectional formatting characters (Unicode TR9: embeddings, overrides,
/// isolates and the marks), which reorder what a reader sees.
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Zero-width characters (and the invisible operators U+2061–U+2064): invisible, so they alone
/// do not make a text non-blank.
pub fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

pub(crate) fn refuse_nul(field: &'static str, raw: &str) -> Result<(), ValidationError> {
    if raw.contains('\0') {
        return Err(ValidationError::new(
            field,
            format!("{field} must not contain the NUL character (U+0000)"),
        ));
    }
    Ok(())
}

/// A validated title: trimmed, 1 to 200 characters.
///
/// Lengths are counted before trimming, as the OpenAPI document's `maxLength` counts them: what
/// the document forbids is refused.
pub fn validate_title(raw: &str) -> Result<String, ValidationError> {
    let chars = raw.chars().count();
    if chars > TITLE_MAX_CHARS {
        return Err(ValidationError::new(
            "title",
            format!("title must be at most {TITLE_MAX_CHARS} characters (got {chars})"),
        ));
    }
    refuse_nul("title", raw)?;
    let title = trim_blank(raw);
    if title.is_empty() {
        return Err(ValidationError::new("title", "title must not be empty"));
    }
    if let Some(bad) = title.chars().find(|c| is_hidden_control(*c)) {
        return Err(ValidationError::new(
            "title",
            format!(
                "a title is one line of visible text: it may not hold U+{:04X} (a line break, control or text-direction character)",
                bad as u32
            ),
        ));
    }
    if title.chars().all(|c| is_blank(c) || is_zero_width(c)) {
        return Err(ValidationError::new("title", "title must hold a visible character"));
    }
    Ok(title.to_string())
}

/// A validated description: trimmed, at most 1000 characters; blank means "no description".
pub fn validate_description(raw: Option<&str>) -> Result<Option<String>, ValidationError> {
    let chars = raw.map_or(0, |text| text.chars().count());
    if chars > DESCRIPTION_MAX_CHARS {
        return Err(ValidationError::new(
            "description",
            format!("description must be at most {DESCRIPTION_MAX_CHARS} characters (got {chars})"),
        ));
    }
    if let Some(raw) = raw {
        refuse_nul("description", raw)?;
    }
    Ok(raw.map(trim_blank).filter(|t| !t.is_empty()).map(str::to_string))
}

/// A task about to be created, already validated.
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub title: String,
    pub description: Option<String>,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub due_at: Option<DateTime<Utc>>,
}

impl NewTask {
    /// A task with a title and description, medium priority, no tags and no due date.
    pub fn parse(title: &str, description: Option<&str>) -> Result<Self, ValidationError> {
        Ok(NewTask {
            title: validate_title(title)?,
            description: validate_description(description)?,
            ..NewTask::default()
        })
    }
}

/// A change to a task; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskChanges {
    pub title: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub completed: Option<bool>,
    pub priority: Option<Priority>,
    /// `Some(vec![])` removes every tag.
    pub tags: Option<Vec<String>>,
    /// `Some(None)` clears the due date.
    pub due_at: Option<Option<DateTime<Utc>>>,
}

impl TaskChanges {
    /// Title, description (empty clears it) and completion; the other fields are set on the result.
    pub fn parse(
        title: Option<&str>,
        description: Option<&str>,
        completed: Option<bool>,
    ) -> Result<Self, ValidationError> {
        Ok(TaskChanges {
            title: title.map(validate_title).transpose()?,
            description: description.map(|d| validate_description(Some(d))).transpose()?,
            completed,
            ..TaskChanges::default()
        })
    }

    /// Refuses a change that changes nothing.
    pub fn require_some(self) -> Result<Self, ValidationError> {
        if self == TaskChanges::default() {
            return Err(ValidationError::new(
                "body",
                "nothing to update: give at least one of title, description, completed, priority, tags or due_at",
            ));
        }
        Ok(self)
    }
}

pub const MESSAGE_MAX_CHARS: usize = 4000;
const CONVERSATION_TITLE_CHARS: usize = 60;

/// A chat conversation, newest activity last in `updated_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Conversation {
    pub id: i64,
    pub title: String,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    User,
    Assistant,
}

impl ChatRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        }
    }
}

/// What the agent needs of a stored message to continue a conversation: who said what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTurn {
    pub role: ChatRole,
    pub content: String,
}

/// A stored chat message; an assistant's carries the tool calls it made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    pub id: i64,
    pub role: ChatRole,
    pub content: String,
    #[schema(value_type = Vec<Object>)]
    pub tool_calls: Vec<serde_json::Value>,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
}

/// A user's chat message: trimmed, 1 to 4,000 characters.
pub fn validate_message(raw: &str) -> Result<String, ValidationError> {
    if raw.chars().count() > MESSAGE_MAX_CHARS {
        return Err(ValidationError::new(
            "message",
            format!("message must be at most {MESSAGE_MAX_CHARS} characters"),
        ));
    }
    refuse_nul("message", raw)?;
    let message = trim_blank(raw);
    if message.is_empty() {
        return Err(ValidationError::new("message", "message must not be empty"));
    }
    Ok(message.to_string())
}

/// A conversation's title from its first message: the first line, at most 60 characters.
pub fn conversation_title(first_message: &str) -> String {
    let line = first_message.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= CONVERSATION_TITLE_CHARS {
        return line.to_string();
    }
    let cut: String = line.chars().take(CONVERSATION_TITLE_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// An account. The password hash never leaves the data layer's callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// A normalised email: trimmed and lower-cased, so uniqueness is case-insensitive.
pub fn validate_email(raw: &str) -> Result<String, ValidationError> {
    let email = raw.trim().to_lowercase();
    if raw.chars().count() > EMAIL_MAX_CHARS || !email_address::EmailAddress::is_valid(&email) || !email.contains('.') {
        return Err(ValidationError::new(
            "email",
            "email must be a valid address such as ada@example.com",
        ));
    }
    Ok(email)
}

/// How many characters of a password the guessability estimate reads: its cost grows with the
/// length, and a password whose first 64 characters are hard to guess is hard to guess.
const PASSWORD_ESTIMATE_CHARS: usize = 64;

/// A new password: 8 to 128 characters, and not guessable. Guessable is what zxcvbn scores below
/// 2, about a million guesses or fewer: the common passwords of its frequency lists
/// (`12345678`, `password1`), keyboard walks, repeats (eight spaces), dates, and anything built
/// on `user_inputs` (the account's email and name). NIST SP 800-63B asks for exactly these
/// checks and no composition rules, so a long phrase of plain words passes.
pub fn validate_password(raw: &str, user_inputs: &[&str]) -> Result<(), ValidationError> {
    let chars = raw.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(ValidationError::new(
            "password",
            format!("password must be at least {PASSWORD_MIN_CHARS} characters"),
        ));
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(ValidationError::new(
            "password",
            format!("password must be at most {PASSWORD_MAX_CHARS} characters"),
        ));
    }
    let head: String = raw.chars().take(PASSWORD_ESTIMATE_CHARS).collect();
    // zxcvbn matches its user inputs whole: "ada.lovelace@example.com" would not catch
    // "adalovelace1815", so each input's words count too, alone and run together.
    let mut inputs: Vec<String> = Vec::new();
    for input in user_inputs {
        let lower = input.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
            .collect();
        inputs.push(words.concat());
        inputs.extend(words.iter().map(|w| (*w).to_string()));
        inputs.push(lower.clone());
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(&head, &inputs);
    if u8::from(estimate.score()) < 2 {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map_or_else(|| "it is too easy to guess".to_string(), |w| w.to_string());
        return Err(ValidationError::new(
            "password",
            format!(
                "choose a password that is harder to guess ({}): a few unrelated words make a good one",
                why.trim_end_matches('.').to_lowercase()
            ),
        ));
    }
    Ok(())
}

pub fn validate_name(raw: &str) -> Result<String, ValidationError> {
    if raw.chars().count() > NAME_MAX_CHARS {
        return Err(ValidationError::new(
            "name",
            format!("name must be at most {NAME_MAX_CHARS} characters"),
        ));
    }
    refuse_nul("name", raw)?;
    let name = trim_blank(raw);
    if name.is_empty() {
        return Err(ValidationError::new("name", "name must not be empty"));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    /// The document's patterns and the validation agree on every character, as any regular
    /// expression engine reads the patterns: they list characters, never a class like `\s`.
    #[test]
    fn the_text_and_tag_patterns_accept_exactly_what_validation_accepts() {
        let text = regex::Regex::new(TEXT_PATTERN).unwrap();
        let tag = regex::Regex::new(TAG_PATTERN).unwrap();
        assert!(!TEXT_PATTERN.contains("\\s") && !TAG_PATTERN.contains("\\s"));
        let every = (0u32..0x3100).chain(0xfe00..0x10000).chain([0x1f600, 0x10ffff]);
        for c in every.filter_map(char::from_u32) {
            let one = c.to_string();
            assert_eq!(
                text.is_match(&one),
                c != '\0' && !is_blank(c),
                "TEXT_PATTERN and trim_blank disagree on U+{:04X}",
                c as u32
            );
            assert_eq!(
                tag.is_match(&one),
                validate_tag("tag", &one).is_ok(),
                "TAG_PATTERN and validate_tag disagree on U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn the_title_pattern_and_validate_title_agree() {
        let pattern = regex::Regex::new(TITLE_PATTERN).unwrap();
        let every = (1u32..0x3100).chain(0xfe00..0x10000).chain([0x1f600, 0x10ffff]);
        for c in every.filter_map(char::from_u32) {
            for text in [
                c.to_string(),
                format!("a{c}b"),
                format!("{c}a"),
                format!("a{c}"),
                format!("\u{200b}{c}"),
            ] {
                assert_eq!(
                    pattern.is_match(&text),
                    validate_title(&text).is_ok(),
                    "TITLE_PATTERN and validate_title disagree on {text:?}"
                );
            }
        }
    }

    #[test]
    fn titles_are_one_visible_line_without_direction_tricks() {
        for refused in [
            "\u{200b}\u{200b}",
            "milk\nbread",
            "pay\u{202e}gpj.exe",
            "a\u{2066}b",
            "x\u{85}y",
        ] {
            assert!(validate_title(refused).is_err(), "{refused:?}");
        }
        for kept in [
            "buy milk\n",
            "\tbuy milk",
            "family \u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}",
            "می\u{200c}خواهم",
        ] {
            assert!(validate_title(kept).is_ok(), "{kept:?}");
        }
    }

    use super::*;

    #[test]
    fn text_is_what_the_documents_patterns_say() {
        // Lengths count before trimming, as maxLength does.
        assert!(validate_title(&format!(" {} ", "a".repeat(199))).is_err());
        assert!(validate_title(&format!(" {}", "a".repeat(199))).is_ok());
        // Blank as `\S` reads it in the tools that check the document.
        for blank in ["\u{1c}\u{1f}", "\u{feff} ", "\u{a0}\u{2028}\t"] {
            assert!(validate_title(blank).is_err(), "{blank:?}");
            assert!(validate_message(blank).is_err(), "{blank:?}");
            assert!(validate_name(blank).is_err(), "{blank:?}");
        }
        // PostgreSQL's text cannot hold NUL: refused with the field named, not a 500.
        let e = validate_title("milk\0").unwrap_err();
        assert_eq!(
            (e.field, e.message.as_str()),
            ("title", "title must not contain the NUL character (U+0000)")
        );
        assert!(validate_description(Some("a\0b")).is_err());
        assert!(validate_message("\0hi").is_err());
        assert!(validate_name("Ada\0").is_err());
    }

    #[test]
    fn titles_are_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(validate_title("  buy milk ").unwrap(), "buy milk");
        assert!(validate_title("   ").is_err());
        assert!(validate_title(&"é".repeat(200)).is_ok());
        assert!(validate_title(&"é".repeat(201)).is_err());
    }

    #[test]
    fn descriptions_may_be_absent_or_blank() {
        assert_eq!(validate_description(None).unwrap(), None);
        assert_eq!(validate_description(Some("  ")).unwrap(), None);
        assert!(validate_description(Some(&"x".repeat(1001))).is_err());
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(validate_email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in ["", "ada", "ada@", "@example.com", "ada@localhost", "a b@example.com"] {
            assert!(validate_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn an_update_must_change_something() {
        assert!(TaskChanges::parse(None, None, None).unwrap().require_some().is_err());
        let c = TaskChanges::parse(None, Some(""), None)
            .unwrap()
            .require_some()
            .unwrap();
        assert_eq!(c.description, Some(None));
    }

    #[test]
    fn passwords_need_eight_characters() {
        assert!(validate_password("1234567", &[]).is_err());
        for guessable in ["12345678", "password123", "        ", "qwertyuiop", "aaaaaaaaaaaa"] {
            let error = validate_password(guessable, &[]).unwrap_err();
            assert!(error.message.contains("harder to guess"), "{guessable:?}: {error:?}");
        }
        let me = ["ada.lovelace@example.com", "ada.lovelace", "Ada Lovelace"];
        assert!(validate_password("ada.lovelace@example.com", &me).is_err());
        assert!(validate_password("adalovelace1815", &me).is_err());
        for fine in ["correct horse battery", "plum kettle orbit", "verify-3f9a0c1e"] {
            assert!(validate_password(fine, &me).is_ok(), "{fine:?}");
        }
        // Long passwords are estimated on their head only, and still pass.
        assert!(validate_password(&format!("correct horse battery {}", "x".repeat(100)), &[]).is_ok());
    }
}
