//! Searching text with a policy's scanner: one keyword pass per view, the screens, and the
//! rules' DFA groups in rule order on the segments a screen passed.

use std::borrow::Cow;
use std::ops::Range;

use aho_corasick::{Anchored as AcAnchored, Input as AcInput, Match as AcMatch};
use regex_automata::dfa::Automaton;
use regex_automata::{Anchored, Input};

use super::filter::{Candidate, Excused, ViewText};
use super::separators::{marked, unmarked_offset, Collapsed, Joined};
use super::{DfaGroup, Hit, KeywordSet, PolicyScanner, RuleRegexes, Screen, Search, Want};
use crate::ir::Side;
use crate::normalize::{normalize_marked, original_span, Normalized};
use crate::wire::PatternRef;

impl KeywordSet {
    /// The text the automaton searches: `text` itself, or `text` in ASCII lowercase (written
    /// into `lowered`) for a set that folds case. The match offsets are `text`'s either way.
    fn haystack<'t>(&self, text: &'t str, lowered: &'t mut Vec<u8>) -> &'t [u8] {
        if !self.lowercase {
            return text.as_bytes();
        }
        lowered.clear();
        lowered.extend_from_slice(text.as_bytes());
        lower_ascii(lowered);
        lowered
    }

    /// Whether any pattern occurs in `haystack` (as [`KeywordSet::haystack`] gave it): the
    /// automaton runs only where the sieve says a pattern may start, anchored there.
    fn is_match(&self, haystack: &[u8]) -> bool {
        let Some(sieve) = &self.sieve else {
            return self.automaton.is_match(haystack);
        };
        // Each failed confirmation walks at most the longest pattern; past about two walks of
        // the text's length in them (a text made to run along a long keyword's prefix at every
        // place), the rest is left to one unanchored search, which is linear whatever the text.
        let mut budget =
            haystack.len().saturating_mul(2).saturating_add(1024) / self.max_pattern_len.max(1);
        let mut from = 0;
        while let Some(at) = sieve.next_candidate(haystack, from) {
            if budget == 0 {
                return self.automaton.is_match(AcInput::new(haystack).range(at..));
            }
            let input = AcInput::new(haystack).range(at..).anchored(AcAnchored::Yes);
            // An automaton that cannot search anchored (never: it is built to) counts as a
            // match, and the caller's full search decides.
            if self.automaton.try_find(input).map_or(true, |m| m.is_some()) {
                return true;
            }
            budget -= 1;
            from = at + 1;
        }
        false
    }

    /// Every match in `haystack`, overlapping, in the order of one overlapping search over it
    /// (by end, the longer first): with a sieve, that search runs only over the windows where
    /// a match can be, from each candidate place to the longest pattern's length past it.
    /// Windows are merged, so each match lies in exactly one, and a window's matches all end
    /// before the next window's begin.
    fn overlapping<'h>(&'h self, haystack: &'h [u8]) -> impl Iterator<Item = AcMatch> + 'h {
        let mut windows: Vec<Range<usize>> = Vec::new();
        match &self.sieve {
            Some(sieve) => {
                let mut from = 0;
                while let Some(at) = sieve.next_candidate(haystack, from) {
                    let end = at.saturating_add(self.max_pattern_len).min(haystack.len());
                    match windows.last_mut() {
                        Some(last) if at <= last.end => last.end = last.end.max(end),
                        _ => windows.push(at..end),
                    }
                    from = at + 1;
                }
            }
            None => windows.push(0..haystack.len()),
        }
        windows.into_iter().flat_map(move |window| {
            self.automaton
                .find_overlapping_iter(AcInput::new(haystack).range(window))
        })
    }

    /// The (rule, keyword index) of automaton pattern `id` matched at `span` of `text`, unless
    /// it is a screen literal or an exact keyword that matched only with its case folded.
    fn confirm(&self, id: usize, text: &str, span: Range<usize>) -> Option<(usize, u32)> {
        if let Some(Some(keyword)) = self.exact.get(id) {
            if text.as_bytes().get(span) != Some(&keyword[..]) {
                return None;
            }
        }
        self.sites.get(id).copied()
    }
}

/// ASCII `A`..=`Z` to lowercase, eight bytes at a time: this runs over every text a folding
/// keyword set searches, and a byte loop in Wasm (no SIMD) cost a tenth of the keyword pass.
fn lower_ascii(bytes: &mut [u8]) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // Per byte, with its high bit clear (ASCII): the high bit of `w + (0x80 - 'A')` says
        // "at least `A`", that of `w + (0x7f - 'Z')` says "past `Z`".
        let low = w & !HIGH;
        let at_least_a = low.wrapping_add(ONES * u64::from(0x80 - b'A'));
        let past_z = low.wrapping_add(ONES * u64::from(0x7f - b'Z'));
        let upper = (at_least_a & !past_z) & !w & HIGH;
        chunk.copy_from_slice(&(w | (upper >> 2)).to_le_bytes());
    }
    chunks.into_remainder().make_ascii_lowercase();
}

/// The hits found so far, sorted by rule, at most one per rule (with [`Want::Patterns`], by rule
/// and pattern, at most one per pattern; with [`Want::All`], every hit, sorted at the end).
struct Found {
    hits: Vec<Hit>,
    /// The earliest decisive rule with a hit (`usize::MAX`: none yet).
    earliest_decisive: usize,
    per_pattern: bool,
    every: bool,
}

