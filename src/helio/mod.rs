//! Hélio, the sales assistant: grounded answers to a buyer's questions
//! over the catalog and the knowledge bases.
//!
//! One question goes through these steps, one module each:
//! * [`question`]: what it asks (powers, phases, type, brands, codes, and
//!   which knowledge bases its words point at);
//! * [`retrieve`]: hybrid search (dense + BM25, fused) with the catalog's
//!   structure as filters and boosts;
//! * [`sources`]: the top hits, numbered;
//! * [`extractive`] or an [`llm`] backend through [`prompt`]: the answer;
//! * [`verify`]: every sentence checked against the sources;
//! * [`conversation`]: the turn stored, durably, for follow-ups.
//!
//! This module sits above the engine and the embedder and below the API;
//! it knows nothing about HTTP. [`HelioError`] says what went wrong and
//! the API maps it to a status once.

pub mod cli;
pub mod conversation;
pub mod eval;
pub mod extractive;
pub mod llm;
pub mod money;
pub mod prompt;
pub mod question;
pub mod retrieve;
pub mod sources;
pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::embed::EmbedError;
use crate::engine::EngineError;
use conversation::{ConversationError, Conversations, Turn};
use llm::{Generation, Llm, LlmError};
use question::{Question, Topic};
use retrieve::{Hit, ProductFilter, Retriever};
use sources::Source;
use verify::{Removed, Verifier};

/// Longest question accepted, in characters: a long paragraph. A 10 kB
/// "question" is a paste or an attack, not a question.
pub const MAX_QUESTION_CHARS: usize = 2000;
/// Most sources one answer may rest on.
pub const MAX_TOP_K: usize = 20;
pub const DEFAULT_TOP_K: usize = 5;
/// Cosine similarity under which a document passage is not relevant to
/// the question (all-MiniLM-L6-v2 on Portuguese text; see README's eval).
const DOC_MIN_COSINE: f32 = 0.30;
/// The same for a product found by no structured match.
const PRODUCT_MIN_COSINE: f32 = 0.35;

/// Brazil's 26 states and the Federal District.
const UFS: &[&str] = &[
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA", "PB", "PR",
    "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
];

#[derive(Debug, thiserror::Error)]
pub enum HelioError {
    /// The request is wrong; the message says what is accepted.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Conversation(#[from] ConversationError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// Only from `/v1/chat/completions`, which has no fallback.
    #[error(transparent)]
    Llm(#[from] LlmError),
}

/// Who is asking, which narrows what applies.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskContext {
    /// `b1` (residential) or `b3` (commercial): which tariff applies.
    #[serde(default)]
    pub customer_type: Option<String>,
    /// `Cidade/UF`: the state picks the tariff.
    #[serde(default)]
    pub location: Option<String>,
    /// A distributor (the catalog's slug, e.g. `solartech-distribuicao`):
    /// only its products.
    #[serde(default)]
    pub distributor: Option<String>,
}

impl AskContext {
    /// Checks the fields and returns the state of `location`.
    fn check(&self) -> Result<Option<String>, HelioError> {
        if let Some(t) = &self.customer_type {
            if !matches!(t.to_ascii_lowercase().as_str(), "b1" | "b3") {
                return Err(HelioError::BadRequest(format!(
                    "context.customer_type `{t}` is not accepted: use \"b1\" (residential) or \"b3\" (commercial)"
                )));
            }
        }
        if let Some(d) = &self.distributor {
            if d.trim().is_empty() || d.len() > 200 {
                return Err(HelioError::BadRequest(
                    "context.distributor must be a distributor's name (1 to 200 characters)".into(),
                ));
            }
        }
        match &self.location {
            None => Ok(None),
            Some(loc) => {
                let uf = loc
                    .rsplit_once(['/', '-', ','])
                    .map(|(city, uf)| (city.trim(), uf.trim().to_ascii_uppercase()))
                    .filter(|(city, uf)| !city.is_empty() && UFS.contains(&uf.as_str()));
                match uf {
                    Some((_, uf)) if loc.len() <= 120 => Ok(Some(uf)),
                    _ => Err(HelioError::BadRequest(format!(
                        "context.location `{}` is not accepted: write \"Cidade/UF\" with a Brazilian state, e.g. \"São Paulo/SP\"",
                        loc.chars().take(60).collect::<String>()
                    ))),
                }
            }
        }
    }
}

