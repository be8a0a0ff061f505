//! Exporting a version: the data of an export (what the page shows, plus the comments asked
//! for), and its Markdown form. The HTML form is a view (`web`), since it shares the page's
//! stylesheet.

use chrono::{DateTime, Utc};
use planpush_comments::{Comment, CommentFilter, StateFilter};
use planpush_plans::Plan;
use planpush_versions::{SourceFormat, Version};

use crate::{PlanError, Plans, Principal};

/// Which comments an export appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportComments {
    Open,
    All,
}

/// One thread of an export's appendix, with its authors' logins.
#[derive(Debug, Clone)]
pub struct ExportThread {
    pub thread: Comment,
    pub author: String,
    pub replies: Vec<(Comment, String)>,
}

/// A version ready to be written out.
#[derive(Debug, Clone)]
pub struct Export {
    pub plan: Plan,
    pub version: Version,
    /// Login of who pushed it.
    pub pushed_by: String,
    /// The appendix, when comments were asked for (`None`: no appendix).
    pub comments: Option<(ExportComments, Vec<ExportThread>)>,
}

impl Export {
    /// The file name to save as, without extension: `slug-vN`.
    pub fn file_stem(&self) -> String {
        format!("{}-v{}", self.plan.slug(), self.version.meta.number.get())
    }
    pub fn pushed_at(&self) -> DateTime<Utc> {
        self.version.meta.pushed_at
    }
}

fn unknown(e: impl Into<anyhow::Error>) -> PlanError {
    PlanError::Unknown(e.into())
}

impl Plans {
    /// Version `v` (default: the current one) of the plan at `slug`, for export, with its open or
    /// all threads when `comments` asks. The page's rule: a plan `p` may not see is `NotFound`;
    /// an unknown or expired version is `VersionNotFound`.
    pub async fn export(
        &self,
        p: &Principal,
        slug: &str,
        v: Option<u32>,
        comments: Option<ExportComments>,
    ) -> Result<Export, PlanError> {
        let page = self.page(p, slug, v).await?;
        let version = page.version.ok_or(PlanError::VersionNotFound)?;
        let comments = match comments {
            None => None,
            Some(which) => {
                let state = match which {
                    ExportComments::Open => StateFilter::Open,
                    ExportComments::All => StateFilter::All,
                };
                let all = self
                    .ports
                    .comments
                    .list(
                        page.plan.id(),
                        &CommentFilter {
                            state,
                            anchor: None,
                        },
                    )
                    .await
                    .map_err(unknown)?;
                let logins = self.logins(all.iter().map(Comment::author_id)).await;
                let mut threads: Vec<ExportThread> = vec![];
                let mut replies = vec![];
                for (c, login) in all.into_iter().zip(logins) {
                    if c.is_thread() {
                        threads.push(ExportThread {
                            thread: c,
                            author: login,
                            replies: vec![],
                        });
                    } else {
                        replies.push((c, login));
                    }
                }
                for (r, login) in replies {
                    if let Some(t) = threads
                        .iter_mut()
                        .find(|t| Some(t.thread.id()) == r.parent_id())
                    {
                        t.replies.push((r, login));
                    }
                }
                Some((which, threads))
            }
        };
        Ok(Export {
            plan: page.plan,
            version,
            pushed_by: page.pushed_by,
            comments,
        })
    }
}

/// The export as Markdown. A version pushed as Markdown is its own source, byte for byte (so
/// pushing it again gives the same sections); one pushed as HTML is converted from its sanitized
/// document ([`planpush_document::to_markdown`]: sections keep their anchors as `{#anchor}`,
/// diagrams become their Mermaid source again). The comments appendix, when asked for, follows a
/// rule (`---`) under a level-1 heading, so it opens no section of its own.
pub fn export_markdown(e: &Export, base_url: &str) -> String {
    let mut out = match e.version.meta.format {
        SourceFormat::Markdown => e.version.source.to_string(),
        SourceFormat::Html => {
            let sources: Vec<String> = planpush_document::find_diagrams(&e.version.source)
                .into_iter()
                .map(|d| d.source)
                .collect();
            planpush_document::to_markdown(&e.version.html, &sources)
        }
    };
    if let Some((which, threads)) = &e.comments {
        let what = match which {
            ExportComments::Open => "Open comments",
            ExportComments::All => "Comments",
        };
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(
            "\n---\n\n# {what} ({})\n\nOn version {} of {base_url}/p/{}, exported with the plan.\n",
            threads.len(),
            e.version.meta.number.get(),
            e.plan.slug()
        ));
        for t in threads {
            let c = &t.thread;
            let state = if c.resolution().is_some() {
                "resolved"
            } else {
                "open"
            };
            out.push_str(&format!(
                "\n**{}** on `#{}` (v{}, {}, {}):\n\n",
                t.author,
                c.anchor(),
                c.made_on().get(),
                c.created_at().format("%Y-%m-%d %H:%M UTC"),
                state
            ));
            if let Some(q) = c.quote() {
                out.push_str(&format!("> {}\n\n", q.exact().replace('\n', " ")));
            }
            out.push_str(&quote_body(c));
            for (r, login) in &t.replies {
                out.push_str(&format!("\n- **{login}**: {}", quote_body(r).trim()));
                out.push('\n');
            }
        }
    }
    out
}

fn quote_body(c: &Comment) -> String {
    if c.is_deleted() {
        return "*(deleted)*\n".into();
    }
    let mut s = c.body().as_str().trim().to_owned();
    s.push('\n');
    s
}