/// A pattern's place in its rule's order: keywords, then regexes.
fn pattern_order(pattern: PatternRef) -> (u8, u32) {
    match pattern {
        PatternRef::Keyword(k) => (0, k),
        PatternRef::Regex(x) => (1, x),
    }
}

impl Found {
    fn new(want: Want) -> Found {
        Found {
            hits: Vec::new(),
            earliest_decisive: usize::MAX,
            per_pattern: want == Want::Patterns,
            every: want == Want::All,
        }
    }

    /// Where a hit of `rule` (and `pattern`, when hits are kept per pattern) is or would go.
    fn slot(&self, rule: usize, pattern: PatternRef) -> Result<usize, usize> {
        if self.per_pattern {
            let key = (rule, pattern_order(pattern));
            self.hits
                .binary_search_by_key(&key, |h| (h.rule, pattern_order(h.pattern)))
        } else {
            self.hits.binary_search_by_key(&rule, |h| h.rule)
        }
    }

    /// Whether a hit of `rule` would still be kept: the rule has none yet and, with
    /// [`Want::First`], a decisive rule comes before every decisive rule with a hit. (A rule that
    /// decides nothing is wanted wherever it is.) With [`Want::Patterns`] every rule is wanted
    /// until each of its patterns has a hit, which only [`Found::wanted_pattern`] can tell.
    fn wanted(&self, rule: usize, decisive: bool, want: Want) -> bool {
        if want == Want::First && decisive && rule >= self.earliest_decisive {
            return false;
        }
        self.every || self.per_pattern || self.hits.binary_search_by_key(&rule, |h| h.rule).is_err()
    }

    /// [`Found::wanted`] for a hit of one pattern.
    fn wanted_pattern(&self, rule: usize, pattern: PatternRef, decisive: bool, want: Want) -> bool {
        self.wanted(rule, decisive, want) && (self.every || self.slot(rule, pattern).is_err())
    }

    fn record(&mut self, hit: Hit, decisive: bool) {
        if self.every {
            self.hits.push(hit);
            return;
        }
        if let Err(at) = self.slot(hit.rule, hit.pattern) {
            if decisive {
                self.earliest_decisive = self.earliest_decisive.min(hit.rule);
            }
            self.hits.insert(at, hit);
        }
    }
}