/// `POST /store/helio/ask`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    pub question: String,
    #[serde(default)]
    pub context: AskContext,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub top_k: Option<usize>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub embed: f64,
    pub search: f64,
    pub llm: f64,
    pub total: f64,
}

/// The answer to one question.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub answer: String,
    pub sources: Vec<Source>,
    /// Point ids in `helio-catalog` of the in-stock products recommended.
    pub recommendations: Vec<String>,
    /// Whether the answer passed the verifier untouched.
    pub grounded: bool,
    /// Claims the verifier took out, and why.
    pub removed: Vec<Removed>,
    /// The configured model failed and the extractive answer was given.
    pub degraded: bool,
    /// What wrote the answer: `extractive`, `openai`, `gguf`.
    pub backend: String,
    pub conversation_id: String,
    pub timings_ms: Timings,
}

/// `GET /store/helio/search`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub q: String,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub customer_type: Option<String>,
    #[serde(default)]
    pub distributor: Option<String>,
    #[serde(default)]
    pub available: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub product_id: String,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub distributor: Option<String>,
    pub price_brl: Option<f64>,
    pub available: bool,
    pub score: f32,
    pub specs: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    pub results: Vec<SearchResult>,
    pub query_embedding_time_ms: f64,
    pub search_time_ms: f64,
}

/// The assistant: retrieval, a model (or none), the verifier and the
/// conversation store.
pub struct Assistant {
    retriever: Retriever,
    /// `None`: the extractive backend.
    llm: Option<Arc<dyn Llm>>,
    generation: Generation,
    conversations: Conversations,
}

impl Assistant {
    pub fn new(
        retriever: Retriever,
        llm: Option<Arc<dyn Llm>>,
        generation: Generation,
        conversations: Conversations,
    ) -> Assistant {
        Assistant {
            retriever,
            llm,
            generation,
            conversations,
        }
    }

