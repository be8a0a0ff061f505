//! Typed change sets: what changed between two versions in the plan's own vocabulary
//! (docs/plan-format.md) — decisions and their status, risks and their level, endpoints with method,
//! path and badges, data-model fields and their types, phases and their status, component cards
//! and their impact — and, for everything outside the vocabulary, which anchored sections changed.
//!
//! Elements are matched across versions by their own `data-anchor` first, then by their natural
//! key (a decision's text, a risk's or card's title, an endpoint's method and path, a field's table
//! and name, a phase's name), then — for endpoints — by path alone (the method changed) and by
//! description (the path changed). So a renamed anchor or a reordered section is not read as
//! "removed and added", and a badge that changes while the text stays is a status change only.
//!
//! One walk over each parsed document ([`TypedIndex`]), then a comparison of the two indexes;
//! pure, no I/O.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::borrow::Cow;
use std::sync::Arc;

use ego_tree::NodeRef;
use planpush_versions::AnchorId;
use scraper::node::Element;
use scraper::{ElementRef, Html, Node};
use serde::{Deserialize, Serialize};

use crate::dom::{attr, has_class};

/// What kind of element a typed change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElementKind {
    Decision,
    Risk,
    Endpoint,
    Field,
    Phase,
    Component,
    /// Anything outside the vocabulary: an anchored element (a section, a pane, a callout…) whose
    /// own text or markup changed, or that was added, removed or re-anchored.
    Section,
}

impl ElementKind {
    fn noun(self) -> &'static str {
        match self {
            Self::Decision => "Decision",
            Self::Risk => "Risk",
            Self::Endpoint => "Endpoint",
            Self::Field => "Field",
            Self::Phase => "Phase",
            Self::Component => "Component",
            Self::Section => "Section",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Self::Decision => "decisions",
            Self::Risk => "risks",
            Self::Endpoint => "endpoints",
            Self::Field => "fields",
            Self::Phase => "phases",
            Self::Component => "components",
            Self::Section => "sections",
        }
    }
}

/// Which aspect of the element changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    /// New in this version; `to` carries its status, level, badges, type or impact.
    Added,
    /// Gone in this version; `from` carries what it had.
    Removed,
    /// A decision's or phase's status (`Open` → `Accepted`, `Planned` → `Current`).
    Status,
    /// A risk's level (`Med` → `High`).
    Level,
    /// An endpoint's method.
    Method,
    /// An endpoint's path.
    Path,
    /// An endpoint's badges (`New`, `Breaking`), comma-separated, sorted.
    Badges,
    /// A data-model field's type.
    Type,
    /// A data-model field's key markers (`PK`, `FK`).
    Keys,
    /// A component card's impact (`Major`, `Moderate`, `Minor`, `New`).
    Impact,
    /// The wording changed (a decision's text, a risk's mitigation, an endpoint's description, a
    /// field's notes, a card's description, a section's own text or markup).
    Text,
    /// An anchored section kept its title but got another anchor (`from` → `to`).
    Anchor,
}

/// One semantic change between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypedChange {
    pub kind: ElementKind,
    pub change: Aspect,
    /// The element as a reader names it: a decision's text, `DELETE /api/auth/sessions`,
    /// `device_id (Session Model)`, a section's title.
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The anchors around the element, outermost first, its own last if it has one — in the new
    /// version (the old one for a removed element). What links a change to the threads on it.
    pub anchors: Vec<AnchorId>,
}

impl TypedChange {
    /// The innermost anchor (where the change links to), if any.
    pub fn anchor(&self) -> Option<&AnchorId> {
        self.anchors.last()
    }

    /// Whether the change touches `anchor`: it is one of the anchors around the element.
    pub fn touches(&self, anchor: &AnchorId) -> bool {
        self.anchors.contains(anchor)
    }

