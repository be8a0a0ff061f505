//! The push use case over the fakes.

use chrono::{DateTime, Duration, Utc};
use planpush_app::{AuthMethod, Ports, Principal, Push, PushError, PushRequest};
use planpush_document::SanitizeOptions;
use planpush_identity::{ExternalIdentity, Provider, User};
use planpush_plans::Visibility;
use planpush_roles::Role;
use planpush_versions::{SourceFormat, VersionNumber};

fn t(s: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(s)
}

async fn principal(ports: &Ports, login: &str, role: Role) -> Principal {
    let u = User::new(login, t(0)).unwrap();
    ports
        .users
        .create(&u, &ExternalIdentity::new(Provider::Dev, login).unwrap())
        .await
        .unwrap();
    Principal {
        user_id: u.id,
        login: login.into(),
        roles: vec![role],
        method: AuthMethod::Session,
    }
}

/// The push use case over `ports`, with the fake diagram renderer and default sanitizing.
fn push_for(ports: &Ports) -> Push {
    Push::new(
        ports.clone(),
        SanitizeOptions::default(),
        std::sync::Arc::new(planpush_app::fake::FakeDiagrams::default()),
    )
}

fn md(body: &str) -> PushRequest {
    PushRequest {
        body: body.into(),
        format: SourceFormat::Markdown,
        name: None,
        session_id: None,
        visibility: None,
    }
}

const DOC: &str = "# Auth Service Redesign\n\n## Authentication Flow\n\nClient → Gateway\n\n## Key Decisions\n\n- JWT\n";

#[tokio::test]
async fn a_first_push_creates_a_plan_named_after_its_title() {
    let ports = planpush_app::fake::ports();
    let ada = principal(&ports, "ada", Role::Developer).await;
    let push = push_for(&ports);
    let out = push.push(&ada, md(DOC), None, t(1)).await.unwrap();
    assert_eq!(out.plan.slug().as_str(), "auth-service-redesign");
    assert_eq!(out.plan.title(), "Auth Service Redesign");
    assert_eq!(out.version, VersionNumber::FIRST);
    assert_eq!(
        out.changes
            .added
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        ["authentication-flow", "key-decisions"]
    );
    assert_eq!(out.plan.visibility(), Visibility::Published);

    // Same title from someone else: a suffixed name, not a clash.
    let bob = principal(&ports, "bob", Role::Developer).await;
    let other = push.push(&bob, md(DOC), None, t(2)).await.unwrap();
    assert_eq!(other.plan.slug().as_str(), "auth-service-redesign-2");

    // No title and no name: a generated name.
    let anon = push.push(&bob, md("just text"), None, t(3)).await.unwrap();
    assert!(
        anon.plan.slug().as_str().starts_with("sess_") && anon.plan.slug().as_str().len() == 17,
        "{}",
        anon.plan.slug()
    );
}