    /// The configured backend's name.
    pub fn backend(&self) -> &'static str {
        self.llm.as_ref().map_or("extractive", |l| l.backend())
    }

    /// Refuses a request [`Assistant::ask`] would refuse, without
    /// answering it: a streamed answer is checked before its stream opens.
    pub fn check(&self, req: &AskRequest) -> Result<(), HelioError> {
        checked_question(&req.question, "question")?;
        checked_top_k(req.top_k)?;
        req.context.check()?;
        if let Some(id) = &req.conversation_id {
            self.conversations.recent(id)?;
        }
        Ok(())
    }

    pub fn conversation(&self, id: &str) -> Result<Vec<Turn>, HelioError> {
        Ok(self.conversations.all(id)?)
    }

    /// Product search for `/store/helio/search`.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults, HelioError> {
        let q = checked_question(&req.q, "q")?;
        let top_k = checked_top_k(req.top_k)?;
        let ctx = AskContext {
            customer_type: req.customer_type.clone(),
            distributor: req.distributor.clone(),
            location: None,
        };
        ctx.check()?;
        let emb = self.retriever.embed(&q.text)?;
        let started = Instant::now();
        let brands = self.retriever.brands()?;
        let filter = product_filter(&q, &brands, &ctx, req.available == Some(true));
        let mut hits = self.retriever.products(&q, &emb, &filter, top_k)?;
        if req.available == Some(false) {
            hits.retain(|h| !h.in_stock());
        }
        let results = hits
            .iter()
            .map(|h| SearchResult {
                product_id: h.id.to_string(),
                sku: h.str("sku").map(str::to_string),
                name: h.str("name").map(str::to_string),
                distributor: h.str("distributor").map(str::to_string),
                price_brl: h.num("price_brl"),
                available: h.in_stock(),
                score: (h.score * 1e4).round() / 1e4,
                specs: specs(&h.payload),
            })
            .collect();
        Ok(SearchResults {
            results,
            query_embedding_time_ms: round2(emb.millis),
            search_time_ms: round2(started.elapsed().as_secs_f64() * 1e3),
        })
    }

    /// Answers a question. Text is handed to `on_delta` as it becomes
    /// final (verified sentence by sentence); the [`Answer`] holds all of
    /// it. Blocking: run it on the blocking pool.
    pub fn ask(
        &self,
        req: &AskRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<Answer, HelioError> {
        let started = Instant::now();
        let asked = checked_question(&req.question, "question")?;
        let top_k = checked_top_k(req.top_k)?;
        let uf = req.context.check()?;
        let history = match &req.conversation_id {
            Some(id) => self.conversations.recent(id)?,
            None => Vec::new(),
        };
        let brands = self.retriever.brands()?;
        let q = with_history(&asked, &history, &brands);
        let emb = self.retriever.embed(&q.text)?;
        let searched = Instant::now();
        let (sources, missing) =
            self.sources(&q, &asked, &brands, &emb, &req.context, uf, top_k)?;
        let search_ms = searched.elapsed().as_secs_f64() * 1e3;

        let llm_started = Instant::now();
        let extractive = extractive::answer(&q, &sources, &missing);
        let (mut text, removed, degraded, backend) = match &self.llm {
            Some(llm) if !sources.is_empty() => {
                match self.generate(llm.as_ref(), &asked.text, &sources, &history, on_delta) {
                    Ok((text, removed)) if !text.trim().is_empty() => {
                        (text, removed, false, llm.backend())
                    }
                    Ok((_, removed)) => {
                        // Nothing survived the verifier: the extractive
                        // answer instead, which always does.
                        on_delta(&extractive);
                        (extractive.clone(), removed, false, "extractive")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, backend = llm.backend(), "LLM failed; answering extractively");
                        on_delta(&extractive);
                        (extractive.clone(), Vec::new(), true, "extractive")
                    }
                }
            }
            _ => {
                let mut v = Verifier::new(&sources);
                let text = v.lines(&extractive);
                on_delta(&text);
                (text, v.removed, false, "extractive")
            }
        };
        if !missing.is_empty() && backend != "extractive" && !text.contains("Não encontrei") {
            let note = extractive::answer(&q, &[], &missing);
            let first = note.split(". ").next().unwrap_or(&note).to_string();
            text = format!("{first}. {text}");
        }
        let llm_ms = llm_started.elapsed().as_secs_f64() * 1e3;
        let recommendations = recommendations(&sources, &missing, &text);

        let conversation_id = match &req.conversation_id {
            Some(id) => id.clone(),
            None => self.conversations.start(&json!(req.context))?,
        };
        self.conversations.append(
            &conversation_id,
            &Turn {
                question: asked.text.clone(),
                answer: text.clone(),
                retrieval_text: q.text.clone(),
                recommendations: recommendations.clone(),
                at: conversation::now(),
            },
        )?;
        Ok(Answer {
            answer: text,
            grounded: removed.is_empty(),
            removed,
            degraded,
            backend: backend.to_string(),
            recommendations,
            sources,
            conversation_id,
            timings_ms: Timings {
                embed: round2(emb.millis),
                search: round2(search_ms),
                llm: round2(llm_ms),
                total: round2(started.elapsed().as_secs_f64() * 1e3),
            },
        })
    }

    /// The model's answer, verified sentence by sentence as it streams:
    /// a finished sentence that passes is handed on, one that fails is
    /// dropped and recorded.
    fn generate(
        &self,
        llm: &dyn Llm,
        question: &str,
        sources: &[Source],
        history: &[Turn],
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<(String, Vec<Removed>), LlmError> {
        let messages = prompt::messages(question, sources, history);
        let mut verifier = Verifier::new(sources);
        let mut pending = String::new();
        let mut kept = String::new();
        let mut emit = |piece: &str, verifier: &mut Verifier, kept: &mut String| {
            if verifier.sentence(piece.trim()) {
                kept.push_str(piece);
                on_delta(piece);
            }
        };
        llm.chat(&messages, &self.generation, &mut |delta| {
            pending.push_str(delta);
            let cut = verify::complete_prefix(&pending);
            if cut > 0 {
                let done: String = pending.drain(..cut).collect();
                for piece in verify::sentence_pieces(&done) {
                    emit(piece, &mut verifier, &mut kept);
                }
            }
            true
        })?;
        for piece in verify::sentence_pieces(&pending) {
            emit(piece, &mut verifier, &mut kept);
        }
        Ok((kept.trim().to_string(), verifier.removed))
    }

    /// The numbered sources for a question, and the words of it no
    /// knowledge base knows.
    #[allow(clippy::too_many_arguments)]
    fn sources(
        &self,
        q: &Question,
        asked: &Question,
        brands: &[String],
        emb: &retrieve::Embedded,
        ctx: &AskContext,
        uf: Option<String>,
        top_k: usize,
    ) -> Result<(Vec<Source>, Vec<String>), HelioError> {
        // What the question names that Helio does not have, said first in
        // the answer; nothing is recommended then.
        let mut not_found: Vec<String> = self
            .missing_words(asked)?
            .into_iter()
            .map(|w| format!("«{w}»"))
            .collect();
        for (label, number) in verify::norm_mentions(&asked.text) {
            if !self
                .retriever
                .known_in(&number, &[Topic::Regulatory, Topic::Technical])?
            {
                not_found.push(format!("a {}", label.to_uppercase()));
            }
        }
        let mut doc_topics: Vec<Topic> = [
            Topic::Regulatory,
            Topic::Technical,
            Topic::Sales,
            Topic::Tariffs,
        ]
        .into_iter()
        .filter(|t| q.cue(*t) > 0)
        .collect();
        // A model named alongside other words: its datasheet may answer.
        if !q.codes.is_empty() && !doc_topics.contains(&Topic::Technical) {
            doc_topics.push(Topic::Technical);
        }
        let structured = !q.powers.is_empty()
            || !q.codes.is_empty()
            || !q.brands(brands).is_empty()
            || q.asks_price;
        let doc_cues: usize = doc_topics.iter().map(|t| q.cue(*t)).sum();
        // A price alone ("quanto custa o kWh") is a product question only
        // when nothing else points elsewhere.
        let named_product = !q.product_types.is_empty()
            || !q.powers.is_empty()
            || !q.codes.is_empty()
            || !q.brands(brands).is_empty()
            || q.cue(Topic::Products) > 0;
        let products_wanted = (named_product
            && (structured || q.shopping || doc_cues < 2 || q.cue(Topic::Products) >= 2))
            || (q.asks_price && doc_cues == 0);

        let mut products: Vec<Hit> = Vec::new();
        if products_wanted {
            let filter = product_filter(q, brands, ctx, false);
            let has_constraints = !filter.product_types.is_empty()
                || !filter.brands.is_empty()
                || filter.phases.is_some();
            products = self.retriever.products(q, emb, &filter, top_k.max(10))?;
            let code_found = products.iter().any(|h| named_by_code(q, h));
            products.retain(|h| {
                let power_ok = q.powers.is_empty() || power_match(q, h, 0.3);
                let code_ok = !code_found || named_by_code(q, h);
                let semantic = h.cosine >= PRODUCT_MIN_COSINE && h.lexical;
                power_ok
                    && code_ok
                    && (has_constraints || !q.powers.is_empty() || code_found || semantic)
            });
            if !q.powers.is_empty()
                && !code_found
                && !products.iter().any(|h| power_match(q, h, 0.05))
            {
                let kind = q.product_types.first().map_or("produto", |t| type_label(t));
                let watts = q.powers[0].watts;
                let power = if watts >= 1000.0 {
                    format!("{} kW", money::number(watts / 1000.0, 2))
                } else {
                    format!("{} W", money::number(watts, 0))
                };
                not_found.push(format!("{kind} de {power} (os mais próximos estão abaixo)"));
            }
            if products.is_empty() && has_constraints && not_found.is_empty() {
                let kind = q.product_types.first().map_or("produto", |t| type_label(t));
                let mut what = kind.to_string();
                if let Some(b) = filter.brands.first() {
                    what.push_str(&format!(" {b}"));
                }
                not_found.push(what);
            }
            // A question naming something no catalog has gets no stand-ins
            // unless the question's structure (a type, a brand) matched.
            if !not_found.is_empty() && !has_constraints {
                products.clear();
            }
        }
        // Documents: the topics the question's words point at; with none,
        // every document topic, competing on similarity alone.
        let searched_topics: Vec<Topic> = if doc_topics.is_empty() {
            vec![Topic::Regulatory, Topic::Technical, Topic::Sales]
        } else {
            doc_topics.clone()
        };
        let mut docs: Vec<Hit> = Vec::new();
        for topic in searched_topics {
            let filter = match topic {
                Topic::Tariffs => tariff_filter(uf.as_deref(), tariff_class(q, ctx)),
                _ => None,
            };
            let mut hits = self.retriever.search(topic, emb, filter, top_k)?;
            hits.retain(|h| {
                h.cosine >= DOC_MIN_COSINE || (h.lexical && h.cosine >= DOC_MIN_COSINE * 0.75)
            });
            docs.extend(hits);
        }
        docs.sort_by(|a, b| b.cosine.total_cmp(&a.cosine));
        // Uncued documents next to products must be clearly on topic.
        if doc_topics.is_empty() && !products.is_empty() {
            docs.retain(|h| h.cosine >= DOC_MIN_COSINE + 0.15);
        }
        if !not_found.is_empty() && products_wanted {
            docs.retain(|h| h.cosine >= DOC_MIN_COSINE + 0.1);
        }

        // Products first when the question is about them; documents get
        // places when its words also point at them.
        let doc_slots = if products.is_empty() {
            top_k
        } else if doc_topics.is_empty() {
            top_k.saturating_sub(products.len()).min(2)
        } else {
            (top_k / 2).max(1)
        };
        let doc_take = doc_slots.min(docs.len());
        let product_take = (top_k - doc_take).min(products.len());
        let mut chosen: Vec<&Hit> = products.iter().take(product_take).collect();
        // At most two passages of one document, so an answer can draw on
        // several; more only when nothing else is left.
        let mut per_doc: HashMap<String, usize> = HashMap::new();
        let mut spare: Vec<&Hit> = Vec::new();
        for d in &docs {
            let n = per_doc
                .entry(d.str("doc_id").unwrap_or_default().to_string())
                .or_default();
            *n += 1;
            if *n <= 2 && chosen.len() < top_k {
                chosen.push(d);
            } else {
                spare.push(d);
            }
        }
        for d in spare {
            if chosen.len() < top_k && products.len() <= product_take {
                chosen.push(d);
            }
        }
        let sources = chosen
            .into_iter()
            .enumerate()
            .map(|(i, h)| Source::from_hit(i + 1, h))
            .collect();
        Ok((sources, not_found))
    }

    /// Names in the question (capitalised words past the first, four
    /// letters or more, no digits) that no knowledge base holds: things
    /// Helio does not sell or document. Lowercase words are left alone:
    /// an ordinary word the documents happen not to use ("melhor") is not
    /// a missing product.
    fn missing_words(&self, q: &Question) -> Result<Vec<String>, HelioError> {
        let mut out = Vec::new();
        let words = q.text.split(|c: char| !(c.is_alphanumeric() || c == '-'));
        for raw in words.filter(|w| !w.is_empty()).skip(1) {
            let word = raw.trim_matches('-');
            if word.chars().count() < 4
                || !word.starts_with(char::is_uppercase)
                || !word.chars().any(char::is_alphabetic)
                || word.chars().any(|c| c.is_ascii_digit())
            {
                continue;
            }
            if !self.retriever.known_word(word)?
                && !out.iter().any(|w: &String| w.eq_ignore_ascii_case(word))
            {
                out.push(word.to_string());
            }
        }
        Ok(out)
    }
}