    /// One line, e.g. "Decision “Redis vs PostgreSQL”: Open → Accepted" or
    /// "Endpoint DELETE /api/auth/sessions added (New, Breaking)".
    pub fn sentence(&self) -> String {
        let noun = self.kind.noun();
        let name = match self.kind {
            ElementKind::Endpoint | ElementKind::Field => self.label.clone(),
            _ => format!("“{}”", self.label),
        };
        let arrow = || {
            format!(
                "{} → {}",
                self.from.as_deref().unwrap_or("none"),
                self.to.as_deref().unwrap_or("none")
            )
        };
        let paren = |v: &Option<String>| match v.as_deref() {
            Some(v) if !v.is_empty() => format!(" ({v})"),
            _ => String::new(),
        };
        match self.change {
            Aspect::Added => format!("{noun} {name} added{}", paren(&self.to)),
            Aspect::Removed => format!("{noun} {name} removed{}", paren(&self.from)),
            Aspect::Status | Aspect::Level | Aspect::Impact => {
                format!("{noun} {name}: {}", arrow())
            }
            Aspect::Method => format!("{noun} {name}: method {}", arrow()),
            Aspect::Path => format!("{noun} {name}: path {}", arrow()),
            Aspect::Badges => format!("{noun} {name}: badges {}", arrow()),
            Aspect::Type => format!("{noun} {name}: type {}", arrow()),
            Aspect::Keys => format!("{noun} {name}: keys {}", arrow()),
            Aspect::Text => format!("{noun} {name}: text changed"),
            Aspect::Anchor => format!("{noun} {name}: anchor {}", arrow()),
        }
    }
}

/// The compact form of a typed change set: "2 decisions, 1 risk, 3 sections changed." or
/// "Nothing changed in the plan's terms."
pub fn typed_headline(changes: &[TypedChange]) -> String {
    let mut counts: Vec<(ElementKind, usize)> = vec![];
    for c in changes {
        match counts.iter_mut().find(|(k, _)| *k == c.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((c.kind, 1)),
        }
    }
    counts.sort();
    if counts.is_empty() {
        return "Nothing changed in the plan's terms.".to_owned();
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(k, n)| {
            let word = k.plural();
            if *n == 1 {
                format!("1 {}", word.trim_end_matches('s'))
            } else {
                format!("{n} {word}")
            }
        })
        .collect();
    format!("Changed: {}.", parts.join(", "))
}

/// At most `max` sentences, then "… and N more" when there were more.
pub fn typed_lines(changes: &[TypedChange], max: usize) -> Vec<String> {
    let mut lines: Vec<String> = changes
        .iter()
        .take(max)
        .map(TypedChange::sentence)
        .collect();
    if changes.len() > max {
        lines.push(format!("… and {} more", changes.len() - max));
    }
    lines
}

/// A vocabulary element found in one version. Kept in the push memo for every remembered plan,
/// so it holds nothing it can derive: its label comes from its key, an endpoint's path from its
/// attributes, and the anchors around it are its section's (shared).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    kind: ElementKind,
    anchor: Option<AnchorId>,
    /// The anchors of the sections around it, outermost first: its section's chain.
    around: Arc<[AnchorId]>,
    /// What it is matched by across versions (a decision's is its text: empty here).
    key: String,
    /// Its status, level, badges, type or impact; the vocabulary's own words are not copied.
    attrs: Vec<(Aspect, Cow<'static, str>)>,
    text: String,
}

impl Item {
    fn key(&self) -> &str {
        match self.kind {
            ElementKind::Decision => &self.text,
            _ => &self.key,
        }
    }

    /// The element as a reader names it (see [`TypedChange::label`]).
    fn label(&self) -> String {
        match self.kind {
            ElementKind::Endpoint => excerpt(self.key.trim()),
            ElementKind::Field => match self.key.split_once('\u{1}') {
                Some(("", name)) => excerpt(name),
                Some((table, name)) => excerpt(&format!("{name} ({table})")),
                None => excerpt(&self.key),
            },
            _ => excerpt(self.key()),
        }
    }

    /// An endpoint's path (empty for other kinds).
    fn path(&self) -> &str {
        self.attrs
            .iter()
            .find(|(a, _)| *a == Aspect::Path)
            .map_or("", |(_, v)| v)
    }

    /// The anchors around it, outermost first, its own last if it has one.
    fn chain(&self) -> Vec<AnchorId> {
        self.around.iter().chain(&self.anchor).cloned().collect()
    }
}

/// An [`Item`] or [`Section`] at its place in one document: its position (and a section's
/// parent, an index into [`TypedIndex::sections`]; `None` for items) belong to the document, what
/// it holds is shared with the top-level part it was read from, so stitching a document's index
/// from its parts' copies no strings.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placed<T> {
    pos: usize,
    parent: Option<usize>,
    body: Arc<T>,
}

impl<T> std::ops::Deref for Placed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.body
    }
}

/// An anchored element outside the vocabulary (or the document root, `anchor: None`), with its own
/// text and markup — nested anchored elements and vocabulary elements excluded.
struct Container<'a> {
    el: Option<ElementRef<'a>>,
    /// Its anchors, outermost first, its own last (none for the root).
    chain: Arc<[AnchorId]>,
    parent: Option<usize>,
    residual: String,
    pos: usize,
}

