//! The fixture scaled to a size: shared by the HTTP benchmarks and by `cargo xtask order`, which
//! includes this file, so that the start-up order is profiled on the document the benchmarks push.

/// `fixture` repeated (anchors and ids made unique per copy, later copies' `<h1>` made `<h2>`)
/// until it is at least `bytes` long.
pub fn scaled_from(fixture: &str, bytes: usize) -> String {
    let mut doc = fixture.to_owned();
    let mut copy = 2;
    while doc.len() < bytes {
        let prefix = format!("c{copy}-");
        doc.push_str(
            &fixture
                .replace("<h1>", "<h2>")
                .replace("</h1>", "</h2>")
                .replace("data-anchor=\"", &format!("data-anchor=\"{prefix}"))
                .replace(" id=\"", &format!(" id=\"{prefix}"))
                .replace("href=\"#", &format!("href=\"#{prefix}"))
                .replace("url(#", &format!("url(#{prefix}")),
        );
        copy += 1;
    }
    doc
}
