//! The vocabulary of an option set: its stop words and its stemmer, resolved together because both
//! default to the same language (BM25's `language`; the full-text index has none, so without the
//! options it drops no word and stems none).

use std::collections::HashSet;

use rust_stemmers::Stemmer;

use super::error::{Error, OptionsOf};
use super::language::Language;
use super::stem::{resolve_stemmer, StemmingAlgorithm};
use super::stopwords::{resolve_stopwords, StopwordsInterface};

/// Stop words and stemmer of one option set.
pub struct Vocabulary {
    /// Already lowercased when `lowercase` is on, so a lookup is one hash.
    pub stopwords: HashSet<String>,
    pub stemmer: Option<Stemmer>,
}

impl std::fmt::Debug for Vocabulary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocabulary")
            .field("stopwords", &self.stopwords.len())
            .field("stemmer", &self.stemmer.is_some())
            .finish()
    }
}

/// The stop words and stemmer that the `stopwords` and `stemmer` options of `of` describe, falling
/// back to `language`'s (if any) for the options not given. Errors name `of`'s option.
pub fn vocabulary(
    of: OptionsOf,
    stopwords: Option<&StopwordsInterface>,
    stemmer: Option<&StemmingAlgorithm>,
    language: Option<&Language>,
    lowercase: bool,
) -> Result<Vocabulary, Error> {
    Ok(Vocabulary {
        stopwords: resolve_stopwords(of, stopwords, language, lowercase)?,
        stemmer: resolve_stemmer(of, stemmer, language)?,
    })
}
