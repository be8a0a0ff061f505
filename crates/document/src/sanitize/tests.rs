use super::*;

thread_local! {
    /// Ammonia passes made on this thread ([`clean_once`]), to count work in tests.
    pub(crate) static PASSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Ammonia passes `f` makes on this thread.
pub(crate) fn passes_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = PASSES.with(std::cell::Cell::get);
    let out = f();
    (out, PASSES.with(std::cell::Cell::get) - before)
}

fn clean(html: &str) -> String {
    sanitize(html, &SanitizeOptions::default())
}

/// Nothing that can run script may survive.
fn assert_inert(out: &str, input: &str) {
    let lower = out.to_ascii_lowercase();
    for bad in [
        "<script",
        "onerror",
        "onload",
        "onclick",
        "onmouseover",
        "javascript:",
        "vbscript:",
        "<iframe",
        "<object",
        "<embed",
        "<form",
        "<base",
        "<meta",
        "foreignobject",
        "<animate",
        "<set",
        "<style",
        "srcdoc",
        "<math",
        "<xmp",
        "<noembed",
        "<noframes",
    ] {
        assert!(
            !lower.contains(bad),
            "{bad} survived in {out:?} (from {input:?})"
        );
    }
    assert_eq!(clean(out), out, "not a fixed point: {input:?}");
}

#[test]
fn script_vectors_are_neutralised() {
    let vectors = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<svg onload=alert(1)>",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
        "<a href=\"java\nscript:alert(1)\">x</a>",
        "<a href=\"java\rscript:alert(1)\">x</a>",
        "<a href=\" &#14; javascript:alert(1)\">x</a>",
        "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
        "<a href=\"vbscript:msgbox(1)\">x</a>",
        "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
        "<a href=\"da\tta:text/html,x\">x</a>",
        "<iframe src=\"https://evil.example.com\"></iframe>",
        "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
        "<object data=\"x.swf\"></object><embed src=\"x.swf\">",
        "<form action=\"https://evil.example.com\"><button>go</button></form>",
        "<base href=\"https://evil.example.com/\">",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
        "<div style=\"background:url(javascript:alert(1))\">x</div>",
        "<style>body{background:url(javascript:alert(1))}</style>",
        "<svg><script>alert(1)</script></svg>",
        "<svg><foreignObject><img src=x onerror=alert(1)></foreignObject></svg>",
        "<svg><a><set attributeName=\"href\" to=\"javascript:alert(1)\"/><text>x</text></a></svg>",
        "<svg><a><animate attributeName=\"href\" values=\"javascript:alert(1)\"/><text>x</text></a></svg>",
        "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
        "<svg><use href=\"data:image/svg+xml,<svg id='x' xmlns='http://www.w3.org/2000/svg'><image href='1' onerror='alert(1)'/></svg>#x\"/></svg>",
        "<svg><use xlink:href=\"https://evil.example.com/x.svg#a\"/></svg>",
        // mutation XSS: namespace confusion and raw-text elements
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<form><math><mtext></form><form><mglyph><svg><mtext><style><path id=\"</style><img onerror=alert(1) src>\">",
        "<svg></p><style><a id=\"</style><img src=1 onerror=alert(1)>\">",
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
        "<xmp><p title=\"</xmp><img src=x onerror=alert(1)>\">",
        "<noembed><p title=\"</noembed><img src=x onerror=alert(1)>\">",
        "<noframes><p title=\"</noframes><img src=x onerror=alert(1)>\">",
        "<svg><iframe><a title=\"</iframe><img src onerror=alert(1)>\">test",
        "<math><mi><table><mi><style><img src=x onerror=alert(1)>",
        "<template><script>alert(1)</script></template>",
        "<<script>alert(1)//<</script>",
        "<img src=\"x\" onerror=\"alert(1)\"//",
        "<details open ontoggle=alert(1)>",
        "<input autofocus onfocus=alert(1)>",
    ];
    for v in vectors {
        assert_inert(&clean(v), v);
    }
}