/// A [`Container`] detached from its tree, title computed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    /// Its anchors, outermost first, its own last (none for the root); shared with its items.
    chain: Arc<[AnchorId]>,
    residual: Residual,
    title: String,
}

impl Section {
    /// Its own anchor (`None` for the document root).
    fn anchor(&self) -> Option<&AnchorId> {
        self.chain.last()
    }
}

/// A section's own markup and text, nested anchored and vocabulary elements left out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Residual {
    /// The document root's, whole: a document's is stitched from its parts'.
    Root(String),
    /// An anchored section's is only ever compared: the first 16 bytes of its SHA-256.
    Digest([u8; 16]),
}

impl Residual {
    fn of(anchored: bool, residual: &str) -> Self {
        use sha2::Digest;
        if !anchored {
            return Residual::Root(residual.to_owned());
        }
        let mut d = [0; 16];
        d.copy_from_slice(&sha2::Sha256::digest(residual.as_bytes())[..16]);
        Residual::Digest(d)
    }
}

/// What a typed change set needs of one document: its vocabulary elements and its anchored
/// sections (with the markup outside the vocabulary), read in one walk of its parsed tree. Two
/// indexes compare ([`typed_diff`]) without parsing anything; a push builds the new version's from
/// the tree it already parses ([`crate::Prepared::typed_index`]) and keeps it for the next push.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypedIndex {
    items: Vec<Placed<Item>>,
    sections: Vec<Placed<Section>>,
    /// Positions handed out (items and anchored sections, in document order).
    count: usize,
}

/// The root's residual wraps the fragment in the `<html>` element the parser adds.
const ROOT_OPEN: &str = " <html>";
const ROOT_CLOSE: &str = " </>";

impl TypedIndex {
    /// Parses `html` (a sanitized document) and reads its index.
    pub fn of_html(html: &str) -> Self {
        Self::of_doc(&Html::parse_fragment(html))
    }

    /// The index of a parsed document (or of one top-level part of it).
    pub fn of_doc(doc: &Html) -> Self {
        let (mut items, containers, count) = walk(doc);
        // Kept with the push memo: no room beyond what is held.
        items.shrink_to_fit();
        let sections = containers
            .iter()
            .map(|c| Placed {
                pos: c.pos,
                parent: c.parent,
                body: Arc::new(Section {
                    title: c.title(),
                    chain: c.chain.clone(),
                    residual: Residual::of(c.anchor().is_some(), &c.residual),
                }),
            })
            .collect();
        Self {
            items,
            sections,
            count,
        }
    }

    /// The index of a document made of top-level parts, from the parts' own indexes: the same as
    /// [`TypedIndex::of_html`] of their concatenation when no anchor appears in two parts (a
    /// later duplicate is not its own element in the whole document), else `None`.
    pub fn stitch<'a>(parts: impl IntoIterator<Item = &'a TypedIndex>) -> Option<Self> {
        let mut out = TypedIndex {
            items: vec![],
            sections: vec![],
            count: 0,
        };
        let mut root = String::from(ROOT_OPEN);
        let mut seen: HashSet<&'a AnchorId> = HashSet::new();
        let mut root_seen = false;
        for part in parts {
            let (first, rest) = part.sections.split_first()?;
            let Residual::Root(residual) = &first.residual else {
                return None;
            };
            let inner = residual.strip_prefix(ROOT_OPEN)?.strip_suffix(ROOT_CLOSE)?;
            root.push_str(inner);
            if !root_seen {
                out.sections.push(first.clone());
                root_seen = true;
            }
            let anchors = part
                .items
                .iter()
                .filter_map(|i| i.anchor.as_ref())
                .chain(rest.iter().filter_map(|c| c.anchor()));
            for a in anchors {
                if !seen.insert(a) {
                    return None;
                }
            }
            let offset = out.count;
            // The part's section k (k ≥ 1) lands at `base + k - 1`; its root is the root.
            let base = out.sections.len();
            let at = |k: usize| if k == 0 { 0 } else { base + k - 1 };
            out.items.extend(part.items.iter().map(|i| Placed {
                pos: i.pos + offset,
                ..i.clone()
            }));
            out.sections.extend(rest.iter().map(|c| Placed {
                pos: c.pos + offset,
                parent: c.parent.map(at),
                body: c.body.clone(),
            }));
            out.count += part.count;
        }
        root.push_str(ROOT_CLOSE);
        match out.sections.first_mut() {
            Some(r) => {
                r.body = Arc::new(Section {
                    residual: Residual::Root(root),
                    ..Section::clone(&r.body)
                });
            }
            None => return Some(Self::of_html("")),
        }
        Some(out)
    }

    /// Bytes of the index's own lists only: a stitched index shares its items and sections with
    /// the parts it was stitched from, whose [`TypedIndex::weight`] counts them.
    pub fn list_weight(&self) -> usize {
        use crate::held::vec;
        vec(&self.items) + vec(&self.sections)
    }

    /// Bytes held, as the allocator counts them (for cache budgets): every heap block it owns.
    /// An item's `around` is its section's chain, counted with the section.
    pub fn weight(&self) -> usize {
        use crate::held::{anchor, cow, each, shared, shared_anchors, string};
        each(&self.items, |i| {
            shared(std::mem::size_of::<Item>())
                + i.anchor.as_ref().map_or(0, anchor)
                + string(&i.key)
                + each(&i.attrs, |(_, v)| cow(v))
                + string(&i.text)
        }) + each(&self.sections, |c| {
            shared(std::mem::size_of::<Section>())
                + shared_anchors(&c.chain)
                + match &c.residual {
                    Residual::Root(r) => string(r),
                    Residual::Digest(_) => 0,
                }
                + string(&c.title)
        })
    }
}