#[tokio::test]
async fn names_updates_and_identical_pushes() {
    let ports = planpush_app::fake::ports();
    let ada = principal(&ports, "ada", Role::Developer).await;
    let bob = principal(&ports, "bob", Role::Developer).await;
    let push = push_for(&ports);
    let named = |body: &str, name: &str| PushRequest {
        name: Some(name.into()),
        ..md(body)
    };

    let v1 = push
        .push(&ada, named(DOC, "auth-redesign"), None, t(1))
        .await
        .unwrap();
    assert_eq!(v1.plan.slug().as_str(), "auth-redesign");
    let same = push
        .push(&ada, named(DOC, "auth-redesign"), None, t(2))
        .await
        .unwrap();
    assert!(
        !same.created_version && same.version == VersionNumber::FIRST,
        "identical content creates no version"
    );

    let edited = DOC.replace("- JWT", "- JWT + refresh");
    let v2 = push
        .push(&ada, named(&edited, "auth-redesign"), None, t(3))
        .await
        .unwrap();
    assert_eq!(
        v2.version.get(),
        2,
        "pushing again under one's own name updates"
    );
    assert_eq!(
        v2.changes
            .changed
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        ["key-decisions"]
    );

    match push
        .push(&bob, named(DOC, "auth-redesign"), None, t(4))
        .await
    {
        Err(PushError::NameTaken { taken, suggestion }) => assert_eq!(
            (taken.as_str(), suggestion.as_str()),
            ("auth-redesign", "auth-redesign-2")
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        push.push(&ada, named(DOC, "Auth Redesign"), None, t(5))
            .await,
        Err(PushError::InvalidName(_))
    ));

    let by_id = PushRequest {
        session_id: Some(v1.plan.id().to_string()),
        ..md(&edited.replace("Gateway", "WAF"))
    };
    let v3 = push.push(&ada, by_id, None, t(6)).await.unwrap();
    assert_eq!((v3.plan.id(), v3.version.get()), (v1.plan.id(), 3));
    assert_eq!(
        ports
            .plans
            .get(v1.plan.id())
            .await
            .unwrap()
            .current_version(),
        3
    );
}

#[tokio::test]
async fn who_may_push_where() {
    let ports = planpush_app::fake::ports();
    let ada = principal(&ports, "ada", Role::Developer).await;
    let dev = principal(&ports, "dev", Role::Developer).await;
    let pm = principal(&ports, "pm", Role::ProjectManager).await;
    let qa = principal(&ports, "qa", Role::Qa).await;
    let push = push_for(&ports);
    let private = push
        .push(
            &ada,
            PushRequest {
                visibility: Some(Visibility::Private),
                ..md(DOC)
            },
            None,
            t(1),
        )
        .await
        .unwrap();
    let public = push
        .push(
            &ada,
            PushRequest {
                name: Some("public".into()),
                ..md(DOC)
            },
            None,
            t(2),
        )
        .await
        .unwrap();
    let to = |id: &planpush_plans::PlanId| PushRequest {
        session_id: Some(id.to_string()),
        ..md("# Changed\n\n## X\n")
    };

    assert!(matches!(
        push.push(&qa, md(DOC), None, t(3)).await,
        Err(PushError::Forbidden)
    ));
    assert!(
        matches!(
            push.push(&dev, to(&private.plan.id()), None, t(3)).await,
            Err(PushError::SessionNotFound)
        ),
        "invisible = not found"
    );
    assert!(matches!(
        push.push(&dev, to(&public.plan.id()), None, t(3)).await,
        Err(PushError::NotSessionOwner)
    ));
    assert!(
        push.push(&pm, to(&private.plan.id()), None, t(3))
            .await
            .is_ok(),
        "project managers may update any plan"
    );
    assert!(matches!(
        push.push(
            &ada,
            PushRequest {
                session_id: Some("nope".into()),
                ..md(DOC)
            },
            None,
            t(3)
        )
        .await,
        Err(PushError::InvalidSessionId)
    ));
    let ghost = planpush_plans::PlanId::new();
    assert!(matches!(
        push.push(&ada, to(&ghost), None, t(3)).await,
        Err(PushError::SessionNotFound)
    ));
}

#[tokio::test]
async fn bad_bodies_are_refused_and_scripts_never_stored() {
    let ports = planpush_app::fake::ports();
    let ada = principal(&ports, "ada", Role::Admin).await;
    let push = push_for(&ports);
    assert!(matches!(
        push.push(&ada, md("   \n"), None, t(1)).await,
        Err(PushError::Empty)
    ));
    let huge = "x".repeat(planpush_app::MAX_DOCUMENT_BYTES + 1);
    assert!(matches!(
        push.push(&ada, md(&huge), None, t(1)).await,
        Err(PushError::TooLarge(_))
    ));

    let html = PushRequest {
        format: SourceFormat::Html,
        ..md(
            "<h1>T</h1><section data-anchor=\"a\"><h2>A</h2><img src=x onerror=alert(1)><script>alert(2)</script></section>",
        )
    };
    let out = push.push(&ada, html, None, t(2)).await.unwrap();
    let v = ports.versions.latest(out.plan.id()).await.unwrap().unwrap();
    assert!(
        v.source.contains("<script>"),
        "the author's source is kept as pushed"
    );
    assert!(
        !v.html.contains("<script") && !v.html.contains("onerror"),
        "{}",
        v.html
    );
    assert_eq!(v.sections.entries()[0].anchor.as_str(), "a");
}

