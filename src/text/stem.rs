//! Snowball stemming (the `rust-stemmers` crate): the `stemmer` option, the stemmer it picks, and
//! [`stem`], which BM25 and the full-text index both apply to each token after the stop-word check.

use std::borrow::Cow;

use rust_stemmers::Stemmer;
use serde::Deserialize;

use super::error::{Error, OptionsOf};
use super::language::{find_language, snowball_names, Language, Snowball};

/// The `stemmer` option (Qdrant's `StemmingAlgorithm`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StemmingAlgorithm {
    /// `{"type": "snowball", "language": "portuguese"}`.
    Snowball { language: String },
    /// `{"type": "none"}`: no stemming, whatever the language.
    None,
}

/// The stemmer: the `stemmer` option when given, else the language's.
pub(super) fn resolve_stemmer(
    of: OptionsOf,
    option: Option<&StemmingAlgorithm>,
    language: Option<&Language>,
) -> Result<Option<Stemmer>, Error> {
    let lang = match option {
        Some(StemmingAlgorithm::None) => return Ok(None),
        Some(StemmingAlgorithm::Snowball { language: name }) => find_language(name)
            .filter(|lang| lang.snowball != Snowball::Absent)
            .ok_or_else(|| Error::UnknownStemmer {
                of,
                name: name.clone(),
                known: snowball_names(),
            })?,
        None => match language {
            Some(lang) if lang.snowball != Snowball::Absent => lang,
            _ => return Ok(None),
        },
    };
    match lang.snowball {
        Snowball::Available(algorithm) => Ok(Some(Stemmer::create(algorithm))),
        _ => Err(Error::StemmerUnavailable {
            language: lang.name,
        }),
    }
}

/// Stems `token`, keeping its allocation when the stemmer leaves it as it is.
pub fn stem<'a>(stemmer: &Stemmer, token: Cow<'a, str>) -> Cow<'a, str> {
    match token {
        Cow::Borrowed(text) => stemmer.stem(text),
        Cow::Owned(text) => match stemmer.stem(&text) {
            // A borrowed result is the input unchanged.
            Cow::Borrowed(_) => Cow::Owned(text),
            Cow::Owned(stemmed) => Cow::Owned(stemmed),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::language::resolve_language;

    #[test]
    fn the_option_overrides_the_language() {
        let pt = resolve_language(OptionsOf::Bm25, "portuguese").unwrap();
        let stemmer = resolve_stemmer(OptionsOf::Bm25, None, pt).unwrap().unwrap();
        assert_eq!(
            stem(&stemmer, Cow::Borrowed("inversores")),
            stem(&stemmer, Cow::Borrowed("inversor"))
        );
        let none = StemmingAlgorithm::None;
        assert!(resolve_stemmer(OptionsOf::Bm25, Some(&none), pt)
            .unwrap()
            .is_none());
        let en = StemmingAlgorithm::Snowball {
            language: "en".into(),
        };
        let stemmer = resolve_stemmer(OptionsOf::TextIndex, Some(&en), None)
            .unwrap()
            .unwrap();
        assert_eq!(stem(&stemmer, Cow::Owned("running".into())), "run");
        // Armenian: Qdrant stems it with a fork Helio lacks.
        let hy = StemmingAlgorithm::Snowball {
            language: "armenian".into(),
        };
        assert_eq!(
            resolve_stemmer(OptionsOf::Bm25, Some(&hy), None).err(),
            Some(Error::StemmerUnavailable {
                language: "armenian"
            })
        );
    }
}
