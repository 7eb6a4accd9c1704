//! The document knowledge bases (regulatory, technical, sales): Markdown
//! and plain-text documents, PDF datasheets (their text, through
//! [`super::pdf`]) and CSV tables, cut into chunks sized in the
//! embedding model's tokens (the seed's 500 with 50 of overlap, capped by
//! what the model reads), on heading, paragraph and sentence boundaries,
//! so a search returns the passage that answers, with the document's id,
//! title and heading path for the assistant to cite.

use std::path::Path;

/// A passage of a document, as indexed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Chunk {
    pub doc_id: String,
    pub title: String,
    pub kb: String,
    pub source: Option<String>,
    pub updated: Option<String>,
    /// The heading path joined with ` › ` (empty before the first heading).
    pub heading: String,
    /// `##`, `###`, ... headings above the passage, outermost first.
    pub heading_path: Vec<String>,
    /// Title, heading path and passage: what is embedded and returned.
    pub text: String,
    /// Tokens of `text` for the embedding model.
    pub tokens: usize,
    /// Position of the chunk in its document, from 0.
    pub index: usize,
    pub file: String,
    /// For a PDF, the page (from 1) where the chunk starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// For a table row, its cells by column, typed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Why a document was skipped; the message goes to the log after the
/// file's name.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("{0}")]
    Read(#[from] std::io::Error),
    #[error("{0}")]
    Pdf(#[from] super::pdf::PdfError),
    #[error("{0}")]
    Decode(#[from] super::parse::FileError),
    #[error("no front matter (the file must start with ---)")]
    NoFrontMatter,
    #[error("front matter is not closed by ---")]
    FrontMatterNotClosed,
    #[error("front matter has no `{0}`")]
    MissingKey(&'static str),
    #[error("no text after the title")]
    NoText,
    #[error("no header row: {0}")]
    NoHeader(csv::Error),
    #[error("row {row}: {source}")]
    Row { row: usize, source: csv::Error },
    #[error("the table has no rows")]
    NoRows,
}

/// How chunks are sized, in tokens of the embedding model.
pub struct Sizing<'a> {
    /// Most tokens of a chunk's text, its title line included.
    pub max_tokens: usize,
    /// Tokens of a chunk's end repeated at the start of the next one in
    /// the same section, so a sentence cut from its context keeps some.
    pub overlap: usize,
    pub count: &'a dyn Fn(&str) -> usize,
}

/// The seed's chunk size (for OpenAI's models) and overlap.
pub const TARGET_TOKENS: usize = 500;
pub const OVERLAP_TOKENS: usize = 50;

impl<'a> Sizing<'a> {
    /// 500 tokens with 50 of overlap, or the model's window (all-MiniLM
    /// reads 256) with a tenth of it, so that no chunk is truncated when
    /// embedded.
    pub fn for_model(model_max: Option<usize>, count: &'a dyn Fn(&str) -> usize) -> Sizing<'a> {
        let max_tokens = model_max.map_or(TARGET_TOKENS, |m| m.min(TARGET_TOKENS));
        Sizing {
            max_tokens,
            overlap: OVERLAP_TOKENS * max_tokens / TARGET_TOKENS,
            count,
        }
    }
}

/// A rough token count for when no tokenizer is at hand: Portuguese runs
/// at about 1.4 WordPiece tokens per word.
pub fn approximate_tokens(text: &str) -> usize {
    (text.split_whitespace().count() * 7).div_ceil(5)
}

/// Every chunk of every `.md`, `.txt`, `.pdf` and `.csv` file directly
/// in `dir` (README.md excluded), in file order, and a line per file that
/// could not be used (a PDF that is encrypted, damaged or only images
/// among them).
pub fn load_dir(dir: &Path, kb: &str, sizing: &Sizing) -> (Vec<Chunk>, Vec<String>) {
    let mut chunks = Vec::new();
    let mut problems = Vec::new();
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(
                        e.to_ascii_lowercase().as_str(),
                        "md" | "txt" | "pdf" | "csv"
                    )
                })
            })
            .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
            .collect(),
        Err(e) => {
            problems.push(format!("{}: {e}", dir.display()));
            return (chunks, problems);
        }
    };
    files.sort();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        let loaded = std::fs::read(&path)
            .map_err(DocumentError::from)
            .and_then(|bytes| {
                if lower.ends_with(".pdf") {
                    let pdf = super::pdf::extract(&bytes)?;
                    return split_pdf(&pdf, kb, &name, sizing);
                }
                let (text, _) = super::parse::decode(&bytes)?;
                if lower.ends_with(".csv") {
                    split_table(&text, kb, &name, sizing)
                } else {
                    split(&text, kb, &name, sizing)
                }
            });
        match loaded {
            Ok(mut c) => chunks.append(&mut c),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    (chunks, problems)
}

