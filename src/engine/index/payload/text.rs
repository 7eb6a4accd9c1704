//! The full-text tokenizer. It lives with the payload indexes because
//! its parameters are a text index's, but filter evaluation uses it too
//! (through `FilterContext`), so a text condition means the same thing
//! whether or not the planner narrowed it with the index.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use rust_stemmers::Stemmer;

use super::schema::{TextIndexParams, TokenizerType};
use crate::embed::bm25::{stem, text_index_vocabulary, Bm25Stemmer};

/// The tokenizer of a full-text index, shared by indexing and by filter
/// evaluation so both see the same tokens.
#[derive(Clone)]
pub struct TextTokenizer {
    kind: TokenizerType,
    lowercase: bool,
    ascii_folding: bool,
    min_len: usize,
    max_len: usize,
    stopwords: HashSet<String>,
    /// Applied after the stop-word check, before the length limits, as
    /// Qdrant does.
    stemmer: Option<Arc<Stemmer>>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("kind", &self.kind)
            .field("lowercase", &self.lowercase)
            .field("ascii_folding", &self.ascii_folding)
            .field("stopwords", &self.stopwords.len())
            .field("stemmer", &self.stemmer.is_some())
            .finish()
    }
}

fn fold_char(c: char) -> char {
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

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

impl Default for TextTokenizer {
    fn default() -> Self {
        TextTokenizer::new(&TextIndexParams::default()).expect("the default text index is valid")
    }
}

impl TextTokenizer {
    /// The tokenizer `p` describes. `stopwords` and `stemmer` take BM25's
    /// languages (`"portuguese"`, `{"type": "snowball", "language":
    /// "portuguese"}`); an unknown language, or one Helio has no list or
    /// stemmer for, is an error naming the option.
    pub fn new(p: &TextIndexParams) -> Result<Self, String> {
        let lowercase = p.lowercase.unwrap_or(true);
        let stemmer: Option<Bm25Stemmer> = p
            .stemmer
            .as_ref()
            .map(|v| serde_json::from_value(v.clone()))
            .transpose()
            .map_err(|e| {
                format!(
                    "text index option `stemmer` must be {{\"type\": \"snowball\", \"language\": ...}} \
                     or {{\"type\": \"none\"}}: {e}"
                )
            })?;
        let (stopwords, stemmer) =
            text_index_vocabulary(p.stopwords.as_ref(), stemmer.as_ref(), lowercase)?;
        let mut tok = TextTokenizer {
            kind: p.tokenizer.unwrap_or_default(),
            lowercase,
            ascii_folding: p.ascii_folding.unwrap_or(false),
            min_len: p.min_token_len.unwrap_or(0),
            max_len: p.max_token_len.unwrap_or(usize::MAX),
            stopwords: HashSet::new(),
            stemmer: stemmer.map(Arc::new),
        };
        // Custom words are folded like the text they are checked against.
        tok.stopwords = stopwords.iter().map(|w| tok.normalize(w)).collect();
        Ok(tok)
    }

    fn normalize(&self, w: &str) -> String {
        let folded: String = if self.ascii_folding {
            w.chars().map(fold_char).collect()
        } else {
            w.to_string()
        };
        if self.lowercase {
            folded.to_lowercase()
        } else {
            folded
        }
    }

    fn raw_words<'t>(&self, text: &'t str) -> Vec<std::borrow::Cow<'t, str>> {
        use std::borrow::Cow;
        match self.kind {
            TokenizerType::Whitespace => text.split_whitespace().map(Cow::Borrowed).collect(),
            TokenizerType::Word | TokenizerType::Prefix => text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(Cow::Borrowed)
                .collect(),
            TokenizerType::Multilingual => {
                let mut out = Vec::new();
                for w in text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    if w.chars().any(is_cjk) {
                        let mut cur = String::new();
                        for c in w.chars() {
                            if is_cjk(c) {
                                if !cur.is_empty() {
                                    out.push(Cow::Owned(std::mem::take(&mut cur)));
                                }
                                out.push(Cow::Owned(c.to_string()));
                            } else {
                                cur.push(c);
                            }
                        }
                        if !cur.is_empty() {
                            out.push(Cow::Owned(cur));
                        }
                    } else {
                        out.push(Cow::Borrowed(w));
                    }
                }
                out
            }
        }
    }

    /// The document's tokens in order (used for phrase matching). With the
    /// prefix tokenizer, words longer than `max_token_len` are cut to it;
    /// otherwise they are dropped, like words shorter than `min_token_len`
    /// and stopwords.
    pub fn doc_tokens(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for w in self.raw_words(text) {
            let mut w = self.normalize(&w);
            if self.stopwords.contains(&w) {
                continue;
            }
            if let Some(stemmer) = &self.stemmer {
                w = stem(stemmer, Cow::Owned(w)).into_owned();
            }
            let len = w.chars().count();
            if len > self.max_len {
                if self.kind == TokenizerType::Prefix {
                    w = w.chars().take(self.max_len).collect();
                } else {
                    continue;
                }
            }
            if w.chars().count() < self.min_len.max(1) {
                continue;
            }
            out.push(w);
        }
        out
    }

    /// The set of tokens the index stores for a document: its tokens, plus
    /// (prefix tokenizer) every prefix of at least `min_token_len` chars.
    pub fn index_tokens(&self, text: &str) -> HashSet<String> {
        let doc = self.doc_tokens(text);
        if self.kind != TokenizerType::Prefix {
            return doc.into_iter().collect();
        }
        let mut out = HashSet::new();
        for w in doc {
            let chars: Vec<char> = w.chars().collect();
            for n in self.min_len.max(1)..=chars.len() {
                out.insert(chars[..n].iter().collect());
            }
        }
        out
    }

    /// Tokens of a query string, in order.
    pub fn query_tokens(&self, text: &str) -> Vec<String> {
        self.doc_tokens(text)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::schema::StopwordsInterface;
    use super::super::test_support::{build, cands, payloads, scan};
    use super::*;
    use crate::engine::filter::Filter;

    #[test]
    fn prefix_tokenizer() {
        let tok = TextTokenizer::new(&TextIndexParams {
            tokenizer: Some(TokenizerType::Prefix),
            min_token_len: Some(2),
            max_token_len: Some(5),
            ..Default::default()
        })
        .unwrap();
        let toks = tok.index_tokens("Hello wonderful");
        for t in ["he", "hel", "hell", "hello", "wo", "wonde"] {
            assert!(toks.contains(t), "{t}");
        }
        assert!(!toks.contains("h"));
        assert!(!toks.contains("wonder"));
        assert_eq!(tok.query_tokens("Wonderful"), vec!["wonde"]);
        let points = payloads(vec![
            json!({"t": "Hello wonderful world"}),
            json!({"t": "help"}),
        ]);
        let idx = build(
            &[(
                "t",
                json!({"type": "text", "tokenizer": "prefix", "min_token_len": 2, "max_token_len": 5}),
            )],
            &points,
        );
        let f: Filter =
            serde_json::from_value(json!({"must": {"key": "t", "match": {"text": "hel"}}}))
                .unwrap();
        assert_eq!(scan(&idx, &points, &f), vec![0, 1]);
        assert_eq!(
            idx.candidates(&f)
                .unwrap()
                .points
                .iter()
                .collect::<Vec<_>>(),
            vec![0, 1]
        );
        let f: Filter = serde_json::from_value(
            json!({"must": {"key": "t", "match": {"phrase": "wonderful world"}}}),
        )
        .unwrap();
        assert_eq!(scan(&idx, &points, &f), vec![0]);
    }

    #[test]
    fn tokenizers_whitespace_multilingual_folding() {
        let ws = TextTokenizer::new(&TextIndexParams {
            tokenizer: Some(TokenizerType::Whitespace),
            lowercase: Some(false),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ws.doc_tokens("a-b  C"), vec!["a-b", "C"]);
        let ml = TextTokenizer::new(&TextIndexParams {
            tokenizer: Some(TokenizerType::Multilingual),
            ascii_folding: Some(true),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            ml.doc_tokens("Ação 東京abc"),
            vec!["acao", "東", "京", "abc"]
        );
        let custom = TextTokenizer::new(&TextIndexParams {
            stopwords: Some(StopwordsInterface::Set {
                languages: None,
                custom: Some(vec!["Foo".into()]),
            }),
            min_token_len: Some(2),
            max_token_len: Some(4),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(custom.doc_tokens("foo a bar toolong"), vec!["bar"]);
    }

    #[test]
    fn portuguese_stop_words_and_stemmer() {
        let tok = TextTokenizer::new(&TextIndexParams {
            stopwords: Some(StopwordsInterface::Language("portuguese".into())),
            stemmer: Some(json!({"type": "snowball", "language": "portuguese"})),
            ascii_folding: Some(true),
            ..Default::default()
        })
        .unwrap();
        // "para" and "de" are stop words; plural and singular share a stem.
        assert_eq!(
            tok.doc_tokens("Inversores para telhado de cerâmica"),
            tok.doc_tokens("inversor telhados ceramica")
        );
        let points = payloads(vec![
            json!({"t": "Inversores híbridos para telhado"}),
            json!({"t": "Painel solar"}),
        ]);
        let idx = build(
            &[(
                "t",
                json!({"type": "text", "stopwords": "portuguese",
                       "stemmer": {"type": "snowball", "language": "portuguese"}}),
            )],
            &points,
        );
        let f = json!({"must": {"key": "t", "match": {"text": "inversor híbrido"}}});
        assert_eq!(cands(&idx, f.clone()), Some(vec![0]));
        assert_eq!(
            scan(&idx, &points, &serde_json::from_value(f).unwrap()),
            vec![0]
        );
    }

    #[test]
    fn unknown_languages_and_stemmers_are_refused() {
        let with = |stopwords: Option<&str>, stemmer: Option<serde_json::Value>| {
            TextTokenizer::new(&TextIndexParams {
                stopwords: stopwords.map(|l| StopwordsInterface::Language(l.into())),
                stemmer,
                ..Default::default()
            })
        };
        let err = with(Some("klingon"), None).unwrap_err();
        assert!(err.starts_with("text index option `stopwords`"), "{err}");
        let err = with(
            None,
            Some(json!({"type": "snowball", "language": "klingon"})),
        )
        .unwrap_err();
        assert!(err.contains("portuguese"), "lists the stemmers: {err}");
        let err = with(None, Some(json!({"type": "porter"}))).unwrap_err();
        assert!(err.contains("`stemmer`"), "{err}");
        assert!(with(Some("english"), Some(json!({"type": "none"}))).is_ok());
    }
}
