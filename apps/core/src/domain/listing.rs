//! What a task listing asks for (filters, order, page) and what it answers (a page, the total and
//! where the next page starts), with the rules for reading it from a query string.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::fields::{Priority, parse_timestamp, validate_tag};
use super::{StatusFilter, Task, ValidationError, refuse_nul};

pub const PAGE_DEFAULT: u32 = 50;
pub const PAGE_MAX: u32 = 100;
pub const SEARCH_MAX_CHARS: usize = 200;

/// The order of a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskSort {
    /// Oldest first (the original order).
    #[default]
    Created,
    /// Soonest due first; tasks without a due date come last, in either direction.
    Due,
    /// Most important first.
    Priority,
    /// Alphabetical, ignoring case.
    Title,
}

impl TaskSort {
    const ALL: [TaskSort; 4] = [TaskSort::Created, TaskSort::Due, TaskSort::Priority, TaskSort::Title];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskSort::Created => "created",
            TaskSort::Due => "due",
            TaskSort::Priority => "priority",
            TaskSort::Title => "title",
        }
    }

    /// The direction people mean when they give none: oldest, soonest, most important, A to Z.
    pub fn natural_order(self) -> SortOrder {
        match self {
            TaskSort::Priority => SortOrder::Desc,
            _ => SortOrder::Asc,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

/// Where the previous page ended: the sort key and id of its last task. Listings page by key, not
/// by offset, so a task added or deleted meanwhile neither repeats nor skips one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub sort: TaskSort,
    pub order: SortOrder,
    pub id: i64,
    pub key: CursorKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorKey {
    /// `created`: the id is the key.
    None,
    Rank(i32),
    Due(Option<DateTime<Utc>>),
    Title(String),
}

impl Cursor {
    /// The cursor after `task` in a listing sorted by `sort`, `order`.
    pub fn after(task: &Task, sort: TaskSort, order: SortOrder) -> Cursor {
        let key = match sort {
            TaskSort::Created => CursorKey::None,
            TaskSort::Priority => CursorKey::Rank(task.priority.rank()),
            TaskSort::Due => CursorKey::Due(task.due_at),
            TaskSort::Title => CursorKey::Title(task.title.clone()),
        };
        Cursor {
            sort,
            order,
            id: task.id,
            key,
        }
    }

    /// `sort.order.id.key`: the key is empty (created), the rank (priority), the due instant in
    /// seconds or nothing (due), or the title's UTF-8 in hex (title). Clients treat it as opaque;
    /// its shape is [`CURSOR_PATTERN`], and any text of that shape is a position to continue from.
    pub fn encode(&self) -> String {
        let key = match &self.key {
            CursorKey::None => String::new(),
            CursorKey::Rank(rank) => rank.to_string(),
            CursorKey::Due(at) => at.map(|t| t.timestamp().to_string()).unwrap_or_default(),
            CursorKey::Title(title) => title.bytes().map(|b| format!("{b:02x}")).collect(),
        };
        format!("{}.{}.{}.{key}", self.sort.as_str(), self.order.as_str(), self.id)
    }

    pub fn decode(raw: &str) -> Result<Cursor, ValidationError> {
        let bad = || ValidationError::new("cursor", "cursor is not one this API gave out; start again without it");
        let mut parts = raw.splitn(4, '.');
        let (Some(sort), Some(order), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let sort = TaskSort::ALL.into_iter().find(|s| s.as_str() == sort).ok_or_else(bad)?;
        let order = [SortOrder::Asc, SortOrder::Desc]
            .into_iter()
            .find(|o| o.as_str() == order)
            .ok_or_else(bad)?;
        if id.is_empty() || id.len() > 18 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let id = id.parse().map_err(|_| bad())?;
        let key = match sort {
            TaskSort::Created if key.is_empty() => CursorKey::None,
            TaskSort::Priority if matches!(key, "1" | "2" | "3") => CursorKey::Rank(key.parse().map_err(|_| bad())?),
            TaskSort::Due if key.is_empty() => CursorKey::Due(None),
            TaskSort::Due if key.len() <= 11 && key.bytes().all(|b| b.is_ascii_digit()) => CursorKey::Due(Some(
                key.parse::<i64>()
                    .ok()
                    .and_then(|s| DateTime::from_timestamp(s, 0))
                    .ok_or_else(bad)?,
            )),
            TaskSort::Title
                if key.len() % 2 == 0 && key.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) =>
            {
                let bytes: Vec<u8> = (0..key.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&key[i..i + 2], 16))
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad())?;
                // A position between titles needs no valid text; PostgreSQL's text holds no NUL.
                CursorKey::Title(String::from_utf8_lossy(&bytes).replace('\0', "\u{fffd}"))
            }
            _ => return Err(bad()),
        };
        Ok(Cursor { sort, order, id, key })
    }
}

