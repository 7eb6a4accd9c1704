//! The answer with no model at all: Portuguese written from the sources.
//! Products with their price, stock and the specs that tell them apart;
//! the passages of norms and guides that share most words with the
//! question, each with its citation; and an honest "não encontrei".
//!
//! Deterministic and fast, and every claim in it is copied from a source,
//! so it is also what answers when a model fails or its answer does not
//! survive the verifier.

use serde_json::Value;

use super::money::{brl, number};
use super::question::{Question, Topic};
use super::sources::Source;
use crate::text::fold_to_ascii;

/// Sentences quoted from one document passage.
const SENTENCES_PER_PASSAGE: usize = 3;

/// Writes the answer to `q` from `sources`. `missing` are the question's
/// words no knowledge base knows (names of things Helio does not have).
pub fn answer(q: &Question, sources: &[Source], missing: &[String]) -> String {
    let mut out = Vec::new();
    if !missing.is_empty() {
        out.push(format!(
            "Não encontrei {} nos catálogos nem nas bases de conhecimento.",
            quoted_list(missing)
        ));
    }
    if sources.is_empty() {
        if missing.is_empty() {
            out.push(
                "Não encontrei nos catálogos nem nas bases de conhecimento informação sobre isso."
                    .to_string(),
            );
        }
        out.push(
            "Posso ajudar com produtos (módulos, inversores, estruturas, cabos, proteções), preços e \
             disponibilidade, normas e homologação, dimensionamento e condições comerciais."
                .to_string(),
        );
        return out.join(" ");
    }
    let products: Vec<&Source> = sources.iter().filter(|s| s.is_product()).collect();
    if !products.is_empty() {
        out.push(products_paragraph(q, &products));
    }
    for s in sources.iter().filter(|s| !s.is_product()) {
        out.push(passage(q, s));
    }
    out.join("\n\n")
}

fn quoted_list(words: &[String]) -> String {
    let quoted = words;
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].to_string(),
        n => format!("{} nem {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

fn products_paragraph(q: &Question, products: &[&Source]) -> String {
    let in_stock = products
        .iter()
        .filter(|p| p.available == Some(true))
        .count();
    let head = match (in_stock, products.len()) {
        (0, _) => {
            "Encontrei estes produtos no catálogo, mas nenhum tem estoque no momento:".to_string()
        }
        (_, 1) => "Encontrei este produto no catálogo:".to_string(),
        (_, n) => format!("Encontrei {n} produtos no catálogo:"),
    };
    let mut lines = vec![head];
    for p in products {
        lines.push(product_line(q, p));
    }
    lines.join("\n")
}

/// `[1] Inversor … (SKU …, distribuidora …): R$ 1.234,56, em estoque (12 un.). 5 kW, monofásico…`
fn product_line(q: &Question, p: &Source) -> String {
    let name = without_amounts(p.product.as_deref().unwrap_or("produto"));
    let name = name.as_str();
    let mut ids = Vec::new();
    if let Some(sku) = &p.sku {
        ids.push(format!("SKU {sku}"));
    }
    if let Some(model) = &p.model {
        if !name.contains(model.as_str()) {
            ids.push(format!("modelo {model}"));
        }
    }
    if let Some(d) = &p.distributor {
        ids.push(format!("distribuidor {d}"));
    }
    let mut line = format!("[{}] {name}", p.n);
    if !ids.is_empty() {
        line.push_str(&format!(" ({})", ids.join(", ")));
    }
    let price = p
        .price_brl
        .map(brl)
        .unwrap_or_else(|| "preço não informado".into());
    let stock = match (p.available, p.payload.get("stock").and_then(Value::as_f64)) {
        (Some(true), Some(n)) => format!("em estoque ({} un.)", number(n, 0)),
        (Some(true), None) => "disponível".to_string(),
        _ => "sem estoque no momento".to_string(),
    };
    line.push_str(&format!(": {price}, {stock}."));
    let specs = specs(q, p);
    if !specs.is_empty() {
        line.push_str(&format!(" {}.", specs.join(", ")));
    }
    line
}

/// A catalog name with any `R$ …` amount in it blanked: a price comes
/// from the price column, never from text a distributor typed into a name.
fn without_amounts(name: &str) -> String {
    let mut out = name.to_string();
    for (_, span) in super::money::prices_in(name).into_iter().rev() {
        out.replace_range(span, "R$ …");
    }
    out
}

/// The specs that tell products apart, in the catalog's units.
fn specs(q: &Question, p: &Source) -> Vec<String> {
    let f = |k: &str| p.payload.get(k).and_then(Value::as_f64);
    let mut out = Vec::new();
    let power = |w: f64| {
        if w >= 1000.0 {
            format!("{} kW", number(w / 1000.0, 2))
        } else {
            format!("{} W", number(w, 0))
        }
    };
    if let Some(w) = f("power_w") {
        out.push(power(w));
    }
    if let Some(w) = f("ac_power_w") {
        out.push(format!("{} CA", power(w)));
    }
    if let Some(e) = f("efficiency_pct") {
        out.push(format!("eficiência {}%", number(e, 1)));
    }
    if let Some(ph) = f("phases") {
        out.push(
            match ph as u32 {
                1 => "monofásico",
                2 => "bifásico",
                _ => "trifásico",
            }
            .to_string(),
        );
    }
    if let (Some(lo), Some(hi)) = (f("mppt_min_v"), f("mppt_max_v")) {
        out.push(format!("MPPT {}–{} V", number(lo, 0), number(hi, 0)));
    }
    if let Some(v) = f("voc") {
        out.push(format!("Voc {} V", number(v, 2)));
    }
    if let Some(g) = f("warranty_years") {
        out.push(format!("garantia {} anos", number(g, 0)));
    }
    if q.phases.is_none() && out.len() > 5 {
        out.truncate(5);
    }
    out
}

/// A document passage: its most relevant sentences, cited.
fn passage(q: &Question, s: &Source) -> String {
    let title = s.doc.as_deref().unwrap_or("documento");
    let id = s.doc_id.as_deref().unwrap_or("");
    let quote = match s.payload.get("row").and_then(Value::as_object) {
        Some(row) => table_row(row),
        None => key_sentences(q, &s.chunk, SENTENCES_PER_PASSAGE),
    };
    let caveat = match s.topic {
        Some(Topic::Sales) => " (política comercial de exemplo)",
        Some(Topic::Tariffs) => " (tarifa ilustrativa)",
        _ => "",
    };
    if id.is_empty() {
        format!("Segundo «{title}» [{}]{caveat}: {quote}", s.n)
    } else {
        format!("Segundo «{title}» (`{id}`) [{}]{caveat}: {quote}", s.n)
    }
}

/// A table row (a tariff, a past quote) as one line: `campo: valor`,
/// numbers written the Brazilian way, amounts in reais.
fn table_row(row: &serde_json::Map<String, Value>) -> String {
    let fields: Vec<String> = row
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let key = k.replace('_', " ");
            let value = match v {
                Value::Number(n) => {
                    let x = n.as_f64().unwrap_or_default();
                    if k.ends_with("_brl") || k.starts_with("valor") {
                        brl(x)
                    } else {
                        number(x, 4)
                    }
                }
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{key}: {value}")
        })
        .collect();
    format!("{}.", fields.join("; "))
}