#[test]
fn the_vocabulary_survives() {
    let doc = r##"<section data-anchor="auth-flow" class="pp-section"><h2>Authentication Flow</h2>
<div class="pp-card" data-anchor="auth-service"><span class="pp-badge pp-major">Major</span><p>New <strong>OAuth</strong> + device flow</p></div>
<table class="pp-model"><thead><tr><th scope="col">Field</th></tr></thead><tbody><tr><td colspan="2"><code>id</code></td></tr></tbody></table>
<details open><summary>More</summary><ol start="3"><li>three</li></ol></details>
<a href="https://github.com/acme/auth-service">repo</a> <a href="#auth-flow">here</a></section>"##;
    let out = clean(doc);
    for keep in [
        "data-anchor=\"auth-flow\"",
        "class=\"pp-card\"",
        "<span class=\"pp-badge pp-major\">",
        "<th scope=\"col\">",
        "<td colspan=\"2\">",
        "<details open=\"\">",
        "<ol start=\"3\">",
        "href=\"#auth-flow\"",
    ] {
        assert!(out.contains(keep), "{keep} lost: {out}");
    }
    assert!(
        out.contains("href=\"https://github.com/acme/auth-service\" rel=\"noopener noreferrer\""),
        "{out}"
    );
}

#[test]
fn the_svg_subset_survives_with_local_references_only() {
    let svg = r##"<svg viewBox="0 0 100 50" xmlns="http://www.w3.org/2000/svg"><defs><marker id="arrow" markerWidth="10" markerHeight="7" refX="0" refY="3.5" orient="auto"><polygon points="0 0, 10 3.5, 0 7"></polygon></marker><linearGradient id="g"><stop offset="0" stop-color="#fff"></stop></linearGradient></defs><g data-anchor="node-gateway" class="node"><rect x="1" y="1" width="40" height="20" rx="4" fill="url(#g)" stroke="#333"></rect><text x="5" y="15" text-anchor="start">API Gateway</text></g><line x1="41" y1="11" x2="60" y2="11" marker-end="url(#arrow)"></line><use href="#arrow"></use><rect fill="url(https://evil.example.com/x)"></rect></svg>"##;
    let out = clean(svg);
    for keep in [
        "viewBox=\"0 0 100 50\"",
        "<marker id=\"arrow\"",
        "markerWidth=\"10\"",
        "refX=\"0\"",
        "<linearGradient id=\"g\">",
        "fill=\"url(#g)\"",
        "marker-end=\"url(#arrow)\"",
        "data-anchor=\"node-gateway\"",
        "<use href=\"#arrow\">",
        "API Gateway",
    ] {
        assert!(out.contains(keep), "{keep} lost: {out}");
    }
    assert!(!out.contains("evil.example.com"), "{out}");
}

#[test]
fn images_follow_the_remote_images_setting() {
    let html = r#"<img src="https://img.example.com/a.png" alt="a"><img src="data:image/png;base64,iVBORw0KGgo=" alt="b"><img src="/relative.png" alt="c">"#;
    let strict = clean(html);
    assert!(
        !strict.contains("img.example.com")
            && strict.contains("data:image/png")
            && !strict.contains("relative.png"),
        "{strict}"
    );
    let open = sanitize(
        html,
        &SanitizeOptions {
            allow_remote_images: true,
        },
    );
    assert!(open.contains("https://img.example.com/a.png"), "{open}");
}

#[test]
fn task_list_checkboxes_stay_inert() {
    let out = clean(
        r#"<ul><li><input type="checkbox" checked> done</li><li><input type="text" value="x"> no</li></ul>"#,
    );
    assert!(
        out.contains("<input type=\"checkbox\" checked=\"\""),
        "{out}"
    );
    assert!(!out.contains("type=\"text\""), "{out}");
}

