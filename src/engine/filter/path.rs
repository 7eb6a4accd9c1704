//! Key paths (`a.b`, `a[].b`, `a[0].b`, `"a.b".c`) and the payload values
//! they reach. Shared by filter evaluation and the payload indexes so both
//! read exactly the same values for a key.

use crate::engine::filter::FilterError;
use serde_json::Value;

use crate::engine::types::Payload;

/// One step of a parsed key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathItem {
    Key(String),
    Index(usize),
    /// `[]`: every element of an array.
    Wildcard,
}

/// Parse a key such as `a.b[].c[0]` or `a."b.c"`.
pub fn parse_path(path: &str) -> Result<Vec<PathItem>, FilterError> {
    let bad = |why: &str| Err(FilterError(format!("invalid key `{path}`: {why}")));
    let mut items = Vec::new();
    let chars: Vec<char> = path.chars().collect();
    let mut i = 0;
    let mut expect_key = true;
    while i < chars.len() {
        if expect_key {
            let mut key = String::new();
            if chars[i] == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    key.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return bad("unterminated quote");
                }
                i += 1;
            } else {
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == ']' || chars[i] == '"' {
                        return bad("unexpected character");
                    }
                    key.push(chars[i]);
                    i += 1;
                }
                if key.is_empty() {
                    return bad("empty key segment");
                }
            }
            items.push(PathItem::Key(key));
            expect_key = false;
        } else if chars[i] == '.' {
            i += 1;
            expect_key = true;
            if i >= chars.len() {
                return bad("ends with `.`");
            }
        } else if chars[i] == '[' {
            let start = i + 1;
            let Some(len) = chars[start..].iter().position(|c| *c == ']') else {
                return bad("unterminated `[`");
            };
            let inner: String = chars[start..start + len].iter().collect();
            if inner.is_empty() {
                items.push(PathItem::Wildcard);
            } else {
                match inner.parse::<usize>() {
                    Ok(n) => items.push(PathItem::Index(n)),
                    Err(_) => return bad("array index must be a number or empty"),
                }
            }
            i = start + len + 1;
        } else {
            return bad("expected `.` or `[`");
        }
    }
    if items.is_empty() {
        return bad("empty");
    }
    Ok(items)
}

fn collect_raw<'a>(items: &[PathItem], value: &'a Value, out: &mut Vec<&'a Value>) {
    let Some((head, tail)) = items.split_first() else {
        out.push(value);
        return;
    };
    match (head, value) {
        (PathItem::Key(k), Value::Object(map)) => {
            if let Some(v) = map.get(k) {
                collect_raw(tail, v, out);
            }
        }
        (PathItem::Index(n), Value::Array(arr)) => {
            if let Some(v) = arr.get(*n) {
                collect_raw(tail, v, out);
            }
        }
        (PathItem::Wildcard, Value::Array(arr)) => {
            for v in arr {
                collect_raw(tail, v, out);
            }
        }
        _ => {}
    }
}

/// The values a key path reaches, without flattening the arrays found at
/// its end (`[]` steps flatten the arrays they walk through).
pub fn raw_values_at<'a>(payload: &'a Payload, path: &str) -> Vec<&'a Value> {
    if !path.contains(['[', '"']) {
        // Fast path: plain `a.b.c`, no allocation for the path.
        let mut parts = path.split('.');
        let first = parts.next().unwrap_or_default();
        if first.is_empty() {
            return Vec::new();
        }
        let Some(mut cur) = payload.get(first) else {
            return Vec::new();
        };
        for part in parts {
            match cur {
                Value::Object(map) if !part.is_empty() => match map.get(part) {
                    Some(v) => cur = v,
                    None => return Vec::new(),
                },
                _ => return Vec::new(),
            }
        }
        return vec![cur];
    }
    let Ok(items) = parse_path(path) else {
        return Vec::new();
    };
    raw_values_parsed(payload, &items)
}

fn raw_values_parsed<'a>(payload: &'a Payload, items: &[PathItem]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    if let Some((PathItem::Key(first), rest)) = items.split_first() {
        if let Some(v) = payload.get(first) {
            collect_raw(rest, v, &mut out);
        }
    }
    out
}

/// The leaf values a key path reaches, arrays found at the end of the path
/// flattened one level: `{"a": [1, 2]}` at `a` gives `1, 2`. This is what
/// value conditions (`match`, `range`, geo) and payload indexes look at.
pub fn values_at<'a>(payload: &'a Payload, path: &str) -> Vec<&'a Value> {
    flatten(raw_values_at(payload, path))
}

pub(super) fn flatten(raw: Vec<&Value>) -> Vec<&Value> {
    let mut out = Vec::with_capacity(raw.len());
    for v in raw {
        match v {
            Value::Array(arr) => out.extend(arr.iter()),
            v => out.push(v),
        }
    }
    out
}

pub(super) fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{matches, must};
    use super::*;

    #[test]
    fn key_paths() {
        let p = json!({
            "country": {
                "name": "Germany",
                "cities": [
                    {"name": "Berlin", "population": 3.7, "sightseeing": ["Brandenburg Gate", "Reichstag"]},
                    {"name": "Munich", "population": 1.5, "sightseeing": ["Marienplatz", "Olympiapark"]}
                ]
            },
            "matrix": [[1, 2], [3]]
        });
        let payload = p.as_object().unwrap();
        assert_eq!(values_at(payload, "country.name"), vec![&json!("Germany")]);
        assert_eq!(
            values_at(payload, "country.cities[].name"),
            vec![&json!("Berlin"), &json!("Munich")]
        );
        assert_eq!(
            values_at(payload, "country.cities[1].population"),
            vec![&json!(1.5)]
        );
        assert_eq!(values_at(payload, "country.cities[].sightseeing").len(), 4);
        assert!(values_at(payload, "country.cities.name").is_empty());
        assert!(values_at(payload, "country.cities[5].name").is_empty());
        assert_eq!(values_at(payload, "matrix[]").len(), 3);
        assert_eq!(raw_values_at(payload, "matrix").len(), 1);

        let m = |key: &str, v: Value| {
            matches(must(json!({"key": key, "match": {"value": v}})), p.clone())
        };
        assert!(m("country.cities[].name", json!("Munich")));
        assert!(m("country.cities[].sightseeing", json!("Reichstag")));
        assert!(!m("country.cities[0].name", json!("Munich")));
        assert!(m("country.cities[1].name", json!("Munich")));

        assert!(values_at(payload, "country.").is_empty());
        assert!(values_at(payload, ".country").is_empty());
        assert!(values_at(payload, "country..name").is_empty());
        assert_eq!(
            values_at(payload, "country.name"),
            raw_values_parsed(payload, &parse_path("country.name").unwrap())
        );
        let q = json!({"a.b": {"c": 1}});
        assert_eq!(
            values_at(q.as_object().unwrap(), "\"a.b\".c"),
            vec![&json!(1)]
        );
    }
}
