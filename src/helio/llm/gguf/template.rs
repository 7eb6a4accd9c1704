//! Chat templates: how a conversation becomes one prompt.
//!
//! A GGUF stores its template as Jinja (`tokenizer.chat_template`), but running Jinja would mean a
//! template engine for three shapes of string. We recognise the family from the vocabulary instead,
//! the way llama.cpp's `llm_chat_detect_template` does from the template text: a model that has
//! `<|im_start|>` speaks ChatML (SmolLM2, Qwen2), one that has `<|start_header_id|>` speaks Llama 3,
//! and anything else gets Zephyr's (TinyLlama's) markers written as text.
//!
//! A template renders to [`Piece`]s rather than a string, so that only the markers are encoded as
//! control tokens and a message's text never is (see `GgufTokenizer::plain`). Text pieces run between
//! markers exactly as a whole-string tokenisation would split them, so the ids are the same as
//! encoding the rendered string whenever the messages hold no marker.

use super::super::{ChatMessage, Role};
use super::tokenizer::GgufTokenizer;

/// One part of a rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A marker: one control token, spelled as the vocabulary spells it.
    Special(String),
    /// Text, encoded as text whatever it contains.
    Text(String),
}

/// The families we can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `<|im_start|>role\n...<|im_end|>\n`.
    ChatMl,
    /// `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>`.
    Llama3,
    /// `<|role|>\n...</s>\n`, the end being the EOS token.
    Zephyr,
}

/// A family plus what it needs from the model.
#[derive(Debug, Clone)]
pub(crate) struct ChatTemplate {
    pub(crate) family: Family,
    /// The token that ends a turn, which ends generation.
    pub(crate) end_of_turn: String,
    /// The system message the model's own template writes when the conversation has none (SmolLM2's
    /// "You are a helpful AI assistant named SmolLM, trained by Hugging Face", Qwen2's "You are a
    /// helpful assistant."): the model was tuned with it, and llama.cpp or transformers would send it.
    pub(crate) default_system: Option<String>,
}

impl ChatTemplate {
    /// Picks the family from the vocabulary, and the default system message from the Jinja text
    /// `jinja` (the GGUF's `tokenizer.chat_template`), if it has one we can read.
    pub(crate) fn detect(tokenizer: &GgufTokenizer, jinja: Option<&str>) -> ChatTemplate {
        if tokenizer.token_id("<|im_start|>").is_some()
            && tokenizer.token_id("<|im_end|>").is_some()
        {
            ChatTemplate {
                family: Family::ChatMl,
                end_of_turn: "<|im_end|>".into(),
                default_system: jinja.and_then(chatml_default_system),
            }
        } else if tokenizer.token_id("<|start_header_id|>").is_some()
            && tokenizer.token_id("<|eot_id|>").is_some()
        {
            ChatTemplate {
                family: Family::Llama3,
                end_of_turn: "<|eot_id|>".into(),
                default_system: None,
            }
        } else {
            let eos = tokenizer.eos.and_then(|id| tokenizer.token(id));
            ChatTemplate {
                family: Family::Zephyr,
                end_of_turn: eos.unwrap_or("</s>").to_string(),
                default_system: None,
            }
        }
    }

    /// The prompt for `messages`, ending with the opening of the assistant's turn.
    pub(crate) fn render(&self, messages: &[ChatMessage]) -> Vec<Piece> {
        let mut out = Prompt::default();
        let default_system = match (&self.default_system, messages.first()) {
            (Some(system), Some(first)) if first.role != Role::System => {
                Some(ChatMessage::new(Role::System, system.clone()))
            }
            _ => None,
        };
        for message in default_system.iter().chain(messages) {
            let role = role_name(message.role);
            match self.family {
                Family::ChatMl => {
                    out.special("<|im_start|>");
                    out.text(&format!("{role}\n{}", message.content));
                    out.special("<|im_end|>");
                    out.text("\n");
                }
                Family::Llama3 => {
                    // Meta's template trims each message.
                    out.special("<|start_header_id|>");
                    out.text(role);
                    out.special("<|end_header_id|>");
                    out.text(&format!("\n\n{}", message.content.trim()));
                    out.special("<|eot_id|>");
                }
                Family::Zephyr => {
                    out.text(&format!("<|{role}|>\n{}", message.content));
                    out.special(&self.end_of_turn);
                    out.text("\n");
                }
            }
        }
        match self.family {
            Family::ChatMl => {
                out.special("<|im_start|>");
                out.text("assistant\n");
            }
            Family::Llama3 => {
                out.special("<|start_header_id|>");
                out.text("assistant");
                out.special("<|end_header_id|>");
                out.text("\n\n");
            }
            Family::Zephyr => out.text("<|assistant|>\n"),
        }
        out.0
    }

    /// The prompt as one string (what the model reads, markers included).
    #[cfg(test)]
    pub(crate) fn render_string(&self, messages: &[ChatMessage]) -> String {
        self.render(messages)
            .into_iter()
            .map(|p| match p {
                Piece::Special(s) | Piece::Text(s) => s,
            })
            .collect()
    }
}

/// Pieces with adjacent texts joined, so each stretch between markers is tokenised in one go.
#[derive(Default)]
struct Prompt(Vec<Piece>);

impl Prompt {
    fn special(&mut self, token: &str) {
        self.0.push(Piece::Special(token.to_string()));
    }

    fn text(&mut self, text: &str) {
        match self.0.last_mut() {
            Some(Piece::Text(last)) => last.push_str(text),
            _ => self.0.push(Piece::Text(text.to_string())),
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// The literal system message of a ChatML Jinja template, as SmolLM2's and Qwen2's write it when the
/// conversation has none: the text between `<|im_start|>system\n` and `<|im_end|>` inside one quoted
/// string. A template that builds it from variables yields `None` (we would rather send no system
/// message than half of one).
fn chatml_default_system(jinja: &str) -> Option<String> {
    const OPEN: &str = "<|im_start|>system";
    // Qwen2's template writes the caller's system message first and the default in an `else`.
    jinja.match_indices(OPEN).find_map(|(at, _)| {
        let rest = &jinja[at + OPEN.len()..];
        // The newline is a real one in some files, an escaped `\n` in others.
        let rest = rest
            .strip_prefix('\n')
            .or_else(|| rest.strip_prefix("\\n"))?;
        let text = &rest[..rest.find("<|im_end|>")?];
        let literal = !text.is_empty() && !text.contains(['\'', '"', '{', '}', '+', '\n', '\\']);
        literal.then(|| text.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::chatml_default_system;

    #[test]
    fn reads_the_default_system_message_of_chatml_templates() {
        let smollm = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}";
        assert_eq!(
            chatml_default_system(smollm).as_deref(),
            Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        );
        let escaped = r"{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}";
        assert_eq!(
            chatml_default_system(escaped).as_deref(),
            Some("You are a helpful assistant.")
        );
        // Built from a variable: not a literal we can send.
        let variable = "{{ '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}";
        assert_eq!(chatml_default_system(variable), None);
        let qwen = format!("{variable}{{% else %}}{escaped}");
        assert_eq!(
            chatml_default_system(&qwen).as_deref(),
            Some("You are a helpful assistant.")
        );
        assert_eq!(chatml_default_system("no template"), None);
    }
}