impl Container<'_> {
    /// Its own anchor (`None` for the document root).
    fn anchor(&self) -> Option<&AnchorId> {
        self.chain.last()
    }

    fn title(&self) -> String {
        let Some(el) = self.el else {
            return "Outside any section".to_owned();
        };
        if let Some(h) = find_heading(*el) {
            let t = text_skipping(h, &|_| false);
            if !t.is_empty() {
                return t;
            }
        }
        let t = text_skipping(el, &|_| false);
        if t.is_empty() {
            self.anchor().map_or_else(String::new, ToString::to_string)
        } else {
            t.chars().take(80).collect()
        }
    }
}

fn find_heading(node: NodeRef<'_, Node>) -> Option<ElementRef<'_>> {
    for d in node.descendants().skip(1) {
        if let Some(e) = ElementRef::wrap(d)
            && matches!(e.value().name(), "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
        {
            return Some(e);
        }
    }
    None
}

/// The element's text, whitespace collapsed, leaving out subtrees whose element matches `skip`.
fn text_skipping(el: ElementRef<'_>, skip: &dyn Fn(&Element) -> bool) -> String {
    fn walk(node: NodeRef<'_, Node>, skip: &dyn Fn(&Element) -> bool, out: &mut String) {
        for child in node.children() {
            match child.value() {
                Node::Text(t) => {
                    for w in t.split_whitespace() {
                        if !out.is_empty() {
                            out.push(' ');
                        }
                        out.push_str(w);
                    }
                }
                Node::Element(e) if !skip(e) => walk(child, skip, out),
                _ => {}
            }
        }
    }
    let mut out = String::new();
    walk(*el, skip, &mut out);
    out
}

fn first_with<'a>(el: ElementRef<'a>, pred: &dyn Fn(&Element) -> bool) -> Option<ElementRef<'a>> {
    el.descendants()
        .skip(1)
        .filter_map(ElementRef::wrap)
        .find(|e| pred(e.value()))
}

fn is_badge(e: &Element) -> bool {
    has_class(e, "pp-badge")
}

/// A badge's meaning from its class, else its text.
fn badge_label(badge: ElementRef<'_>, classes: &[(&str, &'static str)]) -> Cow<'static, str> {
    for (class, label) in classes {
        if has_class(badge.value(), class) {
            return Cow::Borrowed(label);
        }
    }
    text_skipping(badge, &|_| false).into()
}

/// `words` joined with ", " (none: no allocation).
fn joined<S: AsRef<str>>(words: &[S]) -> Cow<'static, str> {
    match words {
        [] => Cow::Borrowed(""),
        _ => words
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<&str>>()
            .join(", ")
            .into(),
    }
}

const STATUS: &[(&str, &str)] = &[
    ("pp-accepted", "Accepted"),
    ("pp-open", "Open"),
    ("pp-rejected", "Rejected"),
];
const LEVEL: &[(&str, &str)] = &[("pp-high", "High"), ("pp-med", "Med"), ("pp-low", "Low")];
const IMPACT: &[(&str, &str)] = &[
    ("pp-major", "Major"),
    ("pp-moderate", "Moderate"),
    ("pp-minor", "Minor"),
    ("pp-new", "New"),
];
const ENDPOINT_BADGES: &[(&str, &str)] = &[("pp-breaking", "Breaking"), ("pp-new", "New")];
const PHASE: &[(&str, &str)] = &[
    ("pp-done", "Done"),
    ("pp-current", "Current"),
    ("pp-planned", "Planned"),
];

