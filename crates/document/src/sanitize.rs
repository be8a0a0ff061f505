use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use ammonia::{Builder, UrlRelative};

/// Choices an operator makes about pushed documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SanitizeOptions {
    /// `ALLOW_REMOTE_IMAGES`: keep `https:` image sources (otherwise only `data:image/…`).
    pub allow_remote_images: bool,
}

pub(crate) const HTML_TAGS: &[&str] = &[
    "section",
    "article",
    "header",
    "footer",
    "aside",
    "nav",
    "div",
    "span",
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
    "caption",
    "colgroup",
    "col",
    "code",
    "pre",
    "kbd",
    "samp",
    "var",
    "blockquote",
    "q",
    "cite",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "s",
    "del",
    "ins",
    "mark",
    "small",
    "sub",
    "sup",
    "abbr",
    "time",
    "br",
    "hr",
    "img",
    "figure",
    "figcaption",
    "details",
    "summary",
    "input",
];

/// Void elements of the vocabulary (and `wbr`, which it drops): no end tag, nothing inside.
pub(crate) const HTML_VOID: &[&str] = &["br", "hr", "img", "input", "col", "wbr"];

/// The SVG subset: shapes, paths, text, groups, markers, gradients. No `script`, `foreignObject`,
/// `animate*`, `set`, `image`, `style`, `a` (links inside diagrams are not needed).
pub(crate) const SVG_TAGS: &[&str] = &[
    "svg",
    "g",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "text",
    "tspan",
    "defs",
    "marker",
    "linearGradient",
    "radialGradient",
    "stop",
    "title",
    "desc",
    "use",
    "symbol",
    "clipPath",
];

const SVG_ATTRIBUTES: &[&str] = &[
    "viewBox",
    "preserveAspectRatio",
    "xmlns",
    "width",
    "height",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "r",
    "rx",
    "ry",
    "d",
    "points",
    "dx",
    "dy",
    "transform",
    "fill",
    "fill-opacity",
    "fill-rule",
    "stroke",
    "stroke-width",
    "stroke-opacity",
    "stroke-dasharray",
    "stroke-linecap",
    "stroke-linejoin",
    "opacity",
    "font-size",
    "font-family",
    "font-weight",
    "font-style",
    "text-anchor",
    "dominant-baseline",
    "alignment-baseline",
    "marker-start",
    "marker-mid",
    "marker-end",
    "markerWidth",
    "markerHeight",
    "markerUnits",
    "refX",
    "refY",
    "orient",
    "offset",
    "stop-color",
    "stop-opacity",
    "gradientUnits",
    "gradientTransform",
    "clip-path",
    "clipPathUnits",
    "href",
    "role",
    "aria-label",
    "aria-hidden",
];

/// Attributes any element may carry.
pub(crate) const GENERIC_ATTRIBUTES: &[&str] = &[
    "class",
    "id",
    "title",
    "lang",
    "dir",
    "data-anchor",
    "role",
    "aria-label",
    "aria-hidden",
    "aria-describedby",
];

