//! Re-anchoring: where a thread stands after a push.
//!
//! - The thread's anchor is still there: `anchored` while its section is unchanged since the
//!   comment, `changed` once it has changed (and it stays `changed`: the old quote is kept to show
//!   against the new text).
//! - The anchor is gone: the quote is searched for in the whole new text. Candidates come from the
//!   quote's character pairs (a vote per pair position), the best are scored on the quote itself
//!   (Dice similarity of character pairs), its prefix and suffix, and how near the candidate is to
//!   where the thread's section used to be. Above [`ACCEPT`] the thread is `moved` to the innermost
//!   anchored element holding the match.
//! - Still not placed (no quote — a comment on a whole element, such as a diagram or a card — or
//!   a quote found nowhere): the element it was on is looked up by content in the version before
//!   the push. An element of the same kind with the same content (anchors aside) wins
//!   ([`FoundBy::SameContent`]); else the most similar element of the same kind — word-pair overlap
//!   (Dice and containment, so split and merged sections still match), a little weight on position
//!   — above [`ACCEPT_CONTENT`] ([`FoundBy::SimilarContent`]).
//! - Otherwise it is `orphaned` — listed, never dropped.

use std::collections::HashMap;
use std::ops::Range;

use planpush_versions::{AnchorId, ContentHash, ElementPrint, SectionIndex};

use crate::{AnchorState, Comment, FoundBy, TextQuote};

/// The least overall score at which a quote found elsewhere attaches there.
pub const ACCEPT: f64 = 0.7;
/// The least score at which an element found by similar content takes a thread.
pub const ACCEPT_CONTENT: f64 = 0.6;
/// The least similarity of the quote itself (prefix and suffix cannot make up for a poor quote).
const QUOTE_FLOOR: f64 = 0.75;

/// A version's visible text with the range of each anchored element, ready for searching.
pub struct DocText {
    /// Lower-cased, whitespace-collapsed.
    text: Vec<char>,
    /// `(anchor, char range)`, in document order.
    spans: Vec<(AnchorId, Range<usize>)>,
    /// Character pair → positions.
    pairs: HashMap<(char, char), Vec<u32>>,
    /// Kind and content hash per anchor, when known ([`DocText::with_elements`]).
    elements: HashMap<AnchorId, (String, ContentHash)>,
}

fn normalize(s: &str) -> Vec<char> {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .chars()
        .collect()
}

impl DocText {
    /// `text` with byte ranges (as `planpush_document::anchored_text` returns them).
    pub fn new(text: &str, spans: Vec<(AnchorId, Range<usize>)>) -> Self {
        // Byte offsets → char offsets over the lower-cased text (same char count for the ranges we
        // care about: lower-casing may change lengths, so offsets are mapped through the original).
        let mut char_at = vec![0usize; text.len() + 1];
        let mut chars = Vec::with_capacity(text.len());
        for (n, (b, c)) in text.char_indices().enumerate() {
            char_at[b] = n;
            chars.push(c.to_lowercase().next().unwrap_or(c));
        }
        char_at[text.len()] = chars.len();
        let spans = spans
            .into_iter()
            .map(|(a, r)| {
                let start = char_at.get(r.start).copied().unwrap_or(chars.len());
                let end = char_at.get(r.end).copied().unwrap_or(chars.len());
                (a, start..end.max(start))
            })
            .collect();
        let mut pairs: HashMap<(char, char), Vec<u32>> = HashMap::new();
        for (i, w) in chars.windows(2).enumerate() {
            pairs
                .entry((w[0], w[1]))
                .or_default()
                .push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        Self {
            text: chars,
            spans,
            pairs,
            elements: HashMap::new(),
        }
    }

    /// Adds what is known of each element besides its text (`planpush_document::element_prints`),
    /// so threads can follow an element by its content.
    pub fn with_elements(mut self, prints: impl IntoIterator<Item = ElementPrint>) -> Self {
        self.elements = prints
            .into_iter()
            .map(|p| (p.anchor, (p.kind, p.content)))
            .collect();
        self
    }

    fn span(&self, anchor: &AnchorId) -> Option<&Range<usize>> {
        self.spans.iter().find(|(a, _)| a == anchor).map(|(_, r)| r)
    }

    /// The innermost anchored element containing `range`.
    fn anchor_at(&self, range: &Range<usize>) -> Option<&AnchorId> {
        self.spans
            .iter()
            .filter(|(_, r)| r.start <= range.start && range.end <= r.end)
            .min_by_key(|(_, r)| r.end - r.start)
            .map(|(a, _)| a)
    }

    /// Where `anchor` sits in the text, as a fraction of its length.
    fn position_of(&self, anchor: &AnchorId) -> Option<f64> {
        self.spans
            .iter()
            .find(|(a, _)| a == anchor)
            .map(|(_, r)| r.start as f64 / self.text.len().max(1) as f64)
    }
}

/// A match of a quote: the anchor it is now under and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub anchor: AnchorId,
    pub score: f64,
}

