//! [`Error`]: what can be wrong with text-analysis options (a language, a stop-word list or a stemmer
//! Helio does not know or does not have). Both users of this module (BM25 and the full-text payload
//! index) take the same `stopwords` and `stemmer` options, so each message names whose option it is
//! ([`OptionsOf`]) and the caller passes it on to the API client as it is.

/// Whose `stopwords` and `stemmer` options are being read: BM25's, or a text payload index's (which
/// has no `language` option). Errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsOf {
    Bm25,
    TextIndex,
}

impl OptionsOf {
    fn name(self) -> &'static str {
        match self {
            OptionsOf::Bm25 => "bm25",
            OptionsOf::TextIndex => "text index",
        }
    }

    /// How to do without a language's stop words, where there is a way.
    fn without_stopwords(self) -> &'static str {
        match self {
            OptionsOf::Bm25 => ", or use `\"language\": \"none\"`",
            OptionsOf::TextIndex => "",
        }
    }
}

impl std::fmt::Display for OptionsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Text-analysis options Helio cannot apply. The messages are meant for the API caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `language` names no language Qdrant knows.
    #[error("{of} option `language`: unknown language {name:?}; use \"none\" or one of: {known}")]
    UnknownLanguage {
        of: OptionsOf,
        name: String,
        known: String,
    },
    /// `stopwords` names a language without a stop-word list in Qdrant.
    #[error("{of} option `stopwords`: unknown stop-word language {name:?}")]
    UnknownStopwordLanguage { of: OptionsOf, name: String },
    /// Qdrant has the language's stop words, Helio does not bundle them.
    #[error(
        "Helio does not bundle the stop words of {language:?} yet; give them as \
         `\"stopwords\": {{\"custom\": [...]}}`{}",
        of.without_stopwords()
    )]
    StopwordsNotBundled {
        of: OptionsOf,
        language: &'static str,
    },
    /// `stemmer` names a language without a Snowball stemmer in Qdrant.
    #[error("{of} option `stemmer`: no Snowball stemmer for {name:?}; use one of: {known}")]
    UnknownStemmer {
        of: OptionsOf,
        name: String,
        known: String,
    },
    /// Qdrant stems the language with its own fork of rust-stemmers, which Helio lacks.
    #[error(
        "Helio has no Snowball stemmer for {language:?}; set `\"stemmer\": {{\"type\": \"none\"}}` \
         to go without one"
    )]
    StemmerUnavailable { language: &'static str },
}