#[tokio::test]
async fn retention_purges_old_snapshots_but_never_the_current_one() {
    use planpush_app::{Maintenance, Plans};
    use planpush_versions::RetentionPolicy;

    let ports = planpush_app::fake::ports();
    let ada = principal(&ports, "ada", Role::Developer).await;
    let push = push_for(&ports);
    let named = |body: &str| PushRequest {
        name: Some("kept".into()),
        ..md(body)
    };
    push.push(&ada, named(DOC), None, t(0)).await.unwrap();
    push.push(&ada, named(&DOC.replace("JWT", "PASETO")), None, t(86_400))
        .await
        .unwrap();
    let lonely = push
        .push(
            &ada,
            PushRequest {
                name: Some("lonely".into()),
                ..md(DOC)
            },
            None,
            t(0),
        )
        .await
        .unwrap();

    let sweep = Maintenance::new(ports.clone(), RetentionPolicy::days(90));
    assert_eq!(
        sweep.sweep(t(89 * 86_400)).await.unwrap().version_snapshots,
        0,
        "nothing is 90 days old yet"
    );
    assert_eq!(
        sweep
            .sweep(t(100 * 86_400))
            .await
            .unwrap()
            .version_snapshots,
        1,
        "only v1 of `kept`: current versions stay"
    );

    let plans = Plans::new(ports.clone());
    let old = plans.page(&ada, "kept", Some(1)).await.unwrap();
    assert!(old.version.is_none(), "v1's content has expired");
    assert_eq!(old.history.len(), 2, "its metadata stays");
    assert!(old.history[0].purged_at.is_some());
    assert!(
        plans
            .page(&ada, "kept", None)
            .await
            .unwrap()
            .version
            .is_some()
    );
    assert!(
        plans
            .page(&ada, lonely.plan.slug().as_str(), None)
            .await
            .unwrap()
            .version
            .is_some(),
        "a lone current version is never purged"
    );
}

#[tokio::test]
async fn mermaid_is_rendered_once_per_source_and_failures_never_fail_the_push() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    let ports = planpush_app::fake::ports();
    let ada = principal(&ports, "ada", Role::Developer).await;
    let diagrams = Arc::new(planpush_app::fake::FakeDiagrams::default());
    let push = Push::new(ports.clone(), SanitizeOptions::default(), diagrams.clone());
    let doc = "# D\n\n## Flow\n\n```mermaid\nflowchart LR\n  A --> B\n```\n\n## Broken\n\n```mermaid\nerror here\n```\n";
    let out = push
        .push(
            &ada,
            PushRequest {
                name: Some("d".into()),
                ..md(doc)
            },
            None,
            t(1),
        )
        .await
        .unwrap();
    let v = ports.versions.latest(out.plan.id()).await.unwrap().unwrap();
    assert!(
        v.html.contains("<div class=\"pp-diagram\"><svg"),
        "{}",
        v.html
    );
    assert!(v.html.contains("A --&gt; B"), "{}", v.html);
    assert!(
        v.html.contains("could not be rendered") && v.html.contains("error here"),
        "the failing source is shown: {}",
        v.html
    );
    assert_eq!(diagrams.calls.load(Ordering::Relaxed), 2);

    // Same diagrams, other text: the good one comes from the cache, the failed one is retried.
    push.push(
        &ada,
        PushRequest {
            name: Some("d".into()),
            ..md(&doc.replace("# D", "# D2"))
        },
        None,
        t(2),
    )
    .await
    .unwrap();
    assert_eq!(diagrams.calls.load(Ordering::Relaxed), 3);
}