/// A piece of text the chunker never cuts inside (a sentence, a list
/// item, a table row), and how it joins the piece before it.
struct Unit {
    text: String,
    tokens: usize,
    sep: &'static str,
}

/// Cuts one Markdown or plain-text document into chunks. Markdown needs a
/// front-matter block with `id` and `title`; plain text may have one, and
/// otherwise takes its id from the file name and its title from its first
/// line.
pub fn split(
    text: &str,
    kb: &str,
    file: &str,
    sizing: &Sizing,
) -> Result<Vec<Chunk>, DocumentError> {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let markdown = file.to_ascii_lowercase().ends_with(".md");
    let (meta, body) = match front_matter(text) {
        Ok(found) => found,
        Err(e) if markdown => return Err(e),
        Err(_) => (Vec::new(), text.trim_start_matches('\u{feff}')),
    };
    let get = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let (doc_id, title, body) = if markdown {
        (
            get("id").ok_or(DocumentError::MissingKey("id"))?,
            get("title").ok_or(DocumentError::MissingKey("title"))?,
            body,
        )
    } else {
        match get("title") {
            Some(t) => (get("id").unwrap_or_else(|| stem.to_string()), t, body),
            None => {
                let (title, rest) = first_line_title(body, stem);
                (stem.to_string(), title, rest)
            }
        }
    };
    let doc = Doc {
        doc_id,
        title,
        kb,
        source: get("source"),
        updated: get("updated"),
        file,
    };
    Ok(doc.chunks(body, sizing))
}

/// A plain-text document's title: its first line, if short enough to be
/// one (then the body is what follows), else the file name.
fn first_line_title<'t>(body: &'t str, stem: &str) -> (String, &'t str) {
    let first = body
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if !first.is_empty() && first.chars().count() <= 120 {
        let rest = body.split_once(first).map_or("", |(_, r)| r);
        (first.trim_start_matches('#').trim().to_string(), rest)
    } else {
        (stem.replace(['-', '_'], " "), body)
    }
}

/// `text` without its first lines if together they spell `title` (a
/// long title wraps), else all of it.
fn without_title<'t>(text: &'t str, title: &str) -> &'t str {
    let title = title.to_lowercase();
    let mut spelled = String::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        if !spelled.is_empty() {
            spelled.push(' ');
        }
        spelled.push_str(&line.trim().to_lowercase());
        if spelled == title {
            return after;
        }
        if !title.starts_with(&spelled) {
            break;
        }
        rest = after.trim_start();
    }
    text
}

/// Cuts a PDF's text like a plain-text document: the id is the file name,
/// the title the PDF's `Title` (else the first line), and the lines that
/// print the title are not repeated in the body. Each chunk gets the page
/// it starts on.
pub fn split_pdf(
    pdf: &super::pdf::PdfText,
    kb: &str,
    file: &str,
    sizing: &Sizing,
) -> Result<Vec<Chunk>, DocumentError> {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let (title, body) = match &pdf.title {
        Some(title) => (title.clone(), without_title(&pdf.text, title)),
        None => first_line_title(&pdf.text, stem),
    };
    let doc = Doc {
        doc_id: stem.to_string(),
        title,
        kb,
        source: Some(file.to_string()),
        updated: pdf.date.clone(),
        file,
    };
    let mut chunks = doc.chunks(body, sizing);
    if chunks.is_empty() {
        return Err(DocumentError::NoText);
    }
    // A chunk's body starts with a run of the document's own text (units
    // of one line, joined by the single spaces they had), found after the
    // start of the chunk before it.
    let mut from = 0;
    for chunk in &mut chunks {
        let start = chunk
            .text
            .split_once("\n\n")
            .and_then(|(_, body)| body.lines().next())
            .and_then(|line| pdf.text[from..].find(line))
            .map(|at| from + at);
        if let Some(at) = start {
            from = at;
        }
        chunk.page = Some(pdf.page_at(from));
    }
    Ok(chunks)
}

