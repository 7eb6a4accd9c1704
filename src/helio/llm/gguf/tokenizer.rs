//! The tokenizer a GGUF file describes, rebuilt from its metadata.
//!
//! A GGUF carries no `tokenizer.json`: llama.cpp stores the vocabulary (`tokenizer.ggml.tokens`), the
//! merges, each token's type and the special ids as metadata, plus `tokenizer.ggml.pre`, the name of the
//! pre-tokenizer the merges were learned with. We hand those to the `tokenizers` crate as a byte-level BPE
//! model, so encoding is the same code HF's fast tokenizers run. Only `tokenizer.ggml.model = "gpt2"`
//! (byte-level BPE: SmolLM2, Llama 3, Qwen2) is supported: a sentencepiece vocabulary (`"llama"`,
//! TinyLlama) would need merges recovered from scores and its own space handling, and without a model
//! to check against here it would tokenise wrongly without saying so.
//!
//! Decoding for streaming does not go through `tokenizers`: each id's bytes are computed once at load
//! (the byte-level alphabet mapped back to bytes), and the generation loop buffers them until they form
//! valid UTF-8 (`stream.rs`), since one character may be split over two tokens.

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::super::LlmError;

/// llama.cpp's token types (`llama_token_type`).
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;

/// Llama 3's split (llama.cpp's `LLAMA_VOCAB_PRE_TYPE_LLAMA3`, the `tokenizer.json` of Meta's repos).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: Llama 3's with single digits.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.ggml.pre` values we know how to split for (see [`pre_tokenizer`]).
const SUPPORTED_PRE: &str = "default, gpt2, smollm, llama-bpe (llama3), qwen2";

