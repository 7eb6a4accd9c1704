//! Stop words: the `stopwords` option (Qdrant's `StopwordsInterface`, the same for BM25 and the
//! full-text index) and the set of words it describes. The lists Helio bundles are in
//! `stopwords/*.txt`, one word a line.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::error::{Error, OptionsOf};
use super::language::{find_language, Language};

/// The `stopwords` option: a language name, or a set of languages and/or custom words.
///
/// A wire type: BM25 reads it from a Document's options, and the text payload index stores it in its
/// schema (in SQLite) and echoes it back, hence `Serialize`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum StopwordsInterface {
    /// The stop words of one language, e.g. `"portuguese"`.
    Language(String),
    /// `{"languages": [...], "custom": [...]}`; either key may be absent.
    Set {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        languages: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        custom: Option<Vec<String>>,
    },
}

/// The stop-word set: the `stopwords` option when given, else the language's list. Lowercased when
/// `lowercase` is on, as Qdrant does, so that it matches lowercased tokens.
pub(super) fn resolve_stopwords(
    of: OptionsOf,
    option: Option<&StopwordsInterface>,
    language: Option<&Language>,
    lowercase: bool,
) -> Result<HashSet<String>, Error> {
    let mut set = HashSet::new();
    match option {
        Some(StopwordsInterface::Language(name)) => {
            add_language_stopwords(of, &mut set, name, lowercase)?
        }
        Some(StopwordsInterface::Set { languages, custom }) => {
            for name in languages.iter().flatten() {
                add_language_stopwords(of, &mut set, name, lowercase)?;
            }
            for word in custom.iter().flatten() {
                set.insert(if lowercase {
                    word.to_lowercase()
                } else {
                    word.clone()
                });
            }
        }
        // Snowball-only languages (armenian, tamil) have no stop-word list in Qdrant: they stem
        // but keep every word.
        None => match language {
            Some(lang) if lang.has_stopwords => {
                add_language_stopwords(of, &mut set, lang.name, lowercase)?
            }
            _ => {}
        },
    }
    Ok(set)
}

/// Adds the stop words of language `name` (lowercased when `lowercase` is on, as Qdrant does, so
/// that they match lowercased tokens).
fn add_language_stopwords(
    of: OptionsOf,
    set: &mut HashSet<String>,
    name: &str,
    lowercase: bool,
) -> Result<(), Error> {
    let lang = find_language(name)
        .filter(|lang| lang.has_stopwords)
        .ok_or_else(|| Error::UnknownStopwordLanguage {
            of,
            name: name.to_string(),
        })?;
    let list = lang.stopwords.ok_or(Error::StopwordsNotBundled {
        of,
        language: lang.name,
    })?;
    for word in list.lines().filter(|line| !line.is_empty()) {
        set.insert(if lowercase {
            word.to_lowercase()
        } else {
            word.to_string()
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_custom_words_and_case() {
        let option: StopwordsInterface =
            serde_json::from_value(serde_json::json!({"languages": ["pt"], "custom": ["Kit"]}))
                .unwrap();
        let set = resolve_stopwords(OptionsOf::Bm25, Some(&option), None, true).unwrap();
        assert!(set.contains("de") && set.contains("para") && set.contains("kit"));
        let set = resolve_stopwords(OptionsOf::Bm25, Some(&option), None, false).unwrap();
        assert!(set.contains("Kit") && !set.contains("kit"));
        // No option and no language: no stop words.
        assert!(resolve_stopwords(OptionsOf::TextIndex, None, None, true)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_wire_shape_round_trips() {
        for value in [
            serde_json::json!("english"),
            serde_json::json!({"languages": ["english"]}),
            serde_json::json!({"custom": ["a"]}),
            serde_json::json!({"languages": ["pt"], "custom": ["a"]}),
        ] {
            let option: StopwordsInterface = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(&option).unwrap(), value);
        }
    }
}
