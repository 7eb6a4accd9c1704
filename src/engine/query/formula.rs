//! Score boosting: a formula that rescores the points a stage's prefetches
//! found, from their scores, their payload and conditions on them
//! (Qdrant's `FormulaQuery`).
//!
//! # Semantics (Qdrant 1.18)
//! - Arithmetic is in `f64`; constants, `by_zero_default` and the decay
//!   parameters arrive as `f32` (their type in Qdrant's API) and are widened.
//!   The final score is narrowed to `f32`.
//! - `$score` / `$score[i]`: the point's score in prefetch `i` (`$score` is
//!   prefetch 0). A point that prefetch did not find takes the default given
//!   for that variable, else 0.
//! - A payload key reads the values its path reaches, arrays at the end of
//!   the path flattened: one value is used as is; none takes the default for
//!   the key, else is an error; several (an array of two or more) are an
//!   error, as they are no single number.
//! - A condition is 1 when the point matches it, else 0.
//! - `mult` stops at the first factor equal to 0 (the rest is not evaluated,
//!   so cannot fail); `div` is 0 when its numerator is 0 without evaluating
//!   the denominator; a zero denominator gives `by_zero_default` when set.
//! - `div`, `sqrt`, `pow`, `exp`, `log10` and `ln` fail on a NaN or infinite
//!   result, as does a final score outside the `f32` range.
//! - `datetime` / `datetime_key`: seconds since the Unix epoch (fractional).
//! - `geo_distance`: haversine metres from `origin` to the point's geo value.
//! - Decays map `|x - target|` (target defaults to 0) into [0, 1]: 1 at the
//!   target and `midpoint` (default 0.5) at distance `scale` (default 1).
//!   `lin`: `max(0, 1 - λ·d)` with `λ = (1 - midpoint) / scale`; `exp`:
//!   `e^(λ·d)` with `λ = ln(midpoint) / scale`; `gauss`: `e^(λ·d²)` with
//!   `λ = ln(midpoint) / scale²`.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::engine::collection::admission::check_filter;
use crate::engine::collection::points::Points;
use crate::engine::config::strict_mode::{refusal, StrictModeConfig};
use crate::engine::error::{EngineError, Result};
use crate::engine::filter::datetime::parse_micros;
use crate::engine::filter::geo::{haversine_m, GeoPoint};
use crate::engine::filter::{parse_path, values_at, Filter, FilterContext, PointView};
use crate::engine::index::payload::{PayloadIndexes, PayloadSchemaType};
use crate::engine::query::search::best_first;
use crate::engine::types::Offset;

/// A formula that cannot be read or evaluated (an unknown variable, a
/// value of the wrong type, a result that is not a finite number); it
/// reaches the client as a 400.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FormulaError(pub String);

impl From<String> for FormulaError {
    fn from(message: String) -> Self {
        FormulaError(message)
    }
}

impl From<&str> for FormulaError {
    fn from(message: &str) -> Self {
        FormulaError(message.to_string())
    }
}

impl From<FormulaError> for EngineError {
    fn from(e: FormulaError) -> Self {
        EngineError::BadRequest(e.0)
    }
}

/// A variable a formula reads, and a key of its `defaults`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Variable {
    /// The score in prefetch `i`.
    Score(usize),
    /// A payload key path.
    Payload(String),
}

