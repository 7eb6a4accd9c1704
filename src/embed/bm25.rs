//! BM25 sparse vectors, computed the way Qdrant 1.18 computes them for its
//! server-side inference model `qdrant/bm25`.
//!
//! A document's text becomes a sparse vector: one entry per distinct token,
//! indexed by a hash of the token and valued by the BM25 term-frequency part
//!
//! ```text
//! tf * (k + 1) / (tf + k * (1 - b + b * doc_len / avg_len))
//! ```
//!
//! The IDF part is not in the vector: Qdrant adds it at search time when the
//! sparse vector is configured with the `idf` modifier.
//!
//! Each token goes through the same steps, in the same order, as in Qdrant:
//!
//! 1. split the text: on every character that is not alphanumeric (`word`
//!    tokenizer, the default) or on whitespace (`whitespace` tokenizer);
//! 2. ASCII folding (`ascii_folding`, off by default);
//! 3. lowercasing (`lowercase`, on by default);
//! 4. stop-word removal (the language's list unless `stopwords` says otherwise);
//! 5. Snowball stemming (the language's stemmer unless `stemmer` says otherwise);
//! 6. length filter on the stemmed token, counted in characters
//!    (`min_token_len`, `max_token_len`).
//!
//! `doc_len` is the number of tokens that survive all six steps.
//!
//! The steps themselves (splitting, folding, stop words, stemmers) are [`crate::text`]'s, shared with
//! the full-text payload index; this file puts them in BM25's order.
//!
//! Every `(text, options)` pair of the reference file
//! `tests/fixtures/bm25-qdrant-reference.jsonl`, produced by a real Qdrant
//! 1.18.3, is checked by the tests at the bottom of this file.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Cursor;

use rust_stemmers::Stemmer;
use serde::Deserialize;

use crate::text::{
    fold_to_ascii, lowercase, resolve_language, split, stem, vocabulary, OptionsOf,
    StemmingAlgorithm, StopwordsInterface, TokenizerKind,
};

/// Qdrant's default for `k` (term-frequency saturation).
pub const DEFAULT_K: f64 = 1.2;
/// Qdrant's default for `b` (document-length normalisation).
pub const DEFAULT_B: f64 = 0.75;
/// Qdrant's default for `avg_len` (expected average document length, in tokens).
pub const DEFAULT_AVG_LEN: f64 = 256.0;

/// Options of Qdrant's `qdrant/bm25` model, as sent in a Document's `options`.
///
/// Unknown keys are ignored, not rejected: Qdrant flattens these options into
/// one struct and so cannot (and does not) refuse keys it does not know.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Bm25Options {
    /// Term-frequency saturation, `>= 0`. Default 1.2.
    pub k: Option<f64>,
    /// Document-length normalisation, in `[0, 1]`. Default 0.75.
    pub b: Option<f64>,
    /// Expected average document length in tokens, `> 0`. Default 256.
    pub avg_len: Option<f64>,
    /// How text is split into tokens. Default `word`.
    pub tokenizer: Option<Bm25Tokenizer>,
    /// Picks the default stop words and stemmer; `"none"` turns both off.
    /// When absent, the `default_language` given to [`Bm25::new`] applies.
    pub language: Option<String>,
    /// Lowercase tokens. Default true.
    pub lowercase: Option<bool>,
    /// Fold accented and other non-ASCII Latin letters to ASCII ("ação" ->
    /// "acao"). Default false.
    pub ascii_folding: Option<bool>,
    /// Replaces the language's stop words.
    pub stopwords: Option<StopwordsInterface>,
    /// Replaces the language's stemmer.
    pub stemmer: Option<StemmingAlgorithm>,
    /// Drop tokens shorter than this many characters (after stemming).
    pub min_token_len: Option<usize>,
    /// Drop tokens longer than this many characters (after stemming).
    pub max_token_len: Option<usize>,
}

/// The `tokenizer` option.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Bm25Tokenizer {
    /// Split on every character that is not alphanumeric (Qdrant's default).
    Word,
    /// Split on Unicode whitespace only.
    Whitespace,
    /// Accepted by Qdrant, not supported here: [`Bm25::new`] refuses it.
    Prefix,
    /// Accepted by Qdrant, not supported here: [`Bm25::new`] refuses it.
    Multilingual,
}

pub use super::SparseVector;

