//! Qdrant's `FormulaQuery` (`{"formula": Expression, "defaults": {...}}`)
//! read into the engine's [`Formula`].
//!
//! An `Expression` is a number, a variable name (`"$score[1]"`, a payload
//! key), an object with one operator key (`sum`, `mult`, `div`, ...), or
//! else a filter condition. A malformed shape is a validation error (422),
//! like any body that does not fit Qdrant's schema; a well-formed formula
//! Qdrant refuses (a reserved `$` name, a decay midpoint out of range, an
//! unparsable datetime) is a bad request (400), as Qdrant answers it.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::engine::filter::{Condition, Filter, GeoPoint};
use crate::engine::query::formula::{datetime_seconds, DecayKind, Expr, Formula, Variable};
use crate::engine::query::stages::Query;
use crate::engine::EngineError;

use super::error::ApiError;

/// `{"formula": ..., "defaults": ...}`, the formula key already taken out
/// of `rest`.
pub(super) fn formula_query(
    formula: Value,
    mut rest: Map<String, Value>,
) -> Result<Query, ApiError> {
    let defaults = rest.remove("defaults").unwrap_or(Value::Null);
    if let Some((key, _)) = rest.iter().find(|(_, v)| !v.is_null()) {
        return Err(ApiError::validation(format!(
            "query: unknown field `{key}` next to `formula`"
        )));
    }
    let defaults = match defaults {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        other => {
            return Err(ApiError::validation(format!(
                "query.defaults: expected an object, got {other}"
            )))
        }
    };
    let defaults = defaults
        .into_iter()
        .map(|(key, value)| Ok((Variable::parse(&key).map_err(EngineError::from)?, value)))
        .collect::<Result<_, ApiError>>()?;
    Ok(Query::Formula(Box::new(Formula {
        expr: expression(formula, "query.formula")?,
        defaults,
    })))
}

/// One `Expression`; `at` names where it is, for error messages.
fn expression(value: Value, at: &str) -> Result<Expr, ApiError> {
    match value {
        Value::Number(n) => {
            let c = n.as_f64().unwrap_or(f64::NAN);
            // A constant is an f32 in Qdrant's API.
            Ok(Expr::Const(f64::from(c as f32)))
        }
        Value::String(name) => Ok(Expr::Var(
            Variable::parse(&name).map_err(EngineError::from)?,
        )),
        Value::Object(map) => object(map, at),
        other => Err(ApiError::validation(format!(
            "{at}: expected a number, a variable name or an expression object, got {other}"
        ))),
    }
}

fn object(mut map: Map<String, Value>, at: &str) -> Result<Expr, ApiError> {
    const OPERATORS: [&str; 16] = [
        "mult",
        "sum",
        "neg",
        "abs",
        "div",
        "sqrt",
        "pow",
        "exp",
        "log10",
        "ln",
        "geo_distance",
        "datetime",
        "datetime_key",
        "lin_decay",
        "exp_decay",
        "gauss_decay",
    ];
    let Some(op) = OPERATORS.iter().find(|op| map.contains_key(**op)) else {
        // Anything else is a condition, 1 where it holds.
        let condition = Condition::from_value(Value::Object(map))
            .map_err(|e| ApiError::validation(format!("{at}: {e}")))?;
        let filter = Filter::new_must(condition);
        filter
            .validate()
            .map_err(|e| ApiError::validation(format!("{at}: {e}")))?;
        return Ok(Expr::Condition(filter));
    };
    let at = format!("{at}.{op}");
    let value = map.remove(*op).unwrap_or(Value::Null);
    if let Some(extra) = map.keys().next() {
        return Err(ApiError::validation(format!(
            "{at}: unknown field `{extra}` next to `{op}`"
        )));
    }
    let one = |v: Value| expression(v, &at).map(Box::new);
    Ok(match *op {
        "mult" => Expr::Mult(list(value, &at)?),
        "sum" => Expr::Sum(list(value, &at)?),
        "neg" => Expr::Neg(one(value)?),
        "abs" => Expr::Abs(one(value)?),
        "sqrt" => Expr::Sqrt(one(value)?),
        "exp" => Expr::Exp(one(value)?),
        "log10" => Expr::Log10(one(value)?),
        "ln" => Expr::Ln(one(value)?),
        "div" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct DivWire {
                left: Value,
                right: Value,
                #[serde(default)]
                by_zero_default: Option<f32>,
            }
            let w: DivWire = wire(value, &at)?;
            Expr::Div {
                left: one(w.left)?,
                right: one(w.right)?,
                by_zero_default: w.by_zero_default.map(f64::from),
            }
        }
        "pow" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct PowWire {
                base: Value,
                exponent: Value,
            }
            let w: PowWire = wire(value, &at)?;
            Expr::Pow {
                base: one(w.base)?,
                exponent: one(w.exponent)?,
            }
        }
        "geo_distance" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct GeoWire {
                origin: GeoPoint,
                to: String,
            }
            let w: GeoWire = wire(value, &at)?;
            w.origin
                .check_range()
                .map_err(|e| ApiError::validation(format!("{at}.origin: {e}")))?;
            Variable::parse(&w.to).map_err(EngineError::from)?;
            Expr::GeoDistance {
                origin: w.origin,
                key: w.to,
            }
        }
        "datetime" => {
            let text: String = wire(value, &at)?;
            Expr::Datetime(datetime_seconds(&text).map_err(EngineError::from)?)
        }
        "datetime_key" => {
            let key: String = wire(value, &at)?;
            Variable::parse(&key).map_err(EngineError::from)?;
            Expr::DatetimeKey(key)
        }
        decay => {
            let kind = match decay {
                "lin_decay" => DecayKind::Lin,
                "exp_decay" => DecayKind::Exp,
                _ => DecayKind::Gauss,
            };
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct DecayWire {
                x: Value,
                #[serde(default)]
                target: Option<Value>,
                #[serde(default)]
                scale: Option<f32>,
                #[serde(default)]
                midpoint: Option<f32>,
            }
            let w: DecayWire = wire(value, &at)?;
            Expr::Decay {
                kind,
                lambda: kind
                    .lambda(w.midpoint, w.scale)
                    .map_err(EngineError::from)?,
                x: one(w.x)?,
                target: w.target.filter(|t| !t.is_null()).map(one).transpose()?,
            }
        }
    })
}

