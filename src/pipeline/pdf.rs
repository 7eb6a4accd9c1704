//! Text out of PDF datasheets for the knowledge bases.
//!
//! `pdf-extract` lays out each page's glyphs into lines (it places spaces
//! and line breaks from glyph positions, which a datasheet's tables need);
//! this module turns those lines back into paragraphs: lines wrapped by
//! the layout are joined, a word hyphenated across a line break is mended,
//! runs of spaces collapse, and a page break becomes a paragraph break.
//! It also remembers where each page starts, so a chunk can say its page.
//!
//! `pdf-extract` and `lopdf` panic on some malformed files (a page without
//! a MediaBox, a missing content stream), so extraction runs under
//! `catch_unwind` and a panic becomes an error like any other.

use std::collections::HashSet;

/// A PDF's text and what the knowledge base takes from its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct PdfText {
    /// The information dictionary's `Title`, whitespace collapsed, unless
    /// it is an editor's placeholder (`Microsoft Word - ficha.docx`).
    pub title: Option<String>,
    /// The modification (else creation) date, as `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Every page's paragraphs, pages separated by a blank line.
    pub text: String,
    /// Byte offset in `text` where each page starts, page 1 first.
    pub page_starts: Vec<usize>,
}

impl PdfText {
    /// The page (from 1) that byte `at` of `text` is on.
    pub fn page_at(&self, at: usize) -> u32 {
        self.page_starts.partition_point(|&s| s <= at).max(1) as u32
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("not a PDF file (no %PDF- header)")]
    NotPdf,
    #[error("encrypted PDF: it needs a password")]
    Encrypted,
    #[error("unreadable PDF (corrupt or truncated?): {0}")]
    Unreadable(String),
    #[error("the PDF has no pages")]
    NoPages,
    #[error("page {page}: {reason}")]
    Page { page: u32, reason: String },
    #[error("no extractable text (scanned image?)")]
    NoText,
    #[error("the PDF reader failed on this file (malformed PDF?): {0}")]
    Panicked(String),
}

/// The text of a PDF, page by page, normalised into paragraphs.
pub fn extract(bytes: &[u8]) -> Result<PdfText, PdfError> {
    // The header may follow a little junk, as readers allow.
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(PdfError::NotPdf);
    }
    let (pages, title, date) = std::panic::catch_unwind(|| read(bytes)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        PdfError::Panicked(message)
    })??;
    let words = words_of(&pages);
    let mut text = String::new();
    let mut page_starts = Vec::with_capacity(pages.len());
    for page in &pages {
        let page = normalize_page(page, &words);
        if !text.is_empty() && !page.is_empty() {
            text.push_str("\n\n");
        }
        page_starts.push(text.len());
        text.push_str(&page);
    }
    if !text.chars().any(char::is_alphanumeric) {
        return Err(PdfError::NoText);
    }
    Ok(PdfText {
        title,
        date,
        text,
        page_starts,
    })
}

type Raw = (Vec<String>, Option<String>, Option<String>);

/// Loads the document and lays out every page's text, unnormalised.
fn read(bytes: &[u8]) -> Result<Raw, PdfError> {
    use pdf_extract::{output_doc_page, Document, PlainTextOutput};

    let doc = Document::load_mem(bytes).map_err(|e| PdfError::Unreadable(e.to_string()))?;
    // lopdf opens a file encrypted with an empty user password by itself;
    // one that is still encrypted after loading needs a real password.
    if doc.is_encrypted() && !doc.was_encrypted() {
        return Err(PdfError::Encrypted);
    }
    let numbers: Vec<u32> = doc.get_pages().into_keys().collect();
    if numbers.is_empty() {
        return Err(PdfError::NoPages);
    }
    let mut pages = Vec::with_capacity(numbers.len());
    for page in numbers {
        let mut text = String::new();
        output_doc_page(&doc, &mut PlainTextOutput::new(&mut text), page).map_err(|e| {
            PdfError::Page {
                page,
                reason: e.to_string(),
            }
        })?;
        pages.push(text);
    }
    let info = |key: &[u8]| {
        let dict = doc
            .trailer
            .get(b"Info")
            .and_then(|o| doc.dereference(o))
            .and_then(|(_, o)| o.as_dict())
            .ok()?;
        let value = dict.get(key).and_then(|o| doc.dereference(o)).ok()?.1;
        pdf_extract::decode_text_string(value).ok()
    };
    let title = info(b"Title")
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| real_title(t));
    let date = info(b"ModDate")
        .or_else(|| info(b"CreationDate"))
        .and_then(|d| pdf_date(&d));
    Ok((pages, title, date))
}