/// A byte-level BPE tokenizer and what generation needs to know about its vocabulary.
pub(crate) struct GgufTokenizer {
    /// Matches control and user-defined tokens (`<|im_start|>`) whole wherever they occur.
    special: Tokenizer,
    /// The same, but treats control tokens as plain text: a message's content goes through this one, so
    /// a user who types `<|im_end|>` cannot close their turn and write the assistant's.
    plain: Tokenizer,
    /// The bytes each id decodes to; empty for control tokens, which are never shown.
    bytes: Vec<Vec<u8>>,
    /// Each id's text as the vocabulary spells it (control tokens as written, `<|im_end|>`).
    tokens: Vec<String>,
    pub(crate) bos: Option<u32>,
    pub(crate) eos: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`: whether a prompt starts with BOS.
    pub(crate) add_bos: bool,
}

impl GgufTokenizer {
    /// Builds the tokenizer from the metadata of `content`.
    pub(crate) fn from_gguf(content: &Content) -> Result<GgufTokenizer, LlmError> {
        let md = &content.metadata;
        let kind = string(md.get("tokenizer.ggml.model")).unwrap_or("(none)");
        if kind != "gpt2" {
            return Err(LlmError::Model(format!(
                "unsupported tokenizer.ggml.model `{kind}`: only byte-level BPE vocabularies (`gpt2`: \
                 SmolLM2, Llama 3, Qwen2) are supported"
            )));
        }
        let tokens: Vec<String> = array(md.get("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens")?
            .iter()
            .map(|v| v.to_string().cloned())
            .collect::<Result<_, _>>()
            .map_err(|e| LlmError::Model(format!("tokenizer.ggml.tokens: {e}")))?;
        let merges = array(md.get("tokenizer.ggml.merges"), "tokenizer.ggml.merges")?
            .iter()
            .map(|v| {
                let merge = v
                    .to_string()
                    .map_err(|e| LlmError::Model(format!("tokenizer.ggml.merges: {e}")))?;
                merge
                    .split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| {
                        LlmError::Model(format!("tokenizer.ggml.merges: `{merge}` is not a pair"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Older files have no types; then nothing is special and prompts are plain text.
        let types: Vec<i32> = match md.get("tokenizer.ggml.token_type") {
            None => vec![1; tokens.len()],
            Some(v) => v
                .to_vec()
                .and_then(|a| a.iter().map(Value::to_i32).collect())
                .map_err(|e| LlmError::Model(format!("tokenizer.ggml.token_type: {e}")))?,
        };
        if types.len() != tokens.len() {
            return Err(LlmError::Model(format!(
                "tokenizer.ggml.token_type has {} entries for {} tokens",
                types.len(),
                tokens.len()
            )));
        }
        let pre = string(md.get("tokenizer.ggml.pre")).unwrap_or("default");
        let (pre_tokenizer, ignore_merges) = pre_tokenizer(pre)?;

        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| (t.clone(), id as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(ignore_merges)
            .build()
            .map_err(|e| LlmError::Model(format!("cannot build the BPE tokenizer: {e}")))?;
        let mut special = Tokenizer::new(bpe);
        special
            .with_pre_tokenizer(Some(pre_tokenizer))
            .with_decoder(Some(ByteLevelDecoder::default()));
        // Added tokens that already are in the vocabulary keep their ids.
        special
            .add_special_tokens(
                kinds(&tokens, &types, TYPE_CONTROL).map(|t| AddedToken::from(t, true)),
            )
            .map_err(|e| LlmError::Model(format!("cannot add the control tokens: {e}")))?;
        special
            .add_tokens(
                kinds(&tokens, &types, TYPE_USER_DEFINED)
                    .map(|t| AddedToken::from(t, false).normalized(false)),
            )
            .map_err(|e| LlmError::Model(format!("cannot add the user-defined tokens: {e}")))?;
        let mut plain = special.clone();
        plain.set_encode_special_tokens(true);

        let alphabet = byte_level_inverse();
        let bytes = tokens
            .iter()
            .zip(&types)
            .map(|(t, &ty)| match ty {
                TYPE_CONTROL => Vec::new(),
                _ => token_bytes(t, &alphabet),
            })
            .collect();
        let id = |key: &str| {
            md.get(key)
                .and_then(|v| v.to_u32().ok())
                .filter(|&id| (id as usize) < tokens.len())
        };
        let add_bos = md
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        Ok(GgufTokenizer {
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            special,
            plain,
            bytes,
            tokens,
            add_bos,
        })
    }

    /// The id of `token` as the vocabulary spells it, if it is one token.
    pub(crate) fn token_id(&self, token: &str) -> Option<u32> {
        self.special.token_to_id(token)
    }

    /// The text of token `id` as the vocabulary spells it.
    pub(crate) fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Encodes `text`, matching control tokens (`<|im_start|>`) whole when `special`, as plain text
    /// otherwise. Adds no BOS.
    pub(crate) fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>, LlmError> {
        let tokenizer = if special { &self.special } else { &self.plain };
        tokenizer
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| LlmError::Model(format!("tokenizer failed: {e}")))
    }

    /// The text of `ids`, control tokens left out (what the whole of a streamed answer adds up to).
    #[cfg(test)]
    pub(crate) fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        self.special
            .decode(ids, true)
            .map_err(|e| LlmError::Model(format!("tokenizer failed: {e}")))
    }

    /// The bytes token `id` stands for (none for control tokens and unknown ids); a character may be
    /// split over consecutive tokens.
    pub(crate) fn bytes(&self, id: u32) -> &[u8] {
        self.bytes.get(id as usize).map_or(&[], Vec::as_slice)
    }
}

/// The pre-tokenizer (and BPE's `ignore_merges`) for `tokenizer.ggml.pre`, as llama.cpp's
/// `llama_vocab::impl::load` maps the name to a split. A wrong split tokenises differently from
/// training and quietly degrades answers, so an unknown name is an error rather than a guess.
fn pre_tokenizer(pre: &str) -> Result<(PreTokenizerWrapper, bool), LlmError> {
    let regex_then_bytes = |regex: &str| -> Result<PreTokenizerWrapper, LlmError> {
        let split = Split::new(
            SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| LlmError::Model(format!("pre-tokenizer `{pre}`: {e}")))?;
        Ok(Sequence::new(vec![
            split.into(),
            ByteLevel::new(false, true, false).into(),
        ])
        .into())
    };
    Ok(match pre {
        // GPT-2's own split, inside ByteLevel.
        "default" | "gpt2" => (ByteLevel::new(false, true, true).into(), false),
        // SmolLM's tokenizer.json: single digits, then GPT-2's split.
        "smollm" => (
            Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ])
            .into(),
            false,
        ),
        "llama3" | "llama-bpe" | "llama-v3" | "smaug-bpe" | "falcon3" => {
            (regex_then_bytes(LLAMA3_SPLIT)?, true)
        }
        "qwen2" | "deepseek-r1-qwen" => (regex_then_bytes(QWEN2_SPLIT)?, false),
        other => {
            return Err(LlmError::Model(format!(
                "unsupported tokenizer.ggml.pre `{other}` (supported: {SUPPORTED_PRE})"
            )))
        }
    })
}

/// The tokens of type `kind`.
fn kinds<'a>(tokens: &'a [String], types: &'a [i32], kind: i32) -> impl Iterator<Item = &'a str> {
    tokens
        .iter()
        .zip(types)
        .filter(move |(_, &t)| t == kind)
        .map(|(t, _)| t.as_str())
}

fn string(value: Option<&Value>) -> Option<&str> {
    value.and_then(|v| v.to_string().ok()).map(String::as_str)
}

fn array<'a>(value: Option<&'a Value>, key: &str) -> Result<&'a Vec<Value>, LlmError> {
    value
        .ok_or_else(|| LlmError::Model(format!("the GGUF has no {key}")))?
        .to_vec()
        .map_err(|e| LlmError::Model(format!("{key}: {e}")))
}

/// GPT-2's byte-level alphabet backwards: which byte each of its 256 characters stands for (the
/// printable bytes stand for themselves, the others were moved to U+0100 and up).
fn byte_level_inverse() -> std::collections::HashMap<char, u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next = 256u32;
    (0..=255u8)
        .map(|b| {
            let c = if printable(b) {
                char::from(b)
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap_or(char::REPLACEMENT_CHARACTER)
            };
            (c, b)
        })
        .collect()
}

/// The bytes of a byte-level token. A character outside the alphabet (a user-defined token stored as
/// plain text) stands for its own UTF-8.
fn token_bytes(token: &str, alphabet: &std::collections::HashMap<char, u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    for c in token.chars() {
        match alphabet.get(&c) {
            Some(&b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}