/// A CSV table (quote history, tariffs): every row becomes one chunk,
/// its text the row's `header: value` pairs under the file's title and its
/// `row` the same cells typed (plain numbers as numbers), so a client can
/// filter (`row.uf = "MG"`) or range over (`row.tarifa_kwh_brl < 0.9`) the
/// table as well as search it. Empty cells are left out.
pub fn split_table(
    text: &str,
    kb: &str,
    file: &str,
    sizing: &Sizing,
) -> Result<Vec<Chunk>, DocumentError> {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let title = stem.replace(['-', '_'], " ");
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(super::parse::detect_delimiter(text))
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(DocumentError::NoHeader)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut chunks = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|source| DocumentError::Row { row: i + 2, source })?;
        let cells: Vec<(&String, &str)> = headers
            .iter()
            .zip(record.iter().map(str::trim))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if cells.is_empty() {
            continue;
        }
        let line = cells
            .iter()
            .map(|(h, v)| format!("{h}: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let row = cells
            .iter()
            .map(|(h, v)| (h.to_string(), typed_cell(v)))
            .collect();
        let text = format!("{title}\n\n{line}");
        chunks.push(Chunk {
            doc_id: stem.to_string(),
            title: title.clone(),
            kb: kb.to_string(),
            source: Some(file.to_string()),
            updated: None,
            heading: String::new(),
            heading_path: Vec::new(),
            tokens: (sizing.count)(&text),
            text,
            index: chunks.len(),
            file: file.to_string(),
            page: None,
            row: Some(row),
        });
    }
    if chunks.is_empty() {
        return Err(DocumentError::NoRows);
    }
    Ok(chunks)
}

/// A table cell as JSON: an integer or a decimal (point or comma) when it
/// is plainly one, else the text. Codes with letters, dates and numbers
/// with thousands separators stay text, so nothing is misread.
fn typed_cell(cell: &str) -> serde_json::Value {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if plain(digits) && !(digits.len() > 1 && digits.starts_with('0')) {
        if let Ok(n) = cell.parse::<i64>() {
            return n.into();
        }
    }
    if let Some((int, frac)) = digits.split_once(['.', ',']) {
        if plain(int) && plain(frac) {
            if let Ok(x) = cell.replace(',', ".").parse::<f64>() {
                return x.into();
            }
        }
    }
    cell.into()
}

/// What every chunk of one document carries.
struct Doc<'a> {
    doc_id: String,
    title: String,
    kb: &'a str,
    source: Option<String>,
    updated: Option<String>,
    file: &'a str,
}

impl Doc<'_> {
    /// The chunks of a document body: sections at `##` and deeper
    /// headings, each packed on its own.
    fn chunks(&self, body: &str, sizing: &Sizing) -> Vec<Chunk> {
        // Sections: (heading path, text).
        let mut sections: Vec<(Vec<String>, String)> = Vec::new();
        let mut path: Vec<String> = Vec::new();
        let mut current = String::new();
        for line in body.lines() {
            let level = line.chars().take_while(|&c| c == '#').count();
            let heading =
                (level >= 1 && line[level..].starts_with(' ')).then(|| line[level..].trim());
            match heading {
                // The document's own `#` title line repeats the front matter.
                Some(_) if level == 1 && path.is_empty() && current.trim().is_empty() => {}
                Some(h) if level >= 2 => {
                    sections.push((path.clone(), std::mem::take(&mut current)));
                    path.truncate(level - 2);
                    path.push(h.to_string());
                }
                _ => {
                    current.push_str(line);
                    current.push('\n');
                }
            }
        }
        sections.push((path, current));
        let mut chunks = Vec::new();
        for (path, section) in sections {
            let units = sentence_units(section.trim(), sizing);
            self.pack(&path, units, sizing, sizing.overlap, &mut chunks);
        }
        chunks
    }

    /// Packs `units` greedily into chunks of at most `sizing.max_tokens`
    /// (title line included), each after the first starting with the
    /// last units of the one before, up to `overlap` tokens.
    fn pack(
        &self,
        path: &[String],
        units: Vec<Unit>,
        sizing: &Sizing,
        overlap: usize,
        out: &mut Vec<Chunk>,
    ) {
        if units.is_empty() {
            return;
        }
        let heading = path.join(" › ");
        let label = if heading.is_empty() {
            self.title.clone()
        } else {
            format!("{} — {heading}", self.title)
        };
        let budget = sizing
            .max_tokens
            .saturating_sub((sizing.count)(&label))
            .max(16);
        let mut start = 0;
        let mut prev_end = 0;
        while start < units.len() {
            let mut end = start;
            let mut used = 0;
            // A chunk takes at least one unit the one before did not, even
            // past the budget, so packing always moves on.
            while end < units.len() && (end <= prev_end || used + units[end].tokens <= budget) {
                used += units[end].tokens;
                end += 1;
            }
            prev_end = end;
            let mut body = String::new();
            for (i, u) in units[start..end].iter().enumerate() {
                if i > 0 {
                    body.push_str(u.sep);
                }
                body.push_str(&u.text);
            }
            let text = format!("{label}\n\n{body}");
            out.push(Chunk {
                doc_id: self.doc_id.clone(),
                title: self.title.clone(),
                kb: self.kb.to_string(),
                source: self.source.clone(),
                updated: self.updated.clone(),
                heading: heading.clone(),
                heading_path: path.to_vec(),
                tokens: (sizing.count)(&text),
                text,
                index: out.len(),
                file: self.file.to_string(),
                page: None,
                row: None,
            });
            if end == units.len() {
                break;
            }
            // Step back over the last units that fit in the overlap, but
            // always move forward.
            let mut back = end;
            let mut repeated = 0;
            while back > start + 1 && repeated + units[back - 1].tokens <= overlap {
                repeated += units[back - 1].tokens;
                back -= 1;
            }
            start = back;
        }
    }
}