/// Whether the question names the product by a code: its SKU, its model,
/// or a word of its model ("5000TL-X" of "MIN 5000TL-X").
fn named_by_code(q: &Question, h: &Hit) -> bool {
    q.codes.iter().any(|c| {
        [h.str("sku"), h.str("model")]
            .into_iter()
            .flatten()
            .any(|v| v.eq_ignore_ascii_case(c) || v.split(' ').any(|w| w.eq_ignore_ascii_case(c)))
    })
}

/// How an answer names a catalog product type.
fn type_label(slug: &str) -> &str {
    match slug {
        "modulo-fotovoltaico" => "módulo",
        "microinversor" => "microinversor",
        "inversor" => "inversor",
        "string-box" => "string box",
        "protecao" => "proteção",
        other => other,
    }
}

/// The tariff class: the context's, else the question's words.
fn tariff_class<'a>(q: &Question, ctx: &'a AskContext) -> Option<&'a str> {
    if let Some(c) = ctx.customer_type.as_deref() {
        return Some(c);
    }
    let f = &q.folded;
    if f.contains("residencia") || f.contains(" b1") {
        Some("b1")
    } else if f.contains("comerci") || f.contains(" b3") {
        Some("b3")
    } else {
        None
    }
}

/// Whether a product's power is within `tolerance` of a power the
/// question names.
fn power_match(q: &Question, h: &Hit, tolerance: f64) -> bool {
    let Some(have) = h.power_w() else {
        return false;
    };
    let inverter = h.str("kind") == Some("inverter");
    q.powers.iter().any(|p| {
        let want = if p.peak && inverter {
            p.watts / 1.2
        } else {
            p.watts
        };
        ((have - want) / want).abs() <= tolerance
    })
}

