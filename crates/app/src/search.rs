//! Full-text search over what the caller may see: plan titles (and the text above a plan's first
//! section), section text of each plan's current version, and comment bodies.
//!
//! The index lives beside the data it indexes and is written **in the same transaction** as it:
//! a [`VersionRepository::commit`](planpush_versions::VersionRepository::commit) replaces its
//! plan's title and section entries, a comment's insert or update writes its entry (a deleted
//! comment's is removed). Visibility is not copied into the index: every query joins the plans
//! themselves, so publishing, archiving, deleting or a role change is reflected at once, with
//! nothing to keep in step. The query text becomes prefix terms (every term must match); ranking
//! is the backend's (SQLite FTS5 `bm25`, PostgreSQL `ts_rank`, titles weighted above bodies), over
//! at most [`SEARCH_CANDIDATES`] matches (the newest the caller may see), so a common word or a
//! short prefix costs no more than a rarer one; snippets are cut and highlighted here (only for
//! the page of results), the same on both backends, escaped before they are marked.

use async_trait::async_trait;
use planpush_identity::UserId;
use planpush_plans::{PlanId, PlanScope, Visibility};
use planpush_roles::{Capability, Ownership};

use crate::{InfraError, Ports, Principal};

/// Most terms a query may have; more are refused.
pub const MAX_SEARCH_TERMS: usize = 8;
/// Longest query accepted (characters).
pub const MAX_QUERY_CHARS: usize = 200;
/// Most results a search returns.
pub const MAX_SEARCH_RESULTS: usize = 50;
/// Most matching entries a search ranks: the newest this many that the caller may see (see
/// [`SearchQuery::candidates`]).
pub const SEARCH_CANDIDATES: usize = 500;
/// Characters of text around the first match in a snippet (about).
pub const SNIPPET_CHARS: usize = 180;

/// What a search entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    /// The plan's title and the text above its first section.
    Plan,
    Section,
    Comment,
}

impl SearchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Section => "section",
            Self::Comment => "comment",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "plan" => Some(Self::Plan),
            "section" => Some(Self::Section),
            "comment" => Some(Self::Comment),
            _ => None,
        }
    }
}

/// A query for the [`SearchRepository`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Lower-case terms, each matched as a word prefix; every term must match.
    pub terms: Vec<String>,
    /// Whose plans: `All` or `OwnedOrPublished(viewer)` (as the plan listing).
    pub scope: PlanScope,
    pub include_archived: bool,
    pub limit: usize,
    /// At most this many matches are ranked (never fewer than `limit`): the most recently indexed
    /// ones among those `scope` covers, so a word found in most of the index costs a bounded
    /// amount of work. A query with fewer matches than this is ranked exactly.
    pub candidates: usize,
}

/// One matching entry, with its plan.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub plan_id: PlanId,
    pub slug: String,
    pub plan_title: String,
    pub visibility: Visibility,
    pub owner_id: UserId,
    pub archived: bool,
    pub kind: SearchKind,
    /// The section's anchor, or the comment's.
    pub anchor: Option<String>,
    pub comment_id: Option<String>,
    /// The section's title (empty for plans and comments).
    pub title: String,
    /// The entry's text (section text, comment body).
    pub text: String,
    /// Higher is better.
    pub rank: f64,
}

