//! ASCII folding: accented and other non-ASCII Latin letters replaced by ASCII ("ação" -> "acao"), so
//! that a query typed without accents finds text written with them.
//!
//! Two tables, one per user, because each reproduces a behaviour already relied on:
//! - [`fold_to_ascii`], for BM25: Qdrant's table (Lucene's ASCIIFoldingFilter mapping) in
//!   `ascii_folding.tsv`, so BM25 vectors are Qdrant's bit for bit;
//! - [`fold_char`], for the full-text index: a shorter table of Latin letters with diacritics, one
//!   character to one character.

use std::sync::OnceLock;

/// Qdrant's folding table (Lucene's ASCIIFoldingFilter mapping), in `ascii_folding.tsv`:
/// `replacement<TAB>code points in hex`.
const ASCII_FOLDING_TABLE: &str = include_str!("ascii_folding.tsv");

/// The parsed table, sorted by character for binary search.
fn ascii_folding_table() -> &'static [(char, &'static str)] {
    static TABLE: OnceLock<Vec<(char, &'static str)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = Vec::new();
        for line in ASCII_FOLDING_TABLE.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (replacement, code_points) = line
                .split_once('\t')
                .expect("ascii_folding.tsv: each line is replacement<TAB>code points");
            for hex in code_points.split(' ') {
                let code = u32::from_str_radix(hex, 16).expect("ascii_folding.tsv: hex code point");
                let c = char::from_u32(code).expect("ascii_folding.tsv: valid code point");
                table.push((c, replacement));
            }
        }
        table.sort_unstable_by_key(|&(c, _)| c);
        table
    })
}

/// Replaces every character found in Qdrant's folding table; keeps the others.
pub fn fold_to_ascii(text: &str) -> String {
    let table = ascii_folding_table();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        match table.binary_search_by_key(&c, |&(from, _)| from) {
            Ok(i) => out.push_str(table[i].1),
            Err(_) => out.push(c),
        }
    }
    out
}

/// The full-text index's folding of one character: Latin letters with diacritics to their base
/// letter, everything else as it is.
pub fn fold_char(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => 'A',
        'ç' | 'ć' | 'č' => 'c',
        'Ç' | 'Ć' | 'Č' => 'C',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => 'e',
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ę' | 'Ě' => 'E',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' => 'I',
        'ñ' | 'ń' | 'ň' => 'n',
        'Ñ' | 'Ń' | 'Ň' => 'N',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ő' => 'O',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű' => 'U',
        'ý' | 'ÿ' => 'y',
        'Ý' => 'Y',
        'ś' | 'š' => 's',
        'Ś' | 'Š' => 'S',
        'ź' | 'ż' | 'ž' => 'z',
        'Ź' | 'Ż' | 'Ž' => 'Z',
        'ł' => 'l',
        'Ł' => 'L',
        'ř' => 'r',
        'Ř' => 'R',
        'ť' => 't',
        'Ť' => 'T',
        'ď' => 'd',
        'Ď' => 'D',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_table_examples() {
        assert_eq!(
            fold_to_ascii("ação café jalapeño Über"),
            "acao cafe jalapeno Uber"
        );
        assert_eq!(fold_to_ascii("Æsop straße Łódź ①"), "AEsop strasse Lodz 1");
        assert_eq!(fold_to_ascii("日本語"), "日本語");
    }

    #[test]
    fn index_folding_is_one_char_to_one() {
        let fold = |s: &str| s.chars().map(fold_char).collect::<String>();
        assert_eq!(fold("Ação Łódź"), "Acao Lodz");
        // Not in this table: kept.
        assert_eq!(fold("Æ ß 日"), "Æ ß 日");
    }
}