impl<S: AsRef<[u32]>> PolicyScanner<S> {
    /// Finds hits in the texts, sorted by rule, at most one per rule or, with [`Want::Patterns`],
    /// per pattern (see [`Want`]). Spans are always in the texts as given.
    pub(crate) fn scan(&self, texts: &[&str], want: Want, side: Side) -> Vec<Hit> {
        // Only the rules of the side searched: a request's rules never see an answer.
        let on_side = |rule: usize| {
            self.rules
                .get(rule)
                .is_none_or(|r| r.response == (side == Side::Response))
        };
        let any_normalized = self.keyword_sets.iter().any(|s| s.normalized)
            || self.regexes.iter().any(|r| r.normalized);
        let normalized: Vec<Normalized<'_>> = if any_normalized {
            texts.iter().map(|t| normalize_marked(t)).collect()
        } else {
            Vec::new()
        };
        let view = |normalized_view: bool, segment: usize| -> Option<&str> {
            if normalized_view {
                normalized.get(segment).map(|n| n.text.as_ref())
            } else {
                texts.get(segment).copied()
            }
        };
        // The marked texts the normalised view's DFAs search (see `separators`); `None` for a
        // segment without marks, where that is the normalised text itself. Exception DFAs
        // search them too.
        let needs_marked = self.regexes.iter().any(|r| r.normalized)
            || self.rules.iter().any(|r| {
                r.filter
                    .as_ref()
                    .is_some_and(|f| f.normalized && !f.except.groups.is_empty())
            });
        let marked_texts: Vec<Option<Vec<u8>>> = if needs_marked {
            normalized
                .iter()
                .map(|n| marked(&n.text, &n.marks))
                .collect()
        } else {
            Vec::new()
        };
        let has_marks = |segment: usize| marked_texts.get(segment).is_some_and(Option::is_some);
        let dfa_view = |normalized_view: bool, segment: usize| -> Option<&[u8]> {
            match marked_texts.get(segment) {
                Some(Some(marked)) if normalized_view => Some(marked.as_slice()),
                _ => view(normalized_view, segment).map(str::as_bytes),
            }
        };
        // A segment as a rule's filters read it.
        let filter_view = |normalized_view: bool, segment: usize| -> Option<ViewText<'_>> {
            let marks = match normalized.get(segment) {
                Some(n) if normalized_view => n.marks.as_slice(),
                _ => &[],
            };
            Some(ViewText {
                text: view(normalized_view, segment)?,
                marks,
                marked: normalized_view && has_marks(segment),
                searched: dfa_view(normalized_view, segment)?,
            })
        };
        let decisive = |rule: usize| self.rules.get(rule).is_none_or(|r| r.decisive);
        // Whether a candidate (a span of the rule's view text) passes its rule's filters; a
        // rule without filters takes every candidate.
        let accepted = |rule: usize,
                        pattern: PatternRef,
                        segment: usize,
                        span: &Range<usize>,
                        excused: &mut Excused|
         -> bool {
            let Some(filter) = self.rules.get(rule).and_then(|r| r.filter.as_deref()) else {
                return true;
            };
            let Some(view) = filter_view(filter.normalized, segment) else {
                return true;
            };
            let candidate = Candidate {
                rule,
                segment,
                pattern,
                span: span.clone(),
            };
            filter.accepts(&candidate, &view, excused)
        };
        let mut found = Found::new(want);
        let mut excused = Excused::default();
        // Per view, the screen units each segment passed, so far by their literals.
        let mut passed: [Passed; 2] = self.units.map(|units| Passed::new(units, texts.len()));
        // And where each literal was found, per view and segment: (unit, span in the view's
        // text), so a group behind literals runs only around them; at most
        // MAX_LITERAL_SPANS in all (a body of digits would otherwise record a span per byte
        // and unit), past which a segment's groups run on all of it (`None`).
        let mut literal_spans: [Vec<LiteralSpans>; 2] = self.units.map(|units| {
            if units > 0 {
                vec![Some(Vec::new()); texts.len()]
            } else {
                Vec::new()
            }
        });
        let mut span_room = MAX_LITERAL_SPANS;

        // With keywords that hold a space, the normalised view's keyword pass searches the
        // collapsed text of segments with white space runs (see `separators`).
        let collapsed: Vec<Option<Collapsed>> = if self.joined.is_some() {
            normalized.iter().map(|n| Collapsed::new(&n.text)).collect()
        } else {
            Vec::new()
        };
        // One buffer for every text a folding set lowers.
        let mut lowered = Vec::new();
        for set in &self.keyword_sets {
            for segment in 0..texts.len() {
                let collapsed = match collapsed.get(segment) {
                    Some(Some(collapsed)) if set.normalized => Some(collapsed),
                    _ => None,
                };
                let Some(text) = collapsed
                    .map(|c| c.text.as_str())
                    .or_else(|| view(set.normalized, segment))
                else {
                    continue;
                };
                let haystack = set.haystack(text, &mut lowered);
                // Most texts match no keyword: the sieve's pass, with an anchored search where
                // it passes, settles them.
                if !set.is_match(haystack) {
                    continue;
                }
                // Overlapping matches, so a candidate a filter rejects never hides a later one.
                for m in set.overlapping(haystack) {
                    let id = m.pattern().as_usize();
                    if let Some(literal) = id.checked_sub(set.sites.len()) {
                        let view_index = usize::from(set.normalized);
                        let units = set.literal_units.get(literal);
                        if let Some(passed) = passed.get_mut(view_index) {
                            match units {
                                Some(units) => passed.set(segment, units),
                                None => passed.set_all(segment),
                            }
                        }
                        let spans = literal_spans
                            .get_mut(view_index)
                            .and_then(|spans| spans.get_mut(segment));
                        if let (Some(slot), Some(units)) = (spans, units) {
                            match slot {
                                Some(spans) if span_room >= units.len() => {
                                    span_room -= units.len();
                                    let span = match collapsed {
                                        Some(collapsed) => collapsed.span(m.start()..m.end()),
                                        None => m.start()..m.end(),
                                    };
                                    spans.extend(units.iter().map(|&unit| (unit, span.clone())));
                                }
                                _ => *slot = None,
                            }
                        }
                        continue;
                    }
                    let Some((rule, k)) = set.confirm(id, text, m.start()..m.end()) else {
                        continue;
                    };
                    if !on_side(rule) {
                        continue;
                    }
                    let decisive = decisive(rule);
                    if !found.wanted_pattern(rule, PatternRef::Keyword(k), decisive, want) {
                        continue;
                    }
                    let span = match collapsed {
                        Some(collapsed) => collapsed.span(m.start()..m.end()),
                        None => m.start()..m.end(),
                    };
                    let pattern = PatternRef::Keyword(k);
                    if !accepted(rule, pattern, segment, &span, &mut excused) {
                        continue;
                    }
                    found.record(
                        Hit {
                            rule,
                            pattern,
                            segment,
                            span,
                        },
                        decisive,
                    );
                }
            }
        }
        // Keywords with spaces in text with marks, where a mark may be a separator: in the
        // joined text.
        if let Some(joined) = &self.joined {
            for (segment, n) in normalized.iter().enumerate() {
                if n.marks.is_empty() {
                    continue;
                }
                let Some(set) = joined.set() else {
                    // Fail closed: a text the guard cannot search is not a text it lets through.
                    if let Some((rule, k)) = joined.first_rule() {
                        let span = 0..n.text.len();
                        let pattern = PatternRef::Keyword(k);
                        found.record(
                            Hit {
                                rule,
                                pattern,
                                segment,
                                span,
                            },
                            decisive(rule),
                        );
                    }
                    continue;
                };
                let text = Joined::new(&n.text, &n.marks);
                let haystack = set.haystack(&text.text, &mut lowered);
                if !set.is_match(haystack) {
                    continue;
                }
                for m in set.overlapping(haystack) {
                    let id = m.pattern().as_usize();
                    let Some((rule, k)) = set.confirm(id, &text.text, m.start()..m.end()) else {
                        continue;
                    };
                    if !on_side(rule) {
                        continue;
                    }
                    let decisive = decisive(rule);
                    if !found.wanted_pattern(rule, PatternRef::Keyword(k), decisive, want) {
                        continue;
                    }
                    let Some(span) = joined
                        .keywords
                        .get(id)
                        .and_then(|keyword| text.confirm(keyword, m.start()..m.end()))
                    else {
                        continue;
                    };
                    let pattern = PatternRef::Keyword(k);
                    if !accepted(rule, pattern, segment, &span, &mut excused) {
                        continue;
                    }
                    found.record(
                        Hit {
                            rule,
                            pattern,
                            segment,
                            span,
                        },
                        decisive,
                    );
                }
            }
        }
        // Per view, the screen units each segment passed (`None`: no screens, every segment
        // runs every group), completed by the screen DFAs when a rule of the view is first
        // searched.
        let mut screened: [Option<Option<Passed>>; 2] = [None, None];
        // By unit, so each group finds its own literals' spans by binary search.
        for spans in literal_spans.iter_mut().flatten().flatten() {
            spans.sort_unstable_by_key(|(unit, span)| (*unit, span.start));
        }
        for rule in self.regexes.iter().filter(|r| on_side(r.rule)) {
            let decisive = decisive(rule.rule);
            if !found.wanted(rule.rule, decisive, want) {
                continue;
            }
            let view_index = usize::from(rule.normalized);
            let units = self.units.get(view_index).copied().unwrap_or(0);
            let slot = screened.get_mut(view_index);
            let passed: Option<&Passed> = match slot {
                Some(slot) => slot
                    .get_or_insert_with(|| {
                        if units == 0 {
                            return None;
                        }
                        let mut view_passed = passed
                            .get_mut(view_index)
                            .map(std::mem::take)
                            .unwrap_or_default();
                        for segment in 0..texts.len() {
                            // The screens were built from the patterns as written and searched
                            // in the normalised text: a segment with marks is not screened.
                            if rule.normalized && has_marks(segment) {
                                view_passed.set_all(segment);
                                continue;
                            }
                            let Some(text) = view(rule.normalized, segment) else {
                                continue;
                            };
                            for screen in &self.screens {
                                if screen.normalized == rule.normalized
                                    && !view_passed.get(segment, screen.unit)
                                    && screen.matches(text)
                                {
                                    view_passed.set(segment, &[screen.unit]);
                                }
                            }
                        }
                        Some(view_passed)
                    })
                    .as_ref(),
                None => None,
            };
            // A span of the marked text, as a span of the normalised text.
            let unmarked = |segment: usize, span: Range<usize>| match normalized.get(segment) {
                Some(n) if rule.normalized && !n.marks.is_empty() => {
                    unmarked_offset(&n.marks, span.start)..unmarked_offset(&n.marks, span.end)
                }
                _ => span,
            };
            let filtered = self
                .rules
                .get(rule.rule)
                .is_some_and(|r| r.filter.is_some());
            // Where a group can match in a segment: nowhere unless one of its screens passed,
            // and near its literals when only literals screen it.
            let screened_out = |group: &DfaGroup<S>, segment: usize| match (passed, &group.gate) {
                (Some(passed), Some(gate)) => !passed.any(segment, gate),
                _ => false,
            };
            let reach = |group: &DfaGroup<S>, segment: usize, len: usize| -> Reach {
                if screened_out(group, segment) {
                    return Reach::Skip;
                }
                let Some(gate) = &group.gate else {
                    return Reach::Whole;
                };
                // A segment with marks is searched as the marked text, whose offsets are not
                // the literals'.
                let (true, Some(max_len)) = (group.literal_gate, group.max_len) else {
                    return Reach::Whole;
                };
                if rule.normalized && has_marks(segment) {
                    return Reach::Whole;
                }
                let spans = literal_spans
                    .get(usize::from(rule.normalized))
                    .and_then(|spans| spans.get(segment))
                    .and_then(Option::as_ref);
                match spans {
                    Some(spans) => windows(spans, gate, max_len, len),
                    None => Reach::Whole,
                }
            };
            let skipped = |segment: usize| rule.groups.iter().all(|g| screened_out(g, segment));
            if matches!(want, Want::Patterns | Want::All) {
                // Every match of every pattern the rule's filters take, one after another.
                for segment in (0..texts.len()).filter(|&s| !skipped(s)) {
                    let Some(text) = dfa_view(rule.normalized, segment) else {
                        continue;
                    };
                    let mut taken = Vec::new();
                    rule.first_accepted(
                        text,
                        |g| reach(g, segment, text.len()),
                        |pattern, span| {
                            let span = unmarked(segment, span.clone());
                            if accepted(rule.rule, pattern, segment, &span, &mut excused) {
                                taken.push(Hit {
                                    rule: rule.rule,
                                    pattern,
                                    segment,
                                    span,
                                });
                            }
                            false
                        },
                    );
                    for hit in taken {
                        found.record(hit, decisive);
                    }
                }
                continue;
            }
            let hit = (0..texts.len()).find_map(|segment| {
                if skipped(segment) {
                    return None;
                }
                let text = dfa_view(rule.normalized, segment)?;
                let (pattern, span) = if filtered {
                    rule.first_accepted(
                        text,
                        |g| reach(g, segment, text.len()),
                        |pattern, span| {
                            let span = unmarked(segment, span.clone());
                            accepted(rule.rule, pattern, segment, &span, &mut excused)
                        },
                    )?
                } else {
                    rule.first_hit(text, |g| reach(g, segment, text.len()))?
                };
                Some(Hit {
                    rule: rule.rule,
                    pattern,
                    segment,
                    span: unmarked(segment, span),
                })
            });
            if let Some(hit) = hit {
                found.record(hit, decisive);
            }
        }
        let mut hits = found.hits;
        if want == Want::All {
            hits.sort_unstable_by_key(|h| (h.rule, h.segment, h.span.start, h.span.end));
        }
        if want == Want::First {
            // Decisive rules found before an earlier one was are not wanted.
            let earliest = found.earliest_decisive;
            hits.retain(|hit| !decisive(hit.rule) || hit.rule == earliest);
        }
        // Report every span in the original text.
        for hit in &mut hits {
            if let (Some(Cow::Owned(_)), Some(original)) = (
                normalized.get(hit.segment).map(|n| &n.text),
                texts.get(hit.segment),
            ) {
                if self.hit_was_normalized(hit) {
                    hit.span = original_span(original, hit.span.clone());
                }
            }
        }
        hits
    }

    /// Whether the hit's rule searches the normalised text. A rule searches one view with all
    /// its patterns; a keyword may sit in the keyword automaton or, folded with Unicode case
    /// rules, in the rule's DFAs.
    fn hit_was_normalized(&self, hit: &Hit) -> bool {
        let in_keywords = match hit.pattern {
            PatternRef::Keyword(k) => self
                .keyword_sets
                .iter()
                .find(|set| set.sites.contains(&(hit.rule, k)))
                .map(|set| set.normalized),
            PatternRef::Regex(_) => None,
        };
        in_keywords.unwrap_or_else(|| {
            self.regexes
                .iter()
                .find(|r| r.rule == hit.rule)
                .is_some_and(|r| r.normalized)
        })
    }
}