/// The `n` sentences of `text` sharing most words with the question, in
/// their original order. The chunk's first line (title — heading) is left
/// out: the citation already names it.
pub fn key_sentences(q: &Question, text: &str, n: usize) -> String {
    let body = match text.split_once("\n\n") {
        Some((_, rest)) if !rest.trim().is_empty() => rest,
        _ => text,
    };
    let words: Vec<String> = q
        .folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() >= 4)
        .map(stem)
        .collect();
    let sentences = split_sentences(body);
    let mut scored: Vec<(usize, usize)> = sentences
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let folded = fold_to_ascii(s).to_lowercase();
            let hits = words.iter().filter(|w| folded.contains(w.as_str())).count();
            (i, hits)
        })
        .collect();
    scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<usize> = scored.iter().take(n).map(|(i, _)| *i).collect();
    chosen.sort_unstable();
    chosen
        .iter()
        .map(|&i| sentences[i].trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A crude Portuguese stem for matching: the first five letters, so
/// "homologação" and "homologar" meet.
fn stem(w: &str) -> String {
    w.chars().take(5).collect()
}

/// Sentences and list items of a passage, markdown bullets removed.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches(['-', '*', '#']).trim();
        if line.is_empty() {
            continue;
        }
        let mut start = 0;
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        for (k, &(i, c)) in chars.iter().enumerate() {
            let next = chars.get(k + 1).map(|&(_, c)| c);
            let after = chars.get(k + 2).map(|&(_, c)| c);
            let ends = matches!(c, '.' | '?' | '!' | ';')
                && next == Some(' ')
                && after.is_some_and(|c| c.is_uppercase() || c == '`' || c == '(');
            if ends {
                out.push(line[start..=i].to_string());
                start = i + 1;
            }
        }
        let rest = line[start..].trim();
        if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_ends_not_at_decimals() {
        let s = split_sentences("- A tensão é 1.500 V. Use DPS classe II.\n- Cite a NBR 16690.");
        assert_eq!(
            s,
            vec![
                "A tensão é 1.500 V.",
                "Use DPS classe II.",
                "Cite a NBR 16690."
            ]
        );
    }

    #[test]
    fn nothing_found_says_so() {
        let q = Question::read("Vocês vendem a bateria Tesla Powerwall?");
        let a = answer(&q, &[], &["«Tesla»".into(), "«Powerwall»".into()]);
        assert!(
            a.starts_with("Não encontrei «Tesla» nem «Powerwall»"),
            "{a}"
        );
    }
}