impl Variable {
    /// `$score`, `$score[i]` or a payload key path; other `$` names are
    /// reserved.
    pub fn parse(name: &str) -> std::result::Result<Variable, FormulaError> {
        let Some(reserved) = name.strip_prefix('$') else {
            parse_path(name).map_err(|_| format!("Invalid payload variable: {name}"))?;
            return Ok(Variable::Payload(name.to_string()));
        };
        let Some(rest) = reserved.strip_prefix("score") else {
            return Err(FormulaError::from(format!("Invalid reserved word: {name}")));
        };
        if rest.is_empty() {
            return Ok(Variable::Score(0));
        }
        rest.strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|i| i.parse().ok())
            .map(Variable::Score)
            .ok_or_else(|| {
                FormulaError(if rest.starts_with(['.', '[']) {
                    format!("Invalid reserved variable: {name}")
                } else {
                    format!("Invalid reserved word: {name}")
                })
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecayKind {
    Lin,
    Exp,
    Gauss,
}

impl DecayKind {
    /// The one constant of the decay curve, from Qdrant's parameters.
    pub fn lambda(
        self,
        midpoint: Option<f32>,
        scale: Option<f32>,
    ) -> std::result::Result<f64, FormulaError> {
        let midpoint = f64::from(midpoint.unwrap_or(0.5));
        let scale = f64::from(scale.unwrap_or(1.0));
        match self {
            DecayKind::Lin if !(0.0..=1.0).contains(&midpoint) => {
                return Err(FormulaError::from(format!(
                    "Linear decay midpoint should be in the range [0.0, 1.0], got {midpoint}."
                )))
            }
            DecayKind::Exp | DecayKind::Gauss if midpoint <= 0.0 || midpoint >= 1.0 => {
                return Err(FormulaError::from(format!(
                    "Decay midpoint should be in the range (0.0, 1.0), got {midpoint}."
                )))
            }
            _ => {}
        }
        if scale <= 0.0 || scale.is_nan() {
            return Err(FormulaError::from(format!(
                "Decay scale should be non-zero positive, got {scale}."
            )));
        }
        Ok(match self {
            DecayKind::Lin => (1.0 - midpoint) / scale,
            DecayKind::Exp => midpoint.ln() / scale,
            DecayKind::Gauss => midpoint.ln() / (scale * scale),
        })
    }

    fn apply(self, x: f64, target: f64, lambda: f64) -> f64 {
        let d = x - target;
        match self {
            DecayKind::Lin => (1.0 - lambda * d.abs()).max(0.0),
            DecayKind::Exp => (lambda * d.abs()).exp(),
            DecayKind::Gauss => (lambda * d * d).exp(),
        }
    }
}

/// A formula expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(f64),
    Var(Variable),
    /// A condition, as a filter with that one `must` condition.
    Condition(Filter),
    GeoDistance {
        origin: GeoPoint,
        key: String,
    },
    /// A datetime constant, in seconds since the epoch.
    Datetime(f64),
    /// The datetime at a payload key.
    DatetimeKey(String),
    Mult(Vec<Expr>),
    Sum(Vec<Expr>),
    Neg(Box<Expr>),
    Abs(Box<Expr>),
    Div {
        left: Box<Expr>,
        right: Box<Expr>,
        by_zero_default: Option<f64>,
    },
    Sqrt(Box<Expr>),
    Pow {
        base: Box<Expr>,
        exponent: Box<Expr>,
    },
    Exp(Box<Expr>),
    Log10(Box<Expr>),
    Ln(Box<Expr>),
    Decay {
        kind: DecayKind,
        x: Box<Expr>,
        target: Option<Box<Expr>>,
        lambda: f64,
    },
}

/// An expression and the values its variables take when a point has none.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    pub expr: Expr,
    pub defaults: HashMap<Variable, Value>,
}

/// What a formula sees of one point.
pub struct Subject<'a> {
    pub point: &'a dyn PointView,
    pub ctx: &'a dyn FilterContext,
    /// The point's score in each prefetch, if that prefetch found it.
    pub scores: &'a [Option<f32>],
}

/// Errors as Qdrant words them (shown after "Bad request: ").
fn type_error(key: &str, expected: &str, why: &str) -> FormulaError {
    FormulaError::from(format!("Expected {expected} value for {key} in the payload and/or in the formula defaults. Error: {why}"))
}

fn non_finite(expression: String) -> FormulaError {
    FormulaError::from(format!(
        "The expression {expression} produced a non-finite number"
    ))
}

/// `value` if finite, else the error naming the computation.
fn finite(
    value: f64,
    expression: impl FnOnce() -> String,
) -> std::result::Result<f64, FormulaError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(non_finite(expression()))
    }
}

