//! The inbox in the real browser: bob mentions carol from the plan page with the keyboard-driven
//! autocomplete (ARIA combobox: arrows, Enter, Escape); the mention renders as one; carol's bell
//! counts it on the dashboard, its panel lists it, following it marks it read and opens the thread;
//! the dashboard's Inbox tab and the plan's Mute toggle. Every page is audited (no console error,
//! no failed request, WCAG AA).

use fantoccini::key::Key;
use fantoccini::{Client, Locator};

use crate::a11y::Audit;
use crate::browser::{driver, sign_in, tools, until};
use crate::support::{dev_login, dev_server, free_port, push};

const PLAN: &str =
    "# Auth\n\n## Flow\n\nThe client sends the token to the gateway.\n\n## Risks\n\nToken theft.\n";

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mention_autocomplete_bell_and_inbox() {
    if !tools() {
        return;
    }
    let audit = Audit::load();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let (_, ada) = dev_login(port, "ada");
    dev_login(port, "bob");
    dev_login(port, "carol");
    push(port, &ada, "text/markdown", "auth", PLAN);

    let (_driver, c) = driver().await;
    if let Some(a) = &audit {
        a.reset(&c).await;
    }
    // bob opens a thread on "Flow" and types a mention with the keyboard.
    sign_in(&c, &base, "bob", "/p/auth").await;
    until(
        &c,
        "document.querySelector('.pp-bell button') && !document.querySelector('.pp-bell').hidden",
    )
    .await;
    click(&c, "section[data-anchor=\"flow\"] .pp-comment-add").await;
    let ta = c
        .find(Locator::Css(".pp-composer-slot textarea"))
        .await
        .unwrap();
    ta.send_keys("Hi @").await.unwrap();
    let listed = until(
        &c,
        "(() => { const o = [...document.querySelectorAll('.pp-mention-list [role=option]')].map(x => x.textContent); return o.length === 3 && o; })()",
    )
    .await;
    assert_eq!(listed, serde_json::json!(["@ada", "@bob", "@carol"]));
    let aria = js(
        &c,
        "const t = document.querySelector('.pp-composer-slot textarea'); return [t.getAttribute('role'), t.getAttribute('aria-expanded'), t.getAttribute('aria-autocomplete'), document.getElementById(t.getAttribute('aria-controls')).getAttribute('role'), document.getElementById(t.getAttribute('aria-activedescendant')).textContent];",
    )
    .await;
    assert_eq!(
        aria,
        serde_json::json!(["combobox", "true", "list", "listbox", "@ada"])
    );
    if let Some(a) = &audit {
        a.current(&c, "plan page with the mention autocomplete open")
            .await;
    }
    // Down, Down, Enter: carol.
    ta.send_keys(&format!(
        "{}{}",
        char::from(Key::Down),
        char::from(Key::Down)
    ))
    .await
    .unwrap();
    let active = js(
        &c,
        "const t = document.querySelector('.pp-composer-slot textarea'); return document.getElementById(t.getAttribute('aria-activedescendant')).textContent;",
    )
    .await;
    assert_eq!(active, "@carol");
    ta.send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    assert_eq!(
        js(
            &c,
            "return document.querySelector('.pp-composer-slot textarea').value"
        )
        .await,
        "Hi @carol "
    );
    assert_eq!(
        js(
            &c,
            "return document.querySelector('.pp-mention-list').hidden"
        )
        .await,
        true
    );
    // Escape closes the list, not the sidebar.
    ta.send_keys("and @a").await.unwrap();
    until(&c, "!document.querySelector('.pp-mention-list').hidden").await;
    ta.send_keys(&char::from(Key::Escape).to_string())
        .await
        .unwrap();
    assert_eq!(
        js(
            &c,
            "return [document.querySelector('.pp-mention-list').hidden, document.getElementById('pp-sidebar').hidden]"
        )
        .await,
        serde_json::json!([true, false])
    );
    ta.send_keys("da, please check.").await.unwrap();
    click(&c, ".pp-composer-slot button[type=submit]").await;
    let mentions = until(
        &c,
        "(() => { const m = [...document.querySelectorAll('.pp-thread .pp-mention')].map(x => x.textContent); return m.length && m; })()",
    )
    .await;
    assert_eq!(mentions, serde_json::json!(["@carol", "@ada"]));
    let comment_id = js(
        &c,
        "return document.querySelector('.pp-thread .pp-comment').id",
    )
    .await;
    if let Some(a) = &audit {
        a.current(&c, "plan page with a mention").await;
    }

    // carol: the bell on her dashboard counts the mention.
    c.delete_all_cookies().await.unwrap();
    sign_in(&c, &base, "carol", "/dashboard").await;
    let count = until(
        &c,
        "(() => { const n = document.querySelector('.pp-bell-count'); return n && !n.hidden && n.textContent; })()",
    )
    .await;
    assert_eq!(count, "1");
    assert_eq!(
        js(
            &c,
            "return [...document.querySelector('.pp-bell-button').children].filter(n => !n.hidden && n.getAttribute('aria-hidden') !== 'true').map(n => n.textContent).join('').trim()"
        )
        .await,
        "Notifications 1 unread"
    );
    click(&c, ".pp-bell-button").await;
    let item = until(
        &c,
        "(() => { const p = document.querySelector('.pp-bell-panel'); const i = p && !p.hidden && p.querySelector('.pp-inbox-item.pp-unread'); return i && i.textContent; })()",
    )
    .await;
    assert!(
        item.as_str().unwrap().contains("bob mentioned you on Auth"),
        "{item}"
    );
    assert_eq!(
        js(
            &c,
            "return document.querySelector('.pp-bell-button').getAttribute('aria-expanded')"
        )
        .await,
        "true"
    );
    // The Inbox tab lists it too.
    click(&c, "#tab-inbox").await;
    until(&c, "document.querySelector('#inbox-list .pp-inbox-item')").await;
    if let Some(a) = &audit {
        a.current(&c, "dashboard with the bell open and the Inbox tab")
            .await;
    }
    // Escape closes the panel and gives focus back to the bell.
    click(&c, ".pp-bell-button").await;
    until(&c, "!document.querySelector('.pp-bell-panel').hidden").await;
    c.find(Locator::Css(".pp-bell-panel .pp-inbox-link"))
        .await
        .unwrap()
        .send_keys(&char::from(Key::Escape).to_string())
        .await
        .unwrap();
    assert_eq!(
        js(&c, "return [document.querySelector('.pp-bell-panel').hidden, document.activeElement.className]").await,
        serde_json::json!([true, "pp-bell-button"])
    );
    // Following it marks it read and opens the thread on the plan page.
    click(&c, ".pp-bell-button").await;
    until(&c, "!document.querySelector('.pp-bell-panel').hidden").await;
    click(&c, ".pp-bell-panel .pp-inbox-link").await;
    until(&c, "location.pathname === '/p/auth'").await;
    let hash = js(&c, "return location.hash").await;
    assert_eq!(hash, format!("#{}", comment_id.as_str().unwrap()));
    until(&c, "!document.getElementById('pp-sidebar').hidden && document.querySelector('.pp-thread .pp-mention')").await;
    let count = until(
        &c,
        "(() => { const n = document.querySelector('.pp-bell-count'); return n && n.hidden && [...document.querySelector('.pp-bell-button').children].filter(n => !n.hidden && n.getAttribute('aria-hidden') !== 'true').map(n => n.textContent).join('').trim(); })()",
    )
    .await;
    assert_eq!(count, "Notifications");
    // carol mutes the plan from its header.
    let follow = until(
        &c,
        "(() => { const f = document.querySelector('.pp-follow'); return f && !f.hidden && [...f.querySelectorAll('button')].map(b => b.textContent + ':' + b.getAttribute('aria-pressed')); })()",
    )
    .await;
    assert_eq!(follow, serde_json::json!(["Follow:false", "Mute:false"]));
    click(&c, ".pp-follow button:nth-of-type(2)").await;
    until(&c, "document.querySelector('.pp-follow button:nth-of-type(2)').getAttribute('aria-pressed') === 'true'").await;
    assert_eq!(
        js(
            &c,
            "return [...document.querySelectorAll('.pp-follow button')].map(b => b.textContent)"
        )
        .await,
        serde_json::json!(["Follow", "Muted"])
    );
    if let Some(a) = &audit {
        a.current(&c, "plan page opened from a notification, plan muted")
            .await;
    }
    c.close().await.unwrap();
}