/// The shape of every cursor [`Cursor::encode`] writes, and of no other text.
pub const CURSOR_PATTERN: &str = r"^(created\.(asc|desc)\.[0-9]{1,18}\.|priority\.(asc|desc)\.[0-9]{1,18}\.[1-3]|due\.(asc|desc)\.[0-9]{1,18}\.[0-9]{0,11}|title\.(asc|desc)\.[0-9]{1,18}\.([0-9a-f]{2})*)$";

/// Which of a user's tasks to list, in what order, and which page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskQuery {
    pub status: StatusFilter,
    /// Case-insensitive text to find in the title or the description.
    pub search: Option<String>,
    pub priority: Option<Priority>,
    pub tag: Option<String>,
    /// Due strictly before this instant.
    pub due_before: Option<DateTime<Utc>>,
    /// Due at or after this instant.
    pub due_after: Option<DateTime<Utc>>,
    /// Pending and due before now.
    pub overdue: bool,
    pub sort: TaskSort,
    /// `None`: the sort's natural order.
    pub order: Option<SortOrder>,
    /// `None`: every matching task (the original, unpaged listing).
    pub limit: Option<u32>,
    pub cursor: Option<Cursor>,
}

impl TaskQuery {
    pub fn order(&self) -> SortOrder {
        self.order.unwrap_or(self.sort.natural_order())
    }

    /// Reads `GET /tasks` parameters. A query with no parameter but `status` is the original
    /// listing and stays unpaged, so clients written before pages existed see every task; any
    /// other parameter opts into pages of `limit` (default 50).
    pub fn from_params(params: &[(String, String)]) -> Result<TaskQuery, ValidationError> {
        let mut query = TaskQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut paged = false;
        for (name, value) in params {
            let name = name.as_str();
            let field = PARAMS.iter().copied().find(|p| *p == name).ok_or_else(|| {
                ValidationError::new(
                    "query",
                    format!(
                        "unknown query parameter {name:?}; this listing takes {}",
                        PARAMS.join(", ")
                    ),
                )
            })?;
            if seen.contains(&field) {
                return Err(ValidationError::new(field, format!("{field} is given more than once")));
            }
            seen.push(field);
            paged |= field != "status";
            match field {
                "status" => query.status = StatusFilter::parse(value)?,
                "q" => query.search = validate_search("q", value)?,
                "priority" => query.priority = Some(Priority::parse("priority", value)?),
                "tag" => query.tag = Some(validate_tag("tag", value)?),
                "due_before" => query.due_before = Some(parse_timestamp("due_before", value)?),
                "due_after" => query.due_after = Some(parse_timestamp("due_after", value)?),
                "overdue" => query.overdue = parse_bool("overdue", value)?,
                "sort" => {
                    query.sort = TaskSort::ALL
                        .into_iter()
                        .find(|s| s.as_str() == value.trim())
                        .ok_or_else(|| {
                            ValidationError::new(
                                "sort",
                                format!("sort must be created, due, priority or title (got {value:?})"),
                            )
                        })?
                }
                "order" => {
                    query.order = Some(match value.trim() {
                        "asc" => SortOrder::Asc,
                        "desc" => SortOrder::Desc,
                        _ => {
                            return Err(ValidationError::new(
                                "order",
                                format!("order must be asc or desc (got {value:?})"),
                            ));
                        }
                    })
                }
                "limit" => query.limit = Some(parse_limit(value)?),
                "cursor" => query.cursor = Some(Cursor::decode(value)?),
                _ => unreachable!("every name in PARAMS is handled"),
            }
        }
        if paged && query.limit.is_none() {
            query.limit = Some(PAGE_DEFAULT);
        }
        // A cursor continues the listing it came from, in that listing's order.
        if let Some(cursor) = &query.cursor {
            query.sort = cursor.sort;
            query.order = Some(cursor.order);
        }
        Ok(query)
    }
}

const PARAMS: [&str; 11] = [
    "status",
    "q",
    "priority",
    "tag",
    "due_before",
    "due_after",
    "overdue",
    "sort",
    "order",
    "limit",
    "cursor",
];

