//! Chat completions from any server that speaks OpenAI's protocol
//! (OpenAI, Ollama, llama.cpp's server, vLLM, or a second Helio), with
//! streaming: the answer is read as server-sent events and each delta is
//! handed on as it arrives.
//!
//! Failures before the first byte of an answer (connection refused, 429,
//! 5xx) are retried with jittered exponential backoff; once text has been
//! handed on, a failure ends the call, since the caller cannot take text
//! back. A stream that breaks off or carries something that is not the
//! protocol is an [`LlmError::Protocol`].

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{ChatMessage, Completion, FinishReason, Generation, Llm, LlmError};
use crate::embed::openai::{backoff, error_message};

/// Where and how to reach the server.
#[derive(Clone)]
pub struct OpenAiChatConfig {
    /// Up to and including the API version: `http://localhost:11434/v1`.
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`; from the environment, never logged.
    pub api_key: Option<String>,
    /// For the whole call, connecting through the last token.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub backoff_base: Duration,
}

impl std::fmt::Debug for OpenAiChatConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiChatConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl Default for OpenAiChatConfig {
    fn default() -> Self {
        OpenAiChatConfig {
            base_url: "http://127.0.0.1:11434/v1".into(),
            model: "default".into(),
            api_key: None,
            timeout: Duration::from_secs(30),
            max_retries: 2,
            backoff_base: Duration::from_millis(200),
        }
    }
}

pub struct OpenAiChat {
    config: OpenAiChatConfig,
    agent: ureq::Agent,
}

impl OpenAiChat {
    pub fn new(config: OpenAiChatConfig) -> OpenAiChat {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(config.timeout.min(Duration::from_secs(5)))
            .timeout_read(config.timeout)
            .build();
        OpenAiChat { config, agent }
    }

    fn url(&self) -> String {
        format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        )
    }

    /// One attempt. `Err((error, retryable))`.
    fn attempt(
        &self,
        body: &Value,
        deadline: Instant,
        on_delta: &mut dyn FnMut(&str) -> bool,
        sent_any: &mut bool,
    ) -> Result<Completion, (LlmError, bool)> {
        let mut req = self.agent.post(&self.url());
        if let Some(key) = &self.config.api_key {
            req = req.set("Authorization", &format!("Bearer {key}"));
        }
        let response = match req.send_json(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => {
                let mut text = String::new();
                let _ = r.into_reader().take(64 * 1024).read_to_string(&mut text);
                let message = error_message(&text)
                    .0
                    .unwrap_or_else(|| format!("HTTP {status}"));
                let retry = status == 429 || status >= 500;
                return Err((
                    LlmError::Unavailable(format!("HTTP {status}: {message}")),
                    retry,
                ));
            }
            Err(ureq::Error::Transport(t)) => {
                let timed_out = t.kind() == ureq::ErrorKind::Io
                    && t.to_string().to_lowercase().contains("timed out");
                let err = if timed_out {
                    LlmError::Timeout(self.config.timeout)
                } else {
                    LlmError::Unavailable(t.to_string())
                };
                return Err((err, !timed_out));
            }
        };
        let reader = BufReader::new(response.into_reader().take(16 * 1024 * 1024));
        read_stream(reader, deadline, self.config.timeout, on_delta, sent_any)
            .map_err(|e| (e, false))
    }
}

/// Reads OpenAI's stream: `data: {json}` lines, `data: [DONE]` at the end.
fn read_stream(
    reader: impl BufRead,
    deadline: Instant,
    timeout: Duration,
    on_delta: &mut dyn FnMut(&str) -> bool,
    sent_any: &mut bool,
) -> Result<Completion, LlmError> {
    let mut text = String::new();
    let mut finish = None;
    let mut usage = (0usize, 0usize);
    let mut done = false;
    for line in reader.lines() {
        let line = line.map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut
                || e.kind() == std::io::ErrorKind::WouldBlock
            {
                LlmError::Timeout(timeout)
            } else {
                LlmError::Protocol(format!("the stream broke off: {e}"))
            }
        })?;
        if Instant::now() > deadline {
            return Err(LlmError::Timeout(timeout));
        }
        let line = line.trim_end();
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let Some(data) = line.strip_prefix("data:") else {
            // `event:`, `id:`, `retry:` are allowed and carry nothing here.
            if line.starts_with("event:") || line.starts_with("id:") || line.starts_with("retry:") {
                continue;
            }
            return Err(LlmError::Protocol(format!(
                "not a server-sent event line: {}",
                line.chars().take(80).collect::<String>()
            )));
        };
        let data = data.trim();
        if data == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::Protocol(format!("an event is not JSON ({e}): {}", short(data)))
        })?;
        if let Some(err) = chunk.get("error") {
            return Err(LlmError::Unavailable(format!(
                "the server sent an error: {err}"
            )));
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
            usage = (n("prompt_tokens"), n("completion_tokens"));
        }
        let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
            return Err(LlmError::Protocol(format!(
                "an event has no choices: {}",
                short(data)
            )));
        };
        // The usage event of `stream_options.include_usage` has none.
        let Some(choice) = choices.first() else {
            continue;
        };
        if let Some(delta) = choice
            .pointer("/delta/content")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            text.push_str(delta);
            *sent_any = true;
            if !on_delta(delta) {
                return Err(LlmError::Cancelled);
            }
        }
        match choice.get("finish_reason").and_then(Value::as_str) {
            Some("length") => finish = Some(FinishReason::Length),
            Some(_) => finish = Some(FinishReason::Stop),
            None => {}
        }
    }
    if !done && finish.is_none() {
        return Err(LlmError::Protocol(
            "the stream ended without a finish_reason or [DONE]".into(),
        ));
    }
    Ok(Completion {
        text,
        prompt_tokens: usage.0,
        completion_tokens: usage.1,
        finish_reason: finish.unwrap_or(FinishReason::Stop),
    })
}

fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

impl Llm for OpenAiChat {
    fn model(&self) -> &str {
        &self.config.model
    }

    fn backend(&self) -> &'static str {
        "openai"
    }

    fn chat(
        &self,
        messages: &[ChatMessage],
        params: &Generation,
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LlmError> {
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "seed": params.seed,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(p) = params.top_p {
            body["top_p"] = json!(p);
        }
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        let deadline = Instant::now() + self.config.timeout;
        let mut retry = 0;
        loop {
            let mut sent_any = false;
            match self.attempt(&body, deadline, on_delta, &mut sent_any) {
                Ok(c) => return Ok(c),
                Err((e, retryable)) => {
                    let wait = backoff(self.config.backoff_base, Duration::from_secs(2), retry);
                    if !retryable
                        || sent_any
                        || retry >= self.config.max_retries
                        || Instant::now() + wait >= deadline
                    {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, retry, "chat backend failed; retrying");
                    std::thread::sleep(wait);
                    retry += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(Completion, Vec<String>), LlmError> {
        let mut deltas = Vec::new();
        let mut sent = false;
        let c = read_stream(
            text.as_bytes(),
            Instant::now() + Duration::from_secs(5),
            Duration::from_secs(5),
            &mut |d| {
                deltas.push(d.to_string());
                true
            },
            &mut sent,
        )?;
        Ok((c, deltas))
    }

    #[test]
    fn reads_openai_streams() {
        let stream = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n\
                      data: {\"choices\":[{\"delta\":{\"content\":\"Olá\"}}]}\n\n\
                      : keep-alive\n\n\
                      data: {\"choices\":[{\"delta\":{\"content\":\", mundo\"},\"finish_reason\":\"stop\"}]}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n\
                      data: [DONE]\n\n";
        let (c, deltas) = read(stream).unwrap();
        assert_eq!(c.text, "Olá, mundo");
        assert_eq!(deltas, vec!["Olá", ", mundo"]);
        assert_eq!((c.prompt_tokens, c.completion_tokens), (5, 2));
        assert_eq!(c.finish_reason, FinishReason::Stop);
    }

    #[test]
    fn broken_streams_are_protocol_errors() {
        for bad in [
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
            "data: {not json}\n\n",
            "<html>502 Bad Gateway</html>\n",
        ] {
            assert!(matches!(read(bad), Err(LlmError::Protocol(_))), "{bad}");
        }
    }
}
