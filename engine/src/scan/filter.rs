//! The filters a rule's candidate matches pass before they count: `whole words` (keywords),
//! `validate` (regexes) and `except` (both).
//!
//! A candidate is judged in the text view its rule searches (the normalised text, or the text
//! as sent), with its span in that text: a keyword found in the collapsed or joined text and a
//! regex match in the marked text are mapped back first. Exceptions are searched in the same
//! segment and view, only once the rule has a candidate there, and excuse only the candidates
//! that lie wholly within one of their matches: an exception elsewhere in the text excuses
//! nothing, or a sender could whitelist a request by adding an excepted address to it.
//!
//! Where a filter cannot decide (a span that is not on character boundaries, a DFA search that
//! fails), it decides for the match: a guard that cannot check a candidate does not let it by.

use std::ops::Range;

use super::separators::Collapsed;
use super::{DfaGroup, Exceptions, RuleFilter};
use crate::wire::PatternRef;

/// A rule's candidate match: a span of the text view the rule searches.
pub(super) struct Candidate {
    pub rule: usize,
    pub segment: usize,
    pub pattern: PatternRef,
    pub span: Range<usize>,
}

/// The text a rule's filters read for one segment.
pub(super) struct ViewText<'v> {
    /// The view text: normalised or as sent.
    pub text: &'v str,
    /// Where the normalised text lost a run of invisible characters (empty for the text as
    /// sent).
    pub marks: &'v [usize],
    /// `searched` is the marked text (else the view text itself).
    pub marked: bool,
    /// What the view's DFAs search: the marked text, or the view text.
    pub searched: &'v [u8],
}

impl ViewText<'_> {
    /// A span of the searched text as a span of the view text.
    pub(super) fn unmarked(&self, span: Range<usize>) -> Range<usize> {
        if !self.marked {
            span
        } else {
            super::separators::unmarked_offset(self.marks, span.start)
                ..super::separators::unmarked_offset(self.marks, span.end)
        }
    }
}

/// The exception matches found so far, by (rule, segment): computed the first time a rule has
/// a candidate in a segment, then reused by its later candidates there. A list, not a map: it
/// holds an entry per filtered rule and segment with a candidate, a handful, and a map would
/// add its code to the filter's module.
#[derive(Default)]
pub(super) struct Excused {
    spans: Vec<(RuleSegment, Vec<Range<usize>>)>,
}

/// (rule, segment).
type RuleSegment = (usize, usize);

impl Excused {
    fn spans(
        &mut self,
        key: RuleSegment,
        find: impl FnOnce() -> Vec<Range<usize>>,
    ) -> &[Range<usize>] {
        let at = match self.spans.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                self.spans.push((key, find()));
                self.spans.len() - 1
            }
        };
        self.spans
            .get(at)
            .map_or(&[], |(_, spans)| spans.as_slice())
    }
}

impl<S: AsRef<[u32]>> RuleFilter<S> {
    /// Whether the candidate counts. `view` is the segment in the rule's view.
    pub(super) fn accepts(
        &self,
        candidate: &Candidate,
        view: &ViewText<'_>,
        excused: &mut Excused,
    ) -> bool {
        let span = &candidate.span;
        match candidate.pattern {
            PatternRef::Keyword(_) => {
                if self.whole_words && !whole_word(view.text, view.marks, span) {
                    return false;
                }
            }
            PatternRef::Regex(_) => {
                if let Some(validator) = self.validator {
                    let matched = match view.text.get(span.clone()) {
                        Some(matched) => std::borrow::Cow::Borrowed(matched),
                        None => String::from_utf8_lossy(
                            view.text.as_bytes().get(span.clone()).unwrap_or_default(),
                        ),
                    };
                    if !validator.accepts(&matched) {
                        return false;
                    }
                }
            }
        }
        if self.except.is_empty() {
            return true;
        }
        let spans = excused.spans((candidate.rule, candidate.segment), || {
            self.except.matches(view)
        });
        !spans
            .iter()
            .any(|e| e.start <= span.start && span.end <= e.end)
    }
}