fn excerpt(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(79).collect();
        out.push('…');
        out
    }
}

/// What a list or table around the current node makes its children.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    None,
    Decisions,
    Phases,
    Model,
}

struct Walk<'a> {
    items: Vec<Placed<Item>>,
    containers: Vec<Container<'a>>,
    seen: HashSet<AnchorId>,
    chain: Vec<AnchorId>,
    pos: usize,
}

impl<'a> Walk<'a> {
    fn item(
        &mut self,
        el: ElementRef<'a>,
        kind: ElementKind,
        own: Option<AnchorId>,
        table: &str,
        cur: usize,
    ) {
        let e = el.value();
        self.pos += 1;
        let mut item = Item {
            kind,
            anchor: own,
            around: self.containers[cur].chain.clone(),
            key: String::new(),
            attrs: vec![],
            text: String::new(),
        };
        match kind {
            ElementKind::Decision => {
                let status = first_with(el, &is_badge).map(|b| badge_label(b, STATUS));
                item.text = text_skipping(el, &is_badge);
                item.attrs = vec![(Aspect::Status, status.unwrap_or_default())];
            }
            ElementKind::Risk => {
                let level = LEVEL
                    .iter()
                    .find(|(c, _)| has_class(e, c))
                    .map(|(_, l)| Cow::Borrowed(*l))
                    .or_else(|| first_with(el, &is_badge).map(|b| badge_label(b, LEVEL)));
                let title = first_with(el, &|e| e.name() == "strong")
                    .map(|s| text_skipping(s, &|_| false))
                    .unwrap_or_else(|| {
                        text_skipping(el, &|e| is_badge(e) || has_class(e, "pp-mitigation"))
                    });
                item.text = text_skipping(el, &is_badge);
                item.key = title;
                item.attrs = vec![(Aspect::Level, level.unwrap_or_default())];
            }
            ElementKind::Endpoint => {
                let method = first_with(el, &|e| has_class(e, "pp-method"))
                    .map(|m| text_skipping(m, &|_| false))
                    .unwrap_or_default();
                let path = first_with(el, &|e| e.name() == "code")
                    .map(|m| text_skipping(m, &|_| false))
                    .unwrap_or_default();
                let mut badges: Vec<Cow<'static, str>> = el
                    .descendants()
                    .skip(1)
                    .filter_map(ElementRef::wrap)
                    .filter(|b| is_badge(b.value()))
                    .map(|b| badge_label(b, ENDPOINT_BADGES))
                    .collect();
                badges.sort();
                badges.dedup();
                item.text = text_skipping(el, &|e| {
                    is_badge(e) || has_class(e, "pp-method") || e.name() == "code"
                });
                item.key = format!("{method} {path}");
                item.attrs = vec![
                    (Aspect::Method, method.into()),
                    (Aspect::Path, path.into()),
                    (Aspect::Badges, joined(&badges)),
                ];
            }
            ElementKind::Field => {
                let cells: Vec<ElementRef<'a>> = el
                    .children()
                    .filter_map(ElementRef::wrap)
                    .filter(|c| c.value().name() == "td")
                    .collect();
                let is_key = |e: &Element| has_class(e, "pp-pk") || has_class(e, "pp-fk");
                let name = cells
                    .first()
                    .map(|c| text_skipping(*c, &is_key))
                    .unwrap_or_default();
                let mut keys: Vec<String> = cells
                    .first()
                    .map(|c| {
                        c.descendants()
                            .filter_map(ElementRef::wrap)
                            .filter(|k| is_key(k.value()))
                            .map(|k| text_skipping(k, &|_| false))
                            .collect()
                    })
                    .unwrap_or_default();
                keys.sort();
                let ty = cells
                    .get(1)
                    .map(|c| text_skipping(*c, &|_| false))
                    .unwrap_or_default();
                item.text = cells
                    .iter()
                    .skip(2)
                    .map(|c| text_skipping(*c, &|_| false))
                    .collect::<Vec<_>>()
                    .join(" | ");
                item.key = format!("{table}\u{1}{name}");
                item.attrs = vec![(Aspect::Type, ty.into()), (Aspect::Keys, joined(&keys))];
            }
            ElementKind::Phase => {
                let status = PHASE
                    .iter()
                    .find(|(c, _)| has_class(e, c))
                    .map_or("Planned", |(_, l)| l);
                let name = first_with(el, &|e| e.name() == "strong")
                    .map(|s| text_skipping(s, &|_| false))
                    .unwrap_or_else(|| text_skipping(el, &|_| false));
                item.text = text_skipping(el, &|_| false);
                item.key = name;
                item.attrs = vec![(Aspect::Status, Cow::Borrowed(status))];
            }
            ElementKind::Component => {
                let impact = first_with(el, &is_badge).map(|b| badge_label(b, IMPACT));
                let name = first_with(el, &|e| e.name() == "strong")
                    .map(|s| text_skipping(s, &|_| false))
                    .unwrap_or_else(|| text_skipping(el, &is_badge));
                item.text = text_skipping(el, &|e| is_badge(e) || e.name() == "strong");
                item.key = name;
                item.attrs = vec![(Aspect::Impact, impact.unwrap_or_default())];
            }
            ElementKind::Section => {}
        }
        self.items.push(Placed {
            pos: self.pos,
            parent: None,
            body: Arc::new(item),
        });
    }