/// Search text: trimmed, at most 200 characters, no NUL; blank means no search.
pub fn validate_search(field: &'static str, raw: &str) -> Result<Option<String>, ValidationError> {
    let chars = raw.chars().count();
    if chars > SEARCH_MAX_CHARS {
        return Err(ValidationError::new(
            field,
            format!("{field} must be at most {SEARCH_MAX_CHARS} characters (got {chars})"),
        ));
    }
    refuse_nul(field, raw)?;
    let text = super::trim_blank(raw);
    Ok((!text.is_empty()).then(|| text.to_string()))
}

fn parse_bool(field: &'static str, raw: &str) -> Result<bool, ValidationError> {
    match raw.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ValidationError::new(
            field,
            format!("{field} must be true or false (got {raw:?})"),
        )),
    }
}

fn parse_limit(raw: &str) -> Result<u32, ValidationError> {
    match raw.trim().parse::<u32>() {
        Ok(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
        _ => Err(ValidationError::new(
            "limit",
            format!("limit must be a whole number from 1 to {PAGE_MAX} (got {raw:?})"),
        )),
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    /// Every task the filters match, on all pages.
    pub total: u64,
    /// Set when more tasks follow this page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_original_listing_stays_unpaged_and_anything_new_pages() {
        assert_eq!(TaskQuery::from_params(&[]).unwrap().limit, None);
        assert_eq!(
            TaskQuery::from_params(&params(&[("status", "pending")])).unwrap().limit,
            None
        );
        assert_eq!(
            TaskQuery::from_params(&params(&[("sort", "due")])).unwrap().limit,
            Some(PAGE_DEFAULT)
        );
        assert_eq!(
            TaskQuery::from_params(&params(&[("limit", "100")])).unwrap().limit,
            Some(100)
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (name, value) in [
            ("status", "done"),
            ("priority", "urgent"),
            ("tag", "two words"),
            ("due_before", "tomorrow"),
            ("due_after", "2026-01-01"),
            ("overdue", "yes"),
            ("sort", "size"),
            ("order", "up"),
            ("limit", "0"),
            ("limit", "101"),
            ("limit", "ten"),
            ("cursor", "!!"),
            ("q", "a\0b"),
        ] {
            let e = TaskQuery::from_params(&params(&[(name, value)])).unwrap_err();
            assert_eq!(e.field, name, "{name}={value}: {e}");
        }
        assert_eq!(
            TaskQuery::from_params(&params(&[("prioirty", "high")]))
                .unwrap_err()
                .field,
            "query"
        );
        assert_eq!(
            TaskQuery::from_params(&params(&[("tag", "a"), ("tag", "b")]))
                .unwrap_err()
                .field,
            "tag"
        );
    }

    #[test]
    fn cursors_round_trip_have_their_pattern_and_carry_their_order() {
        let pattern = regex::Regex::new(CURSOR_PATTERN).unwrap();
        for cursor in [
            Cursor {
                sort: TaskSort::Title,
                order: SortOrder::Desc,
                id: 42,
                key: CursorKey::Title("Pay rent. Then. Relax. 买".into()),
            },
            Cursor {
                sort: TaskSort::Due,
                order: SortOrder::Asc,
                id: 7,
                key: CursorKey::Due(None),
            },
            Cursor {
                sort: TaskSort::Due,
                order: SortOrder::Asc,
                id: 7,
                key: CursorKey::Due(DateTime::from_timestamp(1_900_000_000, 0)),
            },
            Cursor {
                sort: TaskSort::Priority,
                order: SortOrder::Desc,
                id: 1,
                key: CursorKey::Rank(3),
            },
            Cursor {
                sort: TaskSort::Created,
                order: SortOrder::Asc,
                id: 9,
                key: CursorKey::None,
            },
        ] {
            let text = cursor.encode();
            assert!(pattern.is_match(&text), "{text}");
            assert_eq!(Cursor::decode(&text).unwrap(), cursor);
        }
        for bad in [
            "",
            "!!",
            "created.asc.1.5",
            "title.asc.1.0",
            "title.asc.1.AB",
            "due.up.1.",
            "priority.asc.1.4",
            "created.asc.1234567890123456789.",
        ] {
            assert!(!pattern.is_match(bad), "{bad}");
            assert_eq!(Cursor::decode(bad).unwrap_err().field, "cursor", "{bad}");
        }
        let query = TaskQuery::from_params(&params(&[("cursor", "due.desc.7."), ("sort", "title")])).unwrap();
        assert_eq!((query.sort, query.order()), (TaskSort::Due, SortOrder::Desc));
    }
}
