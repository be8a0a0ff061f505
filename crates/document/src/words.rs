//! Word-level marks inside a changed section: the new section's markup with inserted words wrapped
//! in `<ins class="pp-ins">`, deleted words put back in `<del class="pp-del">` where they stood,
//! and every table cell whose content changed carrying `pp-cell-changed`.
//!
//! It works on the sanitizer's serialization (a fixed point: attribute values double-quoted, text
//! escaped, no comments and no raw-text elements), so it can split the markup into tags and text
//! runs without a parser and re-emit the new version's tags byte for byte. Only whole words move;
//! an entity such as `&amp;` contains no whitespace, so it is never cut. What it adds is three fixed
//! strings (`<ins …>`, `<del …>`, a class name); deleted words are the old version's already
//! escaped text, so the result is as safe as its two inputs. A diagram (`<svg>…</svg>`) is one
//! token: unchanged, inserted or deleted as a whole.

use similar::{Algorithm, DiffOp, capture_diff_slices};

/// How many words a changed section gained and lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WordCounts {
    pub inserted: usize,
    pub deleted: usize,
}

impl WordCounts {
    pub fn total(&self) -> usize {
        self.inserted + self.deleted
    }
}

/// One piece of serialized markup.
#[derive(Debug)]
pub(crate) enum Piece<'a> {
    /// A tag, with its lowercase name and whether it closes.
    Tag {
        raw: &'a str,
        name: String,
        close: bool,
    },
    Text(&'a str),
}

pub(crate) fn pieces(html: &str) -> Vec<Piece<'_>> {
    let bytes = html.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let mut j = i + 1;
            let mut quote: Option<u8> = None;
            while j < bytes.len() {
                match (quote, bytes[j]) {
                    (None, b'>') => break,
                    (None, q @ (b'"' | b'\'')) => quote = Some(q),
                    (Some(q), c) if c == q => quote = None,
                    _ => {}
                }
                j += 1;
            }
            let end = (j + 1).min(bytes.len());
            let raw = &html[i..end];
            let close = raw.starts_with("</");
            let name: String = raw[if close { 2 } else { 1 }..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ':')
                .collect::<String>()
                .to_ascii_lowercase();
            out.push(Piece::Tag { raw, name, close });
            i = end;
        } else {
            let next = html[i..].find('<').map_or(html.len(), |n| i + n);
            out.push(Piece::Text(&html[i..next]));
            i = next;
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Word,
    Tag,
    /// A whole diagram.
    Opaque,
}

/// A diff token: what it is compared by, and where it is in the markup.
#[derive(Debug)]
struct Token<'a> {
    kind: Kind,
    key: &'a str,
    /// For tags and opaque tokens: the first piece; for words: the text piece.
    piece: usize,
    /// For opaque tokens: one past the last piece.
    piece_end: usize,
    /// Tag name and whether it closes (tags only).
    name: String,
    close: bool,
}

fn tokens<'a>(ps: &[Piece<'a>], html: &'a str) -> Vec<Token<'a>> {
    let mut out = vec![];
    let mut i = 0;
    while i < ps.len() {
        match &ps[i] {
            Piece::Tag { name, close, raw } if name == "svg" && !close => {
                // The diagram up to its matching `</svg>` is one token keyed by its markup.
                let start = raw.as_ptr() as usize - html.as_ptr() as usize;
                let mut depth = 0usize;
                let mut j = i;
                let mut end = html.len();
                while j < ps.len() {
                    if let Piece::Tag { name, close, raw } = &ps[j]
                        && name == "svg"
                    {
                        if *close {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                end = raw.as_ptr() as usize - html.as_ptr() as usize + raw.len();
                                break;
                            }
                        } else if !raw.ends_with("/>") {
                            depth += 1;
                        } else if depth == 0 {
                            end = raw.as_ptr() as usize - html.as_ptr() as usize + raw.len();
                            break;
                        }
                    }
                    j += 1;
                }
                out.push(Token {
                    kind: Kind::Opaque,
                    key: &html[start..end],
                    piece: i,
                    piece_end: (j + 1).min(ps.len()),
                    name: String::new(),
                    close: false,
                });
                i = j + 1;
            }
            Piece::Tag { name, close, .. } => {
                out.push(Token {
                    kind: Kind::Tag,
                    // Tags compare by name alone: an attribute change is not a word change.
                    key: "",
                    piece: i,
                    piece_end: i + 1,
                    name: name.clone(),
                    close: *close,
                });
                i += 1;
            }
            Piece::Text(t) => {
                for w in t.split_whitespace() {
                    out.push(Token {
                        kind: Kind::Word,
                        key: w,
                        piece: i,
                        piece_end: i + 1,
                        name: String::new(),
                        close: false,
                    });
                }
                i += 1;
            }
        }
    }
    out
}

