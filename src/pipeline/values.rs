//! Numbers and units as distributors actually type them.
//!
//! Catalogs reach us from Brazilian Excel (`1.234,56`, `R$ 1.234,56`,
//! `0,55 kW`) and from English tools (`1,234.56`, `550W`). Every parser here
//! takes one trimmed, non-empty cell and returns either a value in the base
//! unit (W, V, A, %, BRL) or a short English reason that ends up in the
//! rejection report, so the reasons are written for the person who fixes the
//! spreadsheet. Callers treat blank cells as missing before calling.
//!
//! # Decimal separators
//!
//! * With both `.` and `,` present, the one that comes last is the decimal
//!   separator and the other groups thousands (`1.234,56`, `1,234.56`).
//! * Several dots or several commas are thousands grouping (`1.234.567`).
//! * One separator is a decimal separator, except in the ambiguous shape
//!   `d.ddd` / `d,ddd` (one to three digits, not starting with `0`, then
//!   exactly three): there a [`DecimalStyle`] decides. `Auto`, the default,
//!   reads it the Brazilian way, so `1.500` is 1500 and `1,500` is 1.5, which
//!   is what a pt-BR Excel export means. `validate` infers the style of a
//!   whole file from its unambiguous cells, so an English file full of
//!   `49.5` and `1,234.56` reads `1.500` as 1.5 and `1,500` as 1500.
//! * Grouping must be well formed (first group 1–3 digits, then groups of
//!   exactly 3); `1.23.4` is rejected instead of guessed.
//! * Spaces, NBSP and narrow NBSP between digit groups are thousands
//!   separators (`1 234,56`, the French/Excel-online habit).
//! * Integers (stock, warranty) treat the ambiguous shape as grouping in any
//!   style, because a fractional count is never what was meant; `12,00` is
//!   still 12.
//!
//! Unit scaling is done on the decimal text (shifting the exponent) rather
//! than by multiplying floats, so `0,55 kW` is exactly 550.0, not
//! 550.0000000000001.

/// Why a cell is not a value. The messages are the rejection report's
/// reasons, written for the person who fixes the spreadsheet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("not a number")]
    NotANumber,
    #[error("not a number (two signs)")]
    TwoSigns,
    #[error("not a number (mixed digit grouping)")]
    MixedGrouping,
    #[error("not a number (two decimal separators)")]
    TwoDecimalSeparators,
    #[error("not a number (malformed digit grouping)")]
    MalformedGrouping,
    #[error("number too long")]
    TooLong,
    #[error("number out of range")]
    OutOfRange,
    #[error("not a whole number")]
    NotWhole,
    #[error("negative price")]
    NegativePrice,
    #[error("price is not in BRL")]
    NotBrl,
    /// Text after a valid number (at most 20 characters of it).
    #[error("unexpected text '{0}' after the number")]
    UnexpectedText(String),
    #[error("unknown unit '{unit}' for {what} (expected {expected})")]
    UnknownUnit {
        unit: String,
        what: &'static str,
        expected: &'static str,
    },
    #[error("{0} months is not a whole number of years")]
    MonthsNotYears(i64),
    #[error("unknown phase designation '{0}'")]
    UnknownPhases(String),
    #[error("conflicting phase designations in '{0}'")]
    ConflictingPhases(String),
    #[error("phases must be 1, 2 or 3")]
    NoPhases,
}

/// How to read the ambiguous `d.ddd` / `d,ddd` shape; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecimalStyle {
    /// No evidence: Brazilian reading (`1.500` = 1500, `1,500` = 1.5).
    #[default]
    Auto,
    /// The file uses decimal commas (`1.500` = 1500, `1,500` = 1.5).
    Comma,
    /// The file uses decimal points (`1.500` = 1.5, `1,500` = 1500).
    Dot,
}

/// Longest digit run we accept; protects the float parser and the exponent
/// arithmetic from pathological cells without limiting any real value.
const MAX_DIGITS: usize = 64;

pub fn parse_decimal(s: &str) -> Result<f64, ValueError> {
    DecimalStyle::Auto.parse_decimal(s)
}

pub fn parse_price_brl(s: &str) -> Result<f64, ValueError> {
    DecimalStyle::Auto.parse_price_brl(s)
}

pub fn parse_power_w(s: &str) -> Result<f64, ValueError> {
    DecimalStyle::Auto.parse_power_w(s)
}

pub fn parse_voltage_v(s: &str) -> Result<f64, ValueError> {
    DecimalStyle::Auto.parse_voltage_v(s)
}

