//! The languages Qdrant 1.18 knows, for stop words, for Snowball stemming, or for both, and which of
//! them Helio can actually apply. One table, so BM25's `language` option and the `stopwords` and
//! `stemmer` options of BM25 and of the full-text index accept exactly the same names.

use rust_stemmers::Algorithm;

use super::error::{Error, OptionsOf};

/// Whether a language has a Snowball stemmer in Qdrant, and whether the `rust-stemmers` release on
/// crates.io has it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Snowball {
    Absent,
    /// Qdrant stems this language with its own fork of rust-stemmers; the crates.io release lacks
    /// it, so Helio refuses to guess.
    Unavailable,
    Available(Algorithm),
}

/// One language as Qdrant knows it: as a stop-word language, a Snowball stemmer language, or both.
#[derive(Debug)]
pub struct Language {
    /// The name in options, e.g. `"portuguese"`.
    pub(super) name: &'static str,
    /// Short names Qdrant also accepts, e.g. `"pt"`.
    aliases: &'static [&'static str],
    /// Qdrant has a stop-word list for it.
    pub(super) has_stopwords: bool,
    /// The list, when Helio bundles it.
    pub(super) stopwords: Option<&'static str>,
    pub(super) snowball: Snowball,
}

const fn lang(
    name: &'static str,
    aliases: &'static [&'static str],
    has_stopwords: bool,
    stopwords: Option<&'static str>,
    snowball: Snowball,
) -> Language {
    Language {
        name,
        aliases,
        has_stopwords,
        stopwords,
        snowball,
    }
}

/// Every language name Qdrant 1.18 accepts, with its aliases (Qdrant's names are case-sensitive and
/// so are these).
const LANGUAGES: &[Language] = {
    use Snowball::{Absent, Available as S, Unavailable};
    const EN: &str = include_str!("stopwords/english.txt");
    const PT: &str = include_str!("stopwords/portuguese.txt");
    &[
        lang("arabic", &["ar"], true, None, S(Algorithm::Arabic)),
        lang("armenian", &["hy"], false, None, Unavailable),
        lang("azerbaijani", &["az"], true, None, Absent),
        lang("basque", &["eu"], true, None, Absent),
        lang("bengali", &["bn"], true, None, Absent),
        lang("catalan", &["ca"], true, None, Absent),
        lang("chinese", &["zh"], true, None, Absent),
        lang("danish", &["da"], true, None, S(Algorithm::Danish)),
        lang("dutch", &["nl"], true, None, S(Algorithm::Dutch)),
        lang("english", &["en"], true, Some(EN), S(Algorithm::English)),
        lang("finnish", &["fi"], true, None, S(Algorithm::Finnish)),
        lang("french", &["fr"], true, None, S(Algorithm::French)),
        lang("german", &["de"], true, None, S(Algorithm::German)),
        lang("greek", &["el"], true, None, S(Algorithm::Greek)),
        lang("hebrew", &["he"], true, None, Absent),
        lang("hinglish", &["hi-en"], true, None, Absent),
        lang("hungarian", &["hu"], true, None, S(Algorithm::Hungarian)),
        lang("indonesian", &["id"], true, None, Absent),
        lang("italian", &["it"], true, None, S(Algorithm::Italian)),
        lang("japanese", &["jp"], true, None, Absent),
        lang("kazakh", &["kk"], true, None, Absent),
        lang("nepali", &["ne"], true, None, Absent),
        lang("norwegian", &["no"], true, None, S(Algorithm::Norwegian)),
        lang(
            "portuguese",
            &["pt"],
            true,
            Some(PT),
            S(Algorithm::Portuguese),
        ),
        lang("romanian", &["ro"], true, None, S(Algorithm::Romanian)),
        lang("russian", &["ru"], true, None, S(Algorithm::Russian)),
        lang("slovene", &["sl"], true, None, Absent),
        lang("spanish", &["es"], true, None, S(Algorithm::Spanish)),
        lang("swedish", &["sv"], true, None, S(Algorithm::Swedish)),
        lang("tajik", &["tg"], true, None, Absent),
        lang("tamil", &["ta"], false, None, S(Algorithm::Tamil)),
        lang("turkish", &["tr"], true, None, S(Algorithm::Turkish)),
    ]
};

/// The language called `name` or by the alias `name`.
pub(super) fn find_language(name: &str) -> Option<&'static Language> {
    LANGUAGES
        .iter()
        .find(|lang| lang.name == name || lang.aliases.contains(&name))
}

fn language_names() -> String {
    LANGUAGES
        .iter()
        .map(|lang| lang.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The names of the languages Helio can stem, for error messages.
pub(super) fn snowball_names() -> String {
    LANGUAGES
        .iter()
        .filter(|lang| matches!(lang.snowball, Snowball::Available(_)))
        .map(|lang| lang.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The language named in a `language` option; `None` for `"none"`, which turns off the default stop
/// words and stemmer.
pub fn resolve_language(of: OptionsOf, name: &str) -> Result<Option<&'static Language>, Error> {
    if name == "none" {
        return Ok(None);
    }
    match find_language(name) {
        Some(lang) => Ok(Some(lang)),
        None => Err(Error::UnknownLanguage {
            of,
            name: name.to_string(),
            known: language_names(),
        }),
    }
}
