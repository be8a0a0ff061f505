//! Reads of a parsed element that intern nothing. Scraper's `Element::attr` and `classes` turn the
//! name asked for, and each class, into an interned atom: a hash, and for a name html5ever does not
//! know (`data-anchor`, `pp-card`) an insert into a global set under its lock, undone when the atom
//! is dropped. The walks over every element of a push call these instead.

use scraper::node::Element;

/// The value of `el`'s attribute `name` (one without a namespace, as `Element::attr` reads).
pub(crate) fn attr<'a>(el: &'a Element, name: &str) -> Option<&'a str> {
    el.attrs
        .iter()
        .find(|(q, _)| q.prefix.is_none() && q.ns.is_empty() && &*q.local == name)
        .map(|(_, value)| &**value)
}

/// Whether `el`'s `class` attribute lists `class`.
pub(crate) fn has_class(el: &Element, class: &str) -> bool {
    attr(el, "class").is_some_and(|v| v.split_ascii_whitespace().any(|c| c == class))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{Html, Selector};

    #[test]
    fn reads_as_scraper_does() {
        let doc = Html::parse_fragment(
            "<section data-anchor=\"a\" class=\" pp-card  pp-x\" id=\"i\"><p>x</p>\
             <svg><a xlink:href=\"#h\" href=\"#k\"></a></svg></section>",
        );
        for el in doc.select(&Selector::parse("*").unwrap()) {
            let el = el.value();
            for name in [
                "data-anchor",
                "class",
                "id",
                "href",
                "xlink:href",
                "missing",
            ] {
                assert_eq!(attr(el, name), el.attr(name), "{name}");
            }
            for class in ["pp-card", "pp-x", "pp", "", "card"] {
                assert_eq!(has_class(el, class), el.classes().any(|c| c == class));
            }
        }
    }
}