pub fn parse_current_a(s: &str) -> Result<f64, ValueError> {
    DecimalStyle::Auto.parse_current_a(s)
}

pub fn parse_percent(s: &str) -> Result<f64, ValueError> {
    DecimalStyle::Auto.parse_percent(s)
}

const POWER_UNITS: &[(&str, i32)] = &[
    ("w", 0),
    ("wp", 0),
    ("watt", 0),
    ("watts", 0),
    ("kw", 3),
    ("kwp", 3),
    // Case-folded, so "mW" is read as megawatt: nobody sells milliwatt gear.
    ("mw", 6),
    ("mwp", 6),
];

const VOLTAGE_UNITS: &[(&str, i32)] = &[
    ("v", 0),
    ("vcc", 0),
    ("vdc", 0),
    ("vca", 0),
    ("vac", 0),
    ("volt", 0),
    ("volts", 0),
    ("kv", 3),
];

const CURRENT_UNITS: &[(&str, i32)] = &[
    ("a", 0),
    ("acc", 0),
    ("adc", 0),
    ("aca", 0),
    ("aac", 0),
    ("amp", 0),
    ("amps", 0),
    ("ampere", 0),
    ("amperes", 0),
    ("ma", -3),
];

const COUNT_UNITS: &[&str] = &[
    "un", "und", "unid", "unidade", "unidades", "pc", "pcs", "peca", "pecas", "units", "unit",
];

const YEAR_UNITS: &[&str] = &["ano", "anos", "year", "years", "yr", "yrs"];
const MONTH_UNITS: &[&str] = &["mes", "meses", "month", "months"];

impl DecimalStyle {
    /// A plain number; a leading `R$` is tolerated because prices are often
    /// fed through here by generic code.
    pub fn parse_decimal(self, s: &str) -> Result<f64, ValueError> {
        let (negative, body) = strip_brl(s)?;
        let lexed = lex(body, Mode::Decimal(self))?;
        if !lexed.rest.is_empty() {
            return Err(unexpected(lexed.rest));
        }
        lexed.number.value(negative, 0)
    }

    /// A price in reais. Foreign currency symbols are refused rather than
    /// silently loaded as if they were BRL.
    pub fn parse_price_brl(self, s: &str) -> Result<f64, ValueError> {
        let (negative, body) = strip_brl(s)?;
        let lexed = lex(body, Mode::Decimal(self))?;
        let unit = unit_key(lexed.rest);
        if !matches!(unit.as_str(), "" | "r$" | "brl" | "reais" | "real") {
            return Err(unexpected(lexed.rest));
        }
        let value = lexed.number.value(negative, 0)?;
        if value < 0.0 {
            return Err(ValueError::NegativePrice);
        }
        Ok(value)
    }

    /// Power in watts; a bare number is already watts.
    pub fn parse_power_w(self, s: &str) -> Result<f64, ValueError> {
        with_unit(s, self, POWER_UNITS, "power", "W, Wp, kW, kWp, MW")
    }

    /// Voltage in volts; AC/DC suffixes (`Vca`, `Vdc`) are accepted and dropped.
    pub fn parse_voltage_v(self, s: &str) -> Result<f64, ValueError> {
        with_unit(
            s,
            self,
            VOLTAGE_UNITS,
            "voltage",
            "V, Vcc, Vca, Vdc, Vac, kV",
        )
    }

    /// Current in amperes.
    pub fn parse_current_a(self, s: &str) -> Result<f64, ValueError> {
        with_unit(s, self, CURRENT_UNITS, "current", "A, mA")
    }

    /// A percentage. With an explicit `%` the number is taken as written;
    /// without one, a magnitude in (0, 1] is a fraction (`0,213` → 21.3),
    /// because spreadsheets store percent-formatted cells as fractions and
    /// no product we sell has an efficiency of 1% or less.
    pub fn parse_percent(self, s: &str) -> Result<f64, ValueError> {
        let lexed = lex(s, Mode::Decimal(self))?;
        let unit = unit_key(lexed.rest);
        match unit.as_str() {
            "%" | "pct" | "porcento" | "percent" => lexed.number.value(false, 0),
            "" => {
                let value = lexed.number.value(false, 0)?;
                if value != 0.0 && value.abs() <= 1.0 {
                    lexed.number.value(false, 2)
                } else {
                    Ok(value)
                }
            }
            _ => Err(unexpected(lexed.rest)),
        }
    }
}