impl<S: AsRef<[u32]>> Exceptions<S> {
    /// Every match of the exceptions in the segment, as spans of the view text.
    fn matches(&self, view: &ViewText<'_>) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        if let Some(automaton) = &self.keywords {
            // A space of an exception keyword matches any run of white space, as a rule keyword's
            // does: search the collapsed text when the text has such runs. (Marks are not read as
            // separators here: an exception missed makes the guard stricter, never looser.)
            let collapsed = if self.spaced {
                Collapsed::new(view.text)
            } else {
                None
            };
            match &collapsed {
                Some(collapsed) => spans.extend(
                    automaton
                        .find_overlapping_iter(collapsed.text.as_str())
                        .map(|m| collapsed.span(m.start()..m.end())),
                ),
                None => spans.extend(
                    automaton
                        .find_overlapping_iter(view.text)
                        .map(|m| m.start()..m.end()),
                ),
            }
        }
        for group in &self.groups {
            for found in group.matches(view.searched) {
                // A search that fails finds no exception: the candidate stands.
                let Ok((_, span)) = found else {
                    break;
                };
                spans.push(view.unmarked(span));
            }
        }
        spans
    }
}

/// Whether a keyword found at `span` of `text` stands at word boundaries at both ends.
pub(super) fn whole_word(text: &str, marks: &[usize], span: &Range<usize>) -> bool {
    boundary(text, marks, span.start) && boundary(text, marks, span.end)
}

/// Whether byte offset `at` of `text` is a word boundary: the start or end of the text, a place
/// where normalisation removed invisible characters (read as a separator, so a zero-width space
/// cannot glue a keyword to a neighbouring word and hide it), or between two characters that are
/// not both letters or digits of scripts written with spaces. An offset inside a character
/// counts as a boundary: the match then counts.
fn boundary(text: &str, marks: &[usize], at: usize) -> bool {
    if marks.binary_search(&at).is_ok() {
        return true;
    }
    let (Some(before), Some(after)) = (text.get(..at), text.get(at..)) else {
        return true;
    };
    match (before.chars().next_back(), after.chars().next()) {
        (Some(a), Some(b)) => !(in_spaced_word(a) && in_spaced_word(b)),
        _ => true,
    }
}

/// A letter or digit of a script written with spaces between words.
fn in_spaced_word(c: char) -> bool {
    c.is_alphanumeric() && !unspaced_script(c)
}

/// Whether `c` belongs to a script written without spaces between words (Han, Hiragana,
/// Katakana, Bopomofo, Thai, Lao, Khmer, Myanmar), where every character is a word boundary:
/// `机密` is a word inside `这是机密文件`.
fn unspaced_script(c: char) -> bool {
    matches!(
        u32::from(c),
        // Thai, Lao
        0x0E00..=0x0EFF
        // Myanmar
        | 0x1000..=0x109F
        // Khmer, Khmer symbols
        | 0x1780..=0x17FF
        | 0x19E0..=0x19FF
        // CJK radicals, Kangxi radicals, ideographic description characters
        | 0x2E80..=0x2FFF
        // Ideographic iteration mark, closing mark and number zero; Hangzhou numerals; more
        // iteration marks
        | 0x3005..=0x3007
        | 0x3021..=0x3029
        | 0x3031..=0x3035
        | 0x3038..=0x303C
        // Hiragana, Katakana, Bopomofo
        | 0x3040..=0x30FF
        | 0x3100..=0x312F
        // Bopomofo extended, Katakana phonetic extensions
        | 0x31A0..=0x31BF
        | 0x31F0..=0x31FF
        // CJK unified ideographs extension A, CJK unified ideographs
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        // Myanmar extended B and A
        | 0xA9E0..=0xA9FF
        | 0xAA60..=0xAA7F
        // CJK compatibility ideographs
        | 0xF900..=0xFAFF
        // Half-width Katakana
        | 0xFF66..=0xFF9F
        // Myanmar extended C
        | 0x116D0..=0x116FF
        // Kana extended B, Kana supplement, Kana extended A, small Kana extension
        | 0x1AFF0..=0x1B16F
        // CJK unified ideographs extensions B to F and I, compatibility supplement
        | 0x20000..=0x2FA1F
        // CJK unified ideographs extensions G and H
        | 0x30000..=0x323AF
    )
}