impl<S: AsRef<[u32]>> Screen<S> {
    /// Whether the (unanchored) DFA matches anywhere in the text; a search error counts as a
    /// match, so the text is searched by the rules' own DFAs.
    fn matches(&self, text: &str) -> bool {
        let input = Input::new(text).earliest(true);
        !matches!(self.dfa.try_search_fwd(&input), Ok(None))
    }
}

/// The earliest match of an anchored DFA started at each candidate position.
fn find_anchored<A: Automaton>(
    dfa: &A,
    starts: &[bool; 256],
    text: &[u8],
    span: Range<usize>,
) -> Option<(usize, Range<usize>)> {
    for (at, byte) in text.iter().enumerate().take(span.end).skip(span.start) {
        if !starts.get(usize::from(*byte)).copied().unwrap_or(true) {
            continue;
        }
        let input = Input::new(text)
            .range(at..)
            .anchored(Anchored::Yes)
            .earliest(true);
        match dfa.try_search_fwd(&input) {
            Ok(Some(end)) => return Some((end.pattern().as_usize(), at..end.offset())),
            Ok(None) => {}
            Err(_) => return Some((0, at..at)),
        }
    }
    None
}

impl<S: AsRef<[u32]>> RuleRegexes<S> {
    /// The first hit over the groups in order, each searched where `reach` says it can match.
    fn first_hit(
        &self,
        text: &[u8],
        reach: impl Fn(&DfaGroup<S>) -> Reach,
    ) -> Option<(PatternRef, Range<usize>)> {
        for group in &self.groups {
            for span in reach(group).spans(text.len()) {
                let found = match &group.search {
                    Search::Unanchored { reverse } => find(&group.forward, reverse, text, span),
                    Search::AnchoredAtCandidates { starts } => {
                        find_anchored(&group.forward, starts, text, span)
                    }
                };
                if let Some((pattern, span)) = found {
                    return Some((group.pattern(pattern), span));
                }
            }
        }
        None
    }
}

