//! A full-text index's analyzer: its schema ([`TextIndexParams`]) converted into the plain options
//! of [`crate::text::Analyzer`], which does the tokenising. Filter evaluation uses the same analyzer
//! (through `FilterContext`), so a text condition means the same thing whether or not the planner
//! narrowed it with the index.

use serde_json::Value;

use super::schema::{TextIndexParams, TokenizerType};
use crate::text::{Analyzer, AnalyzerOptions, StemmingAlgorithm, TokenizerKind};

/// Text index parameters the analyzer cannot take; the messages are meant for the API caller.
#[derive(Debug, thiserror::Error)]
pub enum TextIndexError {
    /// `stemmer` (kept as raw JSON in the schema, to be echoed verbatim) has the wrong shape.
    #[error(
        "text index option `stemmer` must be {{\"type\": \"snowball\", \"language\": ...}} \
         or {{\"type\": \"none\"}}: {0}"
    )]
    StemmerShape(serde_json::Error),
    /// A language, stop-word list or stemmer Helio does not have.
    #[error(transparent)]
    Text(#[from] crate::text::Error),
}

impl From<TokenizerType> for TokenizerKind {
    fn from(t: TokenizerType) -> Self {
        match t {
            TokenizerType::Prefix => TokenizerKind::Prefix,
            TokenizerType::Whitespace => TokenizerKind::Whitespace,
            TokenizerType::Word => TokenizerKind::Word,
            TokenizerType::Multilingual => TokenizerKind::Multilingual,
        }
    }
}

/// The analyzer options `p` describes; the defaults are Qdrant's.
pub(super) fn analyzer_options(p: &TextIndexParams) -> Result<AnalyzerOptions, TextIndexError> {
    let stemmer: Option<StemmingAlgorithm> = p
        .stemmer
        .as_ref()
        .map(|v: &Value| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(TextIndexError::StemmerShape)?;
    Ok(AnalyzerOptions {
        tokenizer: p.tokenizer.unwrap_or_default().into(),
        lowercase: p.lowercase.unwrap_or(true),
        ascii_folding: p.ascii_folding.unwrap_or(false),
        min_token_len: p.min_token_len.unwrap_or(0),
        max_token_len: p.max_token_len.unwrap_or(usize::MAX),
        stopwords: p.stopwords.clone(),
        stemmer,
    })
}

/// The analyzer of a text index with parameters `p`. `stopwords` and `stemmer` take BM25's languages
/// (`"portuguese"`, `{"type": "snowball", "language": "portuguese"}`); an unknown language, or one
/// Helio has no list or stemmer for, is an error naming the option.
pub(super) fn analyzer(p: &TextIndexParams) -> Result<Analyzer, TextIndexError> {
    Ok(Analyzer::new(&analyzer_options(p)?)?)
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
        // The analyzer's own behaviour is tested in `text::analyzer`; here, the index built with it.
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
    fn parameters_become_analyzer_options() {
        let options = analyzer_options(&TextIndexParams {
            tokenizer: Some(TokenizerType::Multilingual),
            lowercase: Some(false),
            ascii_folding: Some(true),
            min_token_len: Some(2),
            max_token_len: Some(4),
            stopwords: Some(StopwordsInterface::Language("english".into())),
            stemmer: Some(json!({"type": "none"})),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            options,
            AnalyzerOptions {
                tokenizer: TokenizerKind::Multilingual,
                lowercase: false,
                ascii_folding: true,
                min_token_len: 2,
                max_token_len: 4,
                stopwords: Some(StopwordsInterface::Language("english".into())),
                stemmer: Some(StemmingAlgorithm::None),
            }
        );
        assert_eq!(
            analyzer_options(&TextIndexParams::default()).unwrap(),
            AnalyzerOptions::default()
        );
    }

    #[test]
    fn portuguese_stop_words_and_stemmer() {
        let tok = analyzer(&TextIndexParams {
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
            analyzer(&TextIndexParams {
                stopwords: stopwords.map(|l| StopwordsInterface::Language(l.into())),
                stemmer,
                ..Default::default()
            })
            .map_err(|e| e.to_string())
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