/// A section as units: paragraphs split into lines (list items stay
/// whole) and lines into sentences; a sentence longer than a chunk is cut
/// into word runs.
fn sentence_units(section: &str, sizing: &Sizing) -> Vec<Unit> {
    let mut units = Vec::new();
    for (p, paragraph) in section
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        for (l, line) in paragraph
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            for (s, sentence) in sentences(line).into_iter().enumerate() {
                let sep = match (p, l, s) {
                    (_, 0, 0) => "\n\n",
                    (_, _, 0) => "\n",
                    _ => " ",
                };
                let tokens = (sizing.count)(sentence);
                if tokens <= sizing.max_tokens / 2 {
                    units.push(Unit {
                        text: sentence.to_string(),
                        tokens,
                        sep,
                    });
                    continue;
                }
                // A run-on sentence: word runs of about half a chunk.
                let words: Vec<&str> = sentence.split_whitespace().collect();
                let per = (words.len() * sizing.max_tokens / 2 / tokens.max(1)).max(1);
                for (w, run) in words.chunks(per).enumerate() {
                    let text = run.join(" ");
                    units.push(Unit {
                        tokens: (sizing.count)(&text),
                        text,
                        sep: if w == 0 { sep } else { " " },
                    });
                }
            }
        }
    }
    units
}

/// Abbreviations that a full stop follows inside a sentence.
const ABBREVIATIONS: [&str; 16] = [
    "art", "arts", "inc", "n", "nº", "p", "pág", "págs", "ex", "sr", "sra", "dr", "dra", "prof",
    "fig", "cap",
];