/// BM25 options Helio cannot apply; the messages are meant for the API caller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Bm25Error {
    #[error("bm25 option `k` must be a number >= 0, got {0}")]
    K(f64),
    #[error("bm25 option `b` must be a number between 0 and 1, got {0}")]
    B(f64),
    #[error("bm25 option `avg_len` must be a number > 0, got {0}")]
    AvgLen(f64),
    #[error(
        "bm25 option `tokenizer`: {0:?} is not supported by Helio; \
         use \"word\" (the default) or \"whitespace\""
    )]
    Tokenizer(Bm25Tokenizer),
    /// A language, stop-word list or stemmer Helio does not have.
    #[error(transparent)]
    Text(#[from] crate::text::Error),
}

/// A prepared `qdrant/bm25` model: build it once per option set and reuse it.
pub struct Bm25 {
    k: f64,
    b: f64,
    avg_len: f64,
    tokenizer: TokenizerKind,
    lowercase: bool,
    ascii_folding: bool,
    /// Already lowercased when `lowercase` is on, so a lookup is one hash.
    stopwords: HashSet<String>,
    stemmer: Option<Stemmer>,
    min_token_len: Option<usize>,
    max_token_len: Option<usize>,
}

impl std::fmt::Debug for Bm25 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25")
            .field("k", &self.k)
            .field("b", &self.b)
            .field("avg_len", &self.avg_len)
            .field("tokenizer", &self.tokenizer)
            .field("lowercase", &self.lowercase)
            .field("ascii_folding", &self.ascii_folding)
            .field("stopwords", &self.stopwords.len())
            .field("stemmer", &self.stemmer.is_some())
            .field("min_token_len", &self.min_token_len)
            .field("max_token_len", &self.max_token_len)
            .finish()
    }
}

impl Bm25 {
    /// Prepares the model for `options`.
    ///
    /// `default_language` applies when `options.language` is absent (Qdrant's
    /// own default is `"english"`).
    ///
    /// Invalid options (unknown language, `k < 0`, `b` outside `[0, 1]`,
    /// `avg_len <= 0`, an unsupported tokenizer, ...) give an error message
    /// meant for the API caller.
    pub fn new(options: &Bm25Options, default_language: &str) -> Result<Bm25, Bm25Error> {
        let k = options.k.unwrap_or(DEFAULT_K);
        let b = options.b.unwrap_or(DEFAULT_B);
        let avg_len = options.avg_len.unwrap_or(DEFAULT_AVG_LEN);
        if !k.is_finite() || k < 0.0 {
            return Err(Bm25Error::K(k));
        }
        if !b.is_finite() || !(0.0..=1.0).contains(&b) {
            return Err(Bm25Error::B(b));
        }
        if !avg_len.is_finite() || avg_len <= 0.0 {
            return Err(Bm25Error::AvgLen(avg_len));
        }

        let tokenizer = match options.tokenizer.unwrap_or(Bm25Tokenizer::Word) {
            Bm25Tokenizer::Word => TokenizerKind::Word,
            Bm25Tokenizer::Whitespace => TokenizerKind::Whitespace,
            unsupported @ (Bm25Tokenizer::Prefix | Bm25Tokenizer::Multilingual) => {
                return Err(Bm25Error::Tokenizer(unsupported))
            }
        };

        let lowercase = options.lowercase.unwrap_or(true);
        let language_name = options.language.as_deref().unwrap_or(default_language);
        let language = resolve_language(OptionsOf::Bm25, language_name)?;
        let vocabulary = vocabulary(
            OptionsOf::Bm25,
            options.stopwords.as_ref(),
            options.stemmer.as_ref(),
            language,
            lowercase,
        )?;

        Ok(Bm25 {
            k,
            b,
            avg_len,
            tokenizer,
            lowercase,
            ascii_folding: options.ascii_folding.unwrap_or(false),
            stopwords: vocabulary.stopwords,
            stemmer: vocabulary.stemmer,
            min_token_len: options.min_token_len,
            max_token_len: options.max_token_len,
        })
    }

    /// The document vector of `text` (what Qdrant stores on upsert).
    pub fn embed(&self, text: &str) -> SparseVector {
        let mut counts: HashMap<Cow<str>, u32> = HashMap::new();
        let mut doc_len = 0u32;
        self.tokenize(text, |token| {
            doc_len += 1;
            *counts.entry(token).or_insert(0) += 1;
        });

        let mut entries: Vec<(u32, Cow<str>, u32)> = counts
            .into_iter()
            .map(|(token, count)| (token_id(&token), token, count))
            .collect();
        // Two different tokens can hash to the same index. Qdrant then keeps
        // whichever one its hash map yields last, which varies from run to run;
        // keeping the smallest token instead at least makes the result stable.
        entries.sort_unstable_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
        entries.dedup_by_key(|entry| entry.0);

        let doc_len = f64::from(doc_len);
        let (indices, values) = entries
            .into_iter()
            .map(|(id, _, count)| (id, self.term_weight(count, doc_len)))
            .unzip();
        SparseVector { indices, values }
    }