/// The fake versions as a database under contention: `head` and commits answer only after yielding
/// to other tasks (as a round trip does), and with `always_lose` every `NextVersion` commit loses the race,
/// as when other pushes to the same plan keep landing first. `conflicts` counts the commits that
/// lost.
struct Contended {
    inner: std::sync::Arc<dyn planpush_versions::VersionRepository>,
    always_lose: bool,
    conflicts: std::sync::atomic::AtomicU32,
    heads: std::sync::atomic::AtomicU32,
    gets: std::sync::atomic::AtomicU32,
    /// Commits whose version's texts were the very ones staged (not copies).
    shared: std::sync::atomic::AtomicU32,
}

impl Contended {
    fn over(ports: &mut Ports, always_lose: bool) -> std::sync::Arc<Self> {
        let contended = std::sync::Arc::new(Self {
            inner: ports.versions.clone(),
            always_lose,
            conflicts: Default::default(),
            heads: Default::default(),
            gets: Default::default(),
            shared: Default::default(),
        });
        ports.versions = contended.clone();
        contended
    }

    fn conflicts(&self) -> u32 {
        self.conflicts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How often a version's head was read.
    fn heads(&self) -> u32 {
        self.heads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How often a whole version (its HTML) was read.
    fn gets(&self) -> u32 {
        self.gets.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many commits wrote the very texts staged for them.
    fn shared(&self) -> u32 {
        self.shared.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What [`Contended`] stages: the texts it was given, to recognise them at the commit.
type StagedTexts = (planpush_versions::Text, planpush_versions::Text);

#[async_trait::async_trait]
impl planpush_versions::VersionRepository for Contended {
    fn stage(
        &self,
        html: &planpush_versions::Text,
        source: &planpush_versions::Text,
        _: &planpush_versions::SectionIndex,
    ) -> planpush_versions::Staged {
        planpush_versions::Staged::new::<StagedTexts>((html.clone(), source.clone()))
    }
    async fn commit_staged<'a>(
        &self,
        commit: planpush_versions::Commit<'a>,
        staged: &planpush_versions::Staged,
        outbox: &[planpush_app::OutboxMessage],
        inbox: &[planpush_inbox::InboxEntry],
        audit: &[planpush_audit::AuditEvent],
    ) -> Result<(), planpush_versions::VersionRepoError> {
        let (planpush_versions::Commit::NewPlan { version, .. }
        | planpush_versions::Commit::NextVersion { version, .. }) = commit;
        if staged.get::<StagedTexts>().is_some_and(|texts| {
            std::sync::Arc::ptr_eq(&texts.0, &version.html)
                && std::sync::Arc::ptr_eq(&texts.1, &version.source)
        }) {
            self.shared
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        let result = match commit {
            planpush_versions::Commit::NextVersion { .. } if self.always_lose => {
                Err(planpush_versions::VersionRepoError::Conflict)
            }
            other => {
                self.inner
                    .commit_staged(other, staged, outbox, inbox, audit)
                    .await
            }
        };
        if matches!(result, Err(planpush_versions::VersionRepoError::Conflict)) {
            self.conflicts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }
    async fn get(
        &self,
        plan_id: planpush_plans::PlanId,
        number: VersionNumber,
    ) -> Result<planpush_versions::Version, planpush_versions::VersionRepoError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.get(plan_id, number).await
    }
    async fn latest(
        &self,
        plan_id: planpush_plans::PlanId,
    ) -> Result<Option<planpush_versions::Version>, planpush_versions::VersionRepoError> {
        self.inner.latest(plan_id).await
    }
    async fn head(
        &self,
        plan_id: planpush_plans::PlanId,
    ) -> Result<Option<planpush_versions::VersionHead>, planpush_versions::VersionRepoError> {
        self.heads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let head = self.inner.head(plan_id).await;
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        head
    }
    async fn history_between(
        &self,
        plan_id: planpush_plans::PlanId,
        first: VersionNumber,
        last: VersionNumber,
    ) -> Result<Vec<planpush_versions::VersionMeta>, planpush_versions::VersionRepoError> {
        self.inner.history_between(plan_id, first, last).await
    }
    async fn purge_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, planpush_versions::VersionRepoError> {
        self.inner.purge_before(cutoff, now).await
    }
}

/// A push hands its store the texts it renders once: the version it commits holds the same
/// source and HTML the store staged while rendering, whether the document was HTML or Markdown,
/// new or an update, with diagrams or not, rendered in one job or continued in a second.
#[tokio::test]
async fn the_texts_staged_while_rendering_are_the_versions_not_copies() {
    let mut ports = planpush_app::fake::ports();
    let contended = Contended::over(&mut ports, false);
    let ada = principal(&ports, "ada", Role::Developer).await;
    let push = push_for(&ports);
    let first = push.push(&ada, md(DOC), None, t(1)).await.unwrap();
    let id = first.plan.id().to_string();
    let mut next = html(&format!(
        "<h1>Auth</h1><section data-anchor=\"a\"><p>{}</p></section>",
        "x ".repeat(5000)
    ));
    next.session_id = Some(id.clone());
    push.push(&ada, next, None, t(2)).await.unwrap();
    let mut drawn = md(&format!(
        "{DOC}\n## Flow\n\n```mermaid\nflowchart LR\n  A --> B\n```\n"
    ));
    drawn.session_id = Some(id);
    push.push(&ada, drawn, None, t(3)).await.unwrap();
    // A long new document: its new parts (~22 KB) are more than one render job's worth.
    let long: String = (0..40)
        .map(|i| {
            format!(
                "<section data-anchor=\"s{i}\"><h2>S{i}</h2><p>{}</p></section>",
                "word ".repeat(100)
            )
        })
        .collect();
    push.push(&ada, html(&long), None, t(4)).await.unwrap();
    assert_eq!(contended.shared(), 4);
}

#[tokio::test]
async fn a_push_that_keeps_losing_the_race_is_busy_and_writes_nothing() {
    let mut ports = planpush_app::fake::ports();
    let contended = Contended::over(&mut ports, true);
    let ada = principal(&ports, "ada", Role::Developer).await;
    let push = push_for(&ports);
    let first = push.push(&ada, md(DOC), None, t(1)).await.unwrap();
    let mut next = md(&format!("{DOC}\n## More\n\ntext\n"));
    next.session_id = Some(first.plan.id().to_string());
    let again = push.push(&ada, next, None, t(2)).await;
    assert!(matches!(again, Err(PushError::Busy)), "{again:?}");
    assert_eq!(contended.conflicts(), planpush_app::PUSH_ATTEMPTS);
    // Nothing half-written: the plan is still at its first version.
    let plan = ports.plans.get(first.plan.id()).await.unwrap();
    assert_eq!(plan.current_version(), 1);
    assert_eq!(ports.versions.history(plan.id()).await.unwrap().len(), 1);
}

/// Eight pushes of `DOC` with a step of its own each, addressed by `to`, at once; every one must
/// land. Their outcomes in version order.
async fn eight_at_once(
    push: &Push,
    ada: &Principal,
    to: impl Fn(&mut PushRequest),
) -> Vec<planpush_app::PushOutcome> {
    let pushes = (0..8).map(|i| {
        let mut req = md(&format!("{DOC}\n## Step {i}\n\ntext {i}\n"));
        to(&mut req);
        let (push, ada) = (push.clone(), ada.clone());
        async move { push.push(&ada, req, None, t(2 + i)).await }
    });
    let mut outcomes: Vec<_> = futures::future::join_all(pushes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    outcomes.sort_by_key(|o| o.version.get());
    outcomes
}

/// Eight pushes to one plan at once (a CI job, a benchmark): they take turns in the process
/// instead of racing for the next version number, so none is retried and none runs out of
/// attempts; every one is stored, in some order, as its own version. They render side by side
/// before their turns, each against the memo it found; each one's "what changed" is still against
/// the version stored just before it, from that version's memo (no version is read or parsed).
#[tokio::test]
async fn concurrent_pushes_to_one_plan_take_turns_instead_of_racing() {
    let mut ports = planpush_app::fake::ports();
    let contended = Contended::over(&mut ports, false);
    let ada = principal(&ports, "ada", Role::Developer).await;
    let push = push_for(&ports);
    let first = push.push(&ada, md(DOC), None, t(1)).await.unwrap();
    let outcomes = eight_at_once(&push, &ada, |next| {
        next.session_id = Some(first.plan.id().to_string());
    })
    .await;
    let versions = outcomes
        .iter()
        .map(|o| {
            assert!(o.created_version);
            o.version.get()
        })
        .collect::<Vec<_>>();
    assert_eq!(versions, (2..=9).collect::<Vec<_>>());
    // Version 2 adds a step to the first version; every later one swaps its predecessor's step
    // for its own.
    for o in &outcomes {
        let (added, removed) = (o.changes.added.len(), o.changes.removed.len());
        let expected = if o.version.get() == 2 { (1, 0) } else { (1, 1) };
        assert_eq!((added, removed), expected, "version {}", o.version.get());
        let summary = o.summary.as_deref().unwrap_or_default();
        let says = if o.version.get() == 2 {
            "1 added"
        } else {
            "1 added, 1 removed"
        };
        assert!(
            summary.contains(says),
            "version {}: {summary}",
            o.version.get()
        );
    }
    assert_eq!(contended.gets(), 0, "no version was read for a summary");
    assert_eq!(
        contended.conflicts(),
        0,
        "no push raced another for its version number"
    );
    let plan = ports.plans.get(first.plan.id()).await.unwrap();
    assert_eq!(plan.current_version(), 9);
}

/// Eight first pushes under one new name at once (parallel CI jobs): one creates the plan, the
/// others find the name taken by their own plan and queue for its turn like any update, instead of
/// racing for its next version number until they run out of attempts (`409 session_busy`).
#[tokio::test]
async fn concurrent_first_pushes_under_one_name_all_land() {
    let mut ports = planpush_app::fake::ports();
    let contended = Contended::over(&mut ports, false);
    let ada = principal(&ports, "ada", Role::Developer).await;
    let push = push_for(&ports);
    let versions = eight_at_once(&push, &ada, |first| {
        first.name = Some("shared-name".into());
    })
    .await
    .into_iter()
    .map(|o| {
        assert_eq!(o.plan.slug().as_str(), "shared-name");
        o.version.get()
    })
    .collect::<Vec<_>>();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    assert_eq!(
        contended.conflicts(),
        0,
        "no push raced another for its version number"
    );
}

const FIXTURE: &str = include_str!("../../../../fixtures/auth-service-redesign.html");

fn html(body: &str) -> PushRequest {
    PushRequest {
        format: SourceFormat::Html,
        ..md(body)
    }
}

/// A push that changes one section sanitizes and parses that section's part only; the others
/// come from the previous version (counted, not timed), and what is stored is still exactly what
/// sanitizing the whole document gives.
#[tokio::test]
async fn a_push_changing_one_section_reuses_every_other_part() {
    let ports = planpush_app::fake::ports();
    let ada = principal(&ports, "ada", Role::Developer).await;
    let push = push_for(&ports);
    let first = push.push(&ada, html(FIXTURE), None, t(1)).await.unwrap();
    assert_eq!(first.rendered.reused, 0);
    let parts = first.rendered.parts;
    assert!(parts > 5, "the fixture is cut into parts ({parts})");
    let edited = FIXTURE.replacen(
        "Stolen refresh tokens",
        "Stolen or leaked refresh tokens",
        1,
    );
    assert_ne!(edited, FIXTURE);
    let mut next = html(&edited);
    next.session_id = Some(first.plan.id().to_string());
    let second = push.push(&ada, next, None, t(2)).await.unwrap();
    assert_eq!(second.version.get(), 2);
    assert_eq!(second.rendered.parts, parts);
    assert_eq!(
        second.rendered.reused,
        parts - 1,
        "only the changed part is sanitized"
    );
    let changed: Vec<&str> = second.changes.changed.iter().map(|a| a.as_str()).collect();
    assert_eq!(changed, ["risks", "risk-revocation"]);
    assert_eq!(
        second.summary.as_deref(),
        Some("Sections: 1 changed (+2 −0 words).")
    );
    let stored = ports
        .versions
        .get(first.plan.id(), second.version)
        .await
        .unwrap();
    assert_eq!(
        *stored.html,
        planpush_document::sanitize(&edited, &SanitizeOptions::default())
    );
}

/// New plans never take the push memo over its budget: each one added evicts others.
#[tokio::test]
async fn the_memo_of_new_plans_stays_within_its_budget() {
    let ports = planpush_app::fake::ports();
    let ada = principal(&ports, "ada", Role::Developer).await;
    let named = |i: usize| PushRequest {
        name: Some(format!("plan-{i}")),
        ..html(FIXTURE)
    };
    let probe = push_for(&ports);
    probe.push(&ada, named(0), None, t(0)).await.unwrap();
    let one = probe.remembered_bytes();
    assert!(one > 10_000, "one plan's memo weighs {one} bytes");
    let budget = one * 7 / 2;
    let push = push_for(&ports).with_memo_budget(budget);
    for i in 1..=12 {
        push.push(&ada, named(i), None, t(1)).await.unwrap();
        let held = push.remembered_bytes();
        assert!(
            held <= budget,
            "after {i} new plans the memo holds {held} bytes (budget {budget})"
        );
    }
    assert!(
        push.remembered_bytes() >= 2 * one,
        "the memo still remembers plans"
    );
}

/// A push to a plan whose current version this process rendered reads nothing of that version (its
/// number, section index and source digest are remembered); a process that did not render it (its
/// own memo) reads its head; both number, diff and detect an unchanged source alike.
#[tokio::test]
async fn a_remembered_version_is_not_read_again() {
    let mut ports = planpush_app::fake::ports();
    let counted = Contended::over(&mut ports, false);
    let ada = principal(&ports, "ada", Role::Developer).await;
    let push = push_for(&ports);
    let first = push.push(&ada, html(FIXTURE), None, t(1)).await.unwrap();
    let to_plan = |body: &str| PushRequest {
        session_id: Some(first.plan.id().to_string()),
        ..html(body)
    };
    let edited = FIXTURE.replacen(
        "Stolen refresh tokens",
        "Stolen or leaked refresh tokens",
        1,
    );
    let changed = |o: &planpush_app::PushOutcome| -> Vec<String> {
        o.changes.changed.iter().map(|a| a.to_string()).collect()
    };
    let second = push.push(&ada, to_plan(&edited), None, t(2)).await.unwrap();
    assert_eq!((second.version.get(), counted.heads()), (2, 0));
    assert_eq!(changed(&second), ["risks", "risk-revocation"]);
    // The same source again: nothing stored, nothing read.
    let same = push.push(&ada, to_plan(&edited), None, t(3)).await.unwrap();
    assert!(!same.created_version);
    assert_eq!((same.version.get(), counted.heads()), (2, 0));

    // Another process: it reads the head once, then remembers what it stored.
    let other = push_for(&ports);
    let same_there = other
        .push(&ada, to_plan(&edited), None, t(4))
        .await
        .unwrap();
    assert!(!same_there.created_version);
    assert_eq!((same_there.version.get(), counted.heads()), (2, 1));
    let back = other
        .push(&ada, to_plan(FIXTURE), None, t(5))
        .await
        .unwrap();
    assert_eq!((back.version.get(), counted.heads()), (3, 1));
    assert_eq!(changed(&back), ["risks", "risk-revocation"]);
    assert_eq!(
        back.summary.as_deref(),
        Some("Sections: 1 changed (+0 −2 words).")
    );

    // The first process's memo is behind now (version 2 of 3): it reads the head.
    let again = push.push(&ada, to_plan(&edited), None, t(6)).await.unwrap();
    assert_eq!((again.version.get(), counted.heads()), (4, 2));
    assert_eq!(changed(&again), ["risks", "risk-revocation"]);
    assert_eq!(
        again.summary.as_deref(),
        Some("Sections: 1 changed (+2 −0 words).")
    );
    assert_eq!(counted.conflicts(), 0);
}

/// When every render thread is busy and the queue is full, a push is refused at once with
/// `Overloaded` and stores nothing.
#[tokio::test]
async fn a_full_render_pool_refuses_the_push() {
    let ports = planpush_app::fake::ports();
    let ada = principal(&ports, "ada", Role::Developer).await;
    let pool = planpush_app::CpuPool::new(1, 0).unwrap();
    let push = push_for(&ports).with_pool(pool.clone());
    // Hold the only thread.
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (started, running) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn({
        let pool = pool.clone();
        move || {
            futures::executor::block_on(pool.run(move || {
                started.send(()).unwrap();
                wait.recv().unwrap();
            }))
        }
    });
    running.recv().unwrap();
    let refused = push.push(&ada, md(DOC), None, t(1)).await;
    assert!(matches!(refused, Err(PushError::Overloaded)), "{refused:?}");
    assert!(
        ports
            .plans
            .find_by_slug(&planpush_plans::Slug::parse("auth-service-redesign").unwrap())
            .await
            .unwrap()
            .is_none(),
        "nothing stored"
    );
    release.send(()).unwrap();
    holder.join().unwrap().unwrap();
    // Free again (once the thread is back waiting for work): the same push goes through.
    let mut stored = None;
    for _ in 0..1000 {
        match push.push(&ada, md(DOC), None, t(2)).await {
            Err(PushError::Overloaded) => {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await
            }
            other => {
                stored = Some(other.unwrap());
                break;
            }
        }
    }
    assert_eq!(stored.map(|o| o.version.get()), Some(1));
}

/// A long first push on a pool with idle threads is sanitized by several threads and stored exactly
/// as the whole document sanitized at once.
#[tokio::test]
async fn a_long_push_split_over_idle_threads_stores_the_whole_document_sanitized() {
    let ports = planpush_app::fake::ports();
    let ada = principal(&ports, "ada", Role::Developer).await;
    let push = push_for(&ports).with_pool(planpush_app::CpuPool::new(2, 16).unwrap());
    let fixture = include_str!("../../../../fixtures/auth-service-redesign.html");
    let long = format!(
        "{fixture}{}",
        fixture
            .replace("<h1>", "<h2>")
            .replace("</h1>", "</h2>")
            .replace("data-anchor=\"", "data-anchor=\"copy-")
            .repeat(2)
    );
    let first = push.push(&ada, html(&long), None, t(1)).await.unwrap();
    assert_eq!(first.rendered.reused, 0);
    let stored = ports
        .versions
        .get(first.plan.id(), first.version)
        .await
        .unwrap();
    assert_eq!(
        *stored.html,
        planpush_document::sanitize(&long, &SanitizeOptions::default())
    );
    assert_eq!(
        stored.sections,
        planpush_document::section_index(&stored.html)
    );
}