/// The search index's query side (its writes happen inside the version and comment
/// repositories' transactions; see the module documentation).
#[async_trait]
pub trait SearchRepository: Send + Sync {
    /// Entries matching every term as a word prefix, best first, at most `limit`, ranked among
    /// at most `candidates` (≥ `limit`) matching entries that the query may return (the most
    /// recently indexed ones; an entry the query may not return never takes one's place). MUST return
    /// only entries of plans that are not deleted, that are not archived unless
    /// `include_archived`, and that `scope` covers (for `OwnedOrPublished(u)`: published, or owned
    /// by `u`); MUST reflect every committed version (only each plan's current version is indexed)
    /// and comment (deleted comments are not found) as soon as its transaction commits. An empty
    /// `terms` returns nothing. Failures are `Unknown`.
    async fn search(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, InfraError>;
}

/// Why a search was refused.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("type at least one word to search for")]
    Empty,
    #[error("the query is too long (at most 200 characters and 8 words)")]
    TooLong,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// A result as shown: where it links and an HTML-safe snippet.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    pub plan_id: PlanId,
    pub slug: String,
    pub plan_title: String,
    pub visibility: Visibility,
    pub archived: bool,
    pub kind: SearchKind,
    pub anchor: Option<String>,
    pub comment_id: Option<String>,
    /// Section title, or the plan's title for plan and comment results.
    pub title: String,
    /// Path of the page, with the section or comment: `/p/slug#anchor`,
    /// `/p/slug?comment=<id>#anchor`.
    pub path: String,
    /// Escaped text around the first match, every matching word in `<mark>`.
    pub snippet_html: String,
    pub rank: f64,
}

