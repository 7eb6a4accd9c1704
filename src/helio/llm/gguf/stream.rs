//! Turning sampled tokens into the text deltas a client sees.
//!
//! Two things stand between a token and a delta. A token is bytes, not text: `é` or an emoji may be
//! split over two or more tokens, so bytes wait in [`Utf8Buffer`] until they form whole characters.
//! And a stop string must never reach the client, even in part: [`StopText`] holds back the end of the
//! text while it could still be the beginning of one, and cuts the text where one appears.

/// Bytes that are not yet whole UTF-8 characters.
#[derive(Debug, Default)]
pub(crate) struct Utf8Buffer {
    pending: Vec<u8>,
}

impl Utf8Buffer {
    /// Adds `bytes` and returns the characters now complete. A byte sequence that can never become
    /// valid UTF-8 (a model can sample one) comes out as U+FFFD rather than stalling the stream.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // An incomplete character at the end: wait for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// What is left when generation ends: an unfinished character, as U+FFFD.
    pub(crate) fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// The answer so far, and how much of it has been sent.
#[derive(Debug)]
pub(crate) struct StopText<'a> {
    stops: Vec<&'a str>,
    longest_stop: usize,
    text: String,
    sent: usize,
}

impl<'a> StopText<'a> {
    /// Ends the text at the first of `stops` (empty ones are ignored).
    pub(crate) fn new(stops: &'a [String]) -> StopText<'a> {
        let stops: Vec<&str> = stops
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        let longest_stop = stops.iter().map(|s| s.len()).max().unwrap_or(0);
        StopText {
            stops,
            longest_stop,
            text: String::new(),
            sent: 0,
        }
    }

    /// Adds `piece`. Returns the text that can be sent now, and whether a stop string was met (the
    /// text then ends before it, and nothing more may be added).
    pub(crate) fn push(&mut self, piece: &str) -> (&str, bool) {
        let from = floor_char_boundary(&self.text, self.sent.saturating_sub(self.longest_stop));
        self.text.push_str(piece);
        let hit = self
            .stops
            .iter()
            .filter_map(|stop| self.text[from..].find(stop).map(|at| from + at))
            .min();
        if let Some(at) = hit {
            // Held-back text never includes the start of a match, so `at >= sent`.
            self.text.truncate(at.max(self.sent));
            return (self.take_to(self.text.len()), true);
        }
        let held = self
            .stops
            .iter()
            .map(|stop| partial_suffix(&self.text, stop))
            .max()
            .unwrap_or(0);
        (self.take_to(self.text.len() - held), false)
    }

    /// Whatever was held back, now that no more text comes.
    pub(crate) fn finish(&mut self) -> &str {
        self.take_to(self.text.len())
    }

    /// The whole answer.
    pub(crate) fn into_text(self) -> String {
        self.text
    }

    fn take_to(&mut self, end: usize) -> &str {
        let start = self.sent;
        self.sent = end.max(start);
        &self.text[start..self.sent]
    }
}

/// The length of the longest end of `text` that is a proper beginning of `stop`.
fn partial_suffix(text: &str, stop: &str) -> usize {
    (1..stop.len())
        .rev()
        .find(|&n| stop.is_char_boundary(n) && text.ends_with(&stop[..n]))
        .unwrap_or(0)
}

/// The largest char boundary of `s` at or before `i`.
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_waits_for_whole_characters() {
        let mut buf = Utf8Buffer::default();
        let e = "é".as_bytes();
        assert_eq!(buf.push(b"caf"), "caf");
        assert_eq!(buf.push(&e[..1]), "");
        assert_eq!(buf.push(&e[1..]), "é");
        let crab = "🦀".as_bytes();
        assert_eq!(buf.push(&crab[..2]), "");
        assert_eq!(buf.push(&crab[2..3]), "");
        assert_eq!(buf.push(&crab[3..]), "🦀");
        // Invalid bytes do not stall the stream.
        assert_eq!(buf.push(&[0xFF, b'a']), "\u{FFFD}a");
        assert_eq!(buf.push(&e[..1]), "");
        assert_eq!(buf.finish(), "\u{FFFD}");
    }

    /// Feeds `pieces`, returning the deltas sent, the text, and whether a stop was met.
    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut text = StopText::new(&stops);
        let mut deltas = Vec::new();
        let mut stopped = false;
        for piece in pieces {
            let (delta, stop) = text.push(piece);
            deltas.push(delta.to_string());
            if stop {
                stopped = true;
                break;
            }
        }
        if !stopped {
            deltas.push(text.finish().to_string());
        }
        (deltas, text.into_text(), stopped)
    }

    #[test]
    fn stop_strings_are_cut_and_never_sent_in_part() {
        let (deltas, text, stopped) =
            run(&["\n\nUser:"], &["Paris", ".\n", "\nUs", "er:", " more"]);
        assert!(stopped);
        assert_eq!(text, "Paris.");
        assert_eq!(deltas.concat(), "Paris.");
        // "\n" was held back until it was known to start the stop string.
        assert_eq!(deltas, ["Paris", ".", "", ""]);

        // A false start is released once it stops matching.
        let (deltas, text, stopped) = run(&["STOP"], &["a ST", "ART b"]);
        assert!(!stopped);
        assert_eq!(text, "a START b");
        assert_eq!(deltas, ["a ", "START b", ""]);

        // The stop inside one piece, with text after it.
        let (_, text, stopped) = run(&["##", "x"], &["ab##cx"]);
        assert!(stopped);
        assert_eq!(text, "ab");

        // Without stops everything goes out at once.
        let (deltas, text, _) = run(&[], &["é", "è"]);
        assert_eq!(deltas, ["é", "è", ""]);
        assert_eq!(text, "éè");
    }
}