impl Formula {
    /// The point's score under this formula.
    pub fn score(&self, s: &Subject) -> std::result::Result<f32, FormulaError> {
        let score = self.eval(&self.expr, s)?;
        let narrowed = score as f32;
        if !narrowed.is_finite() {
            return Err(non_finite(format!("{score} as f32 = {narrowed}")));
        }
        Ok(narrowed)
    }

    fn eval(&self, e: &Expr, s: &Subject) -> std::result::Result<f64, FormulaError> {
        Ok(match e {
            Expr::Const(c) => *c,
            Expr::Var(Variable::Score(i)) => match s.scores.get(*i).copied().flatten() {
                Some(score) => f64::from(score),
                None => self
                    .defaults
                    .get(&Variable::Score(*i))
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0),
            },
            Expr::Var(Variable::Payload(key)) => self.payload(key, s, "number", |v| {
                v.as_f64()
                    .ok_or_else(|| "Value is not a number".to_string())
            })?,
            Expr::Condition(f) => {
                if f.check_with(s.point, s.ctx) {
                    1.0
                } else {
                    0.0
                }
            }
            Expr::GeoDistance { origin, key } => {
                let to = self.payload(key, s, "geo point", |v| {
                    let p = GeoPoint::from_value(&v)
                        .ok_or_else(|| format!("{v} is not a geo point"))?;
                    p.check_range().map_err(|e| e.to_string())?;
                    Ok(p)
                })?;
                haversine_m(origin, &to)
            }
            Expr::Datetime(seconds) => *seconds,
            Expr::DatetimeKey(key) => self.payload(key, s, "datetime", |v| {
                let text = v.as_str().ok_or("Value is not a string")?;
                datetime_seconds(text).map_err(|e| e.0)
            })?,
            Expr::Mult(factors) => {
                let mut product = 1.0;
                for f in factors {
                    let v = self.eval(f, s)?;
                    if v == 0.0 {
                        return Ok(0.0);
                    }
                    product *= v;
                }
                product
            }
            Expr::Sum(terms) => {
                let mut sum = 0.0;
                for t in terms {
                    sum += self.eval(t, s)?;
                }
                sum
            }
            Expr::Neg(e) => -self.eval(e, s)?,
            Expr::Abs(e) => self.eval(e, s)?.abs(),
            Expr::Div {
                left,
                right,
                by_zero_default,
            } => {
                let l = self.eval(left, s)?;
                if l == 0.0 {
                    return Ok(0.0);
                }
                let r = self.eval(right, s)?;
                match by_zero_default {
                    Some(d) if r == 0.0 => *d,
                    _ => finite(l / r, || format!("{l}/{r} = {}", l / r))?,
                }
            }
            Expr::Sqrt(e) => {
                let v = self.eval(e, s)?;
                finite(v.sqrt(), || format!("√{v} = {}", v.sqrt()))?
            }
            Expr::Pow { base, exponent } => {
                let b = self.eval(base, s)?;
                let x = self.eval(exponent, s)?;
                finite(b.powf(x), || format!("{b}^{x} = {}", b.powf(x)))?
            }
            Expr::Exp(e) => {
                let v = self.eval(e, s)?;
                finite(v.exp(), || format!("exp({v}) = {}", v.exp()))?
            }
            Expr::Log10(e) => {
                let v = self.eval(e, s)?;
                finite(v.log10(), || format!("log10({v}) = {}", v.log10()))?
            }
            Expr::Ln(e) => {
                let v = self.eval(e, s)?;
                finite(v.ln(), || format!("ln({v}) = {}", v.ln()))?
            }
            Expr::Decay {
                kind,
                x,
                target,
                lambda,
            } => {
                let x = self.eval(x, s)?;
                let target = match target {
                    Some(t) => self.eval(t, s)?,
                    None => 0.0,
                };
                kind.apply(x, target, *lambda)
            }
        })
    }

    /// The single value at `key` (or its default), read by `read`.
    fn payload<T>(
        &self,
        key: &str,
        s: &Subject,
        expected: &str,
        read: impl Fn(Value) -> std::result::Result<T, String>,
    ) -> std::result::Result<T, FormulaError> {
        let found = values_at(s.point.payload(), key);
        let value = match found.as_slice() {
            [] => self
                .defaults
                .get(&Variable::Payload(key.to_string()))
                .cloned()
                .ok_or_else(|| {
                    type_error(key, expected, "No value found in a payload nor defaults")
                })?,
            [one] => (*one).clone(),
            many => Value::Array(many.iter().map(|v| (*v).clone()).collect()),
        };
        read(value).map_err(|why| type_error(key, expected, &why))
    }
}