/// The catalog filter for a question and its context.
fn product_filter(
    q: &Question,
    brands: &[String],
    ctx: &AskContext,
    in_stock: bool,
) -> ProductFilter {
    ProductFilter {
        product_types: q.product_types.iter().map(|s| s.to_string()).collect(),
        brands: q.brands(brands).into_iter().map(str::to_string).collect(),
        phases: q.phases,
        distributor: ctx.distributor.clone(),
        in_stock,
    }
}

/// Tariff rows of the customer's state and class (`B1 - Residencial`).
fn tariff_filter(uf: Option<&str>, class: Option<&str>) -> Option<crate::engine::filter::Filter> {
    let mut must = Vec::new();
    if let Some(uf) = uf {
        must.push(json!({"key": "row.uf", "match": {"value": uf}}));
    }
    if let Some(class) = class {
        let prefix = class.to_ascii_uppercase();
        must.push(json!({"key": "row.classe", "match": {"text": prefix}}));
    }
    if must.is_empty() {
        return None;
    }
    serde_json::from_value(json!({ "must": must })).ok()
}

/// A follow-up ("e o de 8 kW?") is read with the question before it: the
/// earlier retrieval text supplies the type and brand, the new question
/// its own power, phases and codes.
fn with_history(asked: &Question, history: &[Turn], brands: &[String]) -> Question {
    let Some(last) = history.last() else {
        return asked.clone();
    };
    let words = asked.text.split_whitespace().count();
    let folded = asked.folded.trim_start();
    let follow_up = asked.product_types.is_empty()
        && asked.brands(brands).is_empty()
        && (words <= 8
            || folded.starts_with("e ")
            || folded.starts_with("e o")
            || folded.starts_with("e a"));
    if !follow_up {
        return asked.clone();
    }
    let mut q = Question::read(&format!("{} {}", last.retrieval_text, asked.text));
    if !asked.powers.is_empty() {
        q.powers = asked.powers.clone();
    }
    if asked.phases.is_some() {
        q.phases = asked.phases;
    }
    if !asked.codes.is_empty() {
        q.codes = asked.codes.clone();
    }
    q
}