/// A whole number: stock counts, warranty years. `1.200` and `1,200` are
/// both 1200 (see the module docs); `12 un` and `10 anos` drop the unit.
pub fn parse_int(s: &str) -> Result<i64, ValueError> {
    let lexed = lex(s, Mode::Integer)?;
    let unit = unit_key(lexed.rest);
    if !unit.is_empty()
        && !COUNT_UNITS.contains(&unit.as_str())
        && !YEAR_UNITS.contains(&unit.as_str())
    {
        return Err(unexpected(lexed.rest));
    }
    lexed.number.whole(0)
}

/// Warranty in years; also accepts months when they make whole years
/// (`120 meses` → 10), since some manufacturers state warranties that way.
pub fn parse_warranty_years(s: &str) -> Result<i64, ValueError> {
    let lexed = lex(s, Mode::Integer)?;
    let unit = unit_key(lexed.rest);
    let years = if unit.is_empty() || YEAR_UNITS.contains(&unit.as_str()) {
        lexed.number.whole(0)?
    } else if MONTH_UNITS.contains(&unit.as_str()) {
        let months = lexed.number.whole(0)?;
        if months % 12 != 0 {
            return Err(ValueError::MonthsNotYears(months));
        }
        months / 12
    } else {
        return Err(unexpected(lexed.rest));
    };
    Ok(years)
}

/// Number of phases of an inverter or a connection: digits (`3`, `3F`,
/// `3~`) or Portuguese/English words (`trifásico`, `mono`, `single-phase`).
/// Voltages written beside the phases (`Trifásico 380V`) are ignored, the
/// way a person reading the cell would.
pub fn parse_phases(s: &str) -> Result<u8, ValueError> {
    let folded = fold(s);
    let mut found: Option<u8> = None;
    for token in folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
    {
        let phases = match token {
            "fase" | "fases" | "phase" | "phases" | "ph" | "f" | "de" => continue,
            "1" | "1f" | "1ph" | "mono" | "monofasico" | "monofasica" | "single"
            | "singlephase" => 1,
            "2" | "2f" | "2ph" | "bi" | "bifasico" | "bifasica" | "two" | "split"
            | "splitphase" => 2,
            "3" | "3f" | "3ph" | "tri" | "trifasico" | "trifasica" | "three" | "threephase" => 3,
            t if looks_like_voltage(t) => continue,
            _ => return Err(ValueError::UnknownPhases(s.trim().to_string())),
        };
        match found {
            Some(prev) if prev != phases => {
                return Err(ValueError::ConflictingPhases(s.trim().to_string()))
            }
            _ => found = Some(phases),
        }
    }
    found.ok_or(ValueError::NoPhases)
}

fn looks_like_voltage(token: &str) -> bool {
    let digits = token.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &token[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (matches!(suffix, "v" | "vca" | "vac")
            || (suffix.is_empty() && digits.parse::<u32>().is_ok_and(|v| v >= 100)))
}

/// Lower-cases and strips the diacritics of Portuguese (and the few other
/// Latin letters a supplier might use), so headers, units and categories
/// compare the way a person reads them. Combining marks are dropped too,
/// which covers decomposed text from macOS exports.
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        return s.trim().to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars().flat_map(char::to_lowercase) {
        let mapped = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ª' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'º' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            '\u{0300}'..='\u{036f}' => continue,
            other => other,
        };
        out.push(mapped);
    }
    out
}

/// The reason for text left after a valid number; the cell itself is in
/// the report beside it, so only the offending part is quoted.
fn unexpected(rest: &str) -> ValueError {
    ValueError::UnexpectedText(truncate(rest, 20).to_string())
}

