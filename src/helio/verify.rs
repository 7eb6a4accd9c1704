//! The grounding verifier every answer passes before it leaves, whatever
//! wrote it: no product, price or norm that the sources do not hold.
//!
//! The answer is checked sentence by sentence. A sentence is removed when
//! * it names a product code (SKU or model) that no source product has, or
//!   names one that is out of stock without saying so;
//! * it states a price (`R$ …`) that is not, to the centavo, a price the
//!   sources hold: the named product's own when the sentence names one,
//!   else any source product's or an amount written in a source passage;
//! * it cites a norm or act (NBR, REN, Lei, Portaria, IEC, Resolução)
//!   whose number appears in no regulatory or technical source.
//!
//! Sentence by sentence also lets a streamed answer be checked as it is
//! written: [`Verifier::sentence`] is called with each finished sentence.

use serde::Serialize;

use super::money::prices_in;
use super::question::Topic;
use super::sources::Source;
use crate::text::fold_to_ascii;

/// A claim taken out of an answer, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Removed {
    pub claim: String,
    pub reason: String,
}

/// Checks sentences against one answer's sources.
pub struct Verifier<'s> {
    sources: &'s [Source],
    /// Norm numbers (digits only) written in regulatory or technical
    /// passages.
    norms: Vec<String>,
    /// Amounts written in the passages, in centavos.
    passage_amounts: Vec<i64>,
    /// Codes written in the passages (a past quote's module, a
    /// datasheet's model): quoting them is not inventing a product.
    passage_codes: Vec<String>,
    pub removed: Vec<Removed>,
}

impl<'s> Verifier<'s> {
    pub fn new(sources: &'s [Source]) -> Verifier<'s> {
        let mut norms = Vec::new();
        let mut passage_amounts = Vec::new();
        let mut passage_codes = Vec::new();
        for s in sources {
            if !s.is_product() {
                passage_codes.extend(codes_in(&format!(
                    "{} {}",
                    s.doc.as_deref().unwrap_or(""),
                    s.chunk
                )));
            }
            if matches!(s.topic, Some(Topic::Regulatory | Topic::Technical)) {
                let text = format!("{} {}", s.doc.as_deref().unwrap_or(""), s.chunk);
                norms.extend(norm_mentions(&text).into_iter().map(|(_, n)| n));
            }
            if !s.is_product() {
                passage_amounts.extend(prices_in(&s.chunk).into_iter().map(|(c, _)| c));
                // A table row's amounts are numbers in `…_brl` columns.
                if let Some(row) = s.payload.get("row").and_then(|r| r.as_object()) {
                    passage_amounts.extend(
                        row.iter()
                            .filter(|(k, _)| k.ends_with("_brl") || k.starts_with("valor"))
                            .filter_map(|(_, v)| v.as_f64())
                            .map(super::money::centavos),
                    );
                }
            }
        }
        Verifier {
            sources,
            norms,
            passage_amounts,
            passage_codes,
            removed: Vec::new(),
        }
    }

    /// Checks a whole answer: the sentences that pass, joined as they
    /// were written.
    pub fn answer(&mut self, text: &str) -> String {
        let mut kept = String::new();
        for piece in sentence_pieces(text) {
            if self.sentence(piece.trim()) {
                kept.push_str(piece);
            }
        }
        kept.trim().to_string()
    }

    /// Checks an answer line by line: a line with one claim that fails
    /// goes whole. For the extractive answer, whose lines are a product
    /// or a quoted passage each: half a quotation would mislead.
    pub fn lines(&mut self, text: &str) -> String {
        let mut kept = Vec::new();
        for line in text.split('\n') {
            if self.sentence(line.trim()) {
                kept.push(line);
            }
        }
        kept.join("\n").trim().to_string()
    }

    /// Whether `sentence` may stay; if not, why is recorded.
    pub fn sentence(&mut self, sentence: &str) -> bool {
        if sentence.is_empty() {
            return true;
        }
        match self.problem(sentence) {
            None => true,
            Some(reason) => {
                self.removed.push(Removed {
                    claim: sentence.to_string(),
                    reason,
                });
                false
            }
        }
    }

    fn problem(&self, sentence: &str) -> Option<String> {
        let products = self.sources.iter().filter(|s| s.is_product());
        let codes = codes_in(sentence);
        // A SKU names one product; a model may name several (one per
        // distributor), and the sentence is about the one it also names
        // by SKU, when it does.
        let by_sku: Vec<&Source> = products
            .clone()
            .filter(|p| {
                p.sku
                    .as_ref()
                    .is_some_and(|s| codes.iter().any(|c| c.eq_ignore_ascii_case(s)))
            })
            .collect();
        let mut named: Vec<&Source> = Vec::new();
        for code in codes {
            let matching: Vec<&Source> = products.clone().filter(|s| s.named_by(&code)).collect();
            let quoted = self
                .passage_codes
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&code));
            if matching.is_empty() && quoted {
                continue;
            }
            if matching.is_empty() {
                return Some(format!("product `{code}` is not among the sources"));
            }
            named.extend(matching);
        }
        let folded = fold_to_ascii(sentence).to_lowercase();
        let says_unavailable = ["sem estoque", "indisponivel", "esgotad", "nao ha estoque"]
            .iter()
            .any(|w| folded.contains(w));
        if !by_sku.is_empty() {
            named = by_sku;
        }
        let all_out = !named.is_empty() && named.iter().all(|p| p.available != Some(true));
        if let Some(p) = named
            .iter()
            .find(|p| p.available != Some(true))
            .filter(|_| all_out)
        {
            if !says_unavailable {
                return Some(format!(
                    "product `{}` is out of stock",
                    p.sku.as_deref().unwrap_or(&p.id)
                ));
            }
        }
        for (cents, span) in prices_in(sentence) {
            let ok = if named.is_empty() {
                products.clone().any(|p| p.prices().contains(&cents))
                    || self.passage_amounts.contains(&cents)
            } else {
                named.iter().any(|p| p.prices().contains(&cents))
            };
            if !ok {
                return Some(format!(
                    "price `{}` is not a price the sources hold{}",
                    &sentence[span],
                    if named.is_empty() {
                        ""
                    } else {
                        " for that product"
                    }
                ));
            }
        }
        for (label, number) in norm_mentions(sentence) {
            if !self.norms.contains(&number) {
                return Some(format!(
                    "`{label}` is not in the regulatory or technical sources"
                ));
            }
        }
        None
    }
}