    /// The query vector of `text` (what Qdrant searches with when a query is a
    /// `qdrant/bm25` Document): the same indices as [`Bm25::embed`], each
    /// weighing 1.0, since the IDF modifier supplies the query-side weight.
    pub fn embed_query(&self, text: &str) -> SparseVector {
        let mut indices = Vec::new();
        self.tokenize(text, |token| indices.push(token_id(&token)));
        indices.sort_unstable();
        indices.dedup();
        let values = vec![1.0; indices.len()];
        SparseVector { indices, values }
    }

    /// BM25's term-frequency part for a token seen `count` times in a text of
    /// `doc_len` tokens. Computed in f64 with a fused multiply-add, as Qdrant
    /// does, so the f32 result is bit-for-bit the same.
    fn term_weight(&self, count: u32, doc_len: f64) -> f32 {
        let count = f64::from(count);
        let length_norm = 1.0 - self.b + self.b * doc_len / self.avg_len;
        let weight = count * (self.k + 1.0) / self.k.mul_add(length_norm, count);
        weight as f32
    }

    /// Calls `emit` with each token of `text` that survives every step.
    fn tokenize<'a>(&self, text: &'a str, mut emit: impl FnMut(Cow<'a, str>)) {
        split(self.tokenizer, text, |raw| {
            if let Some(token) = self.process(raw) {
                emit(token);
            }
        });
    }

    /// Steps 2-6 of the module doc for one raw (non-empty) token; `None` drops it.
    fn process<'a>(&self, raw: Cow<'a, str>) -> Option<Cow<'a, str>> {
        let mut token = raw;
        if self.ascii_folding && !token.is_ascii() {
            token = Cow::Owned(fold_to_ascii(&token));
        }
        if self.lowercase {
            token = lowercase(token);
        }
        if self.stopwords.contains(token.as_ref()) {
            return None;
        }
        if let Some(stemmer) = &self.stemmer {
            token = stem(stemmer, token);
        }
        let too_short = self
            .min_token_len
            .is_some_and(|min| token.chars().count() < min);
        let too_long = self
            .max_token_len
            .is_some_and(|max| token.chars().count() > max);
        if too_short || too_long {
            return None;
        }
        Some(token)
    }
}