    fn node(&mut self, node: NodeRef<'a, Node>, ctx: Context, table: &str, cur: usize) {
        match node.value() {
            Node::Text(t) => {
                let r = &mut self.containers[cur].residual;
                for w in t.split_whitespace() {
                    r.push(' ');
                    r.push_str(w);
                }
            }
            Node::Element(e) => {
                let Some(el) = ElementRef::wrap(node) else {
                    return;
                };
                let own = attr(e, "data-anchor")
                    .and_then(|a| AnchorId::parse(a).ok())
                    .filter(|a| self.seen.insert(a.clone()));
                let kind = match (ctx, e.name()) {
                    (Context::Decisions, "li") => Some(ElementKind::Decision),
                    (Context::Phases, "li") => Some(ElementKind::Phase),
                    (Context::Model, "tr")
                        if el.children().any(|c| {
                            ElementRef::wrap(c).is_some_and(|c| c.value().name() == "td")
                        }) =>
                    {
                        Some(ElementKind::Field)
                    }
                    _ if has_class(e, "pp-risk") => Some(ElementKind::Risk),
                    _ if has_class(e, "pp-endpoint") => Some(ElementKind::Endpoint),
                    _ if has_class(e, "pp-card") => Some(ElementKind::Component),
                    _ => None,
                };
                // Vocabulary elements and nested anchored elements are reported on their own, so
                // they leave no trace in their container's residual.
                if let Some(kind) = kind {
                    self.item(el, kind, own, table, cur);
                    return;
                }
                // The element's own markup counts for its container (attribute-only changes
                // are changes), except the anchor itself.
                let mut cur = cur;
                let pushed = own.is_some();
                if let Some(anchor) = own {
                    self.chain.push(anchor);
                    self.pos += 1;
                    self.containers.push(Container {
                        el: Some(el),
                        chain: self.chain.as_slice().into(),
                        parent: Some(cur),
                        residual: String::new(),
                        pos: self.pos,
                    });
                    cur = self.containers.len() - 1;
                }
                {
                    let r = &mut self.containers[cur].residual;
                    r.push_str(" <");
                    r.push_str(e.name());
                    let mut attrs: Vec<(&str, &str)> =
                        e.attrs().filter(|(k, _)| *k != "data-anchor").collect();
                    attrs.sort_unstable();
                    for (k, v) in attrs {
                        r.push(' ');
                        r.push_str(k);
                        r.push('=');
                        r.push_str(v);
                    }
                    r.push('>');
                }
                let inner_ctx = if e.name() == "ul" || e.name() == "ol" {
                    if has_class(e, "pp-decisions") {
                        Context::Decisions
                    } else if has_class(e, "pp-phases") {
                        Context::Phases
                    } else {
                        Context::None
                    }
                } else if e.name() == "table" {
                    if has_class(e, "pp-model") {
                        Context::Model
                    } else {
                        Context::None
                    }
                } else if ctx == Context::Model && matches!(e.name(), "tbody" | "thead" | "tfoot") {
                    Context::Model
                } else {
                    Context::None
                };
                let table_name;
                let table = if e.name() == "table" && inner_ctx == Context::Model {
                    table_name = el
                        .children()
                        .filter_map(ElementRef::wrap)
                        .find(|c| c.value().name() == "caption")
                        .map(|c| text_skipping(c, &|_| false))
                        .unwrap_or_else(|| self.containers[cur].title());
                    table_name.as_str()
                } else {
                    table
                };
                for child in node.children() {
                    self.node(child, inner_ctx, table, cur);
                }
                self.containers[cur].residual.push_str(" </>");
                if pushed {
                    self.chain.pop();
                }
            }
            _ => {
                for child in node.children() {
                    self.node(child, ctx, table, cur);
                }
            }
        }
    }
}

