//! Text analysis: what BM25 (`embed::bm25`) and the full-text payload index (`engine::payload_index`)
//! share to turn text into tokens: splitting, lower-casing, ASCII folding, stop words and Snowball
//! stemmers, with Qdrant 1.18's languages and option shapes.
//!
//! A leaf: it depends on nothing of ours (std, serde, rust-stemmers), so the engine and the
//! embeddings both use it without either importing the other.
//!
//! # Layout
//! - `tokenize.rs`: splitting text into raw tokens ([`TokenizerKind`]) and lower-casing them;
//! - `fold.rs`: ASCII folding, with Qdrant's table (`ascii_folding.tsv`) for BM25 and the full-text
//!   index's own;
//! - `language.rs`: the languages Qdrant knows, and which of them Helio can apply;
//! - `stopwords.rs`: the `stopwords` option ([`StopwordsInterface`]) and the bundled lists
//!   (`stopwords/*.txt`);
//! - `stem.rs`: the `stemmer` option ([`StemmingAlgorithm`]) and [`stem`];
//! - `vocabulary.rs`: stop words and stemmer of an option set, resolved together;
//! - `analyzer.rs`: [`Analyzer`], the full-text index's configured tokenizer;
//! - `error.rs`: [`Error`], every option Helio cannot apply, with messages for the API caller.
//!
//! BM25 composes the steps itself (`embed/bm25.rs`), in Qdrant's BM25 order, rather than through an
//! [`Analyzer`]: its folding table, its length limits and the order of its steps differ from the
//! full-text index's, and both reproduce what Qdrant does for each.

mod analyzer;
mod error;
mod fold;
mod language;
mod stem;
mod stopwords;
mod tokenize;
mod vocabulary;

pub use analyzer::{Analyzer, AnalyzerOptions};
pub use error::{Error, OptionsOf};
pub use fold::{fold_char, fold_to_ascii};
pub use language::{resolve_language, Language};
pub use stem::{stem, StemmingAlgorithm};
pub use stopwords::StopwordsInterface;
pub use tokenize::{lowercase, split, TokenizerKind};
pub use vocabulary::{vocabulary, Vocabulary};