/// How a group's matches are searched for a rule with filters: the standard leftmost-first
/// matches, one after another without overlap, as the `regex` crate's `find_iter` gives them.
pub(super) struct Matches<'g, 't, S: AsRef<[u32]>> {
    group: &'g DfaGroup<S>,
    text: &'t [u8],
    at: usize,
    /// Where the search stops: matches end by here.
    end: usize,
    last_end: Option<usize>,
    done: bool,
}

/// A search that failed at this offset (the DFA met a byte it cannot go on with).
pub(super) struct SearchFailed {
    pub at: usize,
}

impl<S: AsRef<[u32]>> DfaGroup<S> {
    pub(super) fn matches<'g, 't>(&'g self, text: &'t [u8]) -> Matches<'g, 't, S> {
        self.matches_in(text, 0..text.len())
    }

    /// The matches that lie in `span` of the text (look-around still sees the bytes around it).
    pub(super) fn matches_in<'g, 't>(
        &'g self,
        text: &'t [u8],
        span: Range<usize>,
    ) -> Matches<'g, 't, S> {
        Matches {
            group: self,
            text,
            at: span.start,
            end: span.end.min(text.len()),
            last_end: None,
            done: false,
        }
    }

    /// The rule pattern of DFA pattern `id`.
    pub(super) fn pattern(&self, id: usize) -> PatternRef {
        self.patterns
            .get(id)
            .or(self.patterns.first())
            .copied()
            .unwrap_or(PatternRef::Regex(0))
    }
}

impl<S: AsRef<[u32]>> Iterator for Matches<'_, '_, S> {
    type Item = Result<(PatternRef, Range<usize>), SearchFailed>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done || self.at > self.end {
                return None;
            }
            let found = match &self.group.search {
                super::Search::Unanchored { reverse } => super::search::leftmost(
                    &self.group.forward,
                    reverse,
                    self.text,
                    self.at,
                    self.end,
                ),
                super::Search::AnchoredAtCandidates { starts } => super::search::leftmost_anchored(
                    &self.group.forward,
                    starts,
                    self.text,
                    self.at,
                    self.end,
                ),
            };
            let (id, span) = match found {
                Ok(Some(found)) => found,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(()) => {
                    self.done = true;
                    return Some(Err(SearchFailed { at: self.at }));
                }
            };
            if span.is_empty() {
                // An empty match moves the search on by a byte, and one right where the
                // previous match ended is no match of its own (as in the regex crate).
                self.at = span.end + 1;
                if self.last_end == Some(span.end) {
                    continue;
                }
            } else {
                self.at = span.end;
            }
            self.last_end = Some(span.end);
            return Some(Ok((self.group.pattern(id), span)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_boundaries_follow_scripts_written_with_spaces() {
        let at = |text: &str, word: &str| {
            let start = text.find(word).unwrap();
            whole_word(text, &[], &(start..start + word.len()))
        };
        assert!(!at("atlases", "atlas"));
        assert!(at("MongoDB Atlas.", "Atlas"));
        assert!(at("Atlas", "Atlas"));
        assert!(!at("xAtlas", "Atlas"));
        assert!(!at("Atlas2", "Atlas"));
        assert!(at("(Atlas)", "Atlas"));
        assert!(at("这是机密文件", "机密"));
        assert!(at("abc机密def", "机密"));
        assert!(at("ひらがなカタカナ", "カタカナ"));
        assert!(at("ภาษาไทย", "ไทย"));
        // Hangul is written with spaces.
        assert!(!at("한국어", "국어"));
        assert!(!at("café", "caf"));
        // A removed invisible run is a separator.
        assert!(whole_word("xAtlas", &[1], &(1..6)));
    }
}
