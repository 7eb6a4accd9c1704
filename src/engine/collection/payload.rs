//! Payload edits and projections: `set_payload` at a key path,
//! `delete_payload` of nested keys, and `with_payload` include/exclude.

use serde_json::Value;

use crate::engine::error::{EngineError, Result};
use crate::engine::types::Payload;

/// Which part of a payload a read returns.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadSelector {
    All,
    None,
    Include(Vec<String>),
    Exclude(Vec<String>),
}

impl PayloadSelector {
    pub fn select(&self, payload: &Payload) -> Option<Payload> {
        match self {
            PayloadSelector::None => None,
            PayloadSelector::All => Some(payload.clone()),
            PayloadSelector::Include(keys) => {
                let mut out = Payload::new();
                for key in keys {
                    copy_path(payload, &mut out, &split(key));
                }
                Some(out)
            }
            PayloadSelector::Exclude(keys) => {
                let mut out = payload.clone();
                for key in keys {
                    delete_at(&mut out, key);
                }
                Some(out)
            }
        }
    }
}

/// Splits `a.b[].c[0]` into path steps. `[]` and `[n]` steps address array
/// elements; a plain key through an array applies to every element.
fn split(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            steps.push(Step::Key(name.to_string()));
        }
        let mut rest = rest;
        while let Some(end) = rest.find(']') {
            let inner = &rest[1..end];
            steps.push(match inner.parse::<usize>() {
                Ok(i) => Step::Index(i),
                Err(_) => Step::Each,
            });
            rest = &rest[end + 1..];
        }
    }
    steps
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    Each,
}

/// Copies the value at `steps` from `src` into `dst`, keeping its nesting.
fn copy_path(src: &Payload, dst: &mut Payload, steps: &[Step]) {
    let Some(Step::Key(first)) = steps.first() else {
        return;
    };
    let Some(value) = src.get(first) else { return };
    if let Some(v) = project(value, &steps[1..]) {
        merge_into(dst.entry(first.clone()).or_insert(Value::Null), v);
    }
}

/// The part of `value` reached by `steps`, shaped like the original.
fn project(value: &Value, steps: &[Step]) -> Option<Value> {
    let Some(step) = steps.first() else {
        return Some(value.clone());
    };
    match (step, value) {
        (Step::Key(k), Value::Object(map)) => {
            let inner = project(map.get(k)?, &steps[1..])?;
            let mut out = serde_json::Map::new();
            out.insert(k.clone(), inner);
            Some(Value::Object(out))
        }
        (Step::Key(_), Value::Array(items)) | (Step::Each, Value::Array(items)) => {
            let rest = if matches!(step, Step::Each) {
                &steps[1..]
            } else {
                steps
            };
            Some(Value::Array(
                items.iter().filter_map(|v| project(v, rest)).collect(),
            ))
        }
        (Step::Index(i), Value::Array(items)) => {
            Some(Value::Array(vec![project(items.get(*i)?, &steps[1..])?]))
        }
        _ => None,
    }
}

fn merge_into(target: &mut Value, value: Value) {
    match (target, value) {
        (Value::Object(t), Value::Object(v)) => {
            for (k, v) in v {
                merge_into(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, v) => *t = v,
    }
}

/// Merges `values` into `payload`, at the object found (or created) at
/// `key` when given, as Qdrant's `set_payload` with `key` does.
pub fn set_at(payload: &mut Payload, key: Option<&str>, values: &Payload) -> Result<()> {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        for (k, v) in values {
            payload.insert(k.clone(), v.clone());
        }
        return Ok(());
    };
    let steps = split(key);
    let mut target = payload;
    for (i, step) in steps.iter().enumerate() {
        let Step::Key(name) = step else {
            return Err(EngineError::BadRequest(format!(
                "set_payload key {key:?}: array steps are not supported in the key"
            )));
        };
        let entry = target
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Default::default()));
        if !entry.is_object() {
            *entry = Value::Object(Default::default());
        }
        target = entry.as_object_mut().expect("just made an object");
        if i + 1 == steps.len() {
            for (k, v) in values {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

/// Removes the value(s) at `path`; missing paths are ignored.
pub fn delete_at(payload: &mut Payload, path: &str) {
    let steps = split(path);
    if let Some(Step::Key(first)) = steps.first() {
        if steps.len() == 1 {
            payload.remove(first);
        } else if let Some(v) = payload.get_mut(first) {
            delete_in(v, &steps[1..]);
        }
    }
}

fn delete_in(value: &mut Value, steps: &[Step]) {
    let last = steps.len() == 1;
    match (&steps[0], value) {
        (Step::Key(k), Value::Object(map)) => {
            if last {
                map.remove(k);
            } else if let Some(v) = map.get_mut(k) {
                delete_in(v, &steps[1..]);
            }
        }
        (Step::Key(_), Value::Array(items)) => items.iter_mut().for_each(|v| delete_in(v, steps)),
        (Step::Each, Value::Array(items)) => {
            if last {
                items.clear();
            } else {
                items.iter_mut().for_each(|v| delete_in(v, &steps[1..]));
            }
        }
        (Step::Index(i), Value::Array(items)) => {
            if last {
                if *i < items.len() {
                    items.remove(*i);
                }
            } else if let Some(v) = items.get_mut(*i) {
                delete_in(v, &steps[1..]);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn include_and_exclude_nested() {
        let p = obj(json!({"a": {"b": 1, "c": 2}, "d": [{"e": 1, "f": 2}], "g": 3}));
        let inc = PayloadSelector::Include(vec!["a.b".into(), "d[].e".into(), "g".into()]);
        assert_eq!(
            Value::Object(inc.select(&p).unwrap()),
            json!({"a": {"b": 1}, "d": [{"e": 1}], "g": 3})
        );
        let exc = PayloadSelector::Exclude(vec!["a.c".into(), "d".into()]);
        assert_eq!(
            Value::Object(exc.select(&p).unwrap()),
            json!({"a": {"b": 1}, "g": 3})
        );
        assert_eq!(PayloadSelector::None.select(&p), None);
    }

    #[test]
    fn set_at_key_creates_objects() {
        let mut p = obj(json!({"a": 1}));
        set_at(&mut p, Some("x.y"), &obj(json!({"z": true}))).unwrap();
        assert_eq!(
            Value::Object(p.clone()),
            json!({"a": 1, "x": {"y": {"z": true}}})
        );
        set_at(&mut p, None, &obj(json!({"a": 2}))).unwrap();
        assert_eq!(p["a"], json!(2));
    }

    #[test]
    fn delete_nested_and_array_paths() {
        let mut p = obj(json!({"a": {"b": 1, "c": 2}, "d": [{"e": 1, "f": 2}, {"e": 3}]}));
        delete_at(&mut p, "a.b");
        delete_at(&mut p, "d[].e");
        delete_at(&mut p, "missing.path");
        assert_eq!(
            Value::Object(p),
            json!({"a": {"c": 2}, "d": [{"f": 2}, {}]})
        );
    }
}