fn walk(doc: &Html) -> (Vec<Placed<Item>>, Vec<Container<'_>>, usize) {
    let mut w = Walk {
        items: vec![],
        containers: vec![Container {
            el: None,
            chain: Arc::new([]),
            parent: None,
            residual: String::new(),
            pos: 0,
        }],
        seen: HashSet::new(),
        chain: vec![],
        pos: 0,
    };
    let root = doc.tree.root();
    for child in root.children() {
        w.node(child, Context::None, "", 0);
    }
    (w.items, w.containers, w.pos)
}

/// What [`pair`] matches elements by at one stage: a kind (where the stage needs one) and text
/// borrowed from the element.
type Key<'a> = (Option<ElementKind>, &'a str);

/// Pairs old and new elements by successive keys (each stage sees only what earlier ones left);
/// returns the pairs and the unpaired old and new indexes.
#[allow(clippy::type_complexity)]
fn pair<T>(
    old: &[T],
    new: &[T],
    keys: &[&dyn for<'x> Fn(&'x T) -> Option<Key<'x>>],
) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let mut old_left: Vec<bool> = vec![true; old.len()];
    let mut new_left: Vec<bool> = vec![true; new.len()];
    let mut pairs = vec![];
    for key in keys {
        let mut by_key: HashMap<Key<'_>, Vec<usize>> = HashMap::with_capacity(new.len());
        for (j, n) in new.iter().enumerate().rev() {
            if new_left[j]
                && let Some(k) = key(n)
            {
                by_key.entry(k).or_default().push(j);
            }
        }
        for (i, o) in old.iter().enumerate() {
            if !old_left[i] {
                continue;
            }
            if let Some(k) = key(o)
                && let Some(j) = by_key.get_mut(&k).and_then(Vec::pop)
            {
                old_left[i] = false;
                new_left[j] = false;
                pairs.push((i, j));
            }
        }
    }
    let removed = (0..old.len()).filter(|i| old_left[*i]).collect();
    let added = (0..new.len()).filter(|j| new_left[*j]).collect();
    (pairs, removed, added)
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The typed change set from `old_html` to `new_html` (both sanitized documents): vocabulary
/// changes first (decisions, risks, endpoints, fields, phases, components), then sections, each
/// group in the new document's order with its removals (in the old one's order) last.
///
/// Parses both; with the documents' [`TypedIndex`]es at hand, [`typed_diff`] gives the same answer
/// without parsing.
pub fn typed_changes(old_html: &str, new_html: &str) -> Vec<TypedChange> {
    typed_diff(
        &TypedIndex::of_html(old_html),
        &TypedIndex::of_html(new_html),
    )
}

