//! Edge labels that never sit on other text: the renderer's layout is measured (every label's box,
//! every node's box, every edge's polyline), a label that overlaps another label, a node or a
//! cluster title, or lies across another edge, is moved along its own edge (or beside it) to the
//! free spot nearest its first place, and what could not be freed is reported.
//!
//! Only the graph kinds (flowchart, state, class, ER) have free-standing edge labels; sequence
//! diagrams and Gantt charts place their text in rows and columns of their own.

use mermaid_rs_renderer::layout::TextBlock;
use mermaid_rs_renderer::{DiagramKind, Layout};

/// An axis-aligned box: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl Rect {
    fn centered(cx: f32, cy: f32, w: f32, h: f32) -> Rect {
        Rect {
            x: cx - w / 2.0,
            y: cy - h / 2.0,
            w,
            h,
        }
    }

    /// The area two boxes share (0 when they only touch).
    pub fn overlap(&self, o: &Rect) -> f32 {
        let w = (self.x + self.w).min(o.x + o.w) - self.x.max(o.x);
        let h = (self.y + self.h).min(o.y + o.h) - self.y.max(o.y);
        if w > 0.0 && h > 0.0 { w * h } else { 0.0 }
    }

    fn contains(&self, (px, py): (f32, f32)) -> bool {
        px > self.x && px < self.x + self.w && py > self.y && py < self.y + self.h
    }

    /// Whether the segment a–b passes through the box's interior.
    fn crossed_by(&self, a: (f32, f32), b: (f32, f32)) -> bool {
        if self.contains(a) || self.contains(b) {
            return true;
        }
        // Liang–Barsky clipping against the box.
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let mut t0: f32 = 0.0;
        let mut t1: f32 = 1.0;
        for (p, q) in [
            (-dx, a.0 - self.x),
            (dx, self.x + self.w - a.0),
            (-dy, a.1 - self.y),
            (dy, self.y + self.h - a.1),
        ] {
            if p == 0.0 {
                if q <= 0.0 {
                    return false;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        t0 < t1
    }

    fn shrink(&self, by: f32) -> Rect {
        Rect {
            x: self.x + by,
            y: self.y + by,
            w: (self.w - 2.0 * by).max(0.0),
            h: (self.h - 2.0 * by).max(0.0),
        }
    }
}

/// A piece of text in the drawing: what it says and the box it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBox {
    pub text: String,
    pub rect: Rect,
}

fn block_text(b: &TextBlock) -> String {
    b.lines.join(" ")
}

/// The renderer draws state-diagram edge labels at 85 % of the font size (its `state_font_size`),
/// inside a padded background box (`edge_label_padding`).
fn label_scale_and_padding(kind: DiagramKind) -> (f32, f32, f32) {
    match kind {
        DiagramKind::State => (0.85, 3.0, 1.6),
        DiagramKind::Flowchart => (1.0, 4.5, 2.2),
        _ => (1.0, 4.0, 2.0),
    }
}

fn label_size(kind: DiagramKind, b: &TextBlock) -> (f32, f32) {
    let (scale, px, py) = label_scale_and_padding(kind);
    (b.width * scale + 2.0 * px, b.height * scale + 2.0 * py)
}

/// Whether this kind is laid out as nodes and labelled edges.
pub fn is_graph(kind: DiagramKind) -> bool {
    matches!(
        kind,
        DiagramKind::Flowchart | DiagramKind::State | DiagramKind::Class | DiagramKind::Er
    )
}

/// Every edge label's box, with its edge's index and whether it is the edge's center label (not
/// a start/end label such as a cardinality).
fn edge_labels(layout: &Layout) -> Vec<(usize, bool, TextBox)> {
    let mut out = vec![];
    for (i, e) in layout.edges.iter().enumerate() {
        for (center, label, anchor) in [
            (true, &e.label, e.label_anchor),
            (false, &e.start_label, e.start_label_anchor),
            (false, &e.end_label, e.end_label_anchor),
        ] {
            if let (Some(b), Some((x, y))) = (label, anchor) {
                let (w, h) = label_size(layout.kind, b);
                out.push((
                    i,
                    center,
                    TextBox {
                        text: block_text(b),
                        rect: Rect::centered(x, y, w, h),
                    },
                ));
            }
        }
    }
    out
}

/// Boxes text must stay off: every visible node, and every cluster's (subgraph's, composite
/// state's) title band.
fn obstacles(layout: &Layout) -> Vec<TextBox> {
    let mut out: Vec<TextBox> = layout
        .nodes
        .values()
        .filter(|n| !n.hidden && n.width > 0.0 && n.height > 0.0)
        .map(|n| TextBox {
            text: block_text(&n.label),
            rect: Rect {
                x: n.x,
                y: n.y,
                w: n.width,
                h: n.height,
            },
        })
        .collect();
    for s in &layout.subgraphs {
        if s.label.trim().is_empty() {
            continue;
        }
        let band = (s.label_block.height + 8.0).min(s.height);
        out.push(TextBox {
            text: s.label.clone(),
            rect: Rect {
                x: s.x,
                y: s.y,
                w: s.width,
                h: band,
            },
        });
    }
    out
}

fn segments(points: &[(f32, f32)]) -> impl Iterator<Item = ((f32, f32), (f32, f32))> + '_ {
    points.windows(2).map(|w| (w[0], w[1]))
}