/// A unit as a lookup key: folded, without spaces or abbreviation dots
/// (`kW p`, `unid.`, `V.`).
fn unit_key(rest: &str) -> String {
    fold(rest)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .collect()
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Removes a leading sign and `R$`/`BRL` in either order (`-R$ 5`, `R$ -5`)
/// and refuses other currencies. Returns whether a sign was taken here,
/// which the caller combines with any sign the number itself carries.
fn strip_brl(s: &str) -> Result<(bool, &str), ValueError> {
    if s.contains(|c: char| c.is_alphabetic() || matches!(c, '$' | '€' | '£')) {
        let lower = s.to_lowercase().replace("r$", "");
        let foreign_word = lower.split(|c: char| !c.is_alphabetic()).any(|w| {
            matches!(
                w,
                "usd" | "eur" | "us" | "euro" | "euros" | "dolar" | "dólar"
            )
        });
        if foreign_word || lower.contains(['$', '€', '£']) {
            return Err(ValueError::NotBrl);
        }
    }
    let trimmed = s.trim();
    let (negative, after_sign) = take_sign(trimmed);
    let after_sign = after_sign.trim_start();
    for prefix in ["R$", "r$", "BRL", "brl"] {
        if let Some(rest) = after_sign.strip_prefix(prefix) {
            let rest = rest.trim_start();
            if negative && rest.starts_with(['-', '+', '\u{2212}']) {
                return Err(ValueError::TwoSigns);
            }
            return Ok((negative, rest));
        }
    }
    Ok((false, trimmed))
}

fn take_sign(s: &str) -> (bool, &str) {
    if let Some(r) = s.strip_prefix('-') {
        (true, r)
    } else if let Some(r) = s.strip_prefix('\u{2212}') {
        (true, r)
    } else if let Some(r) = s.strip_prefix('+') {
        (false, r)
    } else {
        (false, s)
    }
}

fn with_unit(
    s: &str,
    style: DecimalStyle,
    units: &[(&str, i32)],
    what: &'static str,
    expected: &'static str,
) -> Result<f64, ValueError> {
    let lexed = lex(s, Mode::Decimal(style))?;
    let unit = unit_key(lexed.rest);
    if unit.is_empty() {
        return lexed.number.value(false, 0);
    }
    match units.iter().find(|(name, _)| *name == unit) {
        Some((_, shift)) => lexed.number.value(false, *shift),
        None if unit.starts_with(|c: char| c.is_ascii_digit()) => Err(ValueError::NotANumber),
        None => Err(ValueError::UnknownUnit {
            unit: truncate(lexed.rest, 20).to_string(),
            what,
            expected,
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Decimal(DecimalStyle),
    Integer,
}

/// A number as decimal text: `digits × 10^exponent`, kept as text until the
/// end so unit scaling stays exact.
#[derive(Debug, Clone, PartialEq)]
struct Number {
    negative: bool,
    digits: String,
    exponent: i32,
}

impl Number {
    /// The value scaled by `10^shift`; `extra_negative` comes from a sign
    /// that stood before a currency symbol.
    fn value(&self, extra_negative: bool, shift: i32) -> Result<f64, ValueError> {
        let negative = self.negative != extra_negative;
        let text = format!(
            "{}{}e{}",
            if negative { "-" } else { "" },
            self.digits,
            self.exponent.saturating_add(shift)
        );
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(if v == 0.0 { 0.0 } else { v }),
            _ => Err(ValueError::OutOfRange),
        }
    }

    fn whole(&self, shift: i32) -> Result<i64, ValueError> {
        let value = self.value(false, shift)?;
        // 2^53: beyond it f64 no longer holds every integer exactly.
        const LIMIT: f64 = 9_007_199_254_740_992.0;
        if value.fract() != 0.0 {
            return Err(ValueError::NotWhole);
        }
        if value.abs() > LIMIT {
            return Err(ValueError::OutOfRange);
        }
        Ok(value as i64)
    }
}

struct Lexed<'a> {
    number: Number,
    /// Which decimal style this cell proves, if it is unambiguous.
    evidence: Option<DecimalStyle>,
    /// Text after the number, trimmed: the unit.
    rest: &'a str,
}

fn is_group_space(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}')
}

fn lex(s: &str, mode: Mode) -> Result<Lexed<'_>, ValueError> {
    let s = s.trim();
    let (negative, s) = take_sign(s);
    let s = s.trim_start();
    let mut end = 0;
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() || c == '.' || c == ',' || is_group_space(c) {
            end = i + c.len_utf8();
        } else {
            break;
        }
    }
    let body = s[..end].trim_end_matches(is_group_space);
    let mut rest = &s[body.len()..];
    let mut exponent: i32 = 0;
    if let Some((exp, after)) = lex_exponent(rest) {
        exponent = exp;
        rest = after;
    }
    if !body.bytes().any(|b| b.is_ascii_digit()) {
        return Err(ValueError::NotANumber);
    }
    let (digits, frac_len, evidence) = analyse(body, mode)?;
    let frac_len = i32::try_from(frac_len).map_err(|_| ValueError::TooLong)?;
    Ok(Lexed {
        number: Number {
            negative,
            digits,
            exponent: exponent - frac_len,
        },
        evidence,
        rest: rest.trim(),
    })
}

/// `E+03` right after the digits, as Excel writes large numbers.
fn lex_exponent(rest: &str) -> Option<(i32, &str)> {
    let after_e = rest.strip_prefix(['e', 'E'])?;
    let (negative, after_sign) = take_sign(after_e);
    let len = after_sign.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 || len > 4 {
        return None;
    }
    let value: i32 = after_sign[..len].parse().ok()?;
    Some((if negative { -value } else { value }, &after_sign[len..]))
}