fn pair_counts(s: &[char]) -> HashMap<(char, char), u32> {
    let mut m = HashMap::new();
    for w in s.windows(2) {
        *m.entry((w[0], w[1])).or_insert(0) += 1;
    }
    m
}

/// Dice coefficient over character pairs; 1.0 for equal strings.
fn similarity(a: &[char], b: &[char]) -> f64 {
    if a == b {
        return 1.0;
    }
    if a.len() < 2 || b.len() < 2 {
        return 0.0;
    }
    let (ca, cb) = (pair_counts(a), pair_counts(b));
    let common: u32 = ca
        .iter()
        .map(|(k, n)| (*n).min(cb.get(k).copied().unwrap_or(0)))
        .sum();
    2.0 * f64::from(common) / ((a.len() - 1 + b.len() - 1) as f64)
}

/// Finds `quote` in `doc`. `near` is where the thread's section used to be (a fraction of the
/// text), if known.
pub fn find_quote(doc: &DocText, quote: &TextQuote, near: Option<f64>) -> Option<Found> {
    let exact = normalize(quote.exact());
    let prefix = normalize(quote.prefix());
    let suffix = normalize(quote.suffix());
    if exact.len() < 2 || doc.text.len() < exact.len() {
        return None;
    }
    // Vote for start positions: each pair of the quote at offset k found at p votes for p - k.
    // Starts are bucketed by 4 so small insertions and deletions still agree.
    let mut votes: HashMap<usize, u32> = HashMap::new();
    for (k, w) in exact.windows(2).enumerate() {
        if let Some(positions) = doc.pairs.get(&(w[0], w[1])) {
            for &p in positions {
                if let Some(start) = (p as usize).checked_sub(k) {
                    *votes.entry(start / 4).or_insert(0) += 1;
                }
            }
        }
    }
    let needed = ((exact.len() - 1) as f64 * 0.5).ceil() as u32;
    let mut buckets: Vec<(usize, u32)> = votes.into_iter().filter(|(_, n)| *n >= needed).collect();
    buckets.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    buckets.truncate(16);

    let len = doc.text.len();
    let mut best: Option<(f64, Range<usize>)> = None;
    for (bucket, _) in buckets {
        let from = (bucket * 4).saturating_sub(4);
        for start in from..(bucket * 4 + 8).min(len) {
            let end = (start + exact.len()).min(len);
            let q = similarity(&exact, &doc.text[start..end]);
            if q < QUOTE_FLOOR {
                continue;
            }
            let before = &doc.text[start.saturating_sub(prefix.len())..start];
            let after = &doc.text[end..(end + suffix.len()).min(len)];
            let context = |want: &[char], got: &[char]| {
                if want.is_empty() {
                    q
                } else {
                    similarity(want, got)
                }
            };
            let position = near.map_or(1.0, |n| 1.0 - (start as f64 / len as f64 - n).abs());
            let score = 0.65 * q
                + 0.15 * context(&prefix, before)
                + 0.15 * context(&suffix, after)
                + 0.05 * position;
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, start..end));
            }
        }
    }
    let (score, range) = best?;
    if score < ACCEPT {
        return None;
    }
    doc.anchor_at(&range).map(|a| Found {
        anchor: a.clone(),
        score,
    })
}

/// The state of `thread` once `current` replaced `previous` (the index of the version before the
/// push; `None` for a first version). Without the previous version's text, threads without a
/// quote cannot follow their element by content: see [`reanchor_with`].
pub fn reanchor(
    thread: &Comment,
    previous: Option<&SectionIndex>,
    current: &SectionIndex,
    doc: &DocText,
) -> AnchorState {
    reanchor_with(thread, previous, current, doc, None)
}