/// What tokens compare by.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key<'a>(Kind, &'a str, &'a str, bool);

fn keys<'a>(ts: &'a [Token<'a>]) -> Vec<Key<'a>> {
    ts.iter()
        .map(|t| Key(t.kind, t.key, t.name.as_str(), t.close))
        .collect()
}

/// Elements whose closing tag may be preceded by a `<del>` (flow or phrasing content). Table
/// structure and list containers may not hold one, and nothing goes inside a diagram.
fn holds_flow(name: &str) -> bool {
    !matches!(
        name,
        "table"
            | "thead"
            | "tbody"
            | "tfoot"
            | "tr"
            | "colgroup"
            | "col"
            | "ul"
            | "ol"
            | "dl"
            | "br"
            | "hr"
            | "img"
            | "input"
    )
}

/// `new` with its inserted and deleted words marked against `old`, and the counts. Both are one
/// section's sanitized markup.
pub fn mark_words(old: &str, new: &str) -> (String, WordCounts) {
    let (old_ps, new_ps) = (pieces(old), pieces(new));
    let (old_ts, new_ts) = (tokens(&old_ps, old), tokens(&new_ps, new));
    let (old_keys, new_keys) = (keys(&old_ts), keys(&new_ts));
    let ops = capture_diff_slices(Algorithm::Myers, &old_keys, &new_keys);

    let mut inserted = vec![false; new_ts.len()];
    // Deleted old tokens, by the new token they are shown before (`new_ts.len()`: at the end).
    let mut deletions: Vec<Vec<usize>> = vec![vec![]; new_ts.len() + 1];
    let mut counts = WordCounts::default();
    // Where deleted tokens that stood before new token `j` are shown: before the next word or
    // diagram, or before the closing tag of an element that may hold them; when a list or table
    // closes first, inside the element that closed just before (the previous list item or cell).
    let place = |j: usize| -> usize {
        for (k, t) in new_ts.iter().enumerate().skip(j) {
            if t.kind != Kind::Tag || (t.close && holds_flow(&t.name)) {
                return k;
            }
            if t.close {
                break;
            }
        }
        for k in (0..j.min(new_ts.len())).rev() {
            let t = &new_ts[k];
            if t.kind == Kind::Tag && t.close && holds_flow(&t.name) {
                return k;
            }
            if t.kind == Kind::Tag && !t.close {
                break;
            }
        }
        new_ts.len()
    };
    for op in ops {
        let (del, ins) = match op {
            DiffOp::Equal { .. } => continue,
            DiffOp::Delete {
                old_index,
                old_len,
                new_index,
            } => ((old_index, old_len), (new_index, 0)),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => ((old_index, 0), (new_index, new_len)),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => ((old_index, old_len), (new_index, new_len)),
        };
        let gone: Vec<usize> = (del.0..del.0 + del.1)
            .filter(|&k| old_ts[k].kind != Kind::Tag)
            .collect();
        counts.deleted += gone
            .iter()
            .filter(|&&k| old_ts[k].kind == Kind::Word)
            .count();
        if !gone.is_empty() {
            deletions[place(ins.0)].extend(gone);
        }
        for k in ins.0..ins.0 + ins.1 {
            if new_ts[k].kind != Kind::Tag {
                inserted[k] = true;
                counts.inserted += usize::from(new_ts[k].kind == Kind::Word);
            }
        }
    }

    // Table cells holding a change.
    let mut changed_cells = std::collections::HashSet::new();
    let mut cells: Vec<usize> = vec![];
    for (k, t) in new_ts.iter().enumerate() {
        let touched = inserted[k] || !deletions[k].is_empty();
        if touched && let Some(&cell) = cells.last() {
            changed_cells.insert(cell);
        }
        if t.kind == Kind::Tag && (t.name == "td" || t.name == "th") {
            if t.close {
                cells.pop();
            } else {
                cells.push(t.piece);
            }
        }
    }

    let deleted_markup = |ks: &[usize]| -> String {
        let mut out = String::from("<del class=\"pp-del\">");
        let mut first = true;
        for &k in ks {
            if !first && old_ts[k].kind == Kind::Word {
                out.push(' ');
            }
            out.push_str(old_ts[k].key);
            first = false;
        }
        out.push_str("</del>");
        out
    };

    let mut out = String::with_capacity(new.len() + new.len() / 4);
    let mut k = 0; // next token
    let mut p = 0; // next piece
    while p < new_ps.len() {
        // A diagram: one token over several pieces.
        if k < new_ts.len() && new_ts[k].kind == Kind::Opaque && new_ts[k].piece == p {
            if !deletions[k].is_empty() {
                out.push_str(&deleted_markup(&deletions[k]));
            }
            if inserted[k] {
                out.push_str("<ins class=\"pp-ins pp-ins-block\">");
                out.push_str(new_ts[k].key);
                out.push_str("</ins>");
            } else {
                out.push_str(new_ts[k].key);
            }
            p = new_ts[k].piece_end;
            k += 1;
            continue;
        }
        match &new_ps[p] {
            Piece::Tag { raw, name, close } => {
                if k < new_ts.len() && !deletions[k].is_empty() {
                    out.push_str(&deleted_markup(&deletions[k]));
                }
                if !close && (name == "td" || name == "th") && changed_cells.contains(&p) {
                    out.push_str(&with_class(raw, "pp-cell-changed"));
                } else {
                    out.push_str(raw);
                }
                k += 1;
            }
            Piece::Text(text) => {
                let mut in_ins = false;
                let mut rest: &str = text;
                while !rest.is_empty() {
                    let ws = rest.len() - rest.trim_start().len();
                    if ws > 0 {
                        // Whitespace between two inserted words stays inside the mark.
                        let next_joins = in_ins
                            && rest[ws..].chars().next().is_some()
                            && k < new_ts.len()
                            && inserted[k]
                            && deletions[k].is_empty();
                        if in_ins && !next_joins {
                            out.push_str("</ins>");
                            in_ins = false;
                        }
                        out.push_str(&rest[..ws]);
                        rest = &rest[ws..];
                        continue;
                    }
                    let len = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    let word = &rest[..len];
                    if !deletions[k].is_empty() {
                        if in_ins {
                            out.push_str("</ins>");
                            in_ins = false;
                        }
                        out.push_str(&deleted_markup(&deletions[k]));
                        out.push(' ');
                    }
                    if inserted[k] && !in_ins {
                        out.push_str("<ins class=\"pp-ins\">");
                        in_ins = true;
                    } else if !inserted[k] && in_ins {
                        out.push_str("</ins>");
                        in_ins = false;
                    }
                    out.push_str(word);
                    k += 1;
                    rest = &rest[len..];
                }
                if in_ins {
                    out.push_str("</ins>");
                }
            }
        }
        p += 1;
    }
    if let Some(last) = deletions.last()
        && !last.is_empty()
    {
        out.push_str(&deleted_markup(last));
    }
    (out, counts)
}

/// `raw` (an opening tag) with `class` added.
fn with_class(raw: &str, class: &str) -> String {
    if let Some(at) = raw.find(" class=\"") {
        let at = at + " class=\"".len();
        format!("{}{class} {}", &raw[..at], &raw[at..])
    } else {
        let name_end = raw[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(raw.len(), |n| n + 1);
        format!("{} class=\"{class}\"{}", &raw[..name_end], &raw[name_end..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (what it shows, old, new, expected marked markup, inserted words, deleted words)
    const CASES: &[(&str, &str, &str, &str, usize, usize)] = &[
        (
            "identical",
            "<p>one two</p>",
            "<p>one two</p>",
            "<p>one two</p>",
            0,
            0,
        ),
        (
            "a word replaced",
            "<p>tokens live 15 minutes</p>",
            "<p>tokens live 5 minutes</p>",
            "<p>tokens live <del class=\"pp-del\">15</del> <ins class=\"pp-ins\">5</ins> minutes</p>",
            1,
            1,
        ),
        (
            "consecutive inserted words share one mark, whitespace kept",
            "<p>rotate keys</p>",
            "<p>rotate  signing keys every day</p>",
            "<p>rotate  <ins class=\"pp-ins\">signing</ins> keys <ins class=\"pp-ins\">every day</ins></p>",
            3,
            0,
        ),
        (
            "deleted words at the end stay inside the paragraph",
            "<p>one two three</p>",
            "<p>one</p>",
            "<p>one<del class=\"pp-del\">two three</del></p>",
            0,
            2,
        ),
        (
            "a changed table cell is marked; the others are not",
            "<table><tr><td>id</td><td>uuid</td></tr></table>",
            "<table><tr><td>id</td><td>text</td></tr></table>",
            "<table><tr><td>id</td><td class=\"pp-cell-changed\"><del class=\"pp-del\">uuid</del> <ins class=\"pp-ins\">text</ins></td></tr></table>",
            1,
            1,
        ),
        (
            "an emptied cell keeps its deleted word inside it",
            "<table><tr><td>a</td><td>b</td></tr></table>",
            "<table><tr><td>a</td><td></td></tr></table>",
            "<table><tr><td>a</td><td class=\"pp-cell-changed\"><del class=\"pp-del\">b</del></td></tr></table>",
            0,
            1,
        ),
        (
            "a new row marks its cells; an existing class is kept",
            "<table><tr><td class=\"k\">a</td></tr></table>",
            "<table><tr><td class=\"k\">a</td></tr><tr><td class=\"k\">b</td></tr></table>",
            "<table><tr><td class=\"k\">a</td></tr><tr><td class=\"pp-cell-changed k\"><ins class=\"pp-ins\">b</ins></td></tr></table>",
            1,
            0,
        ),
        (
            "inline formatting survives; entities are never cut",
            "<p>use <code>a &amp; b</code> now</p>",
            "<p>use <code>a &amp; c</code> now</p>",
            "<p>use <code>a &amp; <del class=\"pp-del\">b</del> <ins class=\"pp-ins\">c</ins></code> now</p>",
            1,
            1,
        ),
        (
            "an attribute change alone is no word change",
            "<p><a href=\"https://a.example\" rel=\"noopener noreferrer\">docs</a></p>",
            "<p><a href=\"https://b.example\" rel=\"noopener noreferrer\">docs</a></p>",
            "<p><a href=\"https://b.example\" rel=\"noopener noreferrer\">docs</a></p>",
            0,
            0,
        ),
        (
            "a changed diagram is replaced as a whole",
            "<figure><svg viewBox=\"0 0 1 1\"><text>A</text></svg></figure>",
            "<figure><svg viewBox=\"0 0 1 1\"><text>B</text></svg></figure>",
            "<figure><del class=\"pp-del\"><svg viewBox=\"0 0 1 1\"><text>A</text></svg></del><ins class=\"pp-ins pp-ins-block\"><svg viewBox=\"0 0 1 1\"><text>B</text></svg></ins></figure>",
            0,
            0,
        ),
        (
            "a removed list item lands inside the list item before it, not in the list",
            "<ul><li>a</li><li>b</li></ul>",
            "<ul><li>a</li></ul>",
            "<ul><li>a<del class=\"pp-del\">b</del></li></ul>",
            0,
            1,
        ),
        (
            "escaped markup in text stays escaped",
            "<p>x</p>",
            "<p>x &lt;script&gt;</p>",
            "<p>x <ins class=\"pp-ins\">&lt;script&gt;</ins></p>",
            1,
            0,
        ),
        (
            "a quoted '>' inside an attribute does not end the tag",
            "<p title=\"a>b\">one</p>",
            "<p title=\"a>b\">two</p>",
            "<p title=\"a>b\"><del class=\"pp-del\">one</del> <ins class=\"pp-ins\">two</ins></p>",
            1,
            1,
        ),
    ];

    #[test]
    fn word_marks() {
        for (what, old, new, want, ins, del) in CASES {
            let (got, counts) = mark_words(old, new);
            assert_eq!(&got, want, "{what}");
            assert_eq!(
                counts,
                WordCounts {
                    inserted: *ins,
                    deleted: *del
                },
                "{what}"
            );
        }
    }
}