fn set(items: &[&'static str]) -> HashSet<&'static str> {
    items.iter().copied().collect()
}

/// Attribute values that reference a resource may only point inside the document.
fn same_document(value: &str) -> bool {
    let v = value.trim();
    v.starts_with('#')
        && v[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// `url(#id)` or no `url(` at all.
fn only_local_urls(value: &str) -> bool {
    if !value.contains('(') {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("url(") {
        let inner = rest[i + 4..].trim_start_matches([' ', '"', '\'']);
        if !inner.starts_with('#') {
            return false;
        }
        rest = &rest[i + 4..];
    }
    true
}

/// SVG presentation attributes whose value is CSS that may hold a `url(…)` reference.
const CSS_URL_ATTRIBUTES: &[&str] = &[
    "fill",
    "stroke",
    "marker-start",
    "marker-mid",
    "marker-end",
    "clip-path",
];

/// A CSS value we can read as plainly as a browser does: no escapes (`u\72 l(` is `url(` to a CSS
/// parser), no comments, and no other way to load a resource (`src(`, `image(`, `image-set(`).
fn plain_css(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    !lower.contains('\\')
        && !lower.contains("/*")
        && !["src(", "image(", "image-set(", "@import"]
            .iter()
            .any(|f| lower.contains(f))
}

/// Images may be embedded only as raster `data:` URLs: an SVG image is inert in `<img>`, but
/// nothing needs it and it is one more parser.
fn raster_data_url(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("data:image/") else {
        return false;
    };
    let mime = rest.split([';', ',']).next().unwrap_or("");
    matches!(
        mime,
        "png" | "jpeg" | "jpg" | "gif" | "webp" | "avif" | "bmp"
    ) && rest[mime.len()..].starts_with([';', ','])
}

/// Ids (and anchors) beginning with this prefix belong to the page around a document — the
/// comments sidebar is `pp-sidebar`, the script's own elements are `pp-…` — so a document cannot
/// take them over.
pub const RESERVED_ID_PREFIX: &str = "pp-";

/// Where a document's reserved ids go: `pp-sidebar` becomes `doc-pp-sidebar`. A fixed point, since
/// the result no longer starts with the reserved prefix.
const RENAMED_ID_PREFIX: &str = "doc-";

fn unreserve(id: &str) -> Cow<'_, str> {
    if id.starts_with(RESERVED_ID_PREFIX) {
        Cow::Owned(format!("{RENAMED_ID_PREFIX}{id}"))
    } else {
        Cow::Borrowed(id)
    }
}

/// `#pp-x` → `#doc-pp-x`, so in-document links follow their renamed target.
fn unreserve_fragment(href: &str) -> Cow<'_, str> {
    match href.trim().strip_prefix('#') {
        Some(id) if id.starts_with(RESERVED_ID_PREFIX) => Cow::Owned(format!("#{}", unreserve(id))),
        Some(id) if href.len() == id.len() + 1 => Cow::Borrowed(href),
        Some(id) => Cow::Owned(format!("#{id}")),
        None => Cow::Borrowed(href),
    }
}

/// `url(#pp-x)` → `url(#doc-pp-x)` (quoted or not).
fn unreserve_url_refs(value: &str) -> Cow<'_, str> {
    if !value.contains("url(") {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find("url(") {
        let (head, tail) = rest.split_at(i + 4);
        out.push_str(head);
        let skipped = tail.len() - tail.trim_start_matches([' ', '"', '\'']).len();
        out.push_str(&tail[..skipped]);
        let tail = &tail[skipped..];
        if let Some(id) = tail.strip_prefix('#')
            && id.starts_with(RESERVED_ID_PREFIX)
        {
            out.push('#');
            out.push_str(RENAMED_ID_PREFIX);
            rest = id;
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// What an allowed attribute's value becomes (`None`: the attribute is dropped); borrowed when it
/// stays as it is, which is what [`settled`] asks.
fn filter<'a>(
    element: &str,
    attribute: &str,
    value: &'a str,
    opts: SanitizeOptions,
) -> Option<Cow<'a, str>> {
    match (element, attribute) {
        // Links: no `data:` navigation, however the scheme is split by whitespace or controls.
        ("a", "href") => {
            let mut squeezed = value
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .map(|c| c.to_ascii_lowercase());
            let data = "data:".chars().all(|d| squeezed.next() == Some(d));
            (!data).then(|| unreserve_fragment(value))
        }
        // SVG references: same-document only (markers, gradients, `use`).
        ("use", "href") => same_document(value).then(|| unreserve_fragment(value)),
        (_, "href") if SVG_TAGS.contains(&element) => None,
        ("img", "src") => {
            let v = value.trim();
            let ok = raster_data_url(v) || (opts.allow_remote_images && v.starts_with("https://"));
            ok.then_some(Cow::Borrowed(v))
        }
        // Task-list checkboxes only, and never editable (both are also forced on every `input`).
        ("input", "type") => (value == "checkbox").then_some(Cow::Borrowed(value)),
        ("input", "disabled") => Some(Cow::Borrowed("")),
        (_, "id" | "data-anchor") => Some(unreserve(value)),
        (_, "aria-describedby") => {
            let ids: Vec<Cow<'_, str>> = value.split_ascii_whitespace().map(unreserve).collect();
            let joined = ids.join(" ");
            Some(if joined == value {
                Cow::Borrowed(value)
            } else {
                Cow::Owned(joined)
            })
        }
        _ if CSS_URL_ATTRIBUTES.contains(&attribute) && !plain_css(value) => None,
        _ if !only_local_urls(value) => None,
        _ => Some(unreserve_url_refs(value)),
    }
}

/// The attributes an element may carry besides [`GENERIC_ATTRIBUTES`] and `data-pp-*`.
pub(crate) fn tag_attributes(tag: &str) -> &'static [&'static str] {
    match tag {
        "a" => &["href"],
        "img" => &["src", "alt", "width", "height"],
        "td" => &["colspan", "rowspan", "align"],
        "th" => &["colspan", "rowspan", "scope", "align"],
        "col" => &["span"],
        "ol" => &["start", "reversed"],
        "li" => &["value"],
        "details" => &["open"],
        "time" => &["datetime"],
        "input" => &["type", "checked", "disabled"],
        _ if SVG_TAGS.contains(&tag) => SVG_ATTRIBUTES,
        _ => &[],
    }
}

/// Attributes any element may carry by their name's beginning (the vocabulary's own data).
const GENERIC_ATTRIBUTE_PREFIX: &str = "data-pp-";

/// What every `<a>` gets as its `rel`, written last (ammonia drops any other `rel` and appends it).
const LINK_REL: &str = "noopener noreferrer";

/// The URL schemes `href` and `src` may use (relative URLs pass as they are).
const URL_SCHEMES: &[&str] = &["http", "https", "mailto", "data"];

/// What every `<input>` is made, whatever it said: a disabled checkbox.
const INPUT_VALUES: &[(&str, &str)] = &[("type", "checkbox"), ("disabled", "")];

/// The allowlist sanitizer for `opts`, built once per process (one per value of the options).
pub(crate) fn cleaner(opts: &SanitizeOptions) -> &'static Builder<'static> {
    static CLEANERS: [OnceLock<Builder<'static>>; 2] = [OnceLock::new(), OnceLock::new()];
    CLEANERS[usize::from(opts.allow_remote_images)].get_or_init(|| builder(*opts))
}

fn builder(opts: SanitizeOptions) -> Builder<'static> {
    let tag_attributes: HashMap<&'static str, HashSet<&'static str>> = HTML_TAGS
        .iter()
        .chain(SVG_TAGS)
        .map(|t| (*t, set(tag_attributes(t))))
        .filter(|(_, attrs)| !attrs.is_empty())
        .collect();
    let mut tags = set(HTML_TAGS);
    tags.extend(SVG_TAGS.iter().copied());

    let mut builder = Builder::empty();
    builder
        .tags(tags)
        .clean_content_tags(set(&[
            "script", "style", "template", "noscript", "xmp", "noembed", "noframes", "iframe",
            "object", "textarea",
        ]))
        .generic_attributes(set(GENERIC_ATTRIBUTES))
        .generic_attribute_prefixes(set(&[GENERIC_ATTRIBUTE_PREFIX]))
        .tag_attributes(tag_attributes)
        .url_schemes(set(URL_SCHEMES))
        .url_relative(UrlRelative::PassThrough)
        .link_rel(Some(LINK_REL))
        .strip_comments(true)
        .attribute_filter(move |element, attribute, value| filter(element, attribute, value, opts));
    // Every `input` is a disabled checkbox, whatever it said (or did not say) about its type.
    for (name, value) in INPUT_VALUES {
        builder.set_tag_attribute_value("input", *name, *value);
    }
    builder
}

/// One pass of `builder` over `html`, written straight into a buffer of about its size (the
/// `Display` of ammonia's document serializes into a buffer of its own, then copies it).
pub(crate) fn clean_once(builder: &Builder<'_>, html: &str) -> String {
    #[cfg(test)]
    tests::PASSES.with(|n| n.set(n.get() + 1));
    let doc = builder.clean(html);
    let mut out = Vec::with_capacity(html.len());
    match doc.write_to(&mut out).map(|()| String::from_utf8(out)) {
        Ok(Ok(s)) => s,
        _ => doc.to_string(),
    }
}

/// Sanitizes author HTML against the allowlist. The output is stable: sanitizing it again changes
/// nothing (which is what defeats parse → serialize → re-parse "mutation" attacks).
pub fn sanitize(html: &str, opts: &SanitizeOptions) -> String {
    let builder = cleaner(opts);
    let once = clean_once(builder, html);
    // Belt and braces against mutation: the stored form is a fixed point of the sanitizer.
    let twice = clean_once(builder, &once);
    if twice == once {
        once
    } else {
        clean_once(builder, &twice)
    }
}

/// Whether sanitizing `html` again would give it back unchanged, decided from one parse of it
/// (no second sanitizer pass); `false` when that cannot be shown that way. [`prepare`](crate::prepare)
/// uses it on every part it sanitizes; public for the fuzz targets.
pub fn is_settled(html: &str, opts: &SanitizeOptions) -> bool {
    settled(html, &scraper::Html::parse_fragment(html), opts).is_some()
}

/// What one sanitizer pass makes of `html`, when the parse of `html` shows it without the pass:
/// `html` itself when it is settled ([`is_settled`]), or `html` with the `rel` the sanitizer gives
/// every link that has none, when that is all it lacks. `None` when unsure. (How `prepare` takes
/// parts as they are sent; exported for the tests and the fuzz target.)
pub fn settled_form<'a>(html: &'a str, opts: &SanitizeOptions) -> Option<Cow<'a, str>> {
    let seen = settled_but_links(html, &scraper::Html::parse_fragment(html), opts)?;
    Some(if seen.links.is_empty() {
        Cow::Borrowed(html)
    } else {
        Cow::Owned(with_rel(html, &seen.links))
    })
}

mod settled;
pub(crate) use settled::{settled, settled_but_links, with_rel};

#[cfg(test)]
pub(crate) mod tests;
