//! The engine's first stage: a message as pieces that each know the user's own text and a
//! normalised form (lower case, one kind of apostrophe, contractions spelled out, common typos of
//! the engine's own words corrected). The grammar reads the normalised text; what it captures as a
//! title is given back in the user's words, minus the phrases later stages took out (a date, a
//! priority, a tag).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// One word, run of spaces or punctuation mark of the message.
#[derive(Debug, Clone)]
struct Piece {
    norm: String,
    orig: Range<usize>,
    /// The normalised form is the original lower-cased, so part of it maps back exactly.
    verbatim: bool,
}

#[derive(Debug, Clone)]
pub struct Text<'a> {
    original: &'a str,
    pieces: Vec<Piece>,
}

static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[#@]?[\p{L}\p{N}]+(?:['’‘`\-:./][\p{L}\p{N}]+)*|\s+|.").expect("the token pattern is valid")
});

/// Spelled-out forms of contractions, with and without their apostrophe, and chat shorthand.
const EXPANSIONS: &[(&str, &str)] = &[
    ("whats", "what is"),
    ("what's", "what is"),
    ("wats", "what is"),
    ("wat", "what"),
    ("whatre", "what are"),
    ("what're", "what are"),
    ("hows", "how is"),
    ("how's", "how is"),
    ("it's", "it is"),
    ("thats", "that is"),
    ("that's", "that is"),
    ("theres", "there is"),
    ("there's", "there is"),
    ("dont", "do not"),
    ("don't", "do not"),
    ("doesnt", "does not"),
    ("doesn't", "does not"),
    ("didnt", "did not"),
    ("didn't", "did not"),
    ("havent", "have not"),
    ("haven't", "have not"),
    ("hasnt", "has not"),
    ("hasn't", "has not"),
    ("hadnt", "had not"),
    ("hadn't", "had not"),
    ("isnt", "is not"),
    ("isn't", "is not"),
    ("arent", "are not"),
    ("aren't", "are not"),
    ("wasnt", "was not"),
    ("wasn't", "was not"),
    ("werent", "were not"),
    ("weren't", "were not"),
    ("cant", "can not"),
    ("can't", "can not"),
    ("cannot", "can not"),
    ("wont", "will not"),
    ("won't", "will not"),
    ("shouldnt", "should not"),
    ("shouldn't", "should not"),
    ("im", "i am"),
    ("i'm", "i am"),
    ("ive", "i have"),
    ("i've", "i have"),
    ("i'll", "i will"),
    ("i'd", "i would"),
    ("you're", "you are"),
    ("youre", "you are"),
    ("let's", "let us"),
    ("lemme", "let me"),
    ("gimme", "give me"),
    ("gotta", "got to"),
    ("wanna", "want to"),
    ("gonna", "going to"),
    ("pls", "please"),
    ("plz", "please"),
    ("plse", "please"),
    ("thx", "thanks"),
    ("ty", "thanks"),
    ("u", "you"),
    ("ur", "your"),
    ("tmrw", "tomorrow"),
    ("tmr", "tomorrow"),
    ("tmw", "tomorrow"),
    ("2moro", "tomorrow"),
    ("2morrow", "tomorrow"),
    ("tonite", "tonight"),
    ("2day", "today"),
    ("asap", "urgent"),
    ("to-do", "todo"),
    ("to-dos", "todos"),
];

/// The engine's own words: a word one edit away from one of these (two for long words) is read as
/// it. Only words of five letters or more are corrected, and titles keep the original spelling.
const VOCABULARY: &[&str] = &[
    "add",
    "create",
    "delete",
    "remove",
    "complete",
    "completed",
    "finish",
    "finished",
    "done",
    "pending",
    "remaining",
    "outstanding",
    "unfinished",
    "incomplete",
    "tasks",
    "task",
    "todos",
    "show",
    "list",
    "display",
    "today",
    "tonight",
    "tomorrow",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "week",
    "weeks",
    "weekend",
    "month",
    "months",
    "days",
    "hours",
    "minutes",
    "priority",
    "urgent",
    "important",
    "overdue",
    "remind",
    "forget",
    "remember",
    "rename",
    "change",
    "update",
    "please",
    "anything",
    "everything",
    "search",
    "find",
    "medium",
    "tagged",
    "january",
    "february",
    "march",
    "april",
    "august",
    "september",
    "october",
    "november",
    "december",
    "schedule",
    "deadline",
    "things",
    "still",
    "urgently",
];