fn list(value: Value, at: &str) -> Result<Vec<Expr>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::validation(format!(
            "{at}: expected a list of expressions, got {value}"
        )));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| expression(v, &format!("{at}[{i}]")))
        .collect()
}

fn wire<T: serde::de::DeserializeOwned>(value: Value, at: &str) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::validation(format!("{at}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Formula, ApiError> {
        let Value::Object(mut map) = v else { panic!() };
        let formula = map.remove("formula").unwrap();
        match formula_query(formula, map)? {
            Query::Formula(f) => Ok(*f),
            _ => unreachable!(),
        }
    }

    fn status(e: ApiError) -> &'static str {
        match e {
            ApiError::Validation(_) => "422",
            ApiError::Engine(EngineError::BadRequest(_)) => "400",
            _ => "other",
        }
    }

    #[test]
    fn reads_every_expression_kind() {
        let f = parse(json!({
            "formula": {"sum": [
                "$score",
                {"mult": [0.5, "price", {"key": "tag", "match": {"value": "x"}}]},
                {"neg": {"abs": -1}},
                {"div": {"left": 1, "right": "$score[1]", "by_zero_default": 0}},
                {"sqrt": 4}, {"pow": {"base": 2, "exponent": 3}},
                {"exp": 0}, {"log10": 10}, {"ln": 1},
                {"geo_distance": {"origin": {"lon": 1, "lat": 2}, "to": "loc"}},
                {"datetime": "2025-01-01T00:00:00Z"}, {"datetime_key": "when"},
                {"lin_decay": {"x": "age", "target": null, "scale": 2, "midpoint": null}},
                {"exp_decay": {"x": "age", "target": 1}},
                {"gauss_decay": {"x": "age"}}
            ]},
            "defaults": {"price": 1, "$score[1]": 0.5}
        }))
        .unwrap();
        let Expr::Sum(terms) = &f.expr else { panic!() };
        assert_eq!(terms.len(), 15);
        assert!(matches!(terms[1], Expr::Mult(ref m) if matches!(m[2], Expr::Condition(_))));
        assert_eq!(terms[10], Expr::Datetime(1_735_689_600.0));
        assert_eq!(f.defaults[&Variable::Score(1)], json!(0.5));
        assert_eq!(f.defaults[&Variable::Payload("price".into())], json!(1));
        // Constants are f32, widened.
        let f = parse(json!({"formula": 0.1})).unwrap();
        assert_eq!(f.expr, Expr::Const(f64::from(0.1f32)));
    }

    #[test]
    fn refuses_bad_formulas_with_the_right_status() {
        let cases = [
            (json!({"formula": "$foo"}), "400"),
            (json!({"formula": 1, "defaults": {"$bar": 1}}), "400"),
            (
                json!({"formula": {"lin_decay": {"x": 1, "midpoint": 2}}}),
                "400",
            ),
            (
                json!({"formula": {"exp_decay": {"x": 1, "scale": 0}}}),
                "400",
            ),
            (json!({"formula": {"datetime": "yesterday"}}), "400"),
            (json!({"formula": {"div": {"left": 1}}}), "422"),
            (json!({"formula": {"sum": 1}}), "422"),
            (json!({"formula": true}), "422"),
            (json!({"formula": {"unknown_op": 1}}), "422"),
            (json!({"formula": {"neg": 1, "abs": 2}}), "422"),
            (json!({"formula": 1, "extra": 2}), "422"),
            (
                json!({"formula": {"geo_distance": {"origin": {"lon": 1, "lat": 95}, "to": "l"}}}),
                "422",
            ),
        ];
        for (body, want) in cases {
            let got = parse(body.clone()).map(|_| ()).map_err(status);
            assert_eq!(got, Err(want), "{body}");
        }
    }
}
