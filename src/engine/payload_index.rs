//! Payload indexes: per-field inverted indexes keyed by [`Offset`], and the
//! planner that uses them to narrow a [`Filter`] to candidate offsets.
//!
//! The planner only ever returns a *superset* of the matching offsets: the
//! caller re-checks the full filter on every candidate (with
//! [`Filter::check_with`], passing the [`PayloadIndexes`] as the
//! [`FilterContext`] so full-text conditions use the index's tokenizer).
//!
//! Every index reads the values of its field with
//! [`values_at`](super::filter::values_at), the same function filter
//! evaluation uses, and ignores values of other types.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use roaring::RoaringBitmap;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::datetime;
use super::filter::{
    parse_path, values_at, AnyVariants, Condition, FieldCondition, Filter, FilterContext, Match,
    Range, RangeInterface, ValueVariants,
};
use super::geo::{radius_bounds, ring_bounds, GeoPoint, LatLonRect};
use super::types::{Offset, Payload};

// ---------------------------------------------------------------------------
// Schema (Qdrant's `field_schema` and `payload_schema`)
// ---------------------------------------------------------------------------

/// Qdrant's payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadSchemaType {
    Keyword,
    Integer,
    Float,
    Geo,
    Text,
    Bool,
    Datetime,
    Uuid,
}

impl PayloadSchemaType {
    pub const ALL: [PayloadSchemaType; 8] = [
        PayloadSchemaType::Keyword,
        PayloadSchemaType::Integer,
        PayloadSchemaType::Float,
        PayloadSchemaType::Geo,
        PayloadSchemaType::Text,
        PayloadSchemaType::Bool,
        PayloadSchemaType::Datetime,
        PayloadSchemaType::Uuid,
    ];

    /// Qdrant's name of the type (`"keyword"`, ...).
    pub fn as_str(self) -> &'static str {
        self.name()
    }

    pub fn name(self) -> &'static str {
        match self {
            PayloadSchemaType::Keyword => "keyword",
            PayloadSchemaType::Integer => "integer",
            PayloadSchemaType::Float => "float",
            PayloadSchemaType::Geo => "geo",
            PayloadSchemaType::Text => "text",
            PayloadSchemaType::Bool => "bool",
            PayloadSchemaType::Datetime => "datetime",
            PayloadSchemaType::Uuid => "uuid",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// `field_schema` of a create-index request: a bare type name or an object
/// with `type` and parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PayloadFieldSchema {
    Type(PayloadSchemaType),
    Params(PayloadSchemaParams),
}

impl PayloadFieldSchema {
    pub fn data_type(&self) -> PayloadSchemaType {
        match self {
            PayloadFieldSchema::Type(t) => *t,
            PayloadFieldSchema::Params(p) => p.data_type(),
        }
    }

    pub fn params(&self) -> Option<&PayloadSchemaParams> {
        match self {
            PayloadFieldSchema::Type(_) => None,
            PayloadFieldSchema::Params(p) => Some(p),
        }
    }