impl<S: AsRef<[u32]>> RuleRegexes<S> {
    /// The first candidate `accept` takes, over the groups in order, each group's standard
    /// leftmost-first matches one after another: for a rule with filters, where a rejected
    /// candidate must not hide a later one.
    fn first_accepted(
        &self,
        text: &[u8],
        reach: impl Fn(&DfaGroup<S>) -> Reach,
        mut accept: impl FnMut(PatternRef, &Range<usize>) -> bool,
    ) -> Option<(PatternRef, Range<usize>)> {
        for group in &self.groups {
            for found in reach(group)
                .spans(text.len())
                .into_iter()
                .flat_map(|span| group.matches_in(text, span))
            {
                match found {
                    Ok((pattern, span)) => {
                        if accept(pattern, &span) {
                            return Some((pattern, span));
                        }
                    }
                    // Fail closed: a text the guard cannot search is not a text it lets through.
                    Err(failed) => return Some((group.pattern(0), failed.at..failed.at)),
                }
            }
        }
        None
    }
}

/// The leftmost-first match of a forward/reverse pair that starts at or after `at`, found as
/// regex-automata's own DFA regex finds it: the forward DFA (not stopping at the earliest end)
/// gives the end, the anchored reverse DFA the start. `Err` for a search error.
pub(super) fn leftmost<A: Automaton>(
    forward: &A,
    reverse: &A,
    text: &[u8],
    at: usize,
    end: usize,
) -> Result<Option<(usize, Range<usize>)>, ()> {
    let end = end.min(text.len());
    if at > end {
        return Ok(None);
    }
    let input = Input::new(text).range(at..end);
    let end = match forward.try_search_fwd(&input) {
        Ok(Some(end)) => end,
        Ok(None) => return Ok(None),
        Err(_) => return Err(()),
    };
    let end_at = end.offset().clamp(at, text.len());
    let rev_input = Input::new(text)
        .range(at..end_at)
        .anchored(Anchored::Yes)
        .earliest(false);
    let start = match reverse.try_search_rev(&rev_input) {
        Ok(Some(start)) if start.offset() <= end_at => start.offset(),
        // The reverse DFA finds every match the forward one does; a bundle where it does not
        // gets the widest span.
        Ok(_) => at,
        Err(_) => return Err(()),
    };
    Ok(Some((end.pattern().as_usize(), start..end_at)))
}