/// The answer cut after each sentence end (and line break), each piece
/// keeping its trailing separator so kept pieces rejoin exactly.
pub fn sentence_pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let end = match b {
            b'\n' => true,
            b'.' | b'?' | b'!' => bytes.get(i + 1).is_some_and(|&n| n == b' ' || n == b'\n'),
            _ => false,
        };
        if end {
            out.push(&text[start..=i]);
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Where a finished sentence ends in a growing text: the byte after its
/// last sentence end, if any. Streaming uses it to cut what is complete.
pub fn complete_prefix(text: &str) -> usize {
    let pieces = sentence_pieces(text);
    let mut len = 0;
    for (i, p) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let finished = p.ends_with('\n')
            || p.ends_with(". ")
            || p.ends_with("? ")
            || p.ends_with("! ")
            || p.ends_with('.') && !last;
        if last && !finished {
            break;
        }
        len += p.len();
    }
    len
}

/// Code-like tokens: letters and digits joined by `-` or `/`
/// ("ST-PAN-1002", "CS6W-550MS", "HMS-2000-4T"), the way SKUs and models
/// are written. Norm numbers ("NBR 16690") and dates are not codes.
pub fn codes_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ',' | ';' | '(' | ')' | '[' | ']' | '`' | '«' | '»' | '"' | '\''
            )
    }) {
        let token = raw.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if token.len() < 5 || !token.is_ascii() {
            continue;
        }
        let digits = token.chars().filter(char::is_ascii_digit).count();
        let letters = token.chars().filter(char::is_ascii_alphabetic).count();
        let joined = token.contains('-') || token.contains('/');
        // "16149/16150", "2022-01-06": numbers, not codes.
        // Document ids (`reg-abnt-nbr-16274-comissionamento`) are lowercase;
        // SKUs and models are written with capitals.
        let capital = token.chars().any(|c| c.is_ascii_uppercase());
        if digits > 0 && letters >= 2 && joined && capital && !is_unit_range(token) {
            out.push(token.to_string());
        }
    }
    out
}

/// "200-1000V", "16-60V": a range with a unit, not a code.
fn is_unit_range(token: &str) -> bool {
    let lower = token.to_ascii_lowercase();
    let body = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    body.len() + 3 >= lower.len()
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '.' || c == ',')
}