impl<'a> Text<'a> {
    pub fn new(original: &'a str) -> Text<'a> {
        let pieces = TOKEN
            .find_iter(original)
            .map(|m| {
                let raw = m.as_str();
                let lower: String = raw
                    .chars()
                    .map(|c| if matches!(c, '’' | '‘' | '`') { '\'' } else { c })
                    .collect::<String>()
                    .to_lowercase();
                let norm = if raw.trim().is_empty() {
                    " ".to_string()
                } else {
                    normalise_word(&lower)
                };
                Piece {
                    verbatim: norm == raw.to_lowercase(),
                    norm,
                    orig: m.range(),
                }
            })
            .collect();
        Text { original, pieces }
    }

    /// The normalised message.
    pub fn norm(&self) -> String {
        self.pieces.iter().map(|p| p.norm.as_str()).collect()
    }

    /// The user's own text for a range of the normalised one, without the phrases cut out.
    pub fn original(&self, range: Range<usize>) -> String {
        let mut out = String::new();
        let mut at = 0;
        for piece in &self.pieces {
            let span = at..at + piece.norm.len();
            at = span.end;
            if piece.norm.is_empty() || span.end <= range.start || span.start >= range.end {
                continue;
            }
            let (start, end) = (range.start.max(span.start), range.end.min(span.end));
            if piece.verbatim {
                let from = piece.orig.start + (start - span.start);
                let to = piece.orig.start + (end - span.start);
                out.push_str(
                    self.original
                        .get(from..to)
                        .unwrap_or(&piece.norm[start - span.start..end - span.start]),
                );
            } else if start == span.start && end == span.end {
                out.push_str(&self.original[piece.orig.clone()]);
            } else {
                out.push_str(&piece.norm[start - span.start..end - span.start]);
            }
        }
        squash(&out)
    }

    /// Takes a range of the normalised text out (with one space beside it), so that the grammar
    /// no longer sees it and titles no longer carry it.
    /// Cuts the pieces that lie wholly inside `range`; false when none does (nothing changed).
    pub fn cut(&mut self, range: Range<usize>) -> bool {
        let mut at = 0;
        let mut cut_any = None;
        for (i, piece) in self.pieces.iter_mut().enumerate() {
            let span = at..at + piece.norm.len();
            at = span.end;
            if span.start >= range.start && span.end <= range.end && !span.is_empty() {
                piece.norm.clear();
                cut_any.get_or_insert(i);
            }
        }
        // Where the phrase was, a space would meet another, punctuation or the end: drop it.
        if let Some(first) = cut_any {
            let before = self.pieces[..first].iter().rposition(|p| !p.norm.is_empty());
            let after = self.pieces[first..]
                .iter()
                .position(|p| !p.norm.is_empty())
                .map(|i| i + first);
            let is_space = |i: Option<usize>| i.is_some_and(|i| self.pieces[i].norm == " ");
            let closes = |i: Option<usize>| {
                i.is_none_or(|i| {
                    self.pieces[i].norm == " " || self.pieces[i].norm.starts_with([',', '.', ';', ':', '!', '?', ')'])
                })
            };
            let extra = if is_space(before) && closes(after) {
                before
            } else if before.is_none() && is_space(after) {
                after
            } else {
                None
            };
            if let Some(i) = extra {
                self.pieces[i].norm.clear();
            }
        }
        cut_any.is_some()
    }
}

fn normalise_word(lower: &str) -> String {
    if let Some((_, long)) = EXPANSIONS.iter().find(|(short, _)| *short == lower) {
        return (*long).to_string();
    }
    correct_typo(lower).unwrap_or(lower).to_string()
}

/// The vocabulary word a misspelling stands for, when exactly one is close enough.
fn correct_typo(word: &str) -> Option<&'static str> {
    let letters = word.chars().count();
    if letters < 5 || !word.chars().all(char::is_alphabetic) || VOCABULARY.contains(&word) {
        return None;
    }
    let limit = if letters >= 8 { 2 } else { 1 };
    let mut best: Option<(&'static str, usize)> = None;
    let mut tie = false;
    for candidate in VOCABULARY {
        let distance = strsim::damerau_levenshtein(word, candidate);
        if distance > limit {
            continue;
        }
        match best {
            Some((_, d)) if d < distance => {}
            Some((_, d)) if d == distance => tie = true,
            _ => {
                best = Some((candidate, distance));
                tie = false;
            }
        }
    }
    best.filter(|_| !tie).map(|(word, _)| word)
}

/// Collapses runs of white space and trims.
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_contractions_typos_and_apostrophes() {
        assert_eq!(Text::new("Whats lft?").norm(), "what is lft?");
        assert_eq!(Text::new("which tasks arent done").norm(), "which tasks are not done");
        assert_eq!(Text::new("I didn’t finsh").norm(), "i did not finish");
        assert_eq!(Text::new("delte the milk tsak").norm(), "delete the milk tsak");
        assert_eq!(Text::new("due tommorow").norm(), "due tomorrow");
        // Words far from every vocabulary word are left alone.
        assert_eq!(correct_typo("groceries"), None);
    }

    #[test]
    fn titles_keep_the_users_words_without_cut_phrases() {
        let mut text = Text::new("Pay the RENT by Friday, urgently");
        let norm = text.norm();
        let by = norm.find("by friday").unwrap();
        text.cut(by..by + "by friday".len());
        assert_eq!(text.norm(), "pay the rent, urgently");
        let end = text.norm().find(',').unwrap();
        assert_eq!(text.original(0..end), "Pay the RENT");
        // A corrected word is given back as the user wrote it.
        let text = Text::new("finsh the reprot");
        assert_eq!(text.original(0..text.norm().len()), "finsh the reprot");
    }
}