/// [`reanchor`], with `before`: the text (and elements) of the version before the push, where the
/// thread's element is looked up to be found again by its content.
pub fn reanchor_with(
    thread: &Comment,
    previous: Option<&SectionIndex>,
    current: &SectionIndex,
    doc: &DocText,
    before: Option<&DocText>,
) -> AnchorState {
    if let Some(now) = current.get(&thread.anchor) {
        let unchanged = previous
            .and_then(|p| p.get(&thread.anchor))
            .is_some_and(|before| before.hash == now.hash);
        return match thread.state {
            AnchorState::Anchored if unchanged => AnchorState::Anchored,
            _ => AnchorState::Changed,
        };
    }
    // Where the thread was last seen: its moved-to anchor, else its own.
    let last_seen = match &thread.state {
        AnchorState::Moved { to, .. } => to,
        _ => &thread.anchor,
    };
    // Where that was, as a fraction of the text (in the previous version when known).
    let near = match before.and_then(|b| Some((b, b.span(last_seen)?))) {
        Some((b, r)) => Some(r.start as f64 / b.text.len().max(1) as f64),
        None => match &thread.state {
            AnchorState::Moved { to, .. } => doc.position_of(to),
            _ => previous.and_then(|p| {
                let i = p.entries().iter().position(|e| e.anchor == thread.anchor)?;
                Some(i as f64 / p.entries().len().max(1) as f64)
            }),
        },
    };
    if let Some(quote) = &thread.quote
        && let Some(found) = find_quote(doc, quote, near)
    {
        return AnchorState::Moved {
            to: found.anchor,
            by: FoundBy::Quote,
        };
    }
    // A thread moved earlier keeps its place while that element is still there.
    if let AnchorState::Moved { to, by } = &thread.state
        && current.get(to).is_some()
    {
        return AnchorState::Moved {
            to: to.clone(),
            by: *by,
        };
    }
    if let Some(before) = before
        && let Some((to, by)) = find_element(before, last_seen, doc, near)
    {
        return AnchorState::Moved { to, by };
    }
    AnchorState::Orphaned
}

/// Lower-cased words of `text` (letters and digits).
fn words(text: &[char]) -> Vec<String> {
    let s: String = text.iter().collect();
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Word pairs (or single words for texts of fewer than three words), counted.
fn shingles(text: &[char]) -> HashMap<String, u32> {
    let w = words(text);
    let mut m = HashMap::new();
    if w.len() < 3 {
        for x in w {
            *m.entry(x).or_insert(0) += 1;
        }
    } else {
        for p in w.windows(2) {
            *m.entry(format!("{} {}", p[0], p[1])).or_insert(0) += 1;
        }
    }
    m
}

/// How alike two element texts are, 0–1: half Dice over word pairs, half containment (the share of
/// the smaller text found in the larger), so a section split in two or merged into another still
/// scores high, while a small element that merely shares a few words does not.
fn element_similarity(a: &HashMap<String, u32>, b: &HashMap<String, u32>) -> f64 {
    let (na, nb): (u32, u32) = (a.values().sum(), b.values().sum());
    if na == 0 || nb == 0 {
        return 0.0;
    }
    let common: u32 = a
        .iter()
        .map(|(k, n)| (*n).min(b.get(k).copied().unwrap_or(0)))
        .sum();
    let dice = 2.0 * f64::from(common) / f64::from(na + nb);
    let containment = f64::from(common) / f64::from(na.min(nb));
    0.5 * dice + 0.5 * containment
}

/// The element of `doc` that the element `old` of `before` became: same kind, same content first
/// (the nearest if several), else the most similar above [`ACCEPT_CONTENT`].
fn find_element(
    before: &DocText,
    old: &AnchorId,
    doc: &DocText,
    near: Option<f64>,
) -> Option<(AnchorId, FoundBy)> {
    let (kind, content) = before.elements.get(old)?;
    let old_text = &before.text[before.span(old)?.clone()];
    let len = doc.text.len().max(1) as f64;
    let position = |r: &Range<usize>| near.map_or(1.0, |n| 1.0 - (r.start as f64 / len - n).abs());
    let candidates = doc.spans.iter().filter_map(|(a, r)| {
        let (k, c) = doc.elements.get(a)?;
        (k == kind).then_some((a, r, c))
    });
    let mut same: Option<(f64, &AnchorId)> = None;
    let mut similar: Option<(f64, &AnchorId)> = None;
    let old_shingles = shingles(old_text);
    for (a, r, c) in candidates {
        let closeness = position(r);
        if c == content {
            if same.is_none_or(|(s, _)| closeness > s) {
                same = Some((closeness, a));
            }
            continue;
        }
        let sim = element_similarity(&old_shingles, &shingles(&doc.text[r.clone()]));
        let score = 0.9 * sim + 0.1 * closeness;
        if score >= ACCEPT_CONTENT && similar.is_none_or(|(s, _)| score > s) {
            similar = Some((score, a));
        }
    }
    match (same, similar) {
        (Some((_, a)), _) => Some((a.clone(), FoundBy::SameContent)),
        (None, Some((_, a))) => Some((a.clone(), FoundBy::SimilarContent)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests;