/// Splits the digits-and-separators part of a cell into plain digits and
/// the count of fraction digits, applying the rules in the module docs.
fn analyse(body: &str, mode: Mode) -> Result<(String, usize, Option<DecimalStyle>), ValueError> {
    let body: std::borrow::Cow<str> = if body.is_ascii() {
        body.into()
    } else {
        body.chars()
            .map(|c| if is_group_space(c) { ' ' } else { c })
            .collect::<String>()
            .into()
    };
    let dots = body.matches('.').count();
    let commas = body.matches(',').count();
    let has_space = body.contains(' ');

    let (decimal, mut grouping, evidence) = if dots > 0 && commas > 0 {
        let last_dot = body.rfind('.').unwrap_or(0);
        let last_comma = body.rfind(',').unwrap_or(0);
        if last_comma > last_dot {
            (Some(','), Some('.'), Some(DecimalStyle::Comma))
        } else {
            (Some('.'), Some(','), Some(DecimalStyle::Dot))
        }
    } else if commas > 1 {
        (None, Some(','), Some(DecimalStyle::Dot))
    } else if dots > 1 {
        (None, Some('.'), Some(DecimalStyle::Comma))
    } else if commas == 1 {
        if !has_space && is_ambiguous(&body, ',') {
            match mode {
                Mode::Integer | Mode::Decimal(DecimalStyle::Dot) => (None, Some(','), None),
                Mode::Decimal(_) => (Some(','), None, None),
            }
        } else {
            (Some(','), None, Some(DecimalStyle::Comma))
        }
    } else if dots == 1 {
        if !has_space && is_ambiguous(&body, '.') {
            match mode {
                Mode::Integer | Mode::Decimal(DecimalStyle::Comma | DecimalStyle::Auto) => {
                    (None, Some('.'), None)
                }
                Mode::Decimal(DecimalStyle::Dot) => (Some('.'), None, None),
            }
        } else {
            (Some('.'), None, Some(DecimalStyle::Dot))
        }
    } else {
        (None, None, None)
    };

    if has_space {
        if grouping.is_some() {
            return Err(ValueError::MixedGrouping);
        }
        grouping = Some(' ');
    }

    let (int_part, frac_part) = match decimal {
        Some(sep) => {
            let mut parts = body.splitn(2, sep);
            let int_part = parts.next().unwrap_or("");
            let frac_part = parts.next().unwrap_or("");
            if frac_part.contains(sep) {
                return Err(ValueError::TwoDecimalSeparators);
            }
            (int_part, frac_part)
        }
        None => (body.as_ref(), ""),
    };
    if decimal.is_some() && (frac_part.is_empty() || !frac_part.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ValueError::NotANumber);
    }

    let mut digits = String::with_capacity(body.len());
    match grouping {
        Some(sep) => {
            for (i, group) in int_part.split(sep).enumerate() {
                let ok_len = if i == 0 {
                    (1..=3).contains(&group.len())
                } else {
                    group.len() == 3
                };
                if !ok_len || !group.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ValueError::MalformedGrouping);
                }
                digits.push_str(group);
            }
        }
        None => {
            if !int_part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ValueError::NotANumber);
            }
            digits.push_str(int_part);
        }
    }
    digits.push_str(frac_part);
    if digits.is_empty() {
        return Err(ValueError::NotANumber);
    }
    // Leading zeros carry no value; dropping them keeps the length guard
    // about significant digits only.
    let significant = digits.trim_start_matches('0');
    let digits = if significant.is_empty() {
        "0".to_string()
    } else {
        significant.to_string()
    };
    if digits.len() > MAX_DIGITS || frac_part.len() > MAX_DIGITS {
        return Err(ValueError::TooLong);
    }
    Ok((digits, frac_part.len(), evidence))
}

/// `d.ddd` / `d,ddd`: could be a thousands group or three decimals.
fn is_ambiguous(body: &str, sep: char) -> bool {
    let Some((before, after)) = body.split_once(sep) else {
        return false;
    };
    (1..=3).contains(&before.len())
        && !before.starts_with('0')
        && before.bytes().all(|b| b.is_ascii_digit())
        && after.len() == 3
        && after.bytes().all(|b| b.is_ascii_digit())
}

/// Which decimal style one cell proves, if any (`49,5` proves Comma,
/// `1,234.56` proves Dot, `1.500` and `550` prove nothing).
pub fn decimal_evidence(s: &str) -> Option<DecimalStyle> {
    let body = strip_brl(s).map(|(_, b)| b).unwrap_or(s);
    lex(body, Mode::Decimal(DecimalStyle::Auto))
        .ok()
        .and_then(|l| l.evidence)
}