/// Seconds since the epoch of a datetime string in a format the payload
/// accepts.
pub fn datetime_seconds(text: &str) -> std::result::Result<f64, FormulaError> {
    parse_micros(text)
        .map(|micros| micros as f64 / 1_000_000.0)
        .ok_or_else(|| FormulaError(format!("'{text}' is not a valid datetime")))
}

/// Scores the points of the prefetch `lists` with `formula`; the best
/// `limit`, best first. The first error (for any point) fails the query.
pub(in crate::engine) fn rescore(
    points: &Points,
    formula: &Formula,
    lists: &[Vec<(Offset, f32)>],
    limit: usize,
) -> Result<Vec<(Offset, f32)>> {
    let by_list: Vec<HashMap<Offset, f32>> =
        lists.iter().map(|l| l.iter().copied().collect()).collect();
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let mut scores = vec![None; lists.len()];
    for &(o, _) in lists.iter().flatten() {
        if !seen.insert(o) {
            continue;
        }
        let Some(view) = points.view(o) else {
            continue;
        };
        for (slot, list) in scores.iter_mut().zip(&by_list) {
            *slot = list.get(&o).copied();
        }
        let subject = Subject {
            point: &view,
            ctx: &points.indexes,
            scores: &scores,
        };
        let score = formula.score(&subject)?;
        found.push((o, score));
    }
    best_first(&mut found, limit, true);
    found.truncate(limit);
    Ok(found)
}