    pub fn from_value(v: Value) -> Result<Self, String> {
        let names = PayloadSchemaType::ALL
            .map(PayloadSchemaType::name)
            .join(", ");
        match v {
            Value::String(s) => PayloadSchemaType::parse(&s)
                .map(PayloadFieldSchema::Type)
                .ok_or_else(|| format!("unknown field_schema type `{s}`, expected one of {names}")),
            Value::Object(ref map) => {
                match map.get("type") {
                    None => {
                        return Err(format!("field_schema object must have a `type` ({names})"))
                    }
                    Some(Value::String(s)) if PayloadSchemaType::parse(s).is_none() => {
                        return Err(format!(
                            "unknown field_schema type `{s}`, expected one of {names}"
                        ))
                    }
                    _ => {}
                }
                serde_json::from_value(v)
                    .map(PayloadFieldSchema::Params)
                    .map_err(|e| format!("field_schema: {e}"))
            }
            other => Err(format!(
                "field_schema must be a type name or an object with `type`, got {other}"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for PayloadFieldSchema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PayloadFieldSchema::from_value(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl From<PayloadSchemaType> for PayloadFieldSchema {
    fn from(t: PayloadSchemaType) -> Self {
        PayloadFieldSchema::Type(t)
    }
}

/// Type-specific index parameters. Parameters that only tune storage or
/// the HNSW graph (`on_disk`, `is_tenant`, `is_principal`, `enable_hnsw`,
/// `lookup`, `range`, `stemmer`) are accepted and echoed but not acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PayloadSchemaParams {
    Keyword(KeywordIndexParams),
    Integer(IntegerIndexParams),
    Float(FloatIndexParams),
    Geo(GeoIndexParams),
    Text(TextIndexParams),
    Bool(BoolIndexParams),
    Datetime(DatetimeIndexParams),
    Uuid(UuidIndexParams),
}

impl PayloadSchemaParams {
    pub fn data_type(&self) -> PayloadSchemaType {
        match self {
            PayloadSchemaParams::Keyword(_) => PayloadSchemaType::Keyword,
            PayloadSchemaParams::Integer(_) => PayloadSchemaType::Integer,
            PayloadSchemaParams::Float(_) => PayloadSchemaType::Float,
            PayloadSchemaParams::Geo(_) => PayloadSchemaType::Geo,
            PayloadSchemaParams::Text(_) => PayloadSchemaType::Text,
            PayloadSchemaParams::Bool(_) => PayloadSchemaType::Bool,
            PayloadSchemaParams::Datetime(_) => PayloadSchemaType::Datetime,
            PayloadSchemaParams::Uuid(_) => PayloadSchemaType::Uuid,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tenant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegerIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloatIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoolIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatetimeIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UuidIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tenant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerType {
    Prefix,
    Whitespace,
    #[default]
    Word,
    Multilingual,
}

/// `stopwords`: a language name, or `{"languages": [...], "custom": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StopwordsInterface {
    Language(String),
    Set {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        languages: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        custom: Option<Vec<String>>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<TokenizerType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_token_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowercase: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ascii_folding: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phrase_matching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopwords: Option<StopwordsInterface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    /// Accepted and echoed; stemming is not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stemmer: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

/// One entry of a collection's `payload_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadIndexInfo {
    pub data_type: PayloadSchemaType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<PayloadSchemaParams>,
    pub points: usize,
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

/// The tokenizer of a full-text index, shared by indexing and by filter
/// evaluation so both see the same tokens.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    kind: TokenizerType,
    lowercase: bool,
    ascii_folding: bool,
    min_len: usize,
    max_len: usize,
    stopwords: HashSet<String>,
}

const ENGLISH_STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

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
        TextTokenizer::new(&TextIndexParams::default())
    }
}

impl TextTokenizer {
    pub fn new(p: &TextIndexParams) -> Self {
        let lowercase = p.lowercase.unwrap_or(true);
        let mut stopwords = HashSet::new();
        let mut add_language = |lang: &str| {
            if lang.eq_ignore_ascii_case("english") {
                stopwords.extend(ENGLISH_STOPWORDS.iter().map(|s| s.to_string()));
            }
        };
        let mut custom: Vec<String> = Vec::new();
        match &p.stopwords {
            Some(StopwordsInterface::Language(l)) => add_language(l),
            Some(StopwordsInterface::Set {
                languages,
                custom: c,
            }) => {
                for l in languages.iter().flatten() {
                    add_language(l);
                }
                custom.extend(c.iter().flatten().cloned());
            }
            None => {}
        }
        let mut tok = TextTokenizer {
            kind: p.tokenizer.unwrap_or_default(),
            lowercase,
            ascii_folding: p.ascii_folding.unwrap_or(false),
            min_len: p.min_token_len.unwrap_or(0),
            max_len: p.max_token_len.unwrap_or(usize::MAX),
            stopwords,
        };
        let custom: Vec<String> = custom.iter().map(|w| tok.normalize(w)).collect();
        tok.stopwords.extend(custom);
        tok
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

// ---------------------------------------------------------------------------
// Field indexes
// ---------------------------------------------------------------------------

/// `f64` with a total order; `-0.0` is stored as `0.0`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF64(f64);

impl OrdF64 {
    fn new(v: f64) -> Self {
        OrdF64(if v == 0.0 { 0.0 } else { v })
    }
}

impl Eq for OrdF64 {}

impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Geo grid cell size in degrees.
const GEO_CELL_DEG: f64 = 0.1;

fn geo_cell(p: &GeoPoint) -> (i32, i32) {
    (
        (p.lat / GEO_CELL_DEG).floor() as i32,
        (p.lon / GEO_CELL_DEG).floor() as i32,
    )
}

#[derive(Debug, Clone)]
enum IndexData {
    /// Keyword and uuid: value → offsets.
    Keyword(HashMap<String, RoaringBitmap>),
    Integer {
        map: BTreeMap<i64, RoaringBitmap>,
        /// Points with numbers that are not i64 (floats, huge u64): they
        /// may satisfy a range, so ranges always include them.
        other_numbers: RoaringBitmap,
    },
    Float(BTreeMap<OrdF64, RoaringBitmap>),
    Datetime(BTreeMap<i64, RoaringBitmap>),
    Bool {
        yes: RoaringBitmap,
        no: RoaringBitmap,
    },
    Geo(BTreeMap<(i32, i32), RoaringBitmap>),
    Text {
        tokenizer: TextTokenizer,
        map: HashMap<String, RoaringBitmap>,
    },
}

/// The index of one payload field.
#[derive(Debug, Clone)]
pub struct FieldIndex {
    field: String,
    schema: PayloadFieldSchema,
    /// Offsets with at least one indexed value.
    points: RoaringBitmap,
    data: IndexData,
}

fn uuid_key(s: &str) -> String {
    match uuid::Uuid::parse_str(s) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => s.to_string(),
    }
}

fn map_insert<K: Eq + std::hash::Hash>(map: &mut HashMap<K, RoaringBitmap>, k: K, o: Offset) {
    map.entry(k).or_default().insert(o);
}

fn map_remove<K: Eq + std::hash::Hash>(map: &mut HashMap<K, RoaringBitmap>, k: &K, o: Offset) {
    if let Some(b) = map.get_mut(k) {
        b.remove(o);
        if b.is_empty() {
            map.remove(k);
        }
    }
}

fn tree_insert<K: Ord>(map: &mut BTreeMap<K, RoaringBitmap>, k: K, o: Offset) {
    map.entry(k).or_default().insert(o);
}

fn tree_remove<K: Ord>(map: &mut BTreeMap<K, RoaringBitmap>, k: &K, o: Offset) {
    if let Some(b) = map.get_mut(k) {
        b.remove(o);
        if b.is_empty() {
            map.remove(k);
        }
    }
}

fn union_range<K: Ord>(
    map: &BTreeMap<K, RoaringBitmap>,
    lo: Bound<K>,
    hi: Bound<K>,
) -> RoaringBitmap {
    let empty = match (&lo, &hi) {
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a > b
                || (a == b
                    && !(matches!(lo, Bound::Included(_)) && matches!(hi, Bound::Included(_))))
        }
        _ => false,
    };
    let mut out = RoaringBitmap::new();
    if empty {
        return out;
    }
    for (_, b) in map.range((lo, hi)) {
        out |= b;
    }
    out
}

/// Loose inclusive bounds of a float range (a superset of it).
fn float_bounds(r: &Range<f64>) -> (Option<f64>, Option<f64>) {
    let lo = [r.gt, r.gte].into_iter().flatten().reduce(f64::max);
    let hi = [r.lt, r.lte].into_iter().flatten().reduce(f64::min);
    (lo, hi)
}

impl FieldIndex {
    pub fn new(field: &str, schema: PayloadFieldSchema) -> Self {
        let data = match schema.data_type() {
            PayloadSchemaType::Keyword | PayloadSchemaType::Uuid => {
                IndexData::Keyword(HashMap::new())
            }
            PayloadSchemaType::Integer => IndexData::Integer {
                map: BTreeMap::new(),
                other_numbers: RoaringBitmap::new(),
            },
            PayloadSchemaType::Float => IndexData::Float(BTreeMap::new()),
            PayloadSchemaType::Datetime => IndexData::Datetime(BTreeMap::new()),
            PayloadSchemaType::Bool => IndexData::Bool {
                yes: RoaringBitmap::new(),
                no: RoaringBitmap::new(),
            },
            PayloadSchemaType::Geo => IndexData::Geo(BTreeMap::new()),
            PayloadSchemaType::Text => {
                let params = match schema.params() {
                    Some(PayloadSchemaParams::Text(p)) => p.clone(),
                    _ => TextIndexParams::default(),
                };
                IndexData::Text {
                    tokenizer: TextTokenizer::new(&params),
                    map: HashMap::new(),
                }
            }
        };
        FieldIndex {
            field: field.to_string(),
            schema,
            points: RoaringBitmap::new(),
            data,
        }
    }

    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn schema(&self) -> &PayloadFieldSchema {
        &self.schema
    }

    /// Number of points with at least one indexed value.
    pub fn indexed_points(&self) -> usize {
        self.points.len() as usize
    }

    /// The tokenizer, for a text index.
    pub fn tokenizer(&self) -> Option<&TextTokenizer> {
        match &self.data {
            IndexData::Text { tokenizer, .. } => Some(tokenizer),
            _ => None,
        }
    }

    fn is_uuid(&self) -> bool {
        self.schema.data_type() == PayloadSchemaType::Uuid
    }

    /// Index the point's values of this field.
    pub fn add(&mut self, offset: Offset, payload: &Payload) {
        self.update(offset, payload, true)
    }

    /// Remove the point; `payload` must be the one it was added with.
    pub fn remove(&mut self, offset: Offset, payload: &Payload) {
        self.update(offset, payload, false)
    }

    fn update(&mut self, o: Offset, payload: &Payload, add: bool) {
        let values = values_at(payload, &self.field);
        let is_uuid = self.is_uuid();
        let mut any = false;
        match &mut self.data {
            IndexData::Keyword(map) => {
                for s in values.iter().filter_map(|v| v.as_str()) {
                    any = true;
                    let k = if is_uuid { uuid_key(s) } else { s.to_string() };
                    if add {
                        map_insert(map, k, o)
                    } else {
                        map_remove(map, &k, o)
                    }
                }
            }
            IndexData::Integer { map, other_numbers } => {
                for n in values.iter().filter_map(|v| v.as_number()) {
                    any = true;
                    match n.as_i64() {
                        Some(i) if add => tree_insert(map, i, o),
                        Some(i) => tree_remove(map, &i, o),
                        None if add => {
                            other_numbers.insert(o);
                        }
                        None => {
                            other_numbers.remove(o);
                        }
                    }
                }
            }
            IndexData::Float(map) => {
                for f in values.iter().filter_map(|v| v.as_f64()) {
                    any = true;
                    if add {
                        tree_insert(map, OrdF64::new(f), o)
                    } else {
                        tree_remove(map, &OrdF64::new(f), o)
                    }
                }
            }
            IndexData::Datetime(map) => {
                for t in values
                    .iter()
                    .filter_map(|v| v.as_str())
                    .filter_map(datetime::parse_micros)
                {
                    any = true;
                    if add {
                        tree_insert(map, t, o)
                    } else {
                        tree_remove(map, &t, o)
                    }
                }
            }
            IndexData::Bool { yes, no } => {
                for b in values.iter().filter_map(|v| v.as_bool()) {
                    any = true;
                    let target = if b { &mut *yes } else { &mut *no };
                    if add {
                        target.insert(o);
                    } else {
                        target.remove(o);
                    }
                }
            }
            IndexData::Geo(map) => {
                for p in values.iter().filter_map(|v| GeoPoint::from_value(v)) {
                    if !p.lat.is_finite() || !p.lon.is_finite() {
                        continue;
                    }
                    any = true;
                    let cell = geo_cell(&p);
                    if add {
                        tree_insert(map, cell, o)
                    } else {
                        tree_remove(map, &cell, o)
                    }
                }
            }
            IndexData::Text { tokenizer, map } => {
                for s in values.iter().filter_map(|v| v.as_str()) {
                    let tokens = tokenizer.index_tokens(s);
                    any |= !tokens.is_empty();
                    for t in tokens {
                        if add {
                            map_insert(map, t, o)
                        } else {
                            map_remove(map, &t, o)
                        }
                    }
                }
            }
        }
        if add {
            if any {
                self.points.insert(o);
            }
        } else {
            self.points.remove(o);
        }
    }

    /// Superset of the offsets whose values satisfy `m`, or `None` if this
    /// index cannot answer that kind of match.
    pub fn match_candidates(&self, m: &Match) -> Option<RoaringBitmap> {
        let is_uuid = self.is_uuid();
        match (&self.data, m) {
            (IndexData::Keyword(map), Match::Value(ValueVariants::String(s))) => {
                let k = if is_uuid { uuid_key(s) } else { s.clone() };
                Some(map.get(&k).cloned().unwrap_or_default())
            }
            (IndexData::Keyword(map), Match::Any(AnyVariants::Strings(list))) => {
                let mut out = RoaringBitmap::new();
                for s in list {
                    let k = if is_uuid { uuid_key(s) } else { s.clone() };
                    if let Some(b) = map.get(&k) {
                        out |= b;
                    }
                }
                Some(out)
            }
            (IndexData::Integer { map, .. }, Match::Value(ValueVariants::Integer(i))) => {
                Some(map.get(i).cloned().unwrap_or_default())
            }
            (IndexData::Integer { map, .. }, Match::Any(AnyVariants::Integers(list))) => {
                let mut out = RoaringBitmap::new();
                for i in list {
                    if let Some(b) = map.get(i) {
                        out |= b;
                    }
                }
                Some(out)
            }
            (IndexData::Float(map), Match::Value(ValueVariants::Integer(i))) => Some(
                map.get(&OrdF64::new(*i as f64))
                    .cloned()
                    .unwrap_or_default(),
            ),
            (IndexData::Float(map), Match::Any(AnyVariants::Integers(list))) => {
                let mut out = RoaringBitmap::new();
                for i in list {
                    if let Some(b) = map.get(&OrdF64::new(*i as f64)) {
                        out |= b;
                    }
                }
                Some(out)
            }
            (IndexData::Bool { yes, no }, Match::Value(ValueVariants::Bool(b))) => {
                Some(if *b { yes.clone() } else { no.clone() })
            }
            (IndexData::Text { tokenizer, map }, Match::Text(t) | Match::Phrase(t)) => {
                let tokens = tokenizer.query_tokens(t);
                if tokens.is_empty() {
                    return Some(RoaringBitmap::new());
                }
                let mut out: Option<RoaringBitmap> = None;
                for tok in &tokens {
                    let b = map.get(tok).cloned().unwrap_or_default();
                    out = Some(match out {
                        None => b,
                        Some(acc) => acc & b,
                    });
                }
                out
            }
            (IndexData::Text { tokenizer, map }, Match::TextAny(t)) => {
                let mut out = RoaringBitmap::new();
                for tok in tokenizer.query_tokens(t) {
                    if let Some(b) = map.get(&tok) {
                        out |= b;
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }

    /// Superset of the offsets with a value in the range, or `None`.
    pub fn range_candidates(&self, r: &RangeInterface) -> Option<RoaringBitmap> {
        match (&self.data, r) {
            (IndexData::Float(map), RangeInterface::Float(r)) => {
                let (lo, hi) = float_bounds(r);
                let lo = lo.map_or(Bound::Unbounded, |x| Bound::Included(OrdF64::new(x)));
                let hi = hi.map_or(Bound::Unbounded, |x| Bound::Included(OrdF64::new(x)));
                Some(union_range(map, lo, hi))
            }
            (IndexData::Integer { map, other_numbers }, RangeInterface::Float(r)) => {
                // Integers compare as f64; widen where f64 loses precision.
                let margin = |x: f64| if x.abs() >= 9.0e15 { 4096 } else { 0 };
                let (lo, hi) = float_bounds(r);
                let lo = lo.map_or(Bound::Unbounded, |x| {
                    Bound::Included((x.ceil() as i64).saturating_sub(margin(x)))
                });
                let hi = hi.map_or(Bound::Unbounded, |x| {
                    Bound::Included((x.floor() as i64).saturating_add(margin(x)))
                });
                Some(union_range(map, lo, hi) | other_numbers)
            }
            (IndexData::Datetime(map), RangeInterface::DateTime(_)) => {
                let r = r.datetime_micros()?;
                let lo = [r.gt, r.gte].into_iter().flatten().max();
                let hi = [r.lt, r.lte].into_iter().flatten().min();
                let lo = lo.map_or(Bound::Unbounded, Bound::Included);
                let hi = hi.map_or(Bound::Unbounded, Bound::Included);
                Some(union_range(map, lo, hi))
            }
            _ => None,
        }
    }

    /// Superset of the offsets with a geo point in the rectangle, or `None`
    /// for a non-geo index.
    pub fn geo_candidates(&self, rect: &LatLonRect) -> Option<RoaringBitmap> {
        let IndexData::Geo(map) = &self.data else {
            return None;
        };
        let eps = 1e-9;
        let mut out = RoaringBitmap::new();
        for (&(la, lo), b) in map {
            let lat0 = la as f64 * GEO_CELL_DEG - eps;
            let lat1 = (la as f64 + 1.0) * GEO_CELL_DEG + eps;
            let lon0 = lo as f64 * GEO_CELL_DEG - eps;
            let lon1 = (lo as f64 + 1.0) * GEO_CELL_DEG + eps;
            if rect.overlaps(lat0, lat1, lon0, lon1) {
                out |= b;
            }
        }
        Some(out)
    }

    /// Superset of the offsets satisfying a field condition, or `None`.
    pub fn condition_candidates(&self, fc: &FieldCondition) -> Option<RoaringBitmap> {
        if fc.values_count.is_some() || fc.is_empty.is_some() || fc.is_null.is_some() {
            return None;
        }
        let mut parts: Vec<RoaringBitmap> = Vec::new();
        if let Some(m) = &fc.r#match {
            parts.push(self.match_candidates(m)?);
        }
        if let Some(r) = &fc.range {
            parts.push(self.range_candidates(r)?);
        }
        if let Some(g) = &fc.geo_radius {
            parts.push(self.geo_candidates(&radius_bounds(&g.center, g.radius))?);
        }
        if let Some(g) = &fc.geo_bounding_box {
            parts.push(self.geo_candidates(&g.rect())?);
        }
        if let Some(g) = &fc.geo_polygon {
            parts.push(self.geo_candidates(&ring_bounds(&g.exterior.points))?);
        }
        parts.into_iter().reduce(|a, b| a | b)
    }
}

// ---------------------------------------------------------------------------
// Collection-level indexes and planner
// ---------------------------------------------------------------------------

/// All payload indexes of a collection.
#[derive(Debug, Clone, Default)]
pub struct PayloadIndexes {
    fields: BTreeMap<String, FieldIndex>,
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn intersect(acc: Option<RoaringBitmap>, b: RoaringBitmap) -> Option<RoaringBitmap> {
    Some(match acc {
        None => b,
        Some(a) => a & b,
    })
}

impl PayloadIndexes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Create (or replace) the index of `field` and fill it from the live
    /// points.
    pub fn create<'a>(
        &mut self,
        field: &str,
        schema: PayloadFieldSchema,
        live_points: impl Iterator<Item = (Offset, &'a Payload)>,
    ) -> Result<(), String> {
        if field.trim().is_empty() {
            return Err("field_name must not be empty".to_string());
        }
        parse_path(field)?;
        let mut index = FieldIndex::new(field, schema);
        for (o, p) in live_points {
            index.add(o, p);
        }
        self.fields.insert(field.to_string(), index);
        Ok(())
    }

    /// Drop the index of `field`; false if there was none.
    pub fn drop(&mut self, field: &str) -> bool {
        self.fields.remove(field).is_some()
    }

    pub fn get(&self, field: &str) -> Option<&FieldIndex> {
        self.fields.get(field)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &PayloadFieldSchema)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), &v.schema))
    }

    pub fn on_insert(&mut self, offset: Offset, payload: &Payload) {
        for index in self.fields.values_mut() {
            index.add(offset, payload);
        }
    }

    /// `payload` must be the payload the point was inserted with.
    pub fn on_remove(&mut self, offset: Offset, payload: &Payload) {
        for index in self.fields.values_mut() {
            index.remove(offset, payload);
        }
    }

    /// `payload_schema` of collection info: field → type, params, points.
    pub fn schema_info(&self) -> BTreeMap<String, PayloadIndexInfo> {
        self.fields
            .iter()
            .map(|(k, idx)| {
                (
                    k.clone(),
                    PayloadIndexInfo {
                        data_type: idx.schema.data_type(),
                        params: idx.schema.params().cloned(),
                        points: idx.indexed_points(),
                    },
                )
            })
            .collect()
    }

    /// A superset of the offsets (among indexed, live points) that match
    /// `filter`, or `None` when the indexes cannot narrow it. `must`
    /// intersects its narrowable conditions; `should` and `min_should`
    /// narrow only when every one of their conditions is narrowable;
    /// `must_not` is never used.
    pub fn candidates(&self, filter: &Filter) -> Option<RoaringBitmap> {
        self.filter_candidates(filter, "")
    }

    /// Estimated number of matching points out of `total`.
    pub fn estimate(&self, filter: &Filter, total: usize) -> usize {
        match self.candidates(filter) {
            Some(b) => (b.len() as usize).min(total),
            None => total,
        }
    }

    fn filter_candidates(&self, f: &Filter, prefix: &str) -> Option<RoaringBitmap> {
        let mut acc: Option<RoaringBitmap> = None;
        for c in f.must.iter().flatten() {
            if let Some(b) = self.condition_candidates(c, prefix) {
                acc = intersect(acc, b);
            }
        }
        if let Some(should) = &f.should {
            if let Some(b) = self.union_all(should, prefix) {
                acc = intersect(acc, b);
            }
        }
        if let Some(ms) = &f.min_should {
            if ms.min_count > 0 {
                if let Some(b) = self.union_all(&ms.conditions, prefix) {
                    acc = intersect(acc, b);
                }
            }
        }
        acc
    }

    /// Union of the candidates of every condition, if all are narrowable
    /// (empty for no condition: an empty `should` matches nothing).
    fn union_all(&self, conditions: &[Condition], prefix: &str) -> Option<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        for c in conditions {
            out |= self.condition_candidates(c, prefix)?;
        }
        Some(out)
    }

    fn condition_candidates(&self, c: &Condition, prefix: &str) -> Option<RoaringBitmap> {
        match c {
            Condition::Field(fc) => self
                .fields
                .get(&join_key(prefix, &fc.key))?
                .condition_candidates(fc),
            Condition::Filter(f) => self.filter_candidates(f, prefix),
            Condition::Nested(n) => {
                let inner = format!("{}[]", join_key(prefix, &n.nested.key));
                self.filter_candidates(&n.nested.filter, &inner)
            }
            Condition::IsEmpty(_)
            | Condition::IsNull(_)
            | Condition::HasId(_)
            | Condition::HasVector(_) => None,
        }
    }
}

impl FilterContext for PayloadIndexes {
    fn text_tokenizer(&self, key: &str) -> Option<&TextTokenizer> {
        self.fields.get(key)?.tokenizer()
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::filter::PointView;
    use crate::engine::types::PointId;
    use serde_json::json;

    struct P<'a>(Offset, &'a Payload);

    impl PointView for P<'_> {
        fn id(&self) -> PointId {
            PointId::Num(self.0 as u64)
        }
        fn payload(&self) -> &Payload {
            self.1
        }
        fn has_vector(&self, _name: &str) -> bool {
            true
        }
    }

    fn payloads(vals: Vec<Value>) -> Vec<Payload> {
        vals.into_iter()
            .map(|v| v.as_object().unwrap().clone())
            .collect()
    }

    fn build(fields: &[(&str, Value)], points: &[Payload]) -> PayloadIndexes {
        let mut idx = PayloadIndexes::new();
        for (f, schema) in fields {
            let schema: PayloadFieldSchema = serde_json::from_value(schema.clone()).unwrap();
            idx.create(
                f,
                schema,
                points.iter().enumerate().map(|(i, p)| (i as Offset, p)),
            )
            .unwrap();
        }
        idx
    }

    fn cands(idx: &PayloadIndexes, f: Value) -> Option<Vec<u32>> {
        let f: Filter = serde_json::from_value(f).unwrap();
        idx.candidates(&f).map(|b| b.iter().collect())
    }

    fn scan(idx: &PayloadIndexes, points: &[Payload], f: &Filter) -> Vec<u32> {
        points
            .iter()
            .enumerate()
            .filter(|(i, p)| f.check_with(&P(*i as Offset, p), idx))
            .map(|(i, _)| i as u32)
            .collect()
    }

    #[test]
    fn schema_parsing_and_echo() {
        let s: PayloadFieldSchema = serde_json::from_value(json!("keyword")).unwrap();
        assert_eq!(s, PayloadFieldSchema::Type(PayloadSchemaType::Keyword));
        let v = json!({"type": "text", "tokenizer": "prefix", "min_token_len": 2, "lowercase": true, "on_disk": false, "stopwords": "english"});
        let s: PayloadFieldSchema = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(s.data_type(), PayloadSchemaType::Text);
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
        let v = json!({"type": "integer", "lookup": false, "range": true, "is_principal": true});
        let s: PayloadFieldSchema = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
        let v = json!({"type": "keyword", "is_tenant": true});
        let s: PayloadFieldSchema = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), v);

        let e = serde_json::from_value::<PayloadFieldSchema>(json!("strng"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field_schema type `strng`"), "{e}");
        let e = serde_json::from_value::<PayloadFieldSchema>(json!({"type": "nope"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
        let e = serde_json::from_value::<PayloadFieldSchema>(json!({"tokenizer": "word"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("type"), "{e}");
        let e = serde_json::from_value::<PayloadFieldSchema>(
            json!({"type": "text", "tokenizer": "bpe"}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bpe"), "{e}");
        let e = serde_json::from_value::<PayloadFieldSchema>(json!({"type": "keyword", "foo": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("foo"), "{e}");
    }

    #[test]
    fn schema_info_shape() {
        let points = payloads(vec![
            json!({"a": "x", "t": "hello"}),
            json!({"a": ["y", "z"]}),
            json!({"b": 1}),
        ]);
        let idx = build(
            &[
                ("a", json!("keyword")),
                ("t", json!({"type": "text", "tokenizer": "word"})),
            ],
            &points,
        );
        let info = serde_json::to_value(idx.schema_info()).unwrap();
        assert_eq!(
            info,
            json!({
                "a": {"data_type": "keyword", "points": 2},
                "t": {"data_type": "text", "params": {"type": "text", "tokenizer": "word"}, "points": 1}
            })
        );
    }

    #[test]
    fn keyword_and_uuid() {
        let u = "5C56C793-69F3-4FBF-87E6-C4BF54C28C26";
        let points = payloads(vec![
            json!({"k": "a", "u": u}),
            json!({"k": ["b", "a"], "u": "not-a-uuid"}),
            json!({"k": 5}),
            json!({}),
        ]);
        let mut idx = build(&[("k", json!("keyword")), ("u", json!("uuid"))], &points);
        assert_eq!(
            cands(&idx, json!({"must": {"key": "k", "match": {"value": "a"}}})),
            Some(vec![0, 1])
        );
        assert_eq!(
            cands(
                &idx,
                json!({"must": {"key": "k", "match": {"any": ["b", "q"]}}})
            ),
            Some(vec![1])
        );
        assert_eq!(
            cands(
                &idx,
                json!({"must": {"key": "k", "match": {"except": ["b"]}}})
            ),
            None
        );
        assert_eq!(
            cands(&idx, json!({"must": {"key": "k", "match": {"value": 5}}})),
            None
        );
        assert_eq!(
            cands(
                &idx,
                json!({"must": {"key": "u", "match": {"value": u.to_lowercase()}}})
            ),
            Some(vec![0])
        );
        assert_eq!(
            cands(
                &idx,
                json!({"must": {"key": "u", "match": {"value": "not-a-uuid"}}})
            ),
            Some(vec![1])
        );
        assert_eq!(idx.get("k").unwrap().indexed_points(), 2);
        idx.on_remove(1, &points[1]);
        assert_eq!(
            cands(&idx, json!({"must": {"key": "k", "match": {"value": "a"}}})),
            Some(vec![0])
        );
        assert_eq!(idx.get("k").unwrap().indexed_points(), 1);
        idx.on_insert(7, &points[1]);
        assert_eq!(
            cands(&idx, json!({"must": {"key": "k", "match": {"value": "b"}}})),
            Some(vec![7])
        );
        assert!(idx.drop("k"));
        assert!(!idx.drop("k"));
        assert_eq!(
            cands(&idx, json!({"must": {"key": "k", "match": {"value": "a"}}})),
            None
        );
    }

    #[test]
    fn integer_float_datetime_bool() {
        let points = payloads(vec![
            json!({"i": 1, "f": 1.5, "d": "2023-02-08T10:00:00Z", "b": true}),
            json!({"i": [5, 10], "f": -0.0, "d": "2023-02-08T12:00:00+01:00", "b": false}),
            json!({"i": 2.5, "f": 3, "d": "not a date", "b": [true, false]}),
            json!({"i": "7", "f": "x", "d": 5}),
        ]);
        let idx = build(
            &[
                ("i", json!("integer")),
                ("f", json!("float")),
                ("d", json!("datetime")),
                ("b", json!("bool")),
            ],
            &points,
        );
        let c = |f: Value| cands(&idx, f);
        assert_eq!(
            c(json!({"must": {"key": "i", "match": {"value": 10}}})),
            Some(vec![1])
        );
        assert_eq!(
            c(json!({"must": {"key": "i", "match": {"any": [1, 5]}}})),
            Some(vec![0, 1])
        );
        // Float values in an integer field stay candidates for ranges.
        assert_eq!(
            c(json!({"must": {"key": "i", "range": {"gte": 2, "lt": 3}}})),
            Some(vec![2])
        );
        assert_eq!(
            c(json!({"must": {"key": "i", "range": {"gt": 4.5}}})),
            Some(vec![1, 2])
        );
        assert_eq!(
            c(json!({"must": {"key": "f", "range": {"gte": 0}}})),
            Some(vec![0, 1, 2])
        );
        assert_eq!(
            c(json!({"must": {"key": "f", "range": {"lte": 0}}})),
            Some(vec![1])
        );
        assert_eq!(
            c(json!({"must": {"key": "f", "range": {"gt": 5, "lt": 1}}})),
            Some(vec![])
        );
        assert_eq!(
            c(json!({"must": {"key": "f", "match": {"value": 3}}})),
            Some(vec![2])
        );
        assert_eq!(
            c(json!({"must": {"key": "d", "range": {"gte": "2023-02-08T10:30:00Z"}}})),
            Some(vec![1])
        );
        assert_eq!(c(json!({"must": {"key": "d", "range": {"gte": 5}}})), None);
        assert_eq!(
            c(json!({"must": {"key": "b", "match": {"value": false}}})),
            Some(vec![1, 2])
        );
        assert_eq!(idx.get("i").unwrap().indexed_points(), 3);
        assert_eq!(idx.get("d").unwrap().indexed_points(), 2);
        // Cross-check against a scan.
        for f in [
            json!({"must": {"key": "i", "range": {"gt": 4.5}}}),
            json!({"must": {"key": "f", "range": {"gte": 0}}}),
            json!({"must": {"key": "d", "range": {"lt": "2023-02-08T11:30:00+01:00"}}}),
        ] {
            let parsed: Filter = serde_json::from_value(f.clone()).unwrap();
            let got: Vec<u32> = idx
                .candidates(&parsed)
                .unwrap()
                .iter()
                .filter(|o| parsed.check(&P(*o, &points[*o as usize])))
                .collect();
            assert_eq!(got, scan(&idx, &points, &parsed), "{f}");
        }
    }

    #[test]
    fn geo_index() {
        let points = payloads(vec![
            json!({"loc": {"lon": 13.404954, "lat": 52.520008}}),
            json!({"loc": {"lon": 37.617298, "lat": 55.755825}}),
            json!({"loc": [{"lon": 2.35, "lat": 48.85}, {"lon": 179.99, "lat": 0.0}]}),
            json!({"loc": "nowhere"}),
        ]);
        let idx = build(&[("loc", json!("geo"))], &points);
        assert_eq!(idx.get("loc").unwrap().indexed_points(), 3);
        let check = |f: Value, expect_cands_contains: &[u32]| {
            let parsed: Filter = serde_json::from_value(f.clone()).unwrap();
            let c = idx.candidates(&parsed).unwrap();
            for o in expect_cands_contains {
                assert!(c.contains(*o), "{f}: {o}");
            }
            let exact: Vec<u32> = c
                .iter()
                .filter(|o| parsed.check(&P(*o, &points[*o as usize])))
                .collect();
            assert_eq!(exact, scan(&idx, &points, &parsed), "{f}");
            assert!(c.len() < 4);
        };
        check(
            json!({"must": {"key": "loc", "geo_radius": {"center": {"lon": 13.4, "lat": 52.5}, "radius": 5000}}}),
            &[0],
        );
        check(
            json!({"must": {"key": "loc", "geo_radius": {"center": {"lon": -179.99, "lat": 0.0}, "radius": 5000}}}),
            &[2],
        );
        check(
            json!({"must": {"key": "loc", "geo_bounding_box": {"top_left": {"lon": 170, "lat": 1}, "bottom_right": {"lon": -170, "lat": -1}}}}),
            &[2],
        );
        check(
            json!({"must": {"key": "loc", "geo_polygon": {"exterior": {"points": [
                {"lon": 0, "lat": 40}, {"lon": 40, "lat": 40}, {"lon": 40, "lat": 60}, {"lon": 0, "lat": 60}, {"lon": 0, "lat": 40}
            ]}}}}),
            &[0, 1, 2],
        );
    }

    #[test]
    fn text_index_tokens_and_phrase() {
        let points = payloads(vec![
            json!({"t": "The quick brown fox"}),
            json!({"t": "Brown quick dogs"}),
            json!({"t": ["nothing here", "QUICK thinking"]}),
        ]);
        let idx = build(
            &[(
                "t",
                json!({"type": "text", "tokenizer": "word", "stopwords": "english"}),
            )],
            &points,
        );
        let run = |m: Value| {
            let f: Filter =
                serde_json::from_value(json!({"must": {"key": "t", "match": m}})).unwrap();
            let c: Vec<u32> = idx.candidates(&f).unwrap().iter().collect();
            let exact: Vec<u32> = c
                .iter()
                .copied()
                .filter(|o| f.check_with(&P(*o, &points[*o as usize]), &idx))
                .collect();
            assert_eq!(exact, scan(&idx, &points, &f));
            exact
        };
        assert_eq!(run(json!({"text": "quick brown"})), vec![0, 1]);
        assert_eq!(run(json!({"text": "QUICK"})), vec![0, 1, 2]);
        assert_eq!(
            run(json!({"text": "quick the"})),
            vec![0, 1, 2],
            "stopword ignored"
        );
        assert_eq!(run(json!({"phrase": "quick brown"})), vec![0]);
        assert_eq!(run(json!({"phrase": "brown quick"})), vec![1]);
        assert_eq!(run(json!({"text_any": "fox thinking"})), vec![0, 2]);
        assert_eq!(
            run(json!({"text": "qui"})),
            Vec::<u32>::new(),
            "word tokenizer: no partial words"
        );
        // Without the index (plain check) it is a substring match.
        let f: Filter =
            serde_json::from_value(json!({"must": {"key": "t", "match": {"text": "qui"}}}))
                .unwrap();
        assert!(f.check(&P(0, &points[0])));
    }

    #[test]
    fn prefix_tokenizer() {
        let tok = TextTokenizer::new(&TextIndexParams {
            tokenizer: Some(TokenizerType::Prefix),
            min_token_len: Some(2),
            max_token_len: Some(5),
            ..Default::default()
        });
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
            idx.candidates(&f).unwrap().iter().collect::<Vec<_>>(),
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
        });
        assert_eq!(ws.doc_tokens("a-b  C"), vec!["a-b", "C"]);
        let ml = TextTokenizer::new(&TextIndexParams {
            tokenizer: Some(TokenizerType::Multilingual),
            ascii_folding: Some(true),
            ..Default::default()
        });
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
        });
        assert_eq!(custom.doc_tokens("foo a bar toolong"), vec!["bar"]);
    }

    #[test]
    fn planner_combinations() {
        let points = payloads(vec![
            json!({"k": "a", "i": 1, "n": [{"x": "p", "y": 1}, {"x": "q", "y": 2}]}),
            json!({"k": "b", "i": 2, "n": [{"x": "p", "y": 2}]}),
            json!({"k": "c", "i": 3}),
        ]);
        let idx = build(
            &[
                ("k", json!("keyword")),
                ("i", json!("integer")),
                ("n[].x", json!("keyword")),
            ],
            &points,
        );
        let c = |f: Value| cands(&idx, f);
        let ka = json!({"key": "k", "match": {"value": "a"}});
        let kb = json!({"key": "k", "match": {"value": "b"}});
        let i_ge2 = json!({"key": "i", "range": {"gte": 2}});
        let unindexed = json!({"key": "z", "match": {"value": 1}});
        assert_eq!(c(json!({"must": [ka, i_ge2]})), Some(vec![]));
        assert_eq!(c(json!({"must": [kb, i_ge2]})), Some(vec![1]));
        assert_eq!(c(json!({"must": [kb, unindexed]})), Some(vec![1]));
        assert_eq!(c(json!({"must": [unindexed]})), None);
        assert_eq!(c(json!({"should": [ka, kb]})), Some(vec![0, 1]));
        assert_eq!(c(json!({"should": [ka, unindexed]})), None);
        assert_eq!(c(json!({"must_not": [ka]})), None);
        assert_eq!(c(json!({"should": []})), Some(vec![]));
        assert_eq!(
            c(json!({"must": [{"should": [ka, kb]}, i_ge2]})),
            Some(vec![1])
        );
        assert_eq!(
            c(json!({"min_should": {"conditions": [ka, kb, i_ge2], "min_count": 2}})),
            Some(vec![0, 1, 2])
        );
        assert_eq!(
            c(
                json!({"must": {"nested": {"key": "n", "filter": {"must": {"key": "x", "match": {"value": "q"}}}}}})
            ),
            Some(vec![0])
        );
        let f: Filter = serde_json::from_value(json!({"must": [kb]})).unwrap();
        assert_eq!(idx.estimate(&f, 3), 1);
        assert_eq!(idx.estimate(&Filter::default(), 3), 3);
    }

    #[test]
    fn nested_text_uses_index_tokenizer() {
        let points = payloads(vec![
            json!({"docs": [{"title": "Quick brown fox"}, {"title": "lazy dog"}]}),
            json!({"docs": [{"title": "quickly"}]}),
        ]);
        let idx = build(&[("docs[].title", json!("text"))], &points);
        let f: Filter =
            serde_json::from_value(json!({"must": {"nested": {"key": "docs", "filter": {
            "must": {"key": "title", "match": {"text": "quick"}}}}}}))
            .unwrap();
        // With the index: whole tokens; without: substring.
        assert_eq!(scan(&idx, &points, &f), vec![0]);
        assert!(f.check(&P(1, &points[1])));
        assert_eq!(
            idx.candidates(&f).unwrap().iter().collect::<Vec<_>>(),
            vec![0]
        );
    }

    mod oracle {
        use super::*;
        use proptest::prelude::*;

        const KWS: [&str; 4] = ["red", "green", "blue", "black"];
        const DTS: [&str; 5] = [
            "2023-01-01T00:00:00Z",
            "2023-01-01T12:00:00+02:00",
            "2023-01-02",
            "2023-01-03 08:00:00",
            "garbage",
        ];

        fn value_strategy() -> impl Strategy<Value = Payload> {
            let kw = prop_oneof![
                Just(Value::Null),
                (0..4usize).prop_map(|i| json!(KWS[i])),
                prop::collection::vec(0..4usize, 0..3)
                    .prop_map(|v| json!(v.into_iter().map(|i| KWS[i]).collect::<Vec<_>>())),
                (0..5i64).prop_map(|i| json!(i)),
            ];
            let int = prop_oneof![
                Just(Value::Null),
                (-5..5i64).prop_map(|i| json!(i)),
                prop::collection::vec(-5..5i64, 0..3).prop_map(|v| json!(v)),
                (-50..50i32).prop_map(|i| json!(i as f64 / 10.0)),
            ];
            let flt = prop_oneof![
                Just(Value::Null),
                (-50..50i32).prop_map(|i| json!(i as f64 / 10.0)),
                (-5..5i64).prop_map(|i| json!(i)),
                prop::collection::vec(-50..50i32, 0..3)
                    .prop_map(|v| json!(v.into_iter().map(|i| i as f64 / 4.0).collect::<Vec<_>>())),
            ];
            let flag = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(|b| json!(b)),
                Just(json!([true, false]))
            ];
            let dt = prop_oneof![
                Just(Value::Null),
                (0..5usize).prop_map(|i| json!(DTS[i])),
                prop::collection::vec(0..5usize, 0..3)
                    .prop_map(|v| json!(v.into_iter().map(|i| DTS[i]).collect::<Vec<_>>())),
            ];
            let nested = prop::collection::vec((0..4usize, -5..5i64), 0..3).prop_map(|v| {
                json!(v
                    .into_iter()
                    .map(|(k, i)| json!({"kw": KWS[k], "int": i}))
                    .collect::<Vec<_>>())
            });
            (kw, int, flt, flag, dt, nested).prop_map(|(kw, int, flt, flag, dt, nested)| {
                let mut p = Payload::new();
                for (k, v) in [
                    ("kw", kw),
                    ("int", int),
                    ("flt", flt),
                    ("flag", flag),
                    ("dt", dt),
                    ("items", nested),
                ] {
                    if !v.is_null() {
                        p.insert(k.to_string(), v);
                    }
                }
                p
            })
        }

        fn leaf() -> impl Strategy<Value = Value> {
            let bound = |lo: i32| (lo..5i32).prop_map(|i| json!(i as f64 / 2.0));
            prop_oneof![
                (0..4usize).prop_map(|i| json!({"key": "kw", "match": {"value": KWS[i]}})),
                prop::collection::vec(0..4usize, 0..3)
                    .prop_map(|v| json!({"key": "kw", "match": {"any": v.into_iter().map(|i| KWS[i]).collect::<Vec<_>>()}})),
                (-5..5i64).prop_map(|i| json!({"key": "int", "match": {"value": i}})),
                (bound(-10), bound(-10)).prop_map(|(a, b)| json!({"key": "int", "range": {"gte": a, "lt": b}})),
                (bound(-10), bound(-10)).prop_map(|(a, b)| json!({"key": "flt", "range": {"gt": a, "lte": b}})),
                (-5..5i64).prop_map(|i| json!({"key": "flt", "match": {"value": i}})),
                any::<bool>().prop_map(|b| json!({"key": "flag", "match": {"value": b}})),
                (0..4usize, 0..4usize).prop_map(|(a, b)| json!({"key": "dt", "range": {"gte": DTS[a], "lte": DTS[b]}})),
                (0..4usize).prop_map(|i| json!({"key": "unindexed", "match": {"value": KWS[i]}})),
                (0..4usize).prop_map(|i| json!({"key": "kw", "match": {"except": [KWS[i]]}})),
                Just(json!({"is_empty": {"key": "kw"}})),
                (0..4usize, -5..5i64).prop_map(|(k, i)| json!({"nested": {"key": "items", "filter": {"must": [
                    {"key": "kw", "match": {"value": KWS[k]}},
                    {"key": "int", "range": {"gte": i}}
                ]}}})),
            ]
        }

        fn filter_strategy() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(3, 24, 4, |inner| {
                (
                    prop::collection::vec(inner.clone(), 0..3),
                    prop::collection::vec(inner.clone(), 0..3),
                    prop::collection::vec(inner.clone(), 0..2),
                    prop::option::of((prop::collection::vec(inner, 1..4), 1..3usize)),
                )
                    .prop_map(|(must, should, must_not, min_should)| {
                        let mut f = serde_json::Map::new();
                        f.insert("must".into(), json!(must));
                        f.insert("should".into(), json!(should));
                        f.insert("must_not".into(), json!(must_not));
                        if let Some((conds, n)) = min_should {
                            let n = n.min(conds.len());
                            f.insert(
                                "min_should".into(),
                                json!({"conditions": conds, "min_count": n}),
                            );
                        }
                        Value::Object(f)
                    })
            })
        }

        fn geo_point() -> impl Strategy<Value = (f64, f64)> {
            prop_oneof![
                (-180.0..=180.0f64, -90.0..=90.0f64),
                // Clustered near the antimeridian and a pole.
                (179.0..=180.0f64, -1.0..=1.0f64),
                (-180.0..=-179.0f64, -1.0..=1.0f64),
                (-180.0..=180.0f64, 89.0..=90.0f64),
            ]
        }

        fn geo_filter() -> impl Strategy<Value = Value> {
            prop_oneof![
                (geo_point(), 0.0..3_000_000.0f64).prop_map(|((lon, lat), r)| json!(
                    {"key": "loc", "geo_radius": {"center": {"lon": lon, "lat": lat}, "radius": r}}
                )),
                (geo_point(), geo_point()).prop_map(|((lon0, lat0), (lon1, lat1))| json!(
                    {"key": "loc", "geo_bounding_box": {
                        "top_left": {"lon": lon0, "lat": lat0.max(lat1)},
                        "bottom_right": {"lon": lon1, "lat": lat0.min(lat1)}}}
                )),
                (geo_point(), 0.01..40.0f64).prop_map(|((lon, lat), d)| json!(
                    {"key": "loc", "geo_polygon": {"exterior": {"points": [
                        {"lon": lon, "lat": lat}, {"lon": lon + d, "lat": lat},
                        {"lon": lon + d / 2.0, "lat": lat + d}, {"lon": lon, "lat": lat}
                    ]}}}
                )),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]
            #[test]
            fn geo_candidates_are_a_superset(
                locs in prop::collection::vec(prop::collection::vec(geo_point(), 1..3), 0..40),
                cond in geo_filter(),
            ) {
                let points: Vec<Payload> = locs
                    .iter()
                    .map(|l| {
                        let arr: Vec<Value> = l.iter().map(|(lon, lat)| json!({"lon": lon, "lat": lat})).collect();
                        json!({"loc": arr}).as_object().unwrap().clone()
                    })
                    .collect();
                let idx = build(&[("loc", json!("geo"))], &points);
                let f: Filter = serde_json::from_value(json!({"must": [cond]})).unwrap();
                let naive: RoaringBitmap = scan(&idx, &points, &f).into_iter().collect();
                let c = idx.candidates(&f).unwrap();
                prop_assert!(naive.is_subset(&c), "naive {:?} not in {:?}", naive, c);
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn candidates_are_a_superset(
                points in prop::collection::vec(value_strategy(), 0..40),
                removed in prop::collection::vec(any::<bool>(), 40),
                filter in filter_strategy(),
            ) {
                let filter_json = json!({"must": [filter]});
                let f: Filter = serde_json::from_value(filter_json).unwrap();
                let mut idx = build(
                    &[
                        ("kw", json!("keyword")),
                        ("int", json!("integer")),
                        ("flt", json!("float")),
                        ("flag", json!("bool")),
                        ("dt", json!("datetime")),
                        ("items[].kw", json!("keyword")),
                        ("items[].int", json!("integer")),
                    ],
                    &points,
                );
                let mut live = RoaringBitmap::new();
                for (i, p) in points.iter().enumerate() {
                    if removed[i] {
                        idx.on_remove(i as Offset, p);
                    } else {
                        live.insert(i as u32);
                    }
                }
                let naive: RoaringBitmap = points
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| live.contains(*i as u32) && f.check(&P(*i as Offset, p)))
                    .map(|(i, _)| i as u32)
                    .collect();
                if let Some(c) = idx.candidates(&f) {
                    prop_assert!(naive.is_subset(&c), "naive {:?} not in candidates {:?}", naive, c);
                    let checked: RoaringBitmap = (c & &live)
                        .iter()
                        .filter(|o| f.check_with(&P(*o, &points[*o as usize]), &idx))
                        .collect();
                    prop_assert_eq!(checked, naive);
                }
                prop_assert!(idx.estimate(&f, points.len()) <= points.len());
            }
        }
    }
}