/// Whether a `Title` names the document rather than the file it was
/// made from.
fn real_title(title: &str) -> bool {
    let lower = title.to_lowercase();
    let file_name = lower.rsplit_once('.').is_some_and(|(_, ext)| {
        matches!(
            ext,
            "doc" | "docx" | "odt" | "rtf" | "pdf" | "indd" | "xls" | "xlsx" | "ppt" | "pptx"
        )
    });
    !title.is_empty()
        && !file_name
        && !lower.starts_with("microsoft word - ")
        && !matches!(lower.as_str(), "untitled" | "sem título" | "sem titulo")
}

/// `D:20260302120000Z` → `2026-03-02`.
fn pdf_date(raw: &str) -> Option<String> {
    let digits = raw.strip_prefix("D:").unwrap_or(raw).get(..8)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}",
        &digits[..4],
        &digits[4..6],
        &digits[6..8]
    ))
}

/// Every word of the document, lowercased, hyphenated compounds included:
/// what decides whether a hyphen at a line end belongs to the word.
fn words_of(pages: &[String]) -> HashSet<String> {
    pages
        .iter()
        .flat_map(|p| p.split_whitespace())
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// One page's laid-out text as paragraphs separated by a blank line.
/// Within a paragraph, a line joins the one before it when it continues
/// the same sentence: it starts in lower case, or the line before runs to
/// nearly the full width without ending a sentence. List items always
/// start a line.
fn normalize_page(raw: &str, words: &HashSet<String>) -> String {
    let cleaned: String = raw
        .chars()
        .filter_map(|c| match c {
            '\u{c}' => Some('\n'),
            '\r' => None,
            '\n' => Some('\n'),
            c if c.is_whitespace() => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    let lines: Vec<String> = cleaned
        .split('\n')
        .map(|l| {
            l.split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let full = (widest * 7 / 10).max(40);

    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut last_width = 0;
    for line in lines {
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current).replace('\u{ad}', ""));
            }
            continue;
        }
        let width = line.chars().count();
        if current.is_empty() {
            current = line;
        } else {
            join(&mut current, &line, last_width >= full, words);
        }
        last_width = width;
    }
    if !current.is_empty() {
        paragraphs.push(current.replace('\u{ad}', ""));
    }
    paragraphs.join("\n\n")
}

/// Appends `next` to the paragraph `current` as a continuation of its last
/// line, or as a line of its own.
fn join(current: &mut String, next: &str, last_was_full: bool, words: &HashSet<String>) {
    let starts_lower = next.chars().next().is_some_and(char::is_lowercase);
    if !list_item(next) {
        // A word broken across the line: `fotovol-` + `taico`, the
        // Portuguese repeated hyphen of a compound, `curto-` + `-circuito`,
        // or a model name, `JAM72S30-` + `550/MR`.
        let tail = current.trim_end_matches(['-', '\u{ad}']);
        let hyphen = tail.len() < current.len()
            && tail.chars().next_back().is_some_and(char::is_alphanumeric);
        if hyphen {
            if let Some(rest) = next
                .strip_prefix('-')
                .filter(|r| r.starts_with(char::is_alphanumeric))
            {
                current.truncate(tail.len());
                current.push('-');
                current.push_str(rest);
                return;
            }
            if starts_lower {
                let before = tail.rsplit(' ').next().unwrap_or("");
                let before = before.trim_start_matches(|c: char| !c.is_alphanumeric());
                let after = next.split(' ').next().unwrap_or("");
                let after = after.trim_end_matches(|c: char| !c.is_alphanumeric());
                let compound = format!("{before}-{after}").to_lowercase();
                // Keep the hyphen of a compound the document writes
                // whole elsewhere; otherwise it is a syllable break.
                if !words.contains(&compound) {
                    current.truncate(tail.len());
                }
                current.push_str(next);
                return;
            }
            if next.starts_with(char::is_alphanumeric) {
                current.push_str(next);
                return;
            }
        }
        let ends_sentence = current.ends_with(['.', '!', '?', ':', ';']);
        if starts_lower || (last_was_full && !ends_sentence) {
            current.push(' ');
            current.push_str(next);
            return;
        }
    }
    current.push('\n');
    current.push_str(next);
}

/// `- item`, `• item`, `1. item`, `a) item`.
fn list_item(line: &str) -> bool {
    let mut chars = line.chars();
    match chars.next() {
        Some('-' | '•' | '·' | '–' | '—' | '*' | '▪' | '■') => {
            chars.next().is_some_and(char::is_whitespace)
        }
        Some(c) if c.is_ascii_alphanumeric() => {
            let marker = line
                .find(['.', ')'])
                .filter(|&i| i <= 3)
                .map(|i| &line[..i]);
            marker.is_some_and(|m| {
                m.chars().all(|c| c.is_ascii_digit()) || m.chars().all(|c| c.is_ascii_lowercase())
            }) && line[marker.unwrap_or("").len() + 1..].starts_with(' ')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> String {
        normalize_page(raw, &words_of(&[raw.to_string()]))
    }

    #[test]
    fn wrapped_lines_become_paragraphs() {
        let raw = "\n\nFicha técnica\n\nO inversor tem dois rastreadores MPPT   independentes e\nopera em redes de 220 V com fator de potência ajustável entre\n0,8 indutivo e 0,8 capacitivo.\nProteções:\n- DPS tipo II\n- anti-ilhamento\n";
        assert_eq!(
            norm(raw),
            "Ficha técnica\n\nO inversor tem dois rastreadores MPPT independentes e opera em redes de 220 V com fator de potência ajustável entre 0,8 indutivo e 0,8 capacitivo.\nProteções:\n- DPS tipo II\n- anti-ilhamento"
        );
        // Short table rows stay rows.
        assert_eq!(
            norm("Peso 28,6 kg\nMoldura alumínio anodizado\n"),
            "Peso 28,6 kg\nMoldura alumínio anodizado"
        );
    }

    #[test]
    fn hyphens_at_line_ends() {
        let long = "x".repeat(50);
        // A syllable break is mended; a compound the document spells whole
        // keeps its hyphen; the repeated hyphen joins as one.
        assert_eq!(
            norm(&format!("{long} módulo fotovol-\ntaico")),
            format!("{long} módulo fotovoltaico")
        );
        assert_eq!(
            norm(&format!("{long} o curto-\ncircuito. Um curto-circuito.")),
            format!("{long} o curto-circuito. Um curto-circuito.")
        );
        assert_eq!(
            norm(&format!("{long} anti-\n-ilhamento")),
            format!("{long} anti-ilhamento")
        );
        assert_eq!(
            norm(&format!("{long} modelo JAM72S30-\n550/MR")),
            format!("{long} modelo JAM72S30-550/MR")
        );
        // A minus sign starting a line is not a hyphen.
        assert_eq!(
            norm(&format!("{long} coeficiente de\n-0,275 %/°C")),
            format!("{long} coeficiente de -0,275 %/°C")
        );
    }

    #[test]
    fn list_items() {
        assert!(list_item("- DPS"));
        assert!(list_item("1. Passo"));
        assert!(list_item("12) Passo"));
        assert!(list_item("b) item"));
        assert!(!list_item("-0,275 %/°C"));
        assert!(!list_item("IP68, 3 diodos"));
        assert!(!list_item("3,2 mm"));
    }

    #[test]
    fn pages_and_metadata() {
        let text = PdfText {
            title: None,
            date: None,
            text: "um\n\ndois".into(),
            page_starts: vec![0, 0, 5],
        };
        assert_eq!(
            (text.page_at(0), text.page_at(3), text.page_at(6)),
            (2, 2, 3)
        );
        assert_eq!(pdf_date("D:20260302120000Z").as_deref(), Some("2026-03-02"));
        assert_eq!(pdf_date("ontem"), None);
        assert!(real_title("Ficha técnica: inversor 5 kW"));
        assert!(!real_title("Microsoft Word - ficha inversor"));
        assert!(!real_title("ficha_inversor_v3.docx"));
        assert!(!real_title("Untitled"));
    }

    #[test]
    fn what_is_not_a_pdf() {
        assert!(matches!(extract(b"a,b\n1,2\n"), Err(PdfError::NotPdf)));
        assert!(matches!(
            extract(b"%PDF-1.7\n1 0 obj"),
            Err(PdfError::Unreadable(_))
        ));
    }
}