/// In-stock products the answer names or, for the extractive answer,
/// lists; none when the question named something no catalog has.
fn recommendations(sources: &[Source], missing: &[String], answer: &str) -> Vec<String> {
    if !missing.is_empty() {
        return Vec::new();
    }
    sources
        .iter()
        .filter(|s| s.is_product() && s.available == Some(true))
        .filter(|s| {
            answer.contains(&format!("[{}]", s.n))
                || s.sku.as_ref().is_some_and(|k| answer.contains(k.as_str()))
        })
        .map(|s| s.id.clone())
        .collect()
}

fn checked_question(text: &str, field: &str) -> Result<Question, HelioError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(HelioError::BadRequest(format!(
            "`{field}` is empty: ask a question"
        )));
    }
    let chars = trimmed.chars().count();
    if chars > MAX_QUESTION_CHARS {
        return Err(HelioError::BadRequest(format!(
            "`{field}` has {chars} characters; at most {MAX_QUESTION_CHARS} are accepted"
        )));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(HelioError::BadRequest(format!(
            "`{field}` holds control characters"
        )));
    }
    Ok(Question::read(trimmed))
}

fn checked_top_k(top_k: Option<usize>) -> Result<usize, HelioError> {
    match top_k {
        None => Ok(DEFAULT_TOP_K),
        Some(k) if (1..=MAX_TOP_K).contains(&k) => Ok(k),
        Some(k) => Err(HelioError::BadRequest(format!(
            "top_k {k} is not accepted: use 1 to {MAX_TOP_K}"
        ))),
    }
}