/// The style of a whole file from its numeric cells: one style only when
/// the evidence is unanimous, so a single stray cell in a mixed file does
/// not flip the reading of every ambiguous value.
pub fn infer_style<'a>(cells: impl IntoIterator<Item = &'a str>) -> DecimalStyle {
    let (mut comma, mut dot) = (0usize, 0usize);
    for cell in cells {
        match decimal_evidence(cell) {
            Some(DecimalStyle::Comma) => comma += 1,
            Some(DecimalStyle::Dot) => dot += 1,
            _ => {}
        }
    }
    match (comma, dot) {
        (c, 0) if c > 0 => DecimalStyle::Comma,
        (0, d) if d > 0 => DecimalStyle::Dot,
        _ => DecimalStyle::Auto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn ok(r: Result<f64, ValueError>) -> f64 {
        match r {
            Ok(v) => v,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    #[test]
    fn decimals_in_both_conventions() {
        assert_eq!(ok(parse_decimal("1.234,56")), 1234.56);
        assert_eq!(ok(parse_decimal("1,234.56")), 1234.56);
        assert_eq!(ok(parse_decimal("1234.56")), 1234.56);
        assert_eq!(ok(parse_decimal("1234,56")), 1234.56);
        assert_eq!(ok(parse_decimal("R$ 1.234,56")), 1234.56);
        assert_eq!(ok(parse_decimal("R$1.234,56")), 1234.56);
        assert_eq!(ok(parse_decimal("-3")), -3.0);
        assert_eq!(ok(parse_decimal(" 12 ")), 12.0);
        assert_eq!(ok(parse_decimal("+7,5")), 7.5);
        assert_eq!(ok(parse_decimal("\u{2212}2")), -2.0);
        assert_eq!(ok(parse_decimal("1.234.567,89")), 1_234_567.89);
        assert_eq!(ok(parse_decimal("1,234,567.89")), 1_234_567.89);
        assert_eq!(ok(parse_decimal("1.234.567")), 1_234_567.0);
        assert_eq!(ok(parse_decimal("1,234,567")), 1_234_567.0);
        assert_eq!(ok(parse_decimal("1 234,56")), 1234.56);
        assert_eq!(ok(parse_decimal("1\u{a0}234,56")), 1234.56);
        assert_eq!(ok(parse_decimal(",5")), 0.5);
        assert_eq!(ok(parse_decimal("0")), 0.0);
        assert_eq!(ok(parse_decimal("-0")), 0.0);
        assert_eq!(ok(parse_decimal("1,5E+03")), 1500.0);
        assert_eq!(ok(parse_decimal("2.5e-1")), 0.25);
    }

    #[test]
    fn ambiguous_shape_follows_the_style() {
        assert_eq!(ok(parse_decimal("1.500")), 1500.0);
        assert_eq!(ok(parse_decimal("1,500")), 1.5);
        assert_eq!(ok(parse_decimal("1.5")), 1.5);
        assert_eq!(ok(parse_decimal("0.550")), 0.55);
        assert_eq!(ok(parse_decimal("0,550")), 0.55);
        assert_eq!(ok(parse_decimal("1234.567")), 1234.567);
        assert_eq!(ok(parse_decimal("49.50")), 49.5);
        let dot = DecimalStyle::Dot;
        assert_eq!(ok(dot.parse_decimal("1.500")), 1.5);
        assert_eq!(ok(dot.parse_decimal("1,500")), 1500.0);
        assert_eq!(ok(dot.parse_decimal("49,5")), 49.5);
        let comma = DecimalStyle::Comma;
        assert_eq!(ok(comma.parse_decimal("1.500")), 1500.0);
        assert_eq!(ok(comma.parse_decimal("1,500")), 1.5);
        assert_eq!(ok(comma.parse_decimal("49.5")), 49.5);
    }

    #[test]
    fn malformed_numbers_are_refused_with_a_reason() {
        for bad in [
            "",
            "abc",
            "1.2.3",
            "1,2.3",
            "12,34,5",
            "1.234,5,6",
            "1..2",
            "1,",
            ".",
            "--5",
            "R$",
            "1 23",
            "1.234 567",
            "5-",
            "12a",
            "0x10",
            "NaN",
            "inf",
            "∞",
            "1 . 5",
        ] {
            let r = parse_decimal(bad);
            assert!(r.is_err(), "{bad:?} parsed as {r:?}");
        }
        assert_eq!(
            parse_decimal("abc").unwrap_err().to_string(),
            "not a number"
        );
        assert_eq!(
            parse_decimal("12 kg").unwrap_err().to_string(),
            "unexpected text 'kg' after the number"
        );
        assert!(parse_decimal("1.2.3")
            .unwrap_err()
            .to_string()
            .contains("grouping"));
        assert!(parse_decimal(&"9".repeat(400)).is_err());
        assert!(parse_decimal("1e9999").is_err());
    }

    #[test]
    fn prices() {
        assert_eq!(ok(parse_price_brl("R$ 1.234,56")), 1234.56);
        assert_eq!(ok(parse_price_brl("1.234,56 BRL")), 1234.56);
        assert_eq!(ok(parse_price_brl("BRL 899.90")), 899.9);
        assert_eq!(ok(parse_price_brl("899,9")), 899.9);
        assert_eq!(ok(parse_price_brl("0")), 0.0);
        assert_eq!(
            parse_price_brl("-10").unwrap_err().to_string(),
            "negative price"
        );
        assert_eq!(
            parse_price_brl("-R$ 10,00").unwrap_err().to_string(),
            "negative price"
        );
        assert_eq!(
            parse_price_brl("R$ -10,00").unwrap_err().to_string(),
            "negative price"
        );
        assert_eq!(
            parse_price_brl("US$ 100").unwrap_err().to_string(),
            "price is not in BRL"
        );
        assert_eq!(
            parse_price_brl("100 USD").unwrap_err().to_string(),
            "price is not in BRL"
        );
        assert_eq!(
            parse_price_brl("€ 100").unwrap_err().to_string(),
            "price is not in BRL"
        );
        assert!(parse_price_brl("-R$ -10").is_err());
        assert!(parse_price_brl("NaN").is_err());
        assert!(parse_price_brl("inf").is_err());
        assert!(parse_price_brl("1e400").is_err());
    }

    #[test]
    fn power_units_scale_exactly() {
        assert_eq!(ok(parse_power_w("550")), 550.0);
        assert_eq!(ok(parse_power_w("550W")), 550.0);
        assert_eq!(ok(parse_power_w("550 Wp")), 550.0);
        assert_eq!(ok(parse_power_w("0,55 kW")), 550.0);
        assert_eq!(ok(parse_power_w("5 kWp")), 5000.0);
        assert_eq!(ok(parse_power_w("1,2 MW")), 1_200_000.0);
        assert_eq!(ok(parse_power_w("0.1 kW")), 100.0);
        assert_eq!(ok(parse_power_w("7,5kW")), 7500.0);
        assert_eq!(ok(parse_power_w("75 KW")), 75000.0);
        let err = parse_power_w("550 HP").unwrap_err().to_string();
        assert!(err.contains("unknown unit 'HP' for power"), "{err}");
        assert!(parse_power_w("550 W 3").is_err());
    }

    #[test]
    fn voltages_and_currents() {
        assert_eq!(ok(parse_voltage_v("1.500 V")), 1500.0);
        assert_eq!(ok(parse_voltage_v("1500V")), 1500.0);
        assert_eq!(ok(parse_voltage_v("49,5")), 49.5);
        assert_eq!(ok(parse_voltage_v("220 Vca")), 220.0);
        assert_eq!(ok(parse_voltage_v("220 Vac")), 220.0);
        assert_eq!(ok(parse_voltage_v("1000 Vcc")), 1000.0);
        assert_eq!(ok(parse_voltage_v("1 kV")), 1000.0);
        assert_eq!(ok(parse_voltage_v("1,1 kV")), 1100.0);
        assert_eq!(ok(parse_voltage_v("48 V.")), 48.0);
        assert_eq!(ok(parse_current_a("13,9 A")), 13.9);
        assert_eq!(ok(parse_current_a("13.9")), 13.9);
        assert_eq!(ok(parse_current_a("500 mA")), 0.5);
        assert!(parse_voltage_v("220/380 V").is_err());
        assert!(parse_current_a("13,9 V").is_err());
    }

    #[test]
    fn percentages_and_fractions() {
        assert_eq!(ok(parse_percent("21,3%")), 21.3);
        assert_eq!(ok(parse_percent("21,3 %")), 21.3);
        assert_eq!(ok(parse_percent("21.3")), 21.3);
        assert_eq!(ok(parse_percent("0,213")), 21.3);
        assert_eq!(ok(parse_percent("0.2125")), 21.25);
        assert_eq!(ok(parse_percent("0,5%")), 0.5);
        assert_eq!(ok(parse_percent("1")), 100.0);
        assert_eq!(ok(parse_percent("98,6")), 98.6);
        assert_eq!(ok(parse_percent("0")), 0.0);
        assert!(parse_percent("21,3 W").is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(parse_int("1.200"), Ok(1200));
        assert_eq!(parse_int("1,200"), Ok(1200));
        assert_eq!(parse_int("12 un"), Ok(12));
        assert_eq!(parse_int("12 unid."), Ok(12));
        assert_eq!(parse_int("10 anos"), Ok(10));
        assert_eq!(parse_int("12,00"), Ok(12));
        assert_eq!(parse_int("-5"), Ok(-5));
        assert_eq!(parse_int("1.234.567"), Ok(1_234_567));
        assert_eq!(parse_int("12 peças"), Ok(12));
        assert_eq!(parse_int("12,5"), Err(ValueError::NotWhole));
        assert!(parse_int("99999999999999999999").is_err());
        assert!(parse_int("dez").is_err());
        assert_eq!(parse_warranty_years("120 meses"), Ok(10));
        assert_eq!(parse_warranty_years("12 anos"), Ok(12));
        assert_eq!(parse_warranty_years("5"), Ok(5));
        assert!(parse_warranty_years("18 meses").is_err());
        assert!(parse_warranty_years("5 W").is_err());
    }

    #[test]
    fn phases() {
        for (s, n) in [
            ("1", 1),
            ("3", 3),
            ("2", 2),
            ("mono", 1),
            ("Monofásico", 1),
            ("MONOFÁSICA", 1),
            ("bifásico", 2),
            ("Trifásico", 3),
            ("tri", 3),
            ("3F", 3),
            ("3~", 3),
            ("1 fase", 1),
            ("3 fases", 3),
            ("single-phase", 1),
            ("three-phase", 3),
            ("Trifásico 380V", 3),
            ("Trifásico 220/380", 3),
            ("trifa\u{301}sico", 3),
        ] {
            assert_eq!(parse_phases(s), Ok(n), "{s}");
        }
        for bad in ["0", "4", "quatro", "", "fase", "mono tri", "220V"] {
            assert!(parse_phases(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn style_inference_needs_unanimous_evidence() {
        assert_eq!(decimal_evidence("49,5"), Some(DecimalStyle::Comma));
        assert_eq!(decimal_evidence("R$ 1.234,56"), Some(DecimalStyle::Comma));
        assert_eq!(decimal_evidence("1,234.56"), Some(DecimalStyle::Dot));
        assert_eq!(decimal_evidence("49.5 V"), Some(DecimalStyle::Dot));
        assert_eq!(decimal_evidence("1.500"), None);
        assert_eq!(decimal_evidence("550"), None);
        assert_eq!(infer_style(["1.500", "49,5"]), DecimalStyle::Comma);
        assert_eq!(infer_style(["1.500", "49.5"]), DecimalStyle::Dot);
        assert_eq!(infer_style(["1.500", "550"]), DecimalStyle::Auto);
        assert_eq!(infer_style(["49.5", "49,5"]), DecimalStyle::Auto);
    }

    #[test]
    fn folding() {
        assert_eq!(fold(" Descrição "), "descricao");
        assert_eq!(fold("PREÇO"), "preco");
        assert_eq!(fold("Eficiência"), "eficiencia");
        assert_eq!(fold("Nº"), "no");
        assert_eq!(fold("Pote\u{302}ncia"), "potencia");
    }

    /// Random strings over the characters that drive the lexer's decisions:
    /// none may panic, and every success must be a finite number.
    #[test]
    fn random_cells_never_panic() {
        let alphabet: Vec<&str> = vec![
            "0", "1", "5", "9", ".", ",", " ", "\u{a0}", "-", "+", "\u{2212}", "e", "E", "R$",
            "BRL", "kW", "W", "V", "A", "%", "mono", "tri", "anos", "meses", "é", "€", "$",
            "\u{301}", "\u{ff10}", "\t",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_cafe);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..12);
            let s: String = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            for r in [
                parse_decimal(&s),
                parse_price_brl(&s),
                parse_power_w(&s),
                parse_voltage_v(&s),
                parse_current_a(&s),
                parse_percent(&s),
                DecimalStyle::Dot.parse_decimal(&s),
            ]
            .into_iter()
            .flatten()
            {
                assert!(r.is_finite(), "{s:?} → {r}");
            }
            let _ = parse_int(&s);
            let _ = parse_warranty_years(&s);
            let _ = parse_phases(&s);
            let _ = decimal_evidence(&s);
        }
    }
}