/// [`typed_changes`] from the two documents' indexes.
pub fn typed_diff(old: &TypedIndex, new: &TypedIndex) -> Vec<TypedChange> {
    let (old_items, old_boxes) = (&old.items, &old.sections);
    let (new_items, new_boxes) = (&new.items, &new.sections);
    // (kind, position, change)
    let mut out: Vec<(ElementKind, usize, TypedChange)> = vec![];

    fn by_anchor(i: &Placed<Item>) -> Option<Key<'_>> {
        i.anchor.as_ref().map(|a| (Some(i.kind), a.as_str()))
    }
    fn by_key(i: &Placed<Item>) -> Option<Key<'_>> {
        (!i.key().is_empty()).then_some((Some(i.kind), i.key()))
    }
    fn by_path(i: &Placed<Item>) -> Option<Key<'_>> {
        (i.kind == ElementKind::Endpoint && !i.path().is_empty()).then_some((None, i.path()))
    }
    fn by_description(i: &Placed<Item>) -> Option<Key<'_>> {
        (i.kind == ElementKind::Endpoint && !i.text.is_empty()).then_some((None, i.text.as_str()))
    }
    let (pairs, removed, added) = pair(
        old_items,
        new_items,
        &[&by_anchor, &by_key, &by_path, &by_description],
    );
    for (i, j) in pairs {
        let (o, n) = (&old_items[i], &new_items[j]);
        for ((aspect, from), (_, to)) in o.attrs.iter().zip(&n.attrs) {
            if from != to {
                out.push((
                    n.kind,
                    n.pos,
                    TypedChange {
                        kind: n.kind,
                        change: *aspect,
                        label: n.label(),
                        from: non_empty(from),
                        to: non_empty(to),
                        anchors: n.chain(),
                    },
                ));
            }
        }
        // A decision's text is its key: a changed text under the same anchor is a text change.
        if o.text != n.text {
            out.push((
                n.kind,
                n.pos,
                TypedChange {
                    kind: n.kind,
                    change: Aspect::Text,
                    label: n.label(),
                    from: None,
                    to: None,
                    anchors: n.chain(),
                },
            ));
        }
    }
    let describe = |item: &Item| {
        let parts: Vec<&str> = item
            .attrs
            .iter()
            .filter(|(a, v)| !v.is_empty() && !matches!(a, Aspect::Method | Aspect::Path))
            .map(|(_, v)| v.as_ref())
            .collect();
        non_empty(&parts.join(", "))
    };
    for j in added {
        let n = &new_items[j];
        out.push((
            n.kind,
            n.pos,
            TypedChange {
                kind: n.kind,
                change: Aspect::Added,
                label: n.label(),
                from: None,
                to: describe(n),
                anchors: n.chain(),
            },
        ));
    }
    for i in removed {
        let o = &old_items[i];
        out.push((
            o.kind,
            o.pos,
            TypedChange {
                kind: o.kind,
                change: Aspect::Removed,
                label: o.label(),
                from: describe(o),
                to: None,
                anchors: o.chain(),
            },
        ));
    }

    // Sections: the root pairs with the root; anchored ones by anchor, then by title.
    fn root_key(c: &Placed<Section>) -> Option<Key<'_>> {
        c.anchor().is_none().then_some((None, ""))
    }
    fn box_anchor(c: &Placed<Section>) -> Option<Key<'_>> {
        c.anchor().map(|a| (None, a.as_str()))
    }
    fn box_title(c: &Placed<Section>) -> Option<Key<'_>> {
        c.anchor()
            .and_then(|_| (!c.title.is_empty()).then_some((None, c.title.as_str())))
    }
    let (pairs, removed, added) = pair(old_boxes, new_boxes, &[&root_key, &box_anchor, &box_title]);
    let paired_new: HashSet<usize> = pairs.iter().map(|p| p.1).collect();
    let paired_old: HashSet<usize> = pairs.iter().map(|p| p.0).collect();
    for (i, j) in pairs {
        let (o, n) = (&old_boxes[i], &new_boxes[j]);
        if o.anchor() != n.anchor() {
            out.push((
                ElementKind::Section,
                n.pos,
                TypedChange {
                    kind: ElementKind::Section,
                    change: Aspect::Anchor,
                    label: n.title.clone(),
                    from: o.anchor().map(ToString::to_string),
                    to: n.anchor().map(ToString::to_string),
                    anchors: n.chain.to_vec(),
                },
            ));
        }
        if o.residual != n.residual {
            out.push((
                ElementKind::Section,
                n.pos,
                TypedChange {
                    kind: ElementKind::Section,
                    change: Aspect::Text,
                    label: n.title.clone(),
                    from: None,
                    to: None,
                    anchors: n.chain.to_vec(),
                },
            ));
        }
    }
    // Only the outermost of an added or removed subtree is listed.
    for j in added {
        let n = &new_boxes[j];
        if n.parent.is_some_and(|p| paired_new.contains(&p)) {
            out.push((
                ElementKind::Section,
                n.pos,
                TypedChange {
                    kind: ElementKind::Section,
                    change: Aspect::Added,
                    label: n.title.clone(),
                    from: None,
                    to: None,
                    anchors: n.chain.to_vec(),
                },
            ));
        }
    }
    for i in removed {
        let o = &old_boxes[i];
        if o.parent.is_some_and(|p| paired_old.contains(&p)) {
            out.push((
                ElementKind::Section,
                o.pos,
                TypedChange {
                    kind: ElementKind::Section,
                    change: Aspect::Removed,
                    label: o.title.clone(),
                    from: None,
                    to: None,
                    anchors: o.chain.to_vec(),
                },
            ));
        }
    }
    out.sort_by_key(|(kind, pos, c)| (*kind, c.change == Aspect::Removed, *pos));
    out.into_iter().map(|(_, _, c)| c).collect()
}
