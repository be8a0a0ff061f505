//! The PlanPush vocabulary: the components an author (or an assistant following the plugin) may
//! use, and the `pp-` classes each one is made of. This list is the one definition: the stylesheet
//! (`assets/plan.css`), the plugin's reference (`plugin/reference/components.md`) and
//! `docs/plan-format.md` are checked against it by tests, and [`crate::check`] (`planpush check`)
//! reports any other class. The tags and attributes a document may use are the sanitizer's
//! allow-list ([`crate::sanitize`]), which `check` reads too.

/// One component of the vocabulary: its heading in `docs/plan-format.md` (`### Name`) and in the
/// plugin's reference, and the classes that make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    pub name: &'static str,
    pub classes: &'static [&'static str],
}

/// Every component, in the order `docs/plan-format.md` documents them. A class may belong to
/// several components (`pp-done` marks a finished phase and a finished checklist item).
pub const COMPONENTS: &[Component] = &[
    Component {
        name: "Header and lead",
        classes: &["pp-lead", "pp-meta"],
    },
    Component {
        name: "Section",
        classes: &[],
    },
    Component {
        name: "Tabs / panes",
        classes: &["pp-tabs", "pp-tab", "pp-pane"],
    },
    Component {
        name: "Component cards with impact",
        classes: &[
            "pp-grid",
            "pp-card",
            "pp-badge",
            "pp-major",
            "pp-moderate",
            "pp-minor",
            "pp-new",
        ],
    },
    Component {
        name: "Data-model table",
        classes: &["pp-model", "pp-pk", "pp-fk"],
    },
    Component {
        name: "Endpoints",
        classes: &["pp-endpoint", "pp-method", "pp-breaking"],
    },
    Component {
        name: "Decisions",
        classes: &["pp-decisions", "pp-accepted", "pp-open", "pp-rejected"],
    },
    Component {
        name: "Open questions",
        classes: &["pp-questions", "pp-resolved", "pp-answer"],
    },
    Component {
        name: "Metrics and targets",
        classes: &[
            "pp-metrics",
            "pp-metric",
            "pp-metric-value",
            "pp-metric-label",
            "pp-metric-now",
        ],
    },
    Component {
        name: "Changed since the last version",
        classes: &["pp-changed"],
    },
    Component {
        name: "Numbered steps",
        classes: &["pp-steps"],
    },
    Component {
        name: "Phases",
        classes: &["pp-phases", "pp-done", "pp-current", "pp-planned"],
    },
    Component {
        name: "Risks",
        classes: &["pp-risk", "pp-high", "pp-med", "pp-low", "pp-mitigation"],
    },
    Component {
        name: "Callout",
        classes: &["pp-callout"],
    },
    Component {
        name: "UI mockup",
        classes: &[
            "pp-mock",
            "pp-mock-bar",
            "pp-mock-body",
            "pp-mock-row",
            "pp-mock-input",
            "pp-mock-btn",
            "pp-mock-check",
            "pp-mock-toggle",
            "pp-on",
        ],
    },
    Component {
        name: "Code and checklists",
        classes: &["pp-checklist", "pp-done"],
    },
    Component {
        name: "Diagrams",
        classes: &["pp-diagram"],
    },
];

/// The class that marks a Mermaid block: `<pre class="mermaid">`, and nothing else.
pub const MERMAID_CLASS: &str = "mermaid";

/// The Mermaid diagram kinds the plugin's reference suggests (the first word of the source); each
/// has a diagram in `fixtures/mermaid/` that the renderer's tests draw.
pub const MERMAID_KINDS: &[&str] = &[
    "flowchart",
    "graph",
    "sequenceDiagram",
    "stateDiagram-v2",
    "stateDiagram",
    "classDiagram",
    "erDiagram",
    "gantt",
];

/// Whether `class` is one of the vocabulary's `pp-` classes.
pub fn is_vocabulary_class(class: &str) -> bool {
    COMPONENTS.iter().any(|c| c.classes.contains(&class))
}

/// Every vocabulary class once, in the order of [`COMPONENTS`].
pub fn classes() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = vec![];
    for class in COMPONENTS.iter().flat_map(|c| c.classes.iter().copied()) {
        if !out.contains(&class) {
            out.push(class);
        }
    }
    out
}

/// Whether `class` may stand on an element named `tag` (lowercase): a vocabulary class anywhere,
/// `mermaid` on `pre`, and the `language-…` classes Markdown puts on fenced code.
pub fn class_allowed(tag: &str, class: &str) -> bool {
    is_vocabulary_class(class)
        || (class == MERMAID_CLASS && tag == "pre")
        || (tag == "code" && class.starts_with("language-") && class.len() > "language-".len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_pp_names_listed_once_per_component() {
        let all = classes();
        assert!(all.len() > 40, "{all:?}");
        for c in &all {
            assert!(c.starts_with("pp-") && c.len() > 3, "{c}");
        }
        for comp in COMPONENTS {
            let mut seen = comp.classes.to_vec();
            seen.dedup();
            assert_eq!(
                seen.len(),
                comp.classes.len(),
                "{} repeats a class",
                comp.name
            );
        }
        assert!(class_allowed("div", "pp-metric"));
        assert!(class_allowed("pre", "mermaid") && !class_allowed("div", "mermaid"));
        assert!(class_allowed("code", "language-rust") && !class_allowed("code", "language-"));
        assert!(
            !class_allowed("div", "pp-sidebar"),
            "page chrome is not vocabulary"
        );
        assert!(!class_allowed("div", "card"));
    }
}