/// The query's terms: runs of letters and digits, lower-cased, duplicates dropped.
pub fn search_terms(raw: &str) -> Result<Vec<String>, SearchError> {
    if raw.chars().count() > MAX_QUERY_CHARS {
        return Err(SearchError::TooLong);
    }
    let mut terms: Vec<String> = vec![];
    for t in raw.split(|c: char| !c.is_alphanumeric()) {
        let t = t.to_lowercase();
        if !t.is_empty() && !terms.contains(&t) {
            terms.push(t);
        }
    }
    match terms.len() {
        0 => Err(SearchError::Empty),
        n if n > MAX_SEARCH_TERMS => Err(SearchError::TooLong),
        _ => Ok(terms),
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn matches(word: &str, terms: &[String]) -> bool {
    let lower = word.to_lowercase();
    terms.iter().any(|t| lower.starts_with(t.as_str()))
}

/// About [`SNIPPET_CHARS`] characters of `text` around its first word that starts with a term,
/// cut at word boundaries with `…` where cut, HTML-escaped, then every such word wrapped in
/// `<mark>`. Text with no match gives its beginning.
pub fn snippet(text: &str, terms: &[String]) -> String {
    // Words and the gaps between them, in order.
    let mut pieces: Vec<(bool, &str)> = vec![];
    let mut start = 0;
    let mut in_word = None;
    for (i, c) in text.char_indices() {
        let w = c.is_alphanumeric();
        match in_word {
            Some(prev) if prev == w => {}
            Some(prev) => {
                pieces.push((prev, &text[start..i]));
                start = i;
            }
            None => {}
        }
        in_word = Some(w);
    }
    if let Some(w) = in_word {
        pieces.push((w, &text[start..]));
    }
    let first = pieces
        .iter()
        .position(|(w, s)| *w && matches(s, terms))
        .unwrap_or(0);
    // Walk back about a third of the window, then forward to fill it.
    let mut from = first;
    let mut before = 0;
    while from > 0 && before + pieces[from - 1].1.chars().count() <= SNIPPET_CHARS / 3 {
        from -= 1;
        before += pieces[from].1.chars().count();
    }
    let mut to = first;
    let mut len = before;
    while to < pieces.len() && (len < SNIPPET_CHARS || to == first) {
        len += pieces[to].1.chars().count();
        to += 1;
    }
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    for (w, s) in &pieces[from..to] {
        if *w && matches(s, terms) {
            out.push_str("<mark>");
            escape_into(&mut out, s);
            out.push_str("</mark>");
        } else {
            escape_into(&mut out, s);
        }
    }
    if to < pieces.len() {
        out.push('…');
    }
    out.trim().to_owned()
}

/// The search use case.
#[derive(Clone)]
pub struct Search {
    ports: Ports,
}

impl Search {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Searches what `p` may see (exactly the plan page's rule: published plans, one's own, and
    /// everyone's for roles that may view others' private plans; never a deleted plan), best
    /// first, at most `limit` (capped at [`MAX_SEARCH_RESULTS`]).
    pub async fn search(
        &self,
        p: &Principal,
        raw: &str,
        include_archived: bool,
        limit: usize,
    ) -> Result<Vec<SearchResult>, SearchError> {
        let terms = search_terms(raw)?;
        let all = p.can(Capability::ViewOthersPrivate, Ownership::Others);
        let scope = if all {
            PlanScope::All
        } else if p.can(Capability::ViewPublished, Ownership::Others) {
            PlanScope::OwnedOrPublished(p.user_id)
        } else {
            PlanScope::OwnedBy(p.user_id)
        };
        let q = SearchQuery {
            terms: terms.clone(),
            scope,
            include_archived,
            limit: limit.clamp(1, MAX_SEARCH_RESULTS),
            candidates: SEARCH_CANDIDATES,
        };
        let hits = self
            .ports
            .search
            .search(&q)
            .await
            .map_err(|e| SearchError::Unknown(e.into()))?;
        Ok(hits
            .into_iter()
            // The adapter's filter, checked again against the same rule as the page.
            .filter(|h| {
                h.owner_id == p.user_id
                    || all
                    || (h.visibility == Visibility::Published
                        && p.can(Capability::ViewPublished, Ownership::Others))
            })
            .filter(|h| include_archived || !h.archived)
            .map(|h| {
                let fragment = h
                    .anchor
                    .as_deref()
                    .map(|a| format!("#{a}"))
                    .unwrap_or_default();
                let path = match (&h.kind, &h.comment_id) {
                    (SearchKind::Comment, Some(id)) => {
                        format!("/p/{}?comment={id}{fragment}", h.slug)
                    }
                    (SearchKind::Plan, _) => format!("/p/{}", h.slug),
                    _ => format!("/p/{}{fragment}", h.slug),
                };
                let text = if h.kind == SearchKind::Plan && h.text.is_empty() {
                    &h.plan_title
                } else {
                    &h.text
                };
                SearchResult {
                    snippet_html: snippet(text, &terms),
                    title: if h.title.is_empty() {
                        h.plan_title.clone()
                    } else {
                        h.title.clone()
                    },
                    plan_id: h.plan_id,
                    slug: h.slug,
                    plan_title: h.plan_title,
                    visibility: h.visibility,
                    archived: h.archived,
                    kind: h.kind,
                    anchor: h.anchor,
                    comment_id: h.comment_id,
                    path,
                    rank: h.rank,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_words_lowercased() {
        assert_eq!(
            search_terms("  Token-Rotation  token \"x\" ").unwrap_or_default(),
            ["token", "rotation", "x"]
        );
        assert!(matches!(search_terms(" -- "), Err(SearchError::Empty)));
        assert!(matches!(
            search_terms("a b c d e f g h i"),
            Err(SearchError::TooLong)
        ));
        assert!(matches!(
            search_terms(&"x".repeat(201)),
            Err(SearchError::TooLong)
        ));
        assert_eq!(
            search_terms("Überprüfung").unwrap_or_default(),
            ["überprüfung"]
        );
    }

    #[test]
    fn snippets_are_escaped_then_marked() {
        let t = vec!["tok".to_owned()];
        assert_eq!(
            snippet("<b>Tokens</b> & <script>tok</script>", &t),
            "&lt;b&gt;<mark>Tokens</mark>&lt;/b&gt; &amp; &lt;script&gt;<mark>tok</mark>&lt;/script&gt;"
        );
        // A term inside a word is not a match: prefixes only.
        assert_eq!(snippet("stok", &t), "stok");
        let long = format!("{} needle {}", "alpha ".repeat(100), "omega ".repeat(100));
        let s = snippet(&long, &["needle".to_owned()]);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("<mark>needle</mark>"));
        assert!(s.chars().count() < SNIPPET_CHARS + 60, "{}", s.len());
        // Quotes are escaped too, so a snippet is safe in an attribute as well.
        assert_eq!(snippet("\"x\" 'y'", &t), "&quot;x&quot; &#39;y&#39;");
    }
}
