//! Brazilian reais on paper: `R$ 1.234,56`, written and read back. The
//! verifier reads every price an answer states with [`prices_in`], so the
//! two directions must agree to the centavo.

/// An amount in centavos, the unit prices are compared in.
pub fn centavos(brl: f64) -> i64 {
    (brl * 100.0).round() as i64
}

/// `1234.5` → `R$ 1.234,50`.
pub fn brl(value: f64) -> String {
    let cents = centavos(value);
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let whole = (cents / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}R$ {grouped},{:02}", cents % 100)
}

/// A number the Brazilian way, with up to `decimals` places and no
/// trailing zeros: `22.5` → `22,5`, `1500.0` → `1.500`.
pub fn number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let frac = frac.trim_end_matches('0');
    let negative = int.starts_with('-');
    let digits = int.trim_start_matches('-');
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    let sign = if negative { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped},{frac}")
    }
}

/// Every price written in `text` as `R$ …`, in centavos, with its byte
/// span. Reads the Brazilian form (`R$ 1.234,56`, `R$1234,56`, `R$ 900`)
/// and the English one a model may write (`R$ 1,234.56`, `R$ 1234.56`).
pub fn prices_in(text: &str) -> Vec<(i64, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("R$") {
        let start = from + at;
        let mut i = start + 2;
        let bytes = text.as_bytes();
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == 0xc2 || bytes[i] == 0xa0) {
            i += 1;
        }
        let num_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.' || bytes[i] == b',')
        {
            i += 1;
        }
        let raw = text[num_start..i].trim_end_matches(['.', ',']);
        let end = num_start + raw.len();
        if let Some(value) = parse_amount(raw) {
            out.push((value, start..end));
        }
        from = end.max(start + 2);
    }
    out
}

/// `1.234,56` / `1,234.56` / `1234` → centavos. The last separator
/// followed by one or two digits is the decimal one.
fn parse_amount(raw: &str) -> Option<i64> {
    if raw.is_empty() {
        return None;
    }
    let last_sep = raw.rfind(['.', ',']);
    let (int, frac) = match last_sep {
        Some(p) if raw.len() - p - 1 <= 2 => (&raw[..p], &raw[p + 1..]),
        _ => (raw, ""),
    };
    let int: String = int.chars().filter(char::is_ascii_digit).collect();
    let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    int.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reais_the_brazilian_way() {
        assert_eq!(brl(1234.56), "R$ 1.234,56");
        assert_eq!(brl(782.13), "R$ 782,13");
        assert_eq!(brl(1_033.2), "R$ 1.033,20");
        assert_eq!(brl(1_234_567.0), "R$ 1.234.567,00");
        assert_eq!(brl(0.5), "R$ 0,50");
        assert_eq!(number(22.5, 2), "22,5");
        assert_eq!(number(1500.0, 1), "1.500");
    }

    #[test]
    fn reads_back_what_it_writes_and_what_models_write() {
        for v in [0.5, 9.99, 782.13, 1033.21, 123_456.78] {
            let found = prices_in(&format!("custa {} à vista", brl(v)));
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].0, centavos(v));
        }
        let text = "R$1.234,56, R$ 1,234.56, R$ 900 e R$ 12,5.";
        let found: Vec<i64> = prices_in(text).into_iter().map(|p| p.0).collect();
        assert_eq!(found, vec![123_456, 123_456, 90_000, 1_250]);
        assert!(prices_in("R$ ").is_empty());
    }
}