/// The leftmost-first match of an anchored DFA started at each candidate position in `at..end`.
pub(super) fn leftmost_anchored<A: Automaton>(
    dfa: &A,
    starts: &[bool; 256],
    text: &[u8],
    at: usize,
    end: usize,
) -> Result<Option<(usize, Range<usize>)>, ()> {
    for (start, byte) in text.iter().enumerate().take(end).skip(at) {
        if !starts.get(usize::from(*byte)).copied().unwrap_or(true) {
            continue;
        }
        let input = Input::new(text).range(start..).anchored(Anchored::Yes);
        match dfa.try_search_fwd(&input) {
            Ok(Some(end)) => return Ok(Some((end.pattern().as_usize(), start..end.offset()))),
            Ok(None) => {}
            Err(_) => return Err(()),
        }
    }
    Ok(None)
}

/// The earliest match of any pattern of a forward/reverse pair: (DFA pattern id, byte span).
///
/// A search error (which these DFAs, built without quit bytes, do not produce) counts as a match
/// at the start: a text the guard cannot search is not a text it lets through.
fn find<A: Automaton>(
    forward: &A,
    reverse: &A,
    text: &[u8],
    span: Range<usize>,
) -> Option<(usize, Range<usize>)> {
    let input = Input::new(text).range(span).earliest(true);
    let end = match forward.try_search_fwd(&input) {
        Ok(Some(end)) => end,
        Ok(None) => return None,
        Err(_) => return Some((0, 0..0)),
    };
    let rev_input = Input::new(text)
        .range(..end.offset().min(text.len()))
        .anchored(Anchored::Yes)
        .earliest(false);
    let start = match reverse.try_search_rev(&rev_input) {
        Ok(Some(start)) if start.offset() <= end.offset() => start.offset(),
        _ => end.offset(),
    };
    Some((end.pattern().as_usize(), start..end.offset()))
}

#[cfg(test)]
mod screen_tests {
    use crate::ir::{HostPattern, Patterns, Policy, Program, Rule, RuleAction};
    use crate::{compile, CompileOptions, Decision, Ruleset};

    fn rule(id: &str, keywords: &[&str], regexes: &[&str], ignore_case: bool) -> Rule {
        Rule {
            id: id.into(),
            reason: None,
            mode: Default::default(),
            action: RuleAction::Deny(Patterns {
                keywords: keywords.iter().map(|s| s.to_string()).collect(),
                regexes: regexes.iter().map(|s| s.to_string()).collect(),
                ignore_case,
                skip_normalization: false,
                ..Default::default()
            }),
        }
    }

    fn denied_by(ruleset: &Ruleset, text: &str) -> Option<(String, std::ops::Range<usize>)> {
        let policy = ruleset.select("h", "/")?;
        match ruleset
            .inspect(&policy, Some("text/plain"), text.as_bytes())
            .decision
        {
            Decision::Deny(d) => Some((
                d.rule.unwrap_or_default(),
                d.matched.map(|m| m.byte_span).unwrap_or(0..0),
            )),
            _ => None,
        }
    }

    #[test]
    fn one_folded_keyword_pass_and_screens_keep_the_verdicts() {
        let program = Program {
            policies: vec![Policy {
                name: "p".into(),
                hosts: vec![HostPattern::Exact("h".into())],
                path_prefix: None,
                headers: vec![],
                rules: vec![
                    rule("exact", &["Secret", "账号"], &[], false),
                    rule("folded", &["password"], &[], true),
                    rule(
                        "regexes",
                        &[],
                        &[
                            r"1[3-9][0-9]{9}",
                            r"AKIA[0-9A-Z]{16}",
                            r"4[0-9]{12}(?:[0-9]{3})?",
                            r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}",
                        ],
                        false,
                    ),
                    rule("later", &["secret"], &[], false),
                ],
            }],
            judges: vec![],
        };
        let compiled = compile(&program, &CompileOptions::default()).unwrap();
        let ruleset = Ruleset::from_bytes(&compiled.bytes).unwrap();
        assert_eq!(denied_by(&ruleset, "nothing to see, 你好，世界"), None);
        // An exact keyword in the folded automaton still needs its exact bytes.
        assert_eq!(
            denied_by(&ruleset, "a secret"),
            Some(("later".into(), 2..8))
        );
        assert_eq!(
            denied_by(&ruleset, "a Secret"),
            Some(("exact".into(), 2..8))
        );
        assert_eq!(
            denied_by(&ruleset, "my ＰＡＳＳＷＯＲＤ"),
            Some(("folded".into(), 3..27))
        );
        assert_eq!(
            denied_by(&ruleset, "call 13912345678 now"),
            Some(("regexes".into(), 5..16))
        );
        assert_eq!(
            denied_by(&ruleset, "id AKIAABCDEFGHIJKLMNOP."),
            Some(("regexes".into(), 3..23))
        );
        assert_eq!(
            denied_by(&ruleset, "card 4111111111111111"),
            Some(("regexes".into(), 5..18))
        );
        assert_eq!(
            denied_by(&ruleset, "iban GB82WEST12345698765432"),
            Some(("regexes".into(), 5..20))
        );
        // A screen hit that no rule confirms is not a denial (six digits look like a phone).
        assert_eq!(denied_by(&ruleset, "order 139123 shipped"), None);
        // The earliest rule wins over a regex hit earlier in the text.
        assert_eq!(
            denied_by(&ruleset, "13912345678 账号"),
            Some(("exact".into(), 12..18))
        );
    }
}