/// The sparse index of a token: 32-bit MurmurHash3 (seed 0) of its UTF-8
/// bytes, read as a signed i32, then its absolute value.
///
/// The absolute value is Qdrant's (inherited from FastEmbed's Python BM25,
/// which stored indices as signed ints): it keeps indices in `0..=2^31`, and
/// it means a hash and its negation share an index. `unsigned_abs` avoids the
/// overflow of `i32::MIN.abs()` (that hash maps to 2^31).
pub fn token_id(token: &str) -> u32 {
    let hash = murmur3::murmur3_32(&mut Cursor::new(token.as_bytes()), 0)
        .expect("reading from an in-memory buffer cannot fail");
    (hash as i32).unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copies of the shared fixtures live in `tests/fixtures/`; the
    /// environment variable `HELIO_FIXTURES_DIR` points elsewhere when needed.
    const FIXTURES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn fixture(name: &str) -> String {
        let dir = std::env::var("HELIO_FIXTURES_DIR").unwrap_or_else(|_| FIXTURES_DIR.to_string());
        let path = format!("{dir}/{name}");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    }

    fn model(options: serde_json::Value) -> Bm25 {
        let options: Bm25Options = serde_json::from_value(options).unwrap();
        Bm25::new(&options, "portuguese").unwrap()
    }

    fn weight_of(vector: &SparseVector, token: &str) -> Option<f32> {
        let id = token_id(token);
        let i = vector.indices.iter().position(|&index| index == id)?;
        Some(vector.values[i])
    }

    #[test]
    fn reproduces_every_qdrant_reference_vector() {
        let text = fixture("bm25-qdrant-reference.jsonl");
        let mut total = 0;
        let mut mismatches = Vec::new();
        for (line_no, line) in text.lines().enumerate() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let options: Bm25Options = match &row["options"] {
                serde_json::Value::Null => Bm25Options::default(),
                options => serde_json::from_value(options.clone()).unwrap(),
            };
            let expected_indices: Vec<u32> =
                serde_json::from_value(row["indices"].clone()).unwrap();
            let expected_values: Vec<f32> = serde_json::from_value(row["values"].clone()).unwrap();

            // Qdrant's own default language is English.
            let got = Bm25::new(&options, "english")
                .unwrap()
                .embed(row["text"].as_str().unwrap());
            total += 1;
            let same = got.indices == expected_indices
                && got
                    .values
                    .iter()
                    .zip(&expected_values)
                    .all(|(a, b)| (a - b).abs() <= 1e-5);
            if !same {
                mismatches.push(format!(
                    "line {}: text {:?} options {}\n  expected {:?} {:?}\n  got      {:?} {:?}",
                    line_no + 1,
                    row["text"],
                    row["options"],
                    expected_indices,
                    expected_values,
                    got.indices,
                    got.values
                ));
            }
        }
        assert_eq!(total, 1152, "the reference file should hold 1152 vectors");
        assert!(
            mismatches.is_empty(),
            "{} of {total} vectors differ from Qdrant's; first ones:\n{}",
            mismatches.len(),
            mismatches[..mismatches.len().min(5)].join("\n")
        );
    }

    #[test]
    fn singular_and_plural_share_a_token_in_portuguese() {
        let bm25 = model(serde_json::json!({}));
        assert_eq!(
            bm25.embed("inversores").indices,
            bm25.embed("inversor").indices
        );
        assert_eq!(bm25.embed("inversor").indices.len(), 1);
    }

    #[test]
    fn portuguese_stop_words_are_dropped() {
        let bm25 = model(serde_json::json!({"language": "portuguese"}));
        let vector = bm25.embed("kit de fixação para telhado");
        assert_eq!(vector.indices.len(), 3, "de and para are stop words");
        assert!(weight_of(&vector, "de").is_none());
        assert!(weight_of(&vector, "para").is_none());
        // Only stop words: an empty vector, as Qdrant returns.
        assert_eq!(bm25.embed("de para com"), SparseVector::default());
    }

    #[test]
    fn ascii_folding_makes_accents_irrelevant() {
        let folded = model(serde_json::json!({"ascii_folding": true}));
        assert_eq!(folded.embed("eficiência"), folded.embed("eficiencia"));
        assert_eq!(folded.embed("AÇÃO"), folded.embed("acao"));
        let plain = model(serde_json::json!({}));
        assert_ne!(plain.embed("eficiência"), plain.embed("eficiencia"));
    }

    #[test]
    fn weight_matches_the_formula_by_hand() {
        // "painel painel solar" with language none: doc_len 3, "painel" twice.
        // length norm: 1 - 0.75 + 0.75 * 3 / 256 = 0.2587890625 (exact in binary)
        // painel: 2 * 2.2 / (2 + 1.2 * 0.2587890625) = 4.4 / 2.310546875 ~ 1.90431
        // solar:  1 * 2.2 / (1 + 1.2 * 0.2587890625) = 2.2 / 1.310546875 ~ 1.67869
        let vector = model(serde_json::json!({"language": "none"})).embed("painel painel solar");
        let painel = (4.4 / 2.310546875) as f32;
        let solar = (2.2 / 1.310546875) as f32;
        assert!((weight_of(&vector, "painel").unwrap() - painel).abs() < 1e-6);
        assert!((weight_of(&vector, "solar").unwrap() - solar).abs() < 1e-6);
        assert!(
            (solar - 1.678_689).abs() < 1e-6,
            "the reference file's value for 3 tokens"
        );

        // b = 0: no length normalisation, a single occurrence weighs exactly 1.
        let vector = model(serde_json::json!({"b": 0.0})).embed("inversor");
        assert_eq!(vector.values, vec![1.0]);
    }

    #[test]
    fn query_vector_has_unit_weights() {
        let bm25 = model(serde_json::json!({}));
        let text = "Inversores e inversor híbrido de 10 kW";
        let query = bm25.embed_query(text);
        assert_eq!(query.indices, bm25.embed(text).indices);
        assert!(query.values.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn indices_are_sorted_and_unique() {
        let bm25 = model(serde_json::json!({}));
        let vector = bm25.embed("painel solar painel inversor bateria solar cabo");
        assert!(vector.indices.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(vector.indices.len(), vector.values.len());
    }

    #[test]
    fn token_ids_are_murmur3_absolute_values() {
        // murmur3_32("hello", seed 0) = 0x248bfa47, positive as an i32.
        assert_eq!(token_id("hello"), 0x248b_fa47);
        // murmur3_32("", seed 0) = 0.
        assert_eq!(token_id(""), 0);
    }

    #[test]
    fn word_tokenizer_splits_on_non_alphanumerics() {
        let bm25 = model(serde_json::json!({"language": "none"}));
        let mut tokens = Vec::new();
        bm25.tokenize("R$ 1.234,56 50kWp São-Paulo/SP ☀️", |t| {
            tokens.push(t.into_owned())
        });
        assert_eq!(
            tokens,
            ["r", "1", "234", "56", "50kwp", "são", "paulo", "sp"]
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let bad = [
            serde_json::json!({"k": -1.0}),
            serde_json::json!({"b": 1.5}),
            serde_json::json!({"b": -0.1}),
            serde_json::json!({"avg_len": 0}),
            serde_json::json!({"language": "klingon"}),
            serde_json::json!({"language": "Portuguese"}),
            serde_json::json!({"tokenizer": "multilingual"}),
            serde_json::json!({"tokenizer": "prefix"}),
            serde_json::json!({"stemmer": {"type": "snowball", "language": "klingon"}}),
            serde_json::json!({"stopwords": "klingon"}),
            // Known to Qdrant, but the list is not bundled: refuse, don't guess.
            serde_json::json!({"language": "german"}),
        ];
        for options in bad {
            let parsed: Bm25Options = serde_json::from_value(options.clone()).unwrap();
            let Err(error) = Bm25::new(&parsed, "portuguese") else {
                panic!("{options} should be refused");
            };
            assert!(!error.to_string().is_empty());
        }
        // Wrong types fail at deserialisation.
        assert!(serde_json::from_value::<Bm25Options>(serde_json::json!({"k": "big"})).is_err());
        assert!(
            serde_json::from_value::<Bm25Options>(serde_json::json!({"tokenizer": "x"})).is_err()
        );
        // And a bad default language is an error too.
        assert!(Bm25::new(&Bm25Options::default(), "klingon").is_err());
    }

    #[test]
    fn accepted_option_shapes() {
        let good = [
            serde_json::json!({"k": 0.0}),
            serde_json::json!({"language": "pt"}),
            serde_json::json!({"tokenizer": "whitespace"}),
            serde_json::json!({"unknown_key": 1}),
            serde_json::json!({"stemmer": {"type": "none"}}),
            serde_json::json!({"stemmer": {"type": "snowball", "language": "english"}}),
            serde_json::json!({"stopwords": "english"}),
            serde_json::json!({"stopwords": {"languages": ["english"], "custom": ["Kit"]}}),
            serde_json::json!({"language": "german", "stopwords": {"custom": ["und"]}}),
        ];
        for options in good {
            let parsed: Bm25Options = serde_json::from_value(options.clone()).unwrap();
            if let Err(error) = Bm25::new(&parsed, "portuguese") {
                panic!("{options} should be accepted: {error}");
            }
        }
        // Custom stop words follow `lowercase`.
        let bm25 = model(serde_json::json!({"stopwords": {"custom": ["Kit"]}}));
        assert!(bm25.embed("KIT").indices.is_empty());
        let bm25 = model(serde_json::json!({"stopwords": {"custom": ["Kit"]}, "lowercase": false}));
        assert!(bm25.embed("KIT").indices.len() == 1);
        assert!(bm25.embed("Kit").indices.is_empty());
    }

    /// Throughput on the 2,000 product texts. Run with
    /// `cargo test --release -- --ignored --nocapture bm25_throughput`.
    #[test]
    #[ignore = "a measurement, not a check: run by hand in release with HELIO_FIXTURES_DIR=../shared/fixtures"]
    fn bm25_throughput() {
        let text = fixture("product-texts-2000.txt");
        let texts: Vec<&str> = text.lines().collect();
        let bm25 = model(serde_json::json!({}));
        let rounds = 20;
        let start = std::time::Instant::now();
        let mut entries = 0;
        for _ in 0..rounds {
            for text in &texts {
                entries += bm25.embed(text).indices.len();
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        let embedded = (rounds * texts.len()) as f64;
        println!(
            "bm25: {} texts in {elapsed:.3} s = {:.0} texts/s ({entries} entries)",
            embedded,
            embedded / elapsed
        );
    }
}