/// The payload fields a buyer compares products by.
fn specs(payload: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    const FIELDS: &[&str] = &[
        "manufacturer",
        "model",
        "product_type",
        "power_w",
        "ac_power_w",
        "efficiency_pct",
        "phases",
        "voltage",
        "voc",
        "vmp",
        "isc",
        "imp",
        "mppt_min_v",
        "mppt_max_v",
        "max_dc_voltage",
        "warranty_years",
        "inmetro",
        "stock",
        "datasheet_url",
    ];
    FIELDS
        .iter()
        .filter_map(|k| payload.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_checked() {
        let ctx = |t: Option<&str>, l: Option<&str>| AskContext {
            customer_type: t.map(str::to_string),
            location: l.map(str::to_string),
            distributor: None,
        };
        assert_eq!(
            ctx(Some("B1"), Some("São Paulo/SP")).check().unwrap(),
            Some("SP".into())
        );
        assert_eq!(
            ctx(None, Some("Belo Horizonte - mg")).check().unwrap(),
            Some("MG".into())
        );
        assert!(ctx(Some("b2"), None).check().is_err());
        assert!(ctx(None, Some("São Paulo")).check().is_err());
        assert!(ctx(None, Some("Lisboa/PT")).check().is_err());
    }

    #[test]
    fn top_k_and_question_limits() {
        assert!(checked_top_k(Some(0)).is_err());
        assert!(checked_top_k(Some(500)).is_err());
        assert_eq!(checked_top_k(None).unwrap(), 5);
        assert!(checked_question("  ", "question").is_err());
        assert!(checked_question(&"a".repeat(10_000), "question").is_err());
    }

    #[test]
    fn follow_ups_borrow_the_earlier_question() {
        let turn = Turn {
            question: "Tem inversor híbrido de 5 kW da Deye?".into(),
            answer: String::new(),
            retrieval_text: "Tem inversor híbrido de 5 kW da Deye?".into(),
            recommendations: vec![],
            at: String::new(),
        };
        let brands = vec!["Deye".to_string()];
        let q = with_history(&Question::read("e o de 8 kW?"), &[turn.clone()], &brands);
        assert_eq!(q.product_types, vec!["inversor"]);
        assert!(q.hybrid);
        assert_eq!(q.powers.len(), 1);
        assert_eq!(q.powers[0].watts, 8000.0);
        assert_eq!(q.brands(&brands), vec!["Deye"]);
        // A new question about something else stands alone.
        let q = with_history(
            &Question::read("Qual o prazo de entrega do cabo solar?"),
            &[turn],
            &brands,
        );
        assert!(q.powers.is_empty());
    }
}