#[cfg(test)]
mod separator_tests {
    use crate::ir::{HostPattern, Patterns, Policy, Program, Rule, RuleAction};
    use crate::{compile, CompileOptions, Decision, Ruleset};

    fn ruleset(rules: Vec<(&str, Vec<&str>, Vec<&str>, bool)>) -> Ruleset {
        let program = Program {
            policies: vec![Policy {
                name: "p".into(),
                hosts: vec![HostPattern::Exact("h".into())],
                path_prefix: None,
                headers: vec![],
                rules: rules
                    .into_iter()
                    .map(|(id, keywords, regexes, ignore_case)| Rule {
                        id: id.into(),
                        reason: None,
                        mode: Default::default(),
                        action: RuleAction::Deny(Patterns {
                            keywords: keywords.iter().map(|s| s.to_string()).collect(),
                            regexes: regexes.iter().map(|s| s.to_string()).collect(),
                            ignore_case,
                            skip_normalization: false,
                            ..Default::default()
                        }),
                    })
                    .collect(),
            }],
            judges: vec![],
        };
        let compiled = compile(&program, &CompileOptions::default()).unwrap();
        Ruleset::from_bytes(&compiled.bytes).unwrap()
    }

    fn denied(ruleset: &Ruleset, text: &str) -> Option<(String, String)> {
        let policy = ruleset.select("h", "/")?;
        match ruleset
            .inspect(&policy, Some("text/plain"), text.as_bytes())
            .decision
        {
            Decision::Deny(d) => {
                let span = d.matched.map(|m| m.byte_span).unwrap_or(0..0);
                Some((d.rule.unwrap_or_default(), text[span].to_string()))
            }
            _ => None,
        }
    }

    #[test]
    fn spans_of_separated_matches_point_at_the_text_as_sent() {
        let rules = ruleset(vec![
            ("dfa-keyword", vec!["opération tempête"], vec![], true),
            ("keyword", vec!["account number"], vec![], false),
            ("regex", vec![], vec![r"routing\s+number"], false),
        ]);
        let text = "Opéra\u{200b}tion\u{200b}tempête starts";
        assert_eq!(
            denied(&rules, text),
            Some((
                "dfa-keyword".into(),
                "Opéra\u{200b}tion\u{200b}tempête".into()
            ))
        );
        let text = "my acc\u{200b}ount\u{200b}number is";
        assert_eq!(
            denied(&rules, text),
            Some(("keyword".into(), "acc\u{200b}ount\u{200b}number".into()))
        );
        let text = "my account \n number is";
        assert_eq!(
            denied(&rules, text),
            Some(("keyword".into(), "account \n number".into()))
        );
        let text = "my rou\u{200b}ting\u{200b}number is";
        assert_eq!(
            denied(&rules, text),
            Some(("regex".into(), "rou\u{200b}ting\u{200b}number".into()))
        );
        assert_eq!(denied(&rules, "my accountnumber is"), None);
        assert_eq!(denied(&rules, "my routingnumber is"), None);
    }
}

#[cfg(test)]
mod lowering_tests {
    use super::lower_ascii;

    #[test]
    fn lowers_exactly_what_the_standard_library_lowers() {
        // Every byte value at every position of a word and in the tail after it.
        for byte in 0..=255u8 {
            for at in 0..11 {
                let mut bytes = *b"Az@[`{\xc3\x80\xff Q";
                bytes[at] = byte;
                let mut ours = bytes;
                lower_ascii(&mut ours);
                assert_eq!(
                    ours.to_vec(),
                    bytes.to_ascii_lowercase(),
                    "{byte:#x} at {at}"
                );
            }
        }
        let mut text = "ＡＢＣ Password 机密 ZEBRA".as_bytes().to_vec();
        lower_ascii(&mut text);
        assert_eq!(text, "ＡＢＣ password 机密 zebra".as_bytes());
    }
}

/// Per segment, which screen units of one view it passed: a bitset of `words` words each.
#[derive(Debug, Default)]
struct Passed {
    words: usize,
    bits: Vec<u64>,
}

impl Passed {
    fn new(units: usize, segments: usize) -> Passed {
        let words = units.div_ceil(64);
        Passed {
            words,
            bits: vec![0; words.saturating_mul(segments)],
        }
    }

    /// The word of `unit` in `segment`, if both exist.
    fn word(&self, segment: usize, unit: u32) -> Option<usize> {
        let unit = unit as usize;
        (unit / 64 < self.words).then(|| segment * self.words + unit / 64)
    }

    fn set(&mut self, segment: usize, units: &[u32]) {
        for &unit in units {
            match self.word(segment, unit) {
                Some(at) => {
                    if let Some(word) = self.bits.get_mut(at) {
                        *word |= 1 << (unit % 64);
                    }
                }
                // A unit the view does not have (a broken promise of the loader): every group
                // of the segment runs.
                None => self.set_all(segment),
            }
        }
    }

    fn set_all(&mut self, segment: usize) {
        let start = segment.saturating_mul(self.words);
        if let Some(words) = self.bits.get_mut(start..start.saturating_add(self.words)) {
            words.fill(u64::MAX);
        }
    }

    /// Whether the segment passed `unit`; a unit or segment out of range counts as passed.
    fn get(&self, segment: usize, unit: u32) -> bool {
        self.word(segment, unit)
            .and_then(|at| self.bits.get(at))
            .is_none_or(|word| word >> (unit % 64) & 1 == 1)
    }