/// A formula's payload variables need an index when unindexed filtering
/// is off, as its conditions do: scoring reads them for every candidate.
pub(in crate::engine) fn check(
    strict: &StrictModeConfig,
    expr: &Expr,
    indexes: &PayloadIndexes,
) -> Result<()> {
    use PayloadSchemaType::*;
    let needs = |key: &str, types: Vec<PayloadSchemaType>| -> Result<()> {
        let served = indexes
            .get(key)
            .is_some_and(|i| types.contains(&i.schema().data_type()));
        if served || strict.unindexed_filtering_retrieve != Some(false) {
            return Ok(());
        }
        let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
        Err(refusal(
            format!(
                "Index required but not found for \"{key}\" of one of the following types: [{}]",
                names.join(", ")
            ),
            "Create an index for this key or use a different formula expression.",
        ))
    };
    let all = |list: &[Expr]| list.iter().try_for_each(|e| check(strict, e, indexes));
    match expr {
        Expr::Const(_) | Expr::Datetime(_) | Expr::Var(Variable::Score(_)) => Ok(()),
        Expr::Var(Variable::Payload(key)) => needs(key, vec![Integer, Float]),
        Expr::GeoDistance { key, .. } => needs(key, vec![Geo]),
        Expr::DatetimeKey(key) => needs(key, vec![Datetime]),
        Expr::Condition(f) => check_filter(strict, f, indexes, false),
        Expr::Mult(list) | Expr::Sum(list) => all(list),
        Expr::Neg(e)
        | Expr::Abs(e)
        | Expr::Sqrt(e)
        | Expr::Exp(e)
        | Expr::Log10(e)
        | Expr::Ln(e) => check(strict, e, indexes),
        Expr::Div {
            left: a, right: b, ..
        }
        | Expr::Pow {
            base: a,
            exponent: b,
        } => {
            check(strict, a, indexes)?;
            check(strict, b, indexes)
        }
        Expr::Decay { x, target, .. } => {
            check(strict, x, indexes)?;
            target
                .as_deref()
                .map_or(Ok(()), |t| check(strict, t, indexes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::filter::{Condition, NoIndexes};
    use crate::engine::types::{Payload, PointId};
    use serde_json::json;

    struct P(Payload);

    impl PointView for P {
        fn id(&self) -> PointId {
            PointId::Num(7)
        }
        fn payload(&self) -> &Payload {
            &self.0
        }
        fn has_vector(&self, _: &str) -> bool {
            true
        }
    }

    fn payload() -> P {
        P(json!({
            "price": 4.0,
            "zero": 0,
            "one": [2.5],
            "many": [1, 2],
            "text": "abc",
            "nested": {"rating": 3},
            "loc": {"lon": 13.4, "lat": 52.5},
            "when": "2025-03-18T12:00:00Z",
            "tags": ["a", "b"],
        })
        .as_object()
        .unwrap()
        .clone())
    }

    fn eval_with(
        expr: Expr,
        defaults: Vec<(Variable, Value)>,
    ) -> std::result::Result<f32, FormulaError> {
        let f = Formula {
            expr,
            defaults: defaults.into_iter().collect(),
        };
        let p = payload();
        f.score(&Subject {
            point: &p,
            ctx: &NoIndexes,
            scores: &[Some(0.5), None, Some(2.0)],
        })
    }

    fn eval(expr: Expr) -> f32 {
        eval_with(expr, Vec::new()).unwrap()
    }

    fn err(expr: Expr) -> String {
        eval_with(expr, Vec::new()).unwrap_err().to_string()
    }

    fn c(x: f64) -> Expr {
        Expr::Const(x)
    }

    fn var(name: &str) -> Expr {
        Expr::Var(Variable::parse(name).unwrap())
    }

    fn b(e: Expr) -> Box<Expr> {
        Box::new(e)
    }

    #[test]
    fn variables_parse_like_qdrant() {
        assert_eq!(Variable::parse("$score"), Ok(Variable::Score(0)));
        assert_eq!(Variable::parse("$score[0]"), Ok(Variable::Score(0)));
        assert_eq!(Variable::parse("$score[2]"), Ok(Variable::Score(2)));
        assert_eq!(
            Variable::parse("a.b[0]"),
            Ok(Variable::Payload("a.b[0]".into()))
        );
        assert!(Variable::parse("$score[]").is_err());
        assert!(Variable::parse("$score.x").is_err());
        assert!(Variable::parse("$score[1][2]").is_err());
        assert_eq!(
            Variable::parse("$price"),
            Err("Invalid reserved word: $price".into())
        );
        assert!(Variable::parse("").is_err());
    }

    #[test]
    fn scores_come_from_each_prefetch_or_the_defaults() {
        assert_eq!(eval(var("$score")), 0.5);
        assert_eq!(eval(var("$score[2]")), 2.0);
        // Not found by prefetch 1, and no prefetch 5: 0 unless defaulted.
        assert_eq!(eval(var("$score[1]")), 0.0);
        assert_eq!(eval(var("$score[5]")), 0.0);
        let d = vec![(Variable::Score(1), json!(0.25))];
        assert_eq!(eval_with(var("$score[1]"), d).unwrap(), 0.25);
    }

    #[test]
    fn payload_variables_and_their_defaults() {
        assert_eq!(eval(var("price")), 4.0);
        assert_eq!(eval(var("nested.rating")), 3.0);
        // An array of one number is that number.
        assert_eq!(eval(var("one")), 2.5);
        assert_eq!(eval(var("many[1]")), 2.0);
        assert_eq!(
            err(var("many")),
            "Expected number value for many in the payload and/or in the formula defaults. Error: Value is not a number"
        );
        assert_eq!(
            err(var("text")),
            "Expected number value for text in the payload and/or in the formula defaults. Error: Value is not a number"
        );
        assert_eq!(
            err(var("missing")),
            "Expected number value for missing in the payload and/or in the formula defaults. Error: No value found in a payload nor defaults"
        );
        let d = vec![(Variable::Payload("missing".into()), json!(1.5))];
        assert_eq!(eval_with(var("missing"), d).unwrap(), 1.5);
        // A default is used only when the payload has no value.
        let d = vec![(Variable::Payload("price".into()), json!(9))];
        assert_eq!(eval_with(var("price"), d).unwrap(), 4.0);
    }

    #[test]
    fn conditions_are_one_or_zero() {
        let cond = |v: Value| Expr::Condition(Filter::new_must(Condition::from_value(v).unwrap()));
        assert_eq!(
            eval(cond(json!({"key": "tags", "match": {"value": "b"}}))),
            1.0
        );
        assert_eq!(
            eval(cond(json!({"key": "tags", "match": {"value": "z"}}))),
            0.0
        );
        assert_eq!(eval(cond(json!({"has_id": [7]}))), 1.0);
        let boosted = Expr::Sum(vec![
            var("$score"),
            Expr::Mult(vec![
                c(0.5),
                cond(json!({"key": "price", "range": {"gt": 3}})),
            ]),
        ]);
        assert_eq!(eval(boosted), 1.0);
    }

    #[test]
    fn arithmetic() {
        assert_eq!(eval(Expr::Sum(vec![c(1.0), var("price"), c(-0.5)])), 4.5);
        assert_eq!(eval(Expr::Mult(vec![c(3.0), var("price")])), 12.0);
        assert_eq!(eval(Expr::Sum(vec![])), 0.0);
        assert_eq!(eval(Expr::Mult(vec![])), 1.0);
        assert_eq!(eval(Expr::Neg(b(c(2.0)))), -2.0);
        assert_eq!(eval(Expr::Abs(b(c(-2.0)))), 2.0);
        assert_eq!(eval(Expr::Sqrt(b(c(16.0)))), 4.0);
        let pow = Expr::Pow {
            base: b(c(2.0)),
            exponent: b(c(10.0)),
        };
        assert_eq!(eval(pow), 1024.0);
        assert_eq!(eval(Expr::Exp(b(c(0.0)))), 1.0);
        assert_eq!(eval(Expr::Log10(b(c(1000.0)))), 3.0);
        assert_eq!(eval(Expr::Ln(b(c(std::f64::consts::E)))), 1.0);
        let div = |l: f64, r: f64, d: Option<f64>| Expr::Div {
            left: b(c(l)),
            right: b(c(r)),
            by_zero_default: d,
        };
        assert_eq!(eval(div(3.0, 4.0, None)), 0.75);
        assert_eq!(eval(div(3.0, 0.0, Some(7.0))), 7.0);
        // A zero numerator is 0 whatever the denominator.
        assert_eq!(eval(div(0.0, 0.0, None)), 0.0);
    }

    #[test]
    fn short_circuits_skip_failing_operands() {
        let failing = Expr::Ln(b(c(0.0)));
        assert_eq!(eval(Expr::Mult(vec![c(0.0), failing.clone()])), 0.0);
        let div = Expr::Div {
            left: b(c(0.0)),
            right: b(failing.clone()),
            by_zero_default: None,
        };
        assert_eq!(eval(div), 0.0);
        assert!(eval_with(Expr::Mult(vec![c(1.0), failing]), Vec::new()).is_err());
    }

    #[test]
    fn non_finite_results_are_errors() {
        let div = Expr::Div {
            left: b(c(1.0)),
            right: b(c(0.0)),
            by_zero_default: None,
        };
        assert_eq!(
            err(div),
            "The expression 1/0 = inf produced a non-finite number"
        );
        assert_eq!(
            err(Expr::Sqrt(b(c(-3.0)))),
            "The expression √-3 = NaN produced a non-finite number"
        );
        let pow = Expr::Pow {
            base: b(c(-1.0)),
            exponent: b(c(0.5)),
        };
        assert_eq!(
            err(pow),
            "The expression -1^0.5 = NaN produced a non-finite number"
        );
        assert_eq!(
            err(Expr::Log10(b(c(0.0)))),
            "The expression log10(0) = -inf produced a non-finite number"
        );
        assert_eq!(
            err(Expr::Ln(b(c(-1.0)))),
            "The expression ln(-1) = NaN produced a non-finite number"
        );
        assert_eq!(
            err(Expr::Exp(b(c(1000.0)))),
            "The expression exp(1000) = inf produced a non-finite number"
        );
        // Finite in f64, too large for an f32 score.
        assert_eq!(
            err(c(1e300)),
            format!(
                "The expression {} as f32 = inf produced a non-finite number",
                1e300
            )
        );
    }

    #[test]
    fn geo_distance_in_metres() {
        let origin = GeoPoint::new(13.4, 52.5);
        let d = eval(Expr::GeoDistance {
            origin,
            key: "loc".into(),
        });
        assert_eq!(d, 0.0);
        // One degree of latitude on the mean-radius sphere.
        let north = GeoPoint::new(13.4, 53.5);
        let d = eval(Expr::GeoDistance {
            origin: north,
            key: "loc".into(),
        });
        let expected = 6_371_008.8 * 1f64.to_radians();
        assert!((f64::from(d) - expected).abs() < 1.0, "{d} vs {expected}");
        let e = err(Expr::GeoDistance {
            origin,
            key: "price".into(),
        });
        assert!(e.starts_with("Expected geo point value for price"), "{e}");
        let defaults = vec![(
            Variable::Payload("home".into()),
            json!({"lon": 13.4, "lat": 52.5}),
        )];
        let d = eval_with(
            Expr::GeoDistance {
                origin,
                key: "home".into(),
            },
            defaults,
        );
        assert_eq!(d, Ok(0.0));
    }

    #[test]
    fn datetimes_are_seconds() {
        let t = datetime_seconds("2025-03-18T12:00:00Z").unwrap();
        assert_eq!(t, 1_742_299_200.0);
        assert_eq!(eval(Expr::DatetimeKey("when".into())), t as f32);
        assert_eq!(datetime_seconds("2025-03-18").unwrap(), 1_742_256_000.0);
        let e = err(Expr::DatetimeKey("price".into()));
        assert_eq!(e, "Expected datetime value for price in the payload and/or in the formula defaults. Error: Value is not a string");
        // Age in days: (when - 2025-03-17T12:00Z) / 86400.
        let age = Expr::Div {
            left: b(Expr::Sum(vec![
                Expr::DatetimeKey("when".into()),
                Expr::Neg(b(Expr::Datetime(t - 86_400.0))),
            ])),
            right: b(c(86_400.0)),
            by_zero_default: None,
        };
        assert_eq!(eval(age), 1.0);
    }

    #[test]
    fn decays() {
        let decay = |kind, x: f64, target: Option<f64>, mid, scale| Expr::Decay {
            kind,
            x: b(c(x)),
            target: target.map(|t| b(c(t))),
            lambda: DecayKind::lambda(kind, mid, scale).unwrap(),
        };
        // At distance `scale` each decay gives `midpoint`.
        for kind in [DecayKind::Lin, DecayKind::Exp, DecayKind::Gauss] {
            let at_scale = eval(decay(kind, 12.0, Some(10.0), Some(0.25), Some(2.0)));
            assert!((at_scale - 0.25).abs() < 1e-6, "{kind:?}: {at_scale}");
            assert_eq!(eval(decay(kind, 10.0, Some(10.0), None, None)), 1.0);
        }
        // Defaults: target 0, scale 1, midpoint 0.5.
        assert_eq!(eval(decay(DecayKind::Lin, 0.5, None, None, None)), 0.75);
        assert_eq!(eval(decay(DecayKind::Lin, -3.0, None, None, None)), 0.0);
        let e = eval(decay(DecayKind::Exp, 2.0, None, None, None));
        assert!((e - 0.25).abs() < 1e-7);
        let g = eval(decay(DecayKind::Gauss, 2.0, None, None, None));
        assert!((g - 0.0625).abs() < 1e-7);
        assert!(DecayKind::Lin.lambda(Some(1.5), None).is_err());
        assert!(DecayKind::Exp.lambda(Some(1.0), None).is_err());
        assert!(DecayKind::Gauss.lambda(Some(0.0), None).is_err());
        assert_eq!(
            DecayKind::Lin.lambda(None, Some(0.0)),
            Err("Decay scale should be non-zero positive, got 0.".into())
        );
    }
}