#[test]
fn css_escapes_cannot_spell_a_remote_url() {
    for attr in [
        r#"fill="u\72 l(https://evil.example.com/x)""#,
        r#"stroke="\75 rl(https://evil.example.com/x)""#,
        r#"marker-end="url\28 https://evil.example.com/x)""#,
        r#"clip-path="u/**/rl(https://evil.example.com/x)""#,
        r#"fill="src(https://evil.example.com/x)""#,
        r#"fill="image-set(https://evil.example.com/x)""#,
    ] {
        let input = format!("<svg><rect {attr}></rect></svg>");
        let out = clean(&input);
        assert!(!out.contains("evil.example.com"), "{attr} survived: {out}");
        assert_inert(&out, &input);
    }
    // Plain colours and local references are untouched.
    let out = clean(r##"<svg><rect fill="#fff" stroke="url(#g)"></rect></svg>"##);
    assert!(
        out.contains("fill=\"#fff\"") && out.contains("stroke=\"url(#g)\""),
        "{out}"
    );
}

#[test]
fn inputs_are_always_disabled_checkboxes() {
    for input in [
        r#"<input>"#,
        r#"<input value="type here">"#,
        r#"<input type="text">"#,
        r#"<input type="password" name="p">"#,
        r#"<input type="checkbox" checked>"#,
        r#"<input TYPE="submit">"#,
    ] {
        let out = clean(input);
        let doc = scraper::Html::parse_fragment(&out);
        let sel = scraper::Selector::parse("input").unwrap();
        for el in doc.select(&sel) {
            assert_eq!(el.value().attr("type"), Some("checkbox"), "{input} → {out}");
            assert!(el.value().attr("disabled").is_some(), "{input} → {out}");
        }
        assert_eq!(clean(&out), out, "not a fixed point: {input}");
    }
    assert!(clean(r#"<input type="checkbox" checked>"#).contains("checked"));
}

#[test]
fn images_embed_only_raster_data() {
    for (src, kept) in [
        ("data:image/png;base64,iVBORw0KGgo=", true),
        ("DATA:IMAGE/JPEG;base64,/9j/4AAQ", true),
        ("data:image/gif;base64,R0lGOD", true),
        ("data:image/webp;base64,UklGR", true),
        ("data:image/svg+xml;base64,PHN2Zz4=", false),
        ("data:image/svg+xml,<svg onload=alert(1)>", false),
        ("data:image/pngx;base64,AAAA", false),
        ("data:text/html;base64,PHNjcmlwdD4=", false),
    ] {
        let out = clean(&format!(r#"<img src="{src}" alt="x">"#));
        assert_eq!(out.contains("src="), kept, "{src}: {out}");
    }
}

#[test]
fn document_ids_cannot_take_the_pages_own() {
    let doc = r##"<section data-anchor="pp-sidebar" id="pp-sidebar"><h2>Hijack</h2>
<p id="pp-threads" aria-describedby="pp-sidebar note">x</p><p id="note">n</p>
<a href="#pp-sidebar">jump</a> <a href="#note">note</a>
<svg><defs><marker id="pp-arrow"></marker></defs><line marker-end="url(#pp-arrow)" stroke="url('#pp-arrow')"></line><use href="#pp-arrow"></use></svg></section>"##;
    let out = clean(doc);
    let parsed = scraper::Html::parse_fragment(&out);
    let ids = scraper::Selector::parse("[id]").unwrap();
    for el in parsed.select(&ids) {
        let id = el.value().attr("id").unwrap();
        assert!(!id.starts_with(RESERVED_ID_PREFIX), "{id} kept: {out}");
    }
    for keep in [
        r#"data-anchor="doc-pp-sidebar""#,
        r#"id="doc-pp-sidebar""#,
        r##"href="#doc-pp-sidebar""##,
        r#"aria-describedby="doc-pp-sidebar note""#,
        r#"id="note""#,
        r##"href="#note""##,
        r#"marker-end="url(#doc-pp-arrow)""#,
        r#"stroke="url('#doc-pp-arrow')""#,
        r##"<use href="#doc-pp-arrow">"##,
    ] {
        assert!(out.contains(keep), "{keep} missing: {out}");
    }
    // Every in-document link still reaches its element.
    let links = scraper::Selector::parse("a[href^='#'], use[href^='#']").unwrap();
    for a in parsed.select(&links) {
        let target = &a.value().attr("href").unwrap()[1..];
        let sel = scraper::Selector::parse(&format!("[id='{target}']")).unwrap();
        assert!(
            parsed.select(&sel).next().is_some(),
            "#{target} reaches nothing in {out}"
        );
    }
    assert_inert(&out, doc);
}

/// One sanitizer pass, without the fixed-point retries `sanitize` adds.
fn one_pass(html: &str, opts: &SanitizeOptions) -> String {
    let pass = clean_once(cleaner(opts), html);
    assert_eq!(pass, cleaner(opts).clean(html).to_string());
    pass
}

/// `is_settled` is never wrong: whatever it accepts, the sanitizer gives back unchanged. Asked of
/// markup as it is and of the sanitizer's output, under both options.
fn assert_settled_only_if_fixed(html: &str) -> usize {
    let mut settled = 0;
    for opts in [
        SanitizeOptions::default(),
        SanitizeOptions {
            allow_remote_images: true,
        },
    ] {
        for candidate in [html.to_owned(), one_pass(html, &opts)] {
            if let Some(form) = settled_form(&candidate, &opts) {
                assert_eq!(
                    one_pass(&candidate, &opts),
                    form,
                    "the pass written without the sanitizer is not its pass"
                );
            }
            if is_settled(&candidate, &opts) {
                assert_eq!(
                    one_pass(&candidate, &opts),
                    candidate,
                    "settled, yet the sanitizer changes it"
                );
                settled += 1;
            }
        }
    }
    settled
}

#[test]
fn settled_markup_is_what_the_sanitizer_gives_back() {
    const HTML: &str = include_str!("../../../../fixtures/auth-service-redesign.html");
    const MD: &str = include_str!("../../../../fixtures/auth-service-redesign.md");
    let hostile = [
        "<svg><style><img src=x onerror=alert(1)></style></svg><p>x</p>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
        "<svg><a href=\"javascript:alert(1)\"><text>x</text></a></svg>",
        "<svg></p><style><a id=\"</style><img src=1 onerror=alert(1)>\">",
        "<svg><title><p>x</p></title><desc><img src=x></desc></svg>",
        "<a href=\"java&#x09;script:alert(1)\">x</a><a href=\" #x\">y</a>",
        "<table><tr><td>a</td></tr></table><p>b</p><table>c<div>d</div></table>",
        "<p><b><div>x</div></b></p><h2><h3>y</h3></h2><li><li>z</li></li>",
        "<pre>\n\nx</pre><pre>\ny</pre><p>a&nbsp;b&amp;c&lt;d&gt;e \u{a0}</p>",
        "<p title=\"a&quot;b&amp;c&lt;d&gt;\u{a0}\">x</p><p title='x\"y'>z</p>",
        "<a href=\"#x\" rel=\"noopener noreferrer\" class=\"c\">rel first</a>",
        "<a class=\"c\" href=\"#x\" rel=\"noopener noreferrer\">rel last</a><a>no rel</a>",
        "<a href=\"#x\" rel=\"nofollow\">other rel</a><p rel=\"x\">p</p>",
        "<input type=\"checkbox\" disabled=\"\"><input disabled=\"\" type=\"checkbox\" checked=\"\">",
        "<input type=\"checkbox\"><input type=\"text\" disabled=\"\"><input>",
        "<p>x<!-- comment --></p><!DOCTYPE html><?pi x?>",
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"><use xlink:href=\"#a\"></use><use href=\"#a\"></use><linearGradient id=\"g\"></linearGradient></svg>",
        "<svg viewbox=\"0 0 1 1\"><path d=\"M0\" fill=\"url(#g)\"></path><g><p>out</p></g></svg>",
        "<img src=\"https://example.com/a.png\"><img src=\"data:image/png;base64,AA\" alt=\"\">",
        "<img src=\"data:image/svg+xml,x\"><a href=\"mailto:a@b.c\">m</a><a href=\"/rel\">r</a>",
        "<section data-anchor=\"pp-x\" id=\"pp-y\"><a href=\"#pp-x\">x</a></section>",
        "<p id=\"a\" id=\"b\">dup</p><p class=\"a\" CLASS=\"b\">case</p><P>upper</P>",
        "<p =x=\"1\">eq</p><p a\"b=\"c\">quote</p><br/><br></br><hr><hr/>",
        "<ul><li>a<li>b</ul><dl><dt>t<dd>d</dl><p>unclosed",
        "<details open=\"\"><summary>s</summary>d</details><time datetime=\"2026\">t</time>",
        "<table><caption>c</caption><colgroup><col span=\"2\"></colgroup><tbody><tr><th scope=\"col\">h</th></tr></tbody></table>",
        "<td>stray</td><tr>row</tr><col><caption>x</caption>",
        "<select><option>o</option></select><textarea>t</textarea><plaintext>p",
        "",
        "text only & more",
    ];
    let mut settled = 0;
    for html in hostile {
        settled += assert_settled_only_if_fixed(html);
    }
    assert!(
        settled > 0,
        "nothing hostile settled: the test tests nothing"
    );
    let md = crate::markdown_to_html(MD);
    for doc in [HTML, md.as_str()] {
        assert!(assert_settled_only_if_fixed(doc) > 0);
        for range in crate::split::top_level_parts(doc).unwrap_or_default() {
            assert_settled_only_if_fixed(&doc[range]);
        }
    }
}

/// The fast path is the usual one: every part of the fixtures is shown settled from its parse,
/// without a second sanitizer pass; and what a second pass would change is not.
#[test]
fn the_fixtures_settle_from_one_parse() {
    const HTML: &str = include_str!("../../../../fixtures/auth-service-redesign.html");
    const MD: &str = include_str!("../../../../fixtures/auth-service-redesign.md");
    let opts = SanitizeOptions::default();
    let md = crate::markdown_to_html(MD);
    for doc in [HTML, md.as_str()] {
        let parts = crate::split::top_level_parts(doc).unwrap_or_default();
        assert!(parts.len() > 5);
        for range in parts {
            let once = one_pass(&doc[range], &opts);
            assert!(is_settled(&once, &opts), "not settled: {once}");
        }
        assert!(is_settled(&sanitize(doc, &opts), &opts));
    }
    for (unsettled, why) in [
        (
            "<a href=\"#x\" rel=\"noopener noreferrer\" class=\"c\">x</a>",
            "the sanitizer moves rel last",
        ),
        ("<a href=\"#x\">x</a>", "the sanitizer adds rel"),
        ("<p>x<!-- c --></p>", "comments are dropped"),
        ("<input type=\"checkbox\">", "inputs are disabled"),
        ("<table>x</table>", "the parser moves text out of a table"),
        (
            "<p title=\"a\" title=\"b\">x</p>",
            "the parser drops a repeated attribute",
        ),
        ("<p style=\"color:red\">x</p>", "style is not allowed"),
        (
            "<a href=\"javascript:x\" rel=\"noopener noreferrer\">x</a>",
            "not an allowed scheme",
        ),
        ("<p>a\u{a0}b</p>", "the serializer writes U+00A0 as &nbsp;"),
        ("<p>a<b>b</b>", "the end tag is missing"),
        ("<svg><p>x</p></svg>", "HTML inside SVG leaves it"),
    ] {
        assert!(!is_settled(unsettled, &opts), "{why}: {unsettled}");
    }
    assert!(is_settled("<p>a&amp;b&lt;c&gt;d&nbsp;e</p>", &opts));
}

/// Where the walk says an anchored element's markup is, it is byte for byte the element's
/// serialization (what content hashes are taken of); markup whose attributes are not in the
/// parse's sorted order gives no places.
#[test]
fn settled_spans_are_the_anchored_elements_serialization() {
    const HTML: &str = include_str!("../../../../fixtures/auth-service-redesign.html");
    let opts = SanitizeOptions::default();
    let doc = sanitize(HTML, &opts);
    let nested = "<section data-anchor=\"a\" id=\"x\"><h2>A</h2><div data-anchor=\"b\">b<br></div>\
                  </section><hr data-anchor=\"c\"><p>x</p>";
    for html in [doc.as_str(), nested] {
        let parsed = scraper::Html::parse_fragment(html);
        let seen = settled(html, &parsed, &opts).expect("settled");
        let anchored = parsed
            .select(&scraper::Selector::parse("[data-anchor]").unwrap())
            .count();
        assert!(
            seen.spans.len() * 3 >= anchored * 2,
            "most anchored elements have their place ({} of {anchored})",
            seen.spans.len()
        );
        for (id, range) in &seen.spans {
            let el = scraper::ElementRef::wrap(parsed.tree.get(*id).unwrap()).unwrap();
            assert!(el.value().attr("data-anchor").is_some());
            assert_eq!(html[range.clone()], el.html());
        }
    }
    // Scraper writes `class` first: neither the element nor the one around it has a place.
    let unsorted = "<section data-anchor=\"a\"><div data-anchor=\"b\" class=\"pp-card\">x</div>\
                    <div data-anchor=\"c\">y</div></section>";
    let parsed = scraper::Html::parse_fragment(unsorted);
    let seen = settled(unsorted, &parsed, &opts).expect("settled");
    let placed: Vec<&str> = seen
        .spans
        .iter()
        .map(|(_, r)| &unsorted[r.clone()])
        .collect();
    assert_eq!(placed, ["<div data-anchor=\"c\">y</div>"]);
}

/// Links without a `rel` are the one change written without the sanitizer: what it writes is the
/// sanitizer's pass; any other `rel`, or anything else to change, is left to the sanitizer.
#[test]
fn links_are_given_their_rel_as_the_sanitizer_gives_it() {
    let opts = SanitizeOptions::default();
    for (html, mended) in [
        ("<p><a href=\"#x\">x</a></p>", true),
        (
            "<a class=\"pp-tab\" href=\"#x\">x</a><a href=\"#y\" rel=\"noopener noreferrer\">y</a><a>z</a>",
            true,
        ),
        ("<svg><a href=\"#x\"><text>x</text></a></svg>", false),
        ("<a href=\"#x\"><a href=\"#y\">y</a></a>", false),
        ("<a href=\"#x\" rel=\"nofollow\">x</a>", false),
        ("<a rel=\"noopener noreferrer\" href=\"#x\">x</a>", false),
        ("<a href=\"#x\">x</a><br/>", false),
        ("<a href=\"javascript:alert(1)\">x</a>", false),
    ] {
        let form = settled_form(html, &opts);
        assert_eq!(
            form.as_ref().map(|f| f != html),
            mended.then_some(true),
            "{html}"
        );
        if let Some(form) = form {
            assert_eq!(form, one_pass(html, &opts), "{html}");
        }
        assert_settled_only_if_fixed(html);
    }
}
