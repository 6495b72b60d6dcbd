//! Label and field selectors, as the API server reads `labelSelector` and `fieldSelector`.
//!
//! Label grammar from k8s.io/apimachinery `pkg/labels/selector.go` (Parse): comma-separated
//! requirements `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`. Field selectors
//! (`pkg/fields/selector.go`): `f=v`, `f==v`, `f!=v`, where `f` is a dotted path into the object
//! (`metadata.name`, `status.phase`, `involvedObject.name`, `spec.nodeName`, …). A real server
//! allows only a few fields per kind and refuses others with 400; this one matches any path.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(key.trim().to_string())
            } else if let Some((key, rest)) = split_word(part, " notin ") {
                Requirement::NotIn(key, set_values(&rest)?)
            } else if let Some((key, rest)) = split_word(part, " in ") {
                Requirement::In(key, set_values(&rest)?)
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotIn(key.trim().to_string(), vec![value.trim().to_string()])
            } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::In(key.trim().to_string(), vec![value.trim().to_string()])
            } else {
                Requirement::Exists(part.to_string())
            };
            requirements.push(requirement);
        }
        Ok(LabelSelector(requirements))
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.0.iter().all(|r| match r {
            Requirement::Exists(k) => labels.get(k).is_some(),
            Requirement::NotExists(k) => labels.get(k).is_none(),
            Requirement::In(k, values) => labels[k].as_str().is_some_and(|v| values.iter().any(|x| x == v)),
            Requirement::NotIn(k, values) => labels[k].as_str().is_none_or(|v| !values.iter().any(|x| x == v)),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

fn split_word(part: &str, word: &str) -> Option<(String, String)> {
    part.find(word).map(|at| {
        (
            part[..at].trim().to_string(),
            part[at + word.len()..].trim().to_string(),
        )
    })
}

fn set_values(rest: &str) -> Result<Vec<String>, String> {
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            format!("unable to parse requirement: expected a set of values in parentheses, found {rest:?}")
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(text: &str) -> FieldSelector {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((field, value)) = part.split_once("!=") {
                terms.push((field.to_string(), false, value.to_string()));
            } else if let Some((field, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
                terms.push((field.to_string(), true, value.to_string()));
            }
        }
        FieldSelector(terms)
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let mut at = object;
            for step in field.split('.') {
                at = &at[step];
            }
            let actual = match at {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_read_as_the_api_server_reads_them() {
        let pod = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        for (selector, expected) in [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("app in (api, web)", true),
            ("tier notin (front)", false),
            ("!missing", true),
            ("missing", false),
            ("app", true),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(selector).unwrap().matches(&pod),
                expected,
                "{selector}"
            );
        }
    }

    #[test]
    fn field_selectors_follow_dotted_paths() {
        let pod = json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
        assert!(FieldSelector::parse("metadata.name=p,status.phase!=Failed").matches(&pod));
        assert!(!FieldSelector::parse("metadata.name=q").matches(&pod));
    }
}
