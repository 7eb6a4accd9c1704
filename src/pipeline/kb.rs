//! The document knowledge bases (regulatory, technical, sales): Markdown
//! files with a front-matter block, cut into chunks at their `##`
//! headings so a search returns the section that answers, with the
//! document's id and title for the assistant to cite.

use std::path::Path;

/// A section of a document, as indexed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Chunk {
    pub doc_id: String,
    pub title: String,
    pub kb: String,
    pub source: Option<String>,
    pub updated: Option<String>,
    pub heading: String,
    /// Title, heading and section text: what is embedded and returned.
    pub text: String,
    /// Position of the chunk in its document, from 0.
    pub index: usize,
    pub file: String,
}

/// Longest chunk text; longer sections are cut at paragraph breaks. The
/// model reads 256 tokens, about 1,000 characters of Portuguese.
const MAX_CHARS: usize = 1200;

/// Every chunk of every `.md` file directly in `dir` (README.md excluded),
/// in file order, and a line per file that could not be used.
pub fn load_dir(dir: &Path, kb: &str) -> (Vec<Chunk>, Vec<String>) {
    let mut chunks = Vec::new();
    let mut problems = Vec::new();
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
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
        match std::fs::read_to_string(&path) {
            Ok(text) => match split(&text, kb, &name) {
                Ok(mut c) => chunks.append(&mut c),
                Err(e) => problems.push(format!("{name}: {e}")),
            },
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    (chunks, problems)
}

/// Cuts one document into chunks.
pub fn split(text: &str, kb: &str, file: &str) -> Result<Vec<Chunk>, String> {
    let (meta, body) = front_matter(text)?;
    let get = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let doc_id = get("id").ok_or("front matter has no `id`")?;
    let title = get("title").ok_or("front matter has no `title`")?;
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut heading = String::new();
    let mut current = String::new();
    for line in body.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            sections.push((heading, std::mem::take(&mut current)));
            heading = h.trim().to_string();
        } else if line.starts_with("# ") && heading.is_empty() && current.trim().is_empty() {
            // The document's own title line repeats the front matter.
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    sections.push((heading, current));
    let mut chunks = Vec::new();
    for (heading, section) in sections {
        for piece in pieces(section.trim()) {
            let label = if heading.is_empty() {
                title.clone()
            } else {
                format!("{title} — {heading}")
            };
            chunks.push(Chunk {
                doc_id: doc_id.clone(),
                title: title.clone(),
                kb: kb.to_string(),
                source: get("source"),
                updated: get("updated"),
                heading: heading.clone(),
                text: format!("{label}\n\n{piece}"),
                index: chunks.len(),
                file: file.to_string(),
            });
        }
    }
    Ok(chunks)
}

/// A section as pieces of at most `MAX_CHARS`, cut between paragraphs
/// (a single longer paragraph stays whole rather than be cut mid-sentence).
fn pieces(section: &str) -> Vec<String> {
    if section.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for paragraph in section.split("\n\n") {
        if !current.is_empty() && current.len() + paragraph.len() > MAX_CHARS {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(paragraph.trim_end());
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// `key: value` lines between the leading `---` lines; quotes around a
/// value are dropped. Returns the pairs and the text after the block.
type FrontMatter<'a> = (Vec<(String, String)>, &'a str);

fn front_matter(text: &str) -> Result<FrontMatter<'_>, String> {
    let text = text.trim_start_matches('\u{feff}');
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or("no front matter (the file must start with ---)")?;
    let end = rest
        .find("\n---")
        .ok_or("front matter is not closed by ---")?;
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

    const DOC: &str = "---\nid: reg-x\ntitle: Lei X\nkb: regulatory\nsource: \"Lei nº 1\"\nupdated: 2026-11-01\n---\n\n# Lei X\n\nIntro.\n\n## Prazos\n\nTexto dos prazos.\n\n## Documentos\n\nLista.\n";

    #[test]
    fn documents_are_cut_at_headings_with_their_citation() {
        let chunks = split(DOC, "regulatory", "x.md").unwrap();
        let headings: Vec<&str> = chunks.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(headings, ["", "Prazos", "Documentos"]);
        assert_eq!(chunks[1].text, "Lei X — Prazos\n\nTexto dos prazos.");
        assert_eq!(chunks[1].source.as_deref(), Some("Lei nº 1"));
        assert!(chunks.iter().all(|c| c.doc_id == "reg-x"));
        assert_eq!(chunks[2].index, 2);
    }

    #[test]
    fn long_sections_are_cut_between_paragraphs_and_bad_files_are_reported() {
        let long = format!(
            "---\nid: a\ntitle: A\n---\n## S\n\n{}\n\n{}\n",
            "x".repeat(900),
            "y".repeat(900)
        );
        let chunks = split(&long, "technical", "a.md").unwrap();
        assert_eq!(chunks.len(), 2);
        assert!(split("no front matter", "k", "b.md").is_err());
        assert!(split("---\ntitle: B\n---\n", "k", "b.md").is_err());
    }

    #[test]
    fn the_shipped_documents_all_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kb");
        for kb in ["regulatory", "technical", "sales"] {
            let (chunks, problems) = load_dir(&root.join(kb), kb);
            assert!(problems.is_empty(), "{problems:?}");
            assert!(chunks.len() >= 20, "{kb}: {} chunks", chunks.len());
            assert!(chunks.iter().all(|c| c.text.len() <= 2 * MAX_CHARS));
        }
    }
}