/// Norms and acts cited in `text`: `(as written, digits of its number)`.
/// "NBR 16690", "ABNT NBR 5410", "REN 1.000/2021", "Resolução Normativa
/// nº 1.059", "Lei 14.300", "Lei nº 14.300/2022", "Portaria 140",
/// "IEC 62116".
pub fn norm_mentions(text: &str) -> Vec<(String, String)> {
    const KINDS: &[&str] = &[
        "nbr",
        "ren",
        "lei",
        "portaria",
        "iec",
        "resolucao normativa",
        "resolucao",
        "nr",
    ];
    let folded = fold_to_ascii(text).to_lowercase();
    let mut out = Vec::new();
    for kind in KINDS {
        let mut from = 0;
        while let Some(at) = folded[from..].find(kind) {
            let start = from + at;
            from = start + kind.len();
            let before_ok = start == 0 || !folded.as_bytes()[start - 1].is_ascii_alphanumeric();
            let after = &folded[from..];
            if !before_ok || after.starts_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            // Skip the words that sit between an act's kind and its number
            // ("nº", "n.", "ANEEL", "Inmetro"), and nothing else: "a lei de
            // 2022" names no act.
            let mut rest = after.trim_start_matches([' ', ':']);
            loop {
                let word_end = rest.find([' ', ':']).unwrap_or(rest.len());
                let word = &rest[..word_end];
                let filler = matches!(
                    word,
                    "n" | "no"
                        | "n."
                        | "no."
                        | "nº"
                        | "n°"
                        | "n.º"
                        | "n.o"
                        | "aneel"
                        | "inmetro"
                        | "abnt"
                        | "federal"
                        | "complementar"
                );
                if !filler || word_end == rest.len() {
                    break;
                }
                rest = rest[word_end..].trim_start_matches([' ', ':']);
            }
            let rest = rest
                .strip_prefix("nº")
                .or_else(|| rest.strip_prefix("n°"))
                .unwrap_or(rest);
            let number: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .filter(char::is_ascii_digit)
                .collect();
            if number.len() >= 2 {
                let label_end =
                    (from + (after.len() - rest.len()) + number.len() + 2).min(folded.len());
                let label = text
                    .get(start..label_end)
                    .unwrap_or(&folded[start..label_end])
                    .trim()
                    .to_string();
                out.push((label, number));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn product(n: usize, sku: &str, price: f64, stock: i64) -> Source {
        let payload = json!({"sku": sku, "name": format!("Produto {sku}"), "price_brl": price, "stock": stock, "available": true});
        Source {
            n,
            kind: "catalog_kb",
            id: format!("id-{n}"),
            product: Some(format!("Produto {sku}")),
            sku: Some(sku.into()),
            model: None,
            manufacturer: None,
            distributor: None,
            price_brl: Some(price),
            available: Some(stock > 0),
            doc: None,
            doc_id: None,
            chunk: String::new(),
            relevance: 0.9,
            payload: payload.as_object().unwrap().clone(),
            topic: Some(Topic::Products),
        }
    }

    fn norm_doc(n: usize, text: &str) -> Source {
        Source {
            topic: Some(Topic::Regulatory),
            kind: "regulatory_kb",
            product: None,
            sku: None,
            price_brl: None,
            available: None,
            doc: Some("Lei 14.300/2022 — marco legal".into()),
            doc_id: Some("reg-lei-14300".into()),
            chunk: text.into(),
            payload: Default::default(),
            ..product(n, "X", 0.0, 0)
        }
    }

    #[test]
    fn invented_sku_wrong_price_and_unknown_norm_are_removed() {
        let sources = vec![
            product(1, "ST-PAN-1002", 782.13, 12),
            product(2, "SN-10343", 11707.52, 0),
            norm_doc(
                3,
                "A NBR 16690 trata do lado CC. A REN 1.000/2021 regula a conexão.",
            ),
        ];
        let mut v = Verifier::new(&sources);
        let answer = "O painel ST-PAN-1002 custa R$ 782,13 [1]. \
                      O ST-PAN-9999 custa R$ 500,00. \
                      O ST-PAN-1002 sai por R$ 700,00. \
                      O SN-10343 é ótimo. \
                      O SN-10343 está sem estoque. \
                      Siga a NBR 16690 [3] e a REN 1.000 [3]. \
                      Siga também a NBR 99999.";
        let kept = v.answer(answer);
        assert_eq!(
            kept,
            "O painel ST-PAN-1002 custa R$ 782,13 [1]. O SN-10343 está sem estoque. \
             Siga a NBR 16690 [3] e a REN 1.000 [3]."
        );
        let reasons: Vec<&str> = v.removed.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].contains("ST-PAN-9999"));
        assert!(reasons[1].contains("R$ 700,00"));
        assert!(reasons[2].contains("out of stock"));
        assert!(reasons[3].contains("NBR 99999"));
    }

    #[test]
    fn norms_in_their_usual_spellings() {
        let found: Vec<String> = norm_mentions(
            "Lei nº 14.300/2022, Resolução Normativa ANEEL nº 1.059/2023, ABNT NBR 5410, Portaria Inmetro 140, IEC 62116",
        )
        .into_iter()
        .map(|(_, n)| n)
        .collect();
        for want in ["14300", "1059", "5410", "140", "62116"] {
            assert!(found.contains(&want.to_string()), "{want} in {found:?}");
        }
        assert!(norm_mentions("a relação é importante").is_empty());
    }

    #[test]
    fn codes_are_skus_not_numbers() {
        assert_eq!(
            codes_in(
                "O CS6W-550MS (ST-PAN-1002) e a NBR 16149/16150, MPPT 200-1000V, em 2022-01-06."
            ),
            vec!["CS6W-550MS", "ST-PAN-1002"]
        );
    }

    #[test]
    fn streaming_cuts_only_finished_sentences() {
        assert_eq!(complete_prefix("Uma frase. Outra"), "Uma frase.".len());
        assert_eq!(complete_prefix("Uma frase"), 0);
        assert_eq!(complete_prefix("Custa R$ 1.234"), 0);
        assert_eq!(complete_prefix("Linha\nmais"), "Linha\n".len());
    }
}