    fn any(&self, segment: usize, units: &[u32]) -> bool {
        units.iter().any(|&unit| self.get(segment, unit))
    }
}

/// Where a segment's screen literals were found: (screen unit, span in the view's text); `None`
/// when there were more than the scan records.
type LiteralSpans = Option<Vec<(u32, Range<usize>)>>;

/// The most literal spans one scan records (about 400 KB); past them, groups run on the whole of
/// the segments whose spans were not all recorded.
const MAX_LITERAL_SPANS: usize = 16 << 10;

/// Where a DFA group is searched in one segment.
#[derive(Debug, PartialEq, Eq)]
enum Reach {
    /// Nowhere: none of its screens passed.
    Skip,
    /// The whole text.
    Whole,
    /// These disjoint, ascending spans, which hold every match it can have.
    Windows(Vec<Range<usize>>),
}

impl Reach {
    fn spans(self, len: usize) -> Vec<Range<usize>> {
        match self {
            Reach::Skip => Vec::new(),
            Reach::Whole => std::iter::once(0..len).collect(),
            Reach::Windows(windows) => windows,
        }
    }
}

/// The spans of a text of `len` bytes that hold every match of a group whose matches are at
/// most `max_len` bytes and each hold one of its literals (found at `spans`, sorted by unit; the
/// group's units are `gate`): a match holding the literal at `a..b` lies in
/// `b - max_len..a + max_len`. The whole text when that is most of it, or when no literal of
/// the group was found (its screens passed by other means).
fn windows(spans: &[(u32, Range<usize>)], gate: &[u32], max_len: usize, len: usize) -> Reach {
    // `spans` is sorted by unit: each unit's spans are one run of it.
    let of_unit = |unit: u32| {
        let start = spans.partition_point(|(u, _)| *u < unit);
        let end = spans.partition_point(|(u, _)| *u <= unit);
        spans.get(start..end).unwrap_or_default()
    };
    let mut windows: Vec<Range<usize>> = gate
        .iter()
        .flat_map(|&unit| of_unit(unit))
        .map(|(_, span)| {
            let end = span.start.saturating_add(max_len).min(len);
            span.end.saturating_sub(max_len).min(end)..end
        })
        .collect();
    if windows.is_empty() {
        return Reach::Whole;
    }
    windows.sort_unstable_by_key(|w| w.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(windows.len());
    for window in windows {
        match merged.last_mut() {
            Some(last) if window.start <= last.end => last.end = last.end.max(window.end),
            _ => merged.push(window),
        }
    }
    let covered: usize = merged.iter().map(|w| w.end - w.start).sum();
    if covered.saturating_mul(2) >= len {
        return Reach::Whole;
    }
    Reach::Windows(merged)
}

#[cfg(test)]
mod keyword_pass_tests {
    use super::super::load::keyword_set;
    use super::super::sieve::below;

    /// A text that runs along a long keyword's prefix at every place passes the sieve
    /// everywhere and fails every confirmation: past its budget the set searches unanchored,
    /// with the same answer.
    #[test]
    fn failing_confirmations_fall_back_to_one_search() {
        let long = format!("{}b", "a".repeat(300));
        let set = keyword_set(
            Vec::new(),
            Vec::new(),
            vec![long.clone().into_bytes(), b"zz".to_vec()],
            false,
            None,
        )
        .unwrap()
        .unwrap();
        for (text, found) in [
            ("a".repeat(20_000), false),
            (format!("{}zz", "a".repeat(20_000)), true),
            (format!("{}{long}", "a".repeat(20_000)), true),
            (format!("{long}{}", "a".repeat(20_000)), true),
        ] {
            assert_eq!(set.is_match(text.as_bytes()), found);
            assert_eq!(set.automaton.is_match(text.as_bytes()), found);
        }
    }

    /// The sieve's windows give the matches one overlapping search over the whole text gives,
    /// in its order: the keyword pass records the first hit of each rule, so order is verdict.
    #[test]
    fn windowed_overlapping_matches_are_the_whole_texts_in_order() {
        let alphabet: Vec<&[u8]> = vec![b"a", b"b", b"1", b"@", "密".as_bytes(), b"  "];
        let mut next = below(0x853c_49e6_748f_ea9b);
        for round in 0..400 {
            let literals: Vec<Vec<u8>> = (0..2 + next(30))
                .map(|_| {
                    (0..1 + next(6))
                        .flat_map(|_| alphabet[next(alphabet.len())].to_vec())
                        .collect()
                })
                .collect();
            let set = keyword_set(Vec::new(), Vec::new(), literals.clone(), false, None)
                .unwrap()
                .unwrap();
            assert!(set.sieve.is_some());
            for _ in 0..10 {
                let mut text = Vec::new();
                while text.len() < next(200) {
                    if next(4) == 0 {
                        text.extend_from_slice(&literals[next(literals.len())]);
                    } else {
                        text.extend_from_slice(alphabet[next(alphabet.len())]);
                    }
                }
                let key = |m: aho_corasick::Match| (m.pattern().as_usize(), m.start(), m.end());
                let whole: Vec<_> = set
                    .automaton
                    .find_overlapping_iter(&text)
                    .map(key)
                    .collect();
                let windowed: Vec<_> = set.overlapping(&text).map(key).collect();
                assert_eq!(windowed, whole, "round {round}: {literals:?} in {text:?}");
            }
        }
    }
}