/// Sentences of a line: cut after `.`, `!` or `?` followed by a space and
/// a capital letter or digit, except after an abbreviation (so
/// "R$ 1.234,56" and "art. 5º" stay whole).
fn sentences(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    for w in chars.windows(3) {
        let [(at, a), (_, b), (i, c)] = [w[0], w[1], w[2]];
        if matches!(a, '.' | '!' | '?') && b == ' ' && (c.is_uppercase() || c.is_ascii_digit()) {
            let word = line[start..at]
                .rsplit(|ch: char| ch.is_whitespace() || ch == '(')
                .next()
                .unwrap_or("")
                .to_lowercase();
            if a == '.' && ABBREVIATIONS.contains(&word.as_str()) {
                continue;
            }
            out.push(line[start..i].trim());
            start = i;
        }
    }
    out.push(line[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// `key: value` lines between the leading `---` lines; quotes around a
/// value are dropped. Returns the pairs and the text after the block.
type FrontMatter<'a> = (Vec<(String, String)>, &'a str);

fn front_matter(text: &str) -> Result<FrontMatter<'_>, DocumentError> {
    let text = text.trim_start_matches('\u{feff}');
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or(DocumentError::NoFrontMatter)?;
    let end = rest
        .find("\n---")
        .ok_or(DocumentError::FrontMatterNotClosed)?;
    let pairs = rest[..end]
        .lines()
        .filter_map(|line| {
            let (k, v) = line.split_once(':')?;
            let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
            Some((k.trim().to_string(), v))
        })
        .collect();
    let body = rest[end + 4..].trim_start_matches(['-', '\r', '\n']);
    Ok((pairs, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "---\nid: reg-x\ntitle: Lei X\nkb: regulatory\nsource: \"Lei nº 1\"\nupdated: 2026-11-01\n---\n\n# Lei X\n\nIntro.\n\n## Prazos\n\nTexto dos prazos.\n\n### Exceções\n\nCasos.\n\n## Documentos\n\nLista.\n";

    fn word_count(t: &str) -> usize {
        t.split_whitespace().count()
    }

    fn words() -> Sizing<'static> {
        Sizing {
            max_tokens: 60,
            overlap: 12,
            count: &word_count,
        }
    }

    #[test]
    fn documents_are_cut_at_headings_with_their_citation() {
        let chunks = split(DOC, "regulatory", "x.md", &words()).unwrap();
        let headings: Vec<&str> = chunks.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(headings, ["", "Prazos", "Prazos › Exceções", "Documentos"]);
        assert_eq!(chunks[1].text, "Lei X — Prazos\n\nTexto dos prazos.");
        assert_eq!(chunks[2].heading_path, ["Prazos", "Exceções"]);
        assert_eq!(chunks[1].source.as_deref(), Some("Lei nº 1"));
        assert!(chunks.iter().all(|c| c.doc_id == "reg-x"));
        assert_eq!(chunks[3].index, 3);
        assert!(split("no front matter", "k", "b.md", &words()).is_err());
        assert!(split("---\ntitle: B\n---\n", "k", "b.md", &words()).is_err());
    }

    #[test]
    fn long_sections_fit_the_budget_and_overlap() {
        // 30 sentences of 5 words: 150 words under a 60-word budget.
        let body: Vec<String> = (0..30)
            .map(|i| format!("Frase número {i} sobre inversores."))
            .collect();
        let doc = format!("---\nid: a\ntitle: A\n---\n## S\n\n{}\n", body.join(" "));
        let sizing = words();
        let chunks = split(&doc, "technical", "a.md", &sizing).unwrap();
        assert!(chunks.len() >= 3, "{}", chunks.len());
        for c in &chunks {
            assert!(
                c.tokens <= sizing.max_tokens,
                "{} tokens: {}",
                c.tokens,
                c.text
            );
        }
        // Every sentence is somewhere, and consecutive chunks share their
        // edge sentences.
        for s in &body {
            assert!(chunks.iter().any(|c| c.text.contains(s.as_str())), "{s}");
        }
        for pair in chunks.windows(2) {
            let last = sentences(pair[0].text.lines().last().unwrap())
                .pop()
                .unwrap();
            assert!(pair[1].text.contains(last), "no overlap: {last}");
        }
        // Sentences are not cut inside money or abbreviations.
        assert_eq!(
            sentences("Custa R$ 1.234,56 no art. 5º da lei. Outra frase."),
            ["Custa R$ 1.234,56 no art. 5º da lei.", "Outra frase."]
        );
    }

    #[test]
    fn plain_text_and_tables() {
        let chunks = split(
            "Guia de garantia\n\nO prazo é de 12 anos.",
            "sales",
            "garantia.txt",
            &words(),
        )
        .unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].doc_id, "garantia");
        assert_eq!(chunks[0].title, "Guia de garantia");
        assert!(chunks[0].text.ends_with("O prazo é de 12 anos."));

        let csv = "data;uf;kwp;valor;status;cep\n2026-01-05;BA;4,6;10432;ganho;\n2026-02-10;PE;12.25;-3;perdido;01310\n";
        let rows = split_table(csv, "sales", "cotacoes.csv", &words()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].index, 1);
        assert!(rows[1].text.ends_with(
            "data: 2026-02-10; uf: PE; kwp: 12.25; valor: -3; status: perdido; cep: 01310"
        ));
        let row = rows[0].row.as_ref().unwrap();
        assert_eq!(row["kwp"], serde_json::json!(4.6));
        assert_eq!(row["valor"], serde_json::json!(10432));
        assert_eq!(row["data"], serde_json::json!("2026-01-05"));
        assert!(!row.contains_key("cep"), "empty cells are left out");
        // A leading zero is a code, not a number.
        assert_eq!(
            rows[1].row.as_ref().unwrap()["cep"],
            serde_json::json!("01310")
        );
        assert!(split_table("a,b\n", "sales", "vazio.csv", &words()).is_err());
    }

    #[test]
    fn the_shipped_documents_all_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kb");
        let sizing = Sizing::for_model(Some(256), &approximate_tokens);
        assert_eq!((sizing.max_tokens, sizing.overlap), (256, 25));
        for kb in ["regulatory", "technical", "sales"] {
            let (chunks, problems) = load_dir(&root.join(kb), kb, &sizing);
            assert!(problems.is_empty(), "{problems:?}");
            assert!(chunks.len() >= 20, "{kb}: {} chunks", chunks.len());
            assert!(chunks
                .iter()
                .all(|c| c.tokens <= 256 || c.text.split_whitespace().count() < 20));
        }
        let (sales, _) = load_dir(&root.join("sales"), "sales", &sizing);
        assert!(sales.iter().any(|c| c.file == "historico-cotacoes.csv"));
        // Both datasheets, with the pages their chunks start on.
        let (technical, _) = load_dir(&root.join("technical"), "technical", &sizing);
        for sheet in [MODULE_PDF, INVERTER_PDF] {
            let pages: Vec<u32> = technical
                .iter()
                .filter(|c| c.file == sheet)
                .filter_map(|c| c.page)
                .collect();
            assert!(
                pages.contains(&1) && pages.contains(&2),
                "{sheet}: {pages:?}"
            );
        }
    }

    const MODULE_PDF: &str = "tec-ficha-modulo-ja-solar-jam72s30-550.pdf";
    const INVERTER_PDF: &str = "tec-ficha-inversor-growatt-min-5000tl-x.pdf";

    fn shipped_pdf(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kb/technical");
        std::fs::read(path.join(name)).unwrap()
    }

    fn chunks_of_pdf(name: &str) -> Vec<Chunk> {
        let pdf = super::super::pdf::extract(&shipped_pdf(name)).unwrap();
        split_pdf(&pdf, "technical", name, &words()).unwrap()
    }

    /// The chunk that holds `fact`, which must be there.
    fn find<'c>(chunks: &'c [Chunk], fact: &str) -> &'c Chunk {
        let found = chunks.iter().find(|c| c.text.contains(fact));
        found.unwrap_or_else(|| panic!("{fact:?} is in no chunk: {chunks:#?}"))
    }

    #[test]
    fn a_pdf_datasheet_loads_with_its_facts_and_pages() {
        let chunks = chunks_of_pdf(MODULE_PDF);
        let title = "Ficha técnica: módulo fotovoltaico JA Solar JAM72S30-550/MR (550 W)";
        assert!(chunks.len() >= 4, "{}", chunks.len());
        for c in &chunks {
            assert_eq!(c.doc_id, "tec-ficha-modulo-ja-solar-jam72s30-550");
            assert_eq!(c.title, title);
            assert_eq!(c.source.as_deref(), Some(MODULE_PDF));
            assert_eq!(c.updated.as_deref(), Some("2026-03-02"));
            assert!(c.text.starts_with(&format!("{title}\n\n")));
            // The title line is not repeated in the body.
            assert!(!c.text[title.len()..].contains(title));
        }
        // Table rows read as "parameter value", on the page they are on.
        let voc = find(&chunks, "Tensão de circuito aberto (Voc) 49,90 V");
        assert_eq!(voc.page, Some(1));
        find(&chunks, "Corrente de curto-circuito (Isc) 14,00 A");
        find(&chunks, "Coeficiente de temperatura de Pmax -0,350 %/°C");
        let weight = find(&chunks, "Peso 28,6 kg");
        assert_eq!(weight.page, Some(2));
        assert_eq!(
            find(&chunks, "Produto (materiais e fabricação) 12 anos").page,
            Some(2)
        );
        // Lines the layout wrapped are one paragraph again.
        find(&chunks, "moldura de alumínio anodizado, para sistemas");
        find(
            &chunks,
            "Com o coeficiente de -0,275 %/°C, a 0 °C a Voc de cada módulo",
        );
        assert!(chunks.iter().all(|c| !c.text.contains("  ")));
        assert!(chunks.windows(2).all(|w| w[0].page <= w[1].page));
        assert_eq!(chunks.first().unwrap().page, Some(1));
        assert_eq!(chunks.last().unwrap().page, Some(2));

        let inverter = chunks_of_pdf(INVERTER_PDF);
        find(&inverter, "Faixa de tensão MPPT 80 V a 550 V");
        find(&inverter, "Tensão CC máxima 550 V");
        find(&inverter, "Eficiência máxima 98,4 %");
        find(&inverter, "Monitoramento da rede e anti-ilhamento sim");
        // The payload carries the page; other documents carry none.
        let payload = serde_json::to_value(&inverter[0]).unwrap();
        assert_eq!(payload["page"], 1);
        let md = split(DOC, "regulatory", "x.md", &words()).unwrap();
        assert!(serde_json::to_value(&md[0]).unwrap().get("page").is_none());
    }

    /// A one-page PDF with `content` as its page's content stream.
    fn tiny_pdf(content: &[u8], media_box: bool) -> Vec<u8> {
        use pdf_extract::{Dictionary, Document, Object, Stream};
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let content_id = doc.add_object(Stream::new(Dictionary::new(), content.to_vec()));
        let mut page = Dictionary::new();
        page.set("Type", Object::Name(b"Page".to_vec()));
        page.set("Parent", Object::Reference(pages_id));
        page.set("Contents", Object::Reference(content_id));
        page.set("Resources", Dictionary::new());
        if media_box {
            page.set("MediaBox", vec![0.into(), 0.into(), 595.into(), 842.into()]);
        }
        let page_id = doc.add_object(page);
        let mut pages = Dictionary::new();
        pages.set("Type", Object::Name(b"Pages".to_vec()));
        pages.set("Kids", vec![Object::Reference(page_id)]);
        pages.set("Count", 1);
        doc.objects.insert(pages_id, Object::Dictionary(pages));
        let mut catalog = Dictionary::new();
        catalog.set("Type", Object::Name(b"Catalog".to_vec()));
        catalog.set("Pages", Object::Reference(pages_id));
        let catalog_id = doc.add_object(catalog);
        doc.trailer.set("Root", Object::Reference(catalog_id));
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn a_pdf_title_is_not_repeated_in_its_text() {
        let title = "Ficha técnica: inversor X (5 kW)";
        assert_eq!(
            without_title("Ficha técnica: inversor X (5 kW)\n\nTexto", title),
            "\nTexto"
        );
        assert_eq!(
            without_title("Ficha técnica: inversor X (5\nkW)\nTexto", title),
            "Texto"
        );
        assert_eq!(
            without_title("Ficha técnica\nOutra coisa", title),
            "Ficha técnica\nOutra coisa"
        );
        assert_eq!(without_title("Texto", title), "Texto");
    }

    #[test]
    fn bad_pdfs_are_problems_and_the_rest_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let write =
            |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
        let module = shipped_pdf(MODULE_PDF);
        write("cortado.pdf", &module[..module.len() / 2]);
        write("planilha.pdf", b"sku;nome;preco\nA1;Inversor;1000\n");
        // A page of graphics only: what a scan without OCR looks like here.
        write("digitalizado.pdf", &tiny_pdf(b"0 0 m 100 100 l S", true));
        // pdf-extract panics on a page without a MediaBox.
        write("sem-mediabox.pdf", &tiny_pdf(b"BT ET", false));
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        write(
            "protegido.pdf",
            &std::fs::read(fixtures.join("pdf-encrypted.pdf")).unwrap(),
        );
        write("guia.md", DOC.as_bytes());
        write("ficha.pdf", &module);

        let (chunks, mut problems) = load_dir(dir.path(), "technical", &words());
        problems.sort();
        let expected = [
            "cortado.pdf: unreadable PDF (corrupt or truncated?)",
            "digitalizado.pdf: no extractable text (scanned image?)",
            "planilha.pdf: not a PDF file (no %PDF- header)",
            "protegido.pdf: encrypted PDF: it needs a password",
            "sem-mediabox.pdf: the PDF reader failed on this file (malformed PDF?)",
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:?}");
        for (problem, start) in problems.iter().zip(expected) {
            assert!(problem.starts_with(start), "{problem:?} is not {start:?}…");
        }
        assert!(chunks.iter().any(|c| c.file == "guia.md"));
        assert!(chunks.iter().any(|c| c.file == "ficha.pdf"));
    }
}