/// How bad a label box is where it stands: overlaps with text weigh most, then crossings.
fn cost(
    layout: &Layout,
    own_edge: usize,
    rect: &Rect,
    placed: &[Rect],
    obstacles: &[TextBox],
) -> f32 {
    let mut c = 0.0;
    for p in placed {
        if rect.overlap(p) > 0.0 {
            c += 1000.0 + rect.overlap(p);
        }
    }
    for o in obstacles {
        if rect.overlap(&o.rect) > 0.0 {
            c += 1000.0 + rect.overlap(&o.rect);
        }
    }
    let inner = rect.shrink(1.0);
    for (i, e) in layout.edges.iter().enumerate() {
        if i != own_edge && segments(&e.points).any(|(a, b)| inner.crossed_by(a, b)) {
            c += 100.0;
        }
    }
    if rect.x < 0.0 || rect.y < 0.0 {
        c += 500.0;
    }
    c
}

/// Points along a polyline at fractions of its length.
fn along(points: &[(f32, f32)], fractions: &[f32]) -> Vec<(f32, f32)> {
    let lengths: Vec<f32> = segments(points)
        .map(|(a, b)| ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt())
        .collect();
    let total: f32 = lengths.iter().sum();
    if total <= 0.0 {
        return points.first().copied().into_iter().collect();
    }
    fractions
        .iter()
        .filter_map(|f| {
            let mut left = total * f;
            for ((a, b), l) in segments(points).zip(&lengths) {
                if left <= *l && *l > 0.0 {
                    let t = left / l;
                    return Some((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
                }
                left -= l;
            }
            points.last().copied()
        })
        .collect()
}

/// Moves every center edge label that overlaps other text or lies across another edge to the
/// best free spot along (or beside) its own edge, and grows the drawing if a label moved past its
/// right or bottom edge. Start/end labels (class cardinalities) stay and count as obstacles.
pub fn repair(layout: &mut Layout) {
    if !is_graph(layout.kind) {
        return;
    }
    let fixed = obstacles(layout);
    let mut boxes: Vec<(usize, bool, Rect)> = vec![];
    for (i, e) in layout.edges.iter().enumerate() {
        if let (Some(b), Some((x, y))) = (&e.label, e.label_anchor) {
            let (w, h) = label_size(layout.kind, b);
            boxes.push((i, true, Rect::centered(x, y, w, h)));
        }
        for (label, anchor) in [
            (&e.start_label, e.start_label_anchor),
            (&e.end_label, e.end_label_anchor),
        ] {
            if let (Some(b), Some((x, y))) = (label, anchor) {
                let (w, h) = label_size(layout.kind, b);
                boxes.push((i, false, Rect::centered(x, y, w, h)));
            }
        }
    }
    let fractions: Vec<f32> = (1..20).map(|k| k as f32 / 20.0).collect();
    for _ in 0..3 {
        let mut moved = false;
        for k in 0..boxes.len() {
            let (edge, movable, rect) = boxes[k];
            if !movable {
                continue;
            }
            let others: Vec<Rect> = boxes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, b)| b.2)
                .collect();
            let here = cost(layout, edge, &rect, &others, &fixed);
            if here == 0.0 {
                continue;
            }
            // Candidates: along the edge, beside it, and then a widening ring of spots around
            // each of those; each costs its overlaps plus its distance from its own edge.
            let points = &layout.edges[edge].points;
            let mut best = (here, rect);
            let mut centers = vec![];
            for (px, py) in along(points, &fractions) {
                for ring in 0..6 {
                    let r = ring as f32 * 12.0;
                    for (dx, dy) in [
                        (0.0, 0.0),
                        (rect.w / 2.0 + 4.0 + r, 0.0),
                        (-rect.w / 2.0 - 4.0 - r, 0.0),
                        (0.0, rect.h / 2.0 + 3.0 + r),
                        (0.0, -rect.h / 2.0 - 3.0 - r),
                    ] {
                        centers.push((px + dx, py + dy));
                    }
                }
            }
            for (cx, cy) in centers {
                let cand = Rect::centered(cx, cy, rect.w, rect.h);
                let c =
                    cost(layout, edge, &cand, &others, &fixed) + distance_to(points, &cand) * 0.5;
                if c < best.0 {
                    best = (c, cand);
                }
            }
            if best.1 != rect {
                boxes[k].2 = best.1;
                let r = best.1;
                layout.edges[edge].label_anchor = Some((r.x + r.w / 2.0, r.y + r.h / 2.0));
                layout.width = layout.width.max(r.x + r.w + 4.0);
                layout.height = layout.height.max(r.y + r.h + 4.0);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
}

/// How far a box is from a polyline (0 when the line touches it).
fn distance_to(points: &[(f32, f32)], r: &Rect) -> f32 {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let mut best = f32::MAX;
    for (a, b) in segments(points) {
        if r.crossed_by(a, b) {
            return 0.0;
        }
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 {
            (((cx - a.0) * dx + (cy - a.1) * dy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (px, py) = (a.0 + t * dx, a.1 + t * dy);
        // Distance from the nearest point of the segment to the box.
        let ox = (r.x - px).max(0.0).max(px - (r.x + r.w));
        let oy = (r.y - py).max(0.0).max(py - (r.y + r.h));
        best = best.min((ox * ox + oy * oy).sqrt());
    }
    if best == f32::MAX { 0.0 } else { best }
}

/// Text on text: labels on labels, labels on nodes or cluster titles. Empty for non-graph kinds.
pub fn overlaps(layout: &Layout) -> Vec<String> {
    problems_of(layout, false)
}

/// Labels lying across another edge (readable, but they hide a piece of it).
pub fn crossings(layout: &Layout) -> Vec<String> {
    problems_of(layout, true)
}

/// [`overlaps`] and [`crossings`].
pub fn problems(layout: &Layout) -> Vec<String> {
    let mut out = overlaps(layout);
    out.extend(crossings(layout));
    out
}

fn problems_of(layout: &Layout, crossing: bool) -> Vec<String> {
    if !is_graph(layout.kind) {
        return vec![];
    }
    let labels = edge_labels(layout);
    let fixed = obstacles(layout);
    let mut out = vec![];
    for (k, (edge, center, a)) in labels.iter().enumerate() {
        if crossing {
            let inner = a.rect.shrink(1.0);
            for (i, e) in layout.edges.iter().enumerate() {
                if i != *edge && segments(&e.points).any(|(p, q)| inner.crossed_by(p, q)) {
                    out.push(format!(
                        "label \"{}\" lies across the edge {} → {}",
                        a.text, e.from, e.to
                    ));
                }
            }
            continue;
        }
        for (_, _, b) in labels.iter().skip(k + 1) {
            if a.rect.overlap(&b.rect) > 0.0 {
                out.push(format!("labels \"{}\" and \"{}\" overlap", a.text, b.text));
            }
        }
        let e = &layout.edges[*edge];
        let endpoint = !center;
        for o in &fixed {
            // A cardinality ("1", "many") sits at its node's border, on purpose.
            let own_end = [&e.from, &e.to].iter().any(|id| {
                layout
                    .nodes
                    .get(id.as_str())
                    .is_some_and(|n| block_text(&n.label) == o.text)
            });
            if endpoint && own_end {
                continue;
            }
            if a.rect.overlap(&o.rect) > 0.0 {
                out.push(format!("label \"{}\" lies on \"{}\"", a.text, o.text));
            }
        }
    }
    out
}

/// Every text box of a graph layout (nodes, cluster titles, edge labels), for tests.
pub fn text_boxes(layout: &Layout) -> Vec<TextBox> {
    let mut out = obstacles(layout);
    out.extend(edge_labels(layout).into_iter().map(|(_, _, b)| b));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_and_segments() {
        let a = Rect {
            x: 0.0,
            y: 0.0,
            w: 10.0,
            h: 10.0,
        };
        let b = Rect {
            x: 5.0,
            y: 5.0,
            w: 10.0,
            h: 10.0,
        };
        let c = Rect {
            x: 10.0,
            y: 0.0,
            w: 5.0,
            h: 5.0,
        };
        assert_eq!(a.overlap(&b), 25.0);
        assert_eq!(a.overlap(&c), 0.0, "touching is not overlapping");
        assert!(a.crossed_by((-5.0, 5.0), (15.0, 5.0)));
        assert!(!a.crossed_by((-5.0, 15.0), (15.0, 15.0)));
        assert!(a.crossed_by((-5.0, -5.0), (15.0, 15.0)), "diagonal");
        assert!(!a.crossed_by((11.0, -5.0), (11.0, 15.0)));
        assert_eq!(
            along(&[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)], &[0.25, 0.75]),
            vec![(5.0, 0.0), (10.0, 5.0)]
        );
    }
}
