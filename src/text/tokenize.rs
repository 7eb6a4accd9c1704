//! Splitting text into raw tokens, and lower-casing them. Every later step (folding, stop words,
//! stemming, length limits) works on one token at a time.

use std::borrow::Cow;

/// How text is split into tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenizerKind {
    /// Split on every character that is not alphanumeric (Qdrant's default).
    #[default]
    Word,
    /// Split on Unicode whitespace only.
    Whitespace,
    /// As [`TokenizerKind::Word`]; the full-text index also stores every prefix of each token.
    Prefix,
    /// As [`TokenizerKind::Word`], and every CJK character is a token of its own.
    Multilingual,
}

/// Calls `emit` with each raw token of `text`, in order; never with an empty one.
pub fn split<'t>(kind: TokenizerKind, text: &'t str, mut emit: impl FnMut(Cow<'t, str>)) {
    match kind {
        TokenizerKind::Whitespace => text.split_whitespace().for_each(|w| emit(Cow::Borrowed(w))),
        TokenizerKind::Word | TokenizerKind::Prefix => {
            words(text).for_each(|w| emit(Cow::Borrowed(w)))
        }
        TokenizerKind::Multilingual => {
            for w in words(text) {
                if !w.chars().any(is_cjk) {
                    emit(Cow::Borrowed(w));
                    continue;
                }
                let mut cur = String::new();
                for c in w.chars() {
                    if is_cjk(c) {
                        if !cur.is_empty() {
                            emit(Cow::Owned(std::mem::take(&mut cur)));
                        }
                        emit(Cow::Owned(c.to_string()));
                    } else {
                        cur.push(c);
                    }
                }
                if !cur.is_empty() {
                    emit(Cow::Owned(cur));
                }
            }
        }
    }
}

/// The runs of alphanumeric characters of `text`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Hiragana, katakana, CJK ideographs and Hangul syllables: the scripts written without spaces
/// between words, where the multilingual tokenizer takes each character as a token.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// `token` lower-cased. `str::to_lowercase` always allocates; this skips it for tokens that are
/// already lowercase ASCII. Non-ASCII tokens always go through it, because its mapping (final
/// sigma, dotted I, title-case letters...) is context-dependent.
pub fn lowercase(token: Cow<'_, str>) -> Cow<'_, str> {
    let needs_lowercase = !token.is_ascii() || token.bytes().any(|b| b.is_ascii_uppercase());
    if needs_lowercase {
        Cow::Owned(token.to_lowercase())
    } else {
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(kind: TokenizerKind, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        split(kind, text, |t| out.push(t.into_owned()));
        out
    }

    #[test]
    fn each_kind_splits_as_documented() {
        let text = "R$ 1.234,56 São-Paulo/SP ☀️";
        assert_eq!(
            tokens(TokenizerKind::Word, text),
            ["R", "1", "234", "56", "São", "Paulo", "SP"]
        );
        assert_eq!(
            tokens(TokenizerKind::Prefix, text),
            tokens(TokenizerKind::Word, text)
        );
        assert_eq!(
            tokens(TokenizerKind::Whitespace, text),
            ["R$", "1.234,56", "São-Paulo/SP", "☀️"]
        );
        assert_eq!(
            tokens(TokenizerKind::Multilingual, "Ação 東京abc x日y"),
            ["Ação", "東", "京", "abc", "x", "日", "y"]
        );
    }

    #[test]
    fn lowercase_keeps_lowercase_ascii_borrowed() {
        assert!(matches!(
            lowercase(Cow::Borrowed("kit")),
            Cow::Borrowed("kit")
        ));
        assert_eq!(lowercase(Cow::Borrowed("KIT")), "kit");
        assert_eq!(lowercase(Cow::Borrowed("AÇÃO")), "ação");
    }
}
