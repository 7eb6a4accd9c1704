//! [`Analyzer`]: the configured tokenizer of a full-text payload index, which indexing and filter
//! evaluation both use, so a text condition means the same thing whether or not the planner narrowed
//! it with the index. It is configured by plain [`AnalyzerOptions`]; the payload index converts its
//! schema (`TextIndexParams`) into them.
//!
//! Per token, in order: fold ([`fold_char`], when on), lowercase (when on), drop stop words, stem,
//! then apply the length limits (counted in characters, after stemming; with the prefix tokenizer a
//! token longer than the maximum is cut to it rather than dropped).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use rust_stemmers::Stemmer;

use super::error::{Error, OptionsOf};
use super::fold::fold_char;
use super::stem::{stem, StemmingAlgorithm};
use super::stopwords::StopwordsInterface;
use super::tokenize::{split, TokenizerKind};
use super::vocabulary::vocabulary;

/// How an [`Analyzer`] turns text into tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzerOptions {
    pub tokenizer: TokenizerKind,
    pub lowercase: bool,
    pub ascii_folding: bool,
    /// Drop tokens shorter than this many characters (a token is never empty).
    pub min_token_len: usize,
    /// Drop (prefix tokenizer: cut) tokens longer than this many characters.
    pub max_token_len: usize,
    /// Without them, no word is dropped.
    pub stopwords: Option<StopwordsInterface>,
    /// Without it, no word is stemmed.
    pub stemmer: Option<StemmingAlgorithm>,
}

impl Default for AnalyzerOptions {
    fn default() -> Self {
        AnalyzerOptions {
            tokenizer: TokenizerKind::default(),
            lowercase: true,
            ascii_folding: false,
            min_token_len: 0,
            max_token_len: usize::MAX,
            stopwords: None,
            stemmer: None,
        }
    }
}

/// A prepared analyzer: build it once per index and share it (cloning is cheap but for the stop
/// words).
#[derive(Clone)]
pub struct Analyzer {
    kind: TokenizerKind,
    lowercase: bool,
    ascii_folding: bool,
    min_len: usize,
    max_len: usize,
    stopwords: HashSet<String>,
    /// Applied after the stop-word check, before the length limits, as Qdrant does.
    stemmer: Option<Arc<Stemmer>>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("kind", &self.kind)
            .field("lowercase", &self.lowercase)
            .field("ascii_folding", &self.ascii_folding)
            .field("stopwords", &self.stopwords.len())
            .field("stemmer", &self.stemmer.is_some())
            .finish()
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer::new(&AnalyzerOptions::default()).expect("the default analyzer is valid")
    }
}

impl Analyzer {
    /// The analyzer `options` describe. `stopwords` and `stemmer` take the same languages as BM25
    /// (`"portuguese"`, `{"type": "snowball", "language": "portuguese"}`); an unknown language, or
    /// one Helio has no list or stemmer for, is an error naming the text index's option.
    pub fn new(options: &AnalyzerOptions) -> Result<Self, Error> {
        let vocabulary = vocabulary(
            OptionsOf::TextIndex,
            options.stopwords.as_ref(),
            options.stemmer.as_ref(),
            None,
            options.lowercase,
        )?;
        let mut analyzer = Analyzer {
            kind: options.tokenizer,
            lowercase: options.lowercase,
            ascii_folding: options.ascii_folding,
            min_len: options.min_token_len,
            max_len: options.max_token_len,
            stopwords: HashSet::new(),
            stemmer: vocabulary.stemmer.map(Arc::new),
        };
        // Custom words are folded like the text they are checked against.
        analyzer.stopwords = vocabulary
            .stopwords
            .iter()
            .map(|w| analyzer.normalize(w))
            .collect();
        Ok(analyzer)
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

    /// The document's tokens in order (used for phrase matching). With the prefix tokenizer, words
    /// longer than `max_token_len` are cut to it; otherwise they are dropped, like words shorter than
    /// `min_token_len` and stopwords.
    pub fn doc_tokens(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        split(self.kind, text, |w| {
            let mut w = self.normalize(&w);
            if self.stopwords.contains(&w) {
                return;
            }
            if let Some(stemmer) = &self.stemmer {
                w = stem(stemmer, Cow::Owned(w)).into_owned();
            }
            let len = w.chars().count();
            if len > self.max_len {
                if self.kind == TokenizerKind::Prefix {
                    w = w.chars().take(self.max_len).collect();
                } else {
                    return;
                }
            }
            if w.chars().count() < self.min_len.max(1) {
                return;
            }
            out.push(w);
        });
        out
    }

    /// The set of tokens the index stores for a document: its tokens, plus (prefix tokenizer) every
    /// prefix of at least `min_token_len` chars.
    pub fn index_tokens(&self, text: &str) -> HashSet<String> {
        let doc = self.doc_tokens(text);
        if self.kind != TokenizerKind::Prefix {
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
    use super::*;

    #[test]
    fn prefix_tokenizer() {
        let analyzer = Analyzer::new(&AnalyzerOptions {
            tokenizer: TokenizerKind::Prefix,
            min_token_len: 2,
            max_token_len: 5,
            ..Default::default()
        })
        .unwrap();
        let toks = analyzer.index_tokens("Hello wonderful");
        for t in ["he", "hel", "hell", "hello", "wo", "wonde"] {
            assert!(toks.contains(t), "{t}");
        }
        assert!(!toks.contains("h"));
        assert!(!toks.contains("wonder"));
        assert_eq!(analyzer.query_tokens("Wonderful"), vec!["wonde"]);
    }

    #[test]
    fn tokenizers_whitespace_multilingual_folding() {
        let ws = Analyzer::new(&AnalyzerOptions {
            tokenizer: TokenizerKind::Whitespace,
            lowercase: false,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ws.doc_tokens("a-b  C"), vec!["a-b", "C"]);
        let ml = Analyzer::new(&AnalyzerOptions {
            tokenizer: TokenizerKind::Multilingual,
            ascii_folding: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            ml.doc_tokens("Ação 東京abc"),
            vec!["acao", "東", "京", "abc"]
        );
        let custom = Analyzer::new(&AnalyzerOptions {
            stopwords: Some(StopwordsInterface::Set {
                languages: None,
                custom: Some(vec!["Foo".into()]),
            }),
            min_token_len: 2,
            max_token_len: 4,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(custom.doc_tokens("foo a bar toolong"), vec!["bar"]);
    }

    #[test]
    fn portuguese_stop_words_and_stemmer() {
        let analyzer = Analyzer::new(&AnalyzerOptions {
            stopwords: Some(StopwordsInterface::Language("portuguese".into())),
            stemmer: Some(StemmingAlgorithm::Snowball {
                language: "portuguese".into(),
            }),
            ascii_folding: true,
            ..Default::default()
        })
        .unwrap();
        // "para" and "de" are stop words; plural and singular share a stem.
        assert_eq!(
            analyzer.doc_tokens("Inversores para telhado de cerâmica"),
            analyzer.doc_tokens("inversor telhados ceramica")
        );
    }

    #[test]
    fn errors_name_the_text_index_option() {
        let err = Analyzer::new(&AnalyzerOptions {
            stopwords: Some(StopwordsInterface::Language("german".into())),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "Helio does not bundle the stop words of \"german\" yet; give them as \
             `\"stopwords\": {\"custom\": [...]}`"
        );
    }
}
