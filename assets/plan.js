// PlanPush plan page behaviour. Loaded from /assets (CSP: script-src 'self'); no inline script.
// Without JavaScript the page still reads: every pane shows, <details> collapse natively.
(function () {
  "use strict";
  var root = document.documentElement;
  // The document as served, before anything below decorates it: live updates compare against it.
  var served = document.querySelector(".pp-document[data-plan-id]");
  var pristine = served ? served.cloneNode(true) : null;
  // Elements of `scope` (itself included) matching `sel`.
  function within(scope, sel) {
    var out = scope.matches && scope.matches(sel) ? [scope] : [];
    return out.concat(Array.prototype.slice.call(scope.querySelectorAll(sel)));
  }
  // Behaviour added to the document; run again on every part a live update brings in.
  var decorators = [];
  function decorate(scope) { decorators.forEach(function (d) { d(scope); }); }

  // Theme: auto (follows the system) → light → dark, remembered per browser.
  var THEMES = ["auto", "light", "dark"];
  function applyTheme(t) {
    if (t === "light" || t === "dark") root.setAttribute("data-theme", t); else root.removeAttribute("data-theme");
    var b = document.querySelector(".pp-theme");
    if (b) b.textContent = "Theme: " + t;
  }
  var saved = null;
  try { saved = localStorage.getItem("pp-theme"); } catch (e) { /* storage may be off */ }
  applyTheme(saved || "auto");
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest(".pp-theme");
    if (!b) return;
    var cur = root.getAttribute("data-theme") || "auto";
    var next = THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length];
    applyTheme(next);
    try { localStorage.setItem("pp-theme", next); } catch (e) { /* ignore */ }
  });

  // Tabs: <div class="pp-tabs"><a class="pp-tab" href="#pane-a">A</a>…</div> with panes
  // <div class="pp-pane" id="pane-a">. Only the selected pane shows once JavaScript runs.
  decorators.push(function (scope) { within(scope, ".pp-tabs").forEach(function (tabs) {
    var links = Array.prototype.slice.call(tabs.querySelectorAll("a.pp-tab[href^='#']"));
    if (!links.length) return;
    tabs.setAttribute("role", "tablist");
    function select(link) {
      links.forEach(function (l) {
        var pane = document.getElementById(l.getAttribute("href").slice(1));
        var on = l === link;
        l.setAttribute("role", "tab");
        l.setAttribute("aria-selected", on ? "true" : "false");
        l.classList.toggle("pp-tab-active", on);
        if (pane) { pane.hidden = !on; pane.setAttribute("role", "tabpanel"); }
      });
    }
    links.forEach(function (l) {
      l.addEventListener("click", function (ev) { ev.preventDefault(); select(l); });
      l.addEventListener("keydown", function (ev) {
        var i = links.indexOf(l);
        if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
          var n = links[(i + (ev.key === "ArrowRight" ? 1 : links.length - 1)) % links.length];
          select(n); n.focus(); ev.preventDefault();
        }
      });
    });
    select(links[0]);
  }); });

  // Times: the page says "22 Nov 2026, 18:30 UTC" (the same bytes for every reader, so it can be
  // cached); here it becomes "4 min ago", with the exact time kept as a tooltip.
  function ago(then) {
    var s = Math.max(0, Math.round((Date.now() - then) / 1000));
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    var d = Math.floor(s / 86400);
    return d + (d === 1 ? " day ago" : " days ago");
  }
  function times(scope) {
    within(scope, "time[datetime]").forEach(function (t) {
      var then = Date.parse(t.getAttribute("datetime"));
      if (isNaN(then) || t.title) return;
      t.title = t.textContent;
      t.textContent = ago(then);
    });
  }
  decorators.push(times);

  // Anchor links: every section heading gets a "#" link to itself.
  decorators.push(function (scope) { within(scope, "section[data-anchor] > h2, h3[data-anchor]").forEach(function (h) {
    var host = h.hasAttribute("data-anchor") ? h : h.parentElement;
    var id = host.getAttribute("data-anchor");
    // `pp-` ids belong to the page (the sanitizer renames a document's; older versions may have one).
    if (!host.id && id.indexOf("pp-") !== 0) host.id = id;
    var a = document.createElement("a");
    a.className = "pp-anchor-link";
    a.href = "#" + id;
    a.setAttribute("aria-label", "Link to this section");
    a.textContent = "#";
    h.appendChild(a);
  }); });
  // ---- Comments -------------------------------------------------------------------------------
  // Threads come from /api/sessions/{id}/comments; bodies are shown as text (a small Markdown
  // subset: **bold**, *italic*, `code`), never as HTML.
  var doc = document.querySelector(".pp-document[data-plan-id]");
  var sidebar = document.getElementById("pp-sidebar");
  var hooks = doc && sidebar ? comments(doc, sidebar) : { reload: function () {} };
  decorate(document);
  if (doc) live(doc, hooks);
  var signoffBox = document.querySelector(".pp-signoff");
  if (doc && signoffBox && doc.getAttribute("data-latest") === "true") signoff(doc, signoffBox);

  // ---- Sign-off ---------------------------------------------------------------------------------
  // The header's sign-off (GET /api/sessions/{id}/reviews): who approved which version, who asked
  // for changes, who has yet to answer — each with the rule that kept or reset an approval. A
  // reviewer who was asked gets Approve / Request changes; whoever may publish can ask people.
  // Read again when a new version arrives (it may reset approvals).
  function signoff(doc, box) {
    var api = "/api/sessions/" + doc.getAttribute("data-plan-id") + "/reviews";
    function mk(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text != null) e.textContent = text;
      return e;
    }
    function post(path, payload) {
      return fetch(api + path, { method: "POST", credentials: "same-origin",
        headers: { "Accept": "application/json", "Content-Type": "application/json" }, body: JSON.stringify(payload) })
        .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.message || j.error || ("HTTP " + r.status)); return j; }); });
    }
    function render(s) {
      box.textContent = "";
      var head = mk("p", "pp-signoff-head");
      head.appendChild(mk("strong", null, "Sign-off: "));
      head.appendChild(document.createTextNode(s.headline));
      box.appendChild(head);
      if (s.reviewers.length) {
        var list = mk("ul", "pp-signoff-list");
        s.reviewers.forEach(function (r) {
          var li = mk("li", "pp-signoff-" + r.state);
          li.setAttribute("data-login", r.login);
          li.setAttribute("data-state", r.state);
          if (r.rule) li.setAttribute("data-rule", r.rule);
          li.appendChild(mk("span", "pp-signoff-mark", r.state === "approved" ? "✓" : (r.state === "changes_requested" ? "✗" : "…")));
          li.appendChild(mk("strong", null, "@" + r.login));
          li.appendChild(document.createTextNode(" — " + r.explanation + (r.comment ? ": “" + r.comment + "”" : "")));
          list.appendChild(li);
        });
        box.appendChild(list);
      }
      var error = mk("p", "pp-signoff-error");
      error.hidden = true;
      function act(path, payload) {
        error.hidden = true;
        post(path, payload).then(render).catch(function (e) { error.textContent = e.message; error.hidden = false; });
      }
      var you = s.you || {};
      if (you.reviewer) {
        var row = mk("div", "pp-signoff-actions");
        var approve = mk("button", "pp-signoff-approve", "Approve v" + s.version);
        approve.type = "button";
        approve.addEventListener("click", function () { act("/verdict", { verdict: "approved", version: s.version }); });
        var changes = mk("button", "pp-signoff-changes", "Request changes");
        changes.type = "button";
        var form = mk("form", "pp-signoff-form");
        form.hidden = true;
        var text = mk("textarea");
        text.name = "comment";
        text.setAttribute("aria-label", "Which changes");
        text.required = true;
        var send = mk("button", null, "Send");
        send.type = "submit";
        form.appendChild(text);
        form.appendChild(send);
        changes.addEventListener("click", function () { form.hidden = false; text.focus(); });
        form.addEventListener("submit", function (ev) {
          ev.preventDefault();
          act("/verdict", { verdict: "changes_requested", version: s.version, comment: text.value });
        });
        row.appendChild(approve);
        row.appendChild(changes);
        box.appendChild(row);
        box.appendChild(form);
      }
      if (you.may_request) {
        var ask = mk("form", "pp-signoff-ask");
        var who = mk("input");
        who.name = "reviewers";
        who.placeholder = "logins, comma-separated";
        who.setAttribute("aria-label", "Reviewers");
        var go = mk("button", null, "Request review");
        go.type = "submit";
        ask.appendChild(who);
        ask.appendChild(go);
        ask.addEventListener("submit", function (ev) {
          ev.preventDefault();
          act("", { reviewers: who.value.split(",").map(function (x) { return x.trim(); }).filter(Boolean) });
        });
        box.appendChild(ask);
      }
      box.appendChild(error);
      box.hidden = false;
    }
    function load() {
      fetch(api, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) { if (s) render(s); })
        .catch(function () { /* the page works without it */ });
    }
    document.addEventListener("pp:version", load);
    load();
  }

  function comments(doc, sidebar) {
    var planId = doc.getAttribute("data-plan-id");
    var slug = doc.getAttribute("data-slug");
    var latest = doc.getAttribute("data-latest") === "true";
    var api = "/api/sessions/" + planId + "/comments";
    var toggle = document.querySelector(".pp-comments-toggle");
    var list = sidebar.querySelector(".pp-threads");
    var scopeLine = sidebar.querySelector(".pp-scope");
    var slot = sidebar.querySelector(".pp-composer-slot");
    var state = { filter: "open", anchor: null, threads: [], me: null };

    function el(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text != null) e.textContent = text;
      return e;
    }
    function button(label, cls, onClick) {
      var b = el("button", cls, label);
      b.type = "button";
      b.addEventListener("click", onClick);
      return b;
    }
    // Text with `@login` mentions: those in `mentions` (people who may see the plan, as the
    // server decided) become a mention; every other `@word` stays plain text. The same rule as
    // the server's parser (planpush_inbox::mentions): `@` not after a login character, then login
    // characters, trailing `.`, `-`, `_` left out.
    function mentioned(parent, text, mentions) {
      if (!mentions || !mentions.length) { parent.appendChild(document.createTextNode(text)); return; }
      var re = /(^|[^\p{L}\p{N}_.@-])@([\p{L}\p{N}_.-]+)/gu, last = 0, m;
      while ((m = re.exec(text))) {
        var login = m[2].replace(/[._-]+$/, "");
        var at = m.index + m[1].length;
        if (!login || mentions.indexOf(login.toLowerCase()) < 0) continue;
        if (at > last) parent.appendChild(document.createTextNode(text.slice(last, at)));
        var span = el("span", "pp-mention", "@" + login);
        span.title = login;
        parent.appendChild(span);
        last = at + 1 + login.length;
        re.lastIndex = last;
      }
      if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    }
    // Escaped text with **bold**, *italic*, `code` and mentions: built from text nodes only.
    function body(text, mentions) {
      var out = el("div", "pp-comment-body");
      text.split(/\n{2,}/).forEach(function (para) {
        var p = el("p");
        var re = /(\*\*[^*]+\*\*|`[^`]+`|\*[^*]+\*)/g, last = 0, m;
        while ((m = re.exec(para))) {
          if (m.index > last) mentioned(p, para.slice(last, m.index), mentions);
          var t = m[0];
          if (t.charAt(0) === "`") p.appendChild(el("code", null, t.slice(1, -1)));
          else if (t.slice(0, 2) === "**") mentioned(p.appendChild(el("strong")), t.slice(2, -2), mentions);
          else mentioned(p.appendChild(el("em")), t.slice(1, -1), mentions);
          last = re.lastIndex;
        }
        if (last < para.length) mentioned(p, para.slice(last), mentions);
        out.appendChild(p);
      });
      return out;
    }
    function call(method, url, payload) {
      var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
      if (payload) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(payload); }
      return fetch(url, opts).then(function (r) {
        if (r.status === 401) { location.href = "/auth/login?redirect_to=" + encodeURIComponent(location.pathname + location.search); throw new Error("signed out"); }
        if (r.status === 204) return null;
        return r.json().then(function (j) { if (!r.ok) throw new Error(j.message || j.error || ("HTTP " + r.status)); return j; });
      });
    }
    function where(t) { return t.anchor_state === "moved" ? t.moved_to : (t.anchor_state === "orphaned" ? null : t.anchor); }
    function target(anchor) {
      return anchor ? doc.querySelector('[data-anchor="' + anchor.replace(/["\\]/g, "") + '"]') : null;
    }

    function open(anchor) {
      state.anchor = anchor || null;
      sidebar.hidden = false;
      document.body.classList.add("pp-with-sidebar");
      if (toggle) toggle.setAttribute("aria-expanded", "true");
      render();
    }
    function close() {
      sidebar.hidden = true;
      document.body.classList.remove("pp-with-sidebar");
      if (toggle) { toggle.setAttribute("aria-expanded", "false"); toggle.focus(); }
      slot.textContent = "";
    }
    if (toggle) toggle.addEventListener("click", function () { if (sidebar.hidden) open(null); else close(); });
    sidebar.querySelector(".pp-sidebar-close").addEventListener("click", close);
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && !sidebar.hidden) close(); });
    sidebar.querySelectorAll("[data-filter]").forEach(function (b) {
      b.addEventListener("click", function () {
        state.filter = b.getAttribute("data-filter");
        sidebar.querySelectorAll("[data-filter]").forEach(function (x) { x.setAttribute("aria-pressed", x === b ? "true" : "false"); });
        render();
      });
    });

    // Badges with the open-thread count on each commented element.
    function badges() {
      doc.querySelectorAll(".pp-comment-badge").forEach(function (b) { b.remove(); });
      doc.querySelectorAll(".pp-has-comments").forEach(function (e) { e.classList.remove("pp-has-comments"); });
      var counts = {};
      state.threads.forEach(function (t) {
        var a = where(t);
        if (a && t.state === "open" && !t.deleted) counts[a] = (counts[a] || 0) + 1;
      });
      Object.keys(counts).forEach(function (a) {
        var host = target(a);
        if (!host) return;
        host.classList.add("pp-has-comments");
        var b = button(String(counts[a]), "pp-comment-badge", function (ev) { ev.stopPropagation(); open(a); });
        b.setAttribute("aria-label", counts[a] + " open comment" + (counts[a] === 1 ? "" : "s") + " on this part");
        b.setAttribute("data-for", a);
        var h = host.querySelector(":scope > h2, :scope > h3");
        (h || host).appendChild(b);
      });
      var total = state.threads.filter(function (t) { return t.state === "open" && !t.deleted; }).length;
      document.querySelectorAll(".pp-count").forEach(function (c) { c.textContent = String(total); });
      document.querySelectorAll(".pp-open-comments").forEach(function (c) { c.textContent = total + (total === 1 ? " open comment" : " open comments"); });
    }

    function ago(iso) { var d = Date.parse(iso); if (isNaN(d)) return ""; var s = Math.max(0, Math.round((Date.now() - d) / 1000));
      if (s < 60) return "just now"; if (s < 3600) return Math.floor(s / 60) + " min ago"; if (s < 86400) return Math.floor(s / 3600) + " h ago"; return Math.floor(s / 86400) + " d ago"; }

    function composer(opts) {
      // opts: {anchor, quote, parent, initial, onDone, label}
      var form = el("form", "pp-composer");
      if (opts.quote) form.appendChild(el("blockquote", "pp-quote", opts.quote.exact));
      var id = "pp-c-" + Math.random().toString(36).slice(2);
      var label = el("label", "pp-visually-hidden", opts.label || "Comment");
      label.setAttribute("for", id);
      var ta = el("textarea");
      ta.id = id; ta.rows = 3; ta.maxLength = 4000; ta.required = true; ta.value = opts.initial || "";
      ta.placeholder = opts.parent ? "Reply…" : "Add a comment…";
      var err = el("p", "pp-error"); err.setAttribute("role", "alert");
      var row = el("div", "pp-row");
      var submit = el("button", "pp-primary", opts.initial ? "Save" : (opts.parent ? "Reply" : "Comment"));
      submit.type = "submit";
      row.appendChild(submit);
      row.appendChild(button("Cancel", null, function () { form.remove(); if (opts.onCancel) opts.onCancel(); }));
      form.appendChild(label); form.appendChild(ta); form.appendChild(err); form.appendChild(row);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        submit.disabled = true;
        opts.send(ta.value).then(function () { form.remove(); return load(); })
          .catch(function (e) { err.textContent = e.message; submit.disabled = false; });
      });
      setTimeout(function () { ta.focus(); }, 0);
      return form;
    }

    function startThread(anchor, quote) {
      if (!latest) return;
      open(anchor);
      slot.textContent = "";
      var title = el("p", "pp-composer-title", "New comment on #" + anchor);
      slot.appendChild(title);
      slot.appendChild(composer({
        quote: quote,
        onCancel: function () { slot.textContent = ""; },
        send: function (text) { return call("POST", api, { body: text, anchor: anchor, quote: quote || undefined }).then(function () { slot.textContent = ""; }); }
      }));
    }

    function stateLine(t) {
      switch (t.anchor_state) {
        case "changed": return "The section changed since v" + t.version;
        case "moved": return "Moved to #" + t.moved_to + (t.moved_by === "same_content" ? " (same content)" : t.moved_by === "similar_content" ? " (similar content)" : "");
        case "orphaned": return "Its place is gone (written on v" + t.version + ")";
        default: return null;
      }
    }

    function comment(c, isReply) {
      var item = el("article", "pp-comment" + (c.deleted ? " pp-deleted" : ""));
      item.id = "comment-" + c.id;
      var head = el("header", "pp-comment-head");
      head.appendChild(el("strong", null, c.author.name || c.author.login));
      var when = el("time", null, ago(c.created_at)); when.setAttribute("datetime", c.created_at); when.title = c.created_at;
      head.appendChild(document.createTextNode(" · ")); head.appendChild(when);
      if (c.edited_at && !c.deleted) head.appendChild(el("span", "pp-muted", " · edited"));
      item.appendChild(head);
      if (!isReply && c.quote) item.appendChild(el("blockquote", "pp-quote", c.quote.exact));
      item.appendChild(c.deleted ? el("p", "pp-muted", "This comment was deleted.") : body(c.body, c.mentions));
      var actions = el("div", "pp-row pp-comment-actions");
      var mine = state.me && c.author.id === state.me;
      if (mine && !c.deleted) {
        actions.appendChild(button("Edit", "pp-link", function () {
          item.appendChild(composer({ initial: c.body, label: "Edit comment", send: function (text) { return call("PATCH", "/api/comments/" + c.id, { body: text }); } }));
        }));
        actions.appendChild(button("Delete", "pp-link", function () {
          if (confirm("Delete this comment?")) call("DELETE", "/api/comments/" + c.id).then(load).catch(function (e) { alert(e.message); });
        }));
      }
      if (actions.childNodes.length) item.appendChild(actions);
      return item;
    }

    function thread(t) {
      var box = el("div", "pp-thread pp-" + t.anchor_state + (t.state === "resolved" ? " pp-resolved" : ""));
      box.setAttribute("data-thread", t.id);
      box.id = "thread-" + t.id;
      var a = where(t);
      var line = el("p", "pp-thread-where");
      if (a) {
        var link = el("a", null, "#" + a); link.href = "#" + a;
        link.addEventListener("click", function () { var h = target(a); if (h) { h.scrollIntoView({ block: "center" }); h.classList.add("pp-flash"); setTimeout(function () { h.classList.remove("pp-flash"); }, 1500); } });
        line.appendChild(link);
      } else {
        var old = el("a", null, "v" + t.version); old.href = "/p/" + slug + "?v=" + t.version + "#" + t.anchor;
        line.appendChild(document.createTextNode("#" + t.anchor + " on ")); line.appendChild(old);
      }
      var sl = stateLine(t);
      if (sl) line.appendChild(el("span", "pp-state", sl));
      if (t.state === "resolved") line.appendChild(el("span", "pp-state pp-resolved-label", "Resolved" + (t.resolved_by ? " by " + t.resolved_by.login : "")));
      if (t.addressed_in) {
        // The version its author's assistant said addresses it, linked to what that version changed there.
        var v = t.addressed_in;
        var addressed = el("a", "pp-state pp-addressed", "Addressed in v" + v);
        addressed.href = "/p/" + encodeURIComponent(slug) + "?v=" + v + (v > 1 ? "&diff=" + (v - 1) : "") + "#pp-diff-" + (a || t.anchor);
        addressed.title = "See what version " + v + " changed here";
        line.appendChild(addressed);
        if (t.awaiting_confirmation && t.waiting_for) {
          var mineToConfirm = state.me && t.waiting_for.id === state.me;
          line.appendChild(el("span", "pp-state pp-waiting", mineToConfirm ? "waiting for you to confirm or reopen" : "waiting for @" + t.waiting_for.login));
        }
      }
      box.appendChild(line);
      box.appendChild(comment(t, false));
      if (t.anchor_state === "changed" && t.quote) {
        var now = target(t.anchor);
        if (now) {
          var cmp = el("details", "pp-compare");
          cmp.appendChild(el("summary", null, "Compare with the current text"));
          cmp.appendChild(el("p", "pp-muted", "Then: “" + t.quote.exact + "”"));
          cmp.appendChild(el("p", "pp-muted", "Now: “" + now.textContent.replace(/\s+/g, " ").trim().slice(0, 300) + "”"));
          box.appendChild(cmp);
        }
      }
      var replies = el("div", "pp-replies");
      t.replies.forEach(function (r) { replies.appendChild(comment(r, true)); });
      box.appendChild(replies);
      var actions = el("div", "pp-row");
      if (!t.deleted) {
        actions.appendChild(button("Reply", "pp-link", function () {
          box.appendChild(composer({ parent: t.id, label: "Reply", send: function (text) { return call("POST", api, { body: text, parent_id: t.id }); } }));
        }));
        var patch = function (resolved) {
          return function () { call("PATCH", "/api/comments/" + t.id, { resolved: resolved }).then(load).catch(function (e) { alert(e.message); }); };
        };
        if (t.awaiting_confirmation) {
          // Addressed by a version: the commenter confirms (resolves) or says it was not (reopens).
          actions.appendChild(button("Confirm", "pp-link pp-confirm", patch(true)));
          actions.appendChild(button("Not addressed", "pp-link pp-reopen", patch(false)));
        } else {
          actions.appendChild(button(t.state === "open" ? "Resolve" : "Reopen", "pp-link", patch(t.state === "open")));
        }
      }
      box.appendChild(actions);
      return box;
    }

    function render() {
      var shown = state.threads.filter(function (t) {
        if (state.filter !== "all" && t.state !== state.filter) return false;
        return !state.anchor || where(t) === state.anchor || t.anchor === state.anchor;
      });
      scopeLine.hidden = !state.anchor;
      scopeLine.textContent = "";
      if (state.anchor) {
        scopeLine.appendChild(document.createTextNode("On #" + state.anchor + " · "));
        scopeLine.appendChild(button("Show all", "pp-link", function () { state.anchor = null; render(); }));
        if (latest) { scopeLine.appendChild(document.createTextNode(" · ")); scopeLine.appendChild(button("New comment here", "pp-link", (function (a) { return function () { startThread(a, null); }; })(state.anchor))); }
      }
      list.textContent = "";
      var placed = shown.filter(function (t) { return where(t); });
      var orphans = shown.filter(function (t) { return !where(t); });
      if (!shown.length) list.appendChild(el("p", "pp-empty", state.filter === "open" ? "No open comments." : "No comments here."));
      placed.forEach(function (t) { list.appendChild(thread(t)); });
      if (orphans.length) {
        list.appendChild(el("h3", "pp-unanchored", "Unanchored"));
        orphans.forEach(function (t) { list.appendChild(thread(t)); });
      }
    }

    // `?comment=<id>` (a search result) or `#comment-<id>` (a notification): open the sidebar on
    // that comment's thread, once.
    var wanted = (window.URLSearchParams ? new URLSearchParams(location.search).get("comment") : null) ||
      ((/^#comment-([0-9a-fA-F-]+)$/.exec(location.hash) || [])[1] || null);
    function reveal() {
      var id = wanted; wanted = null;
      var t = state.threads.filter(function (x) { return x.id === id || x.replies.some(function (r) { return r.id === id; }); })[0];
      if (!t) return;
      var all = sidebar.querySelector('[data-filter="all"]');
      if (all) all.click();
      open(null);
      var box = list.querySelector('[data-thread="' + t.id.replace(/["\\]/g, "") + '"]');
      if (box) { box.scrollIntoView({ block: "center" }); box.classList.add("pp-flash"); setTimeout(function () { box.classList.remove("pp-flash"); }, 1500); }
    }
    function load() {
      return call("GET", api + "?state=all").then(function (j) {
        state.threads = j.comments;
        badges();
        if (!sidebar.hidden) render();
        if (wanted) reveal();
      }).catch(function (e) { list.textContent = ""; list.appendChild(el("p", "pp-error", "Comments could not be loaded: " + e.message)); });
    }
    call("GET", "/api/auth/me").then(function (me) { state.me = me.id; document.dispatchEvent(new CustomEvent("pp:me")); }).catch(function () {}).then(load).then(showLinkedThread);
    // `#thread-<id>` (links from the dashboard's activity and audit log, and e-mails, where the id
    // may be a reply's): open that thread.
    function showLinkedThread() {
      var m = /^#thread-([0-9a-fA-F-]+)$/.exec(location.hash);
      var t = m && state.threads.filter(function (x) { return x.id === m[1] || x.replies.some(function (r) { return r.id === m[1]; }); })[0];
      if (!t) return;
      state.filter = t.state;
      sidebar.querySelectorAll("[data-filter]").forEach(function (x) { x.setAttribute("aria-pressed", x.getAttribute("data-filter") === t.state ? "true" : "false"); });
      open(where(t));
      var box = document.getElementById("thread-" + t.id);
      if (box) { box.scrollIntoView({ block: "nearest" }); box.classList.add("pp-flash"); setTimeout(function () { box.classList.remove("pp-flash"); }, 1500); }
    }
    // Live activity: re-read the threads, but never throw away what someone is typing in one.
    var hooks = { me: function () { return state.me; }, reload: function () {
      var typing = Array.prototype.some.call(list.querySelectorAll("textarea"), function (t) { return t.value.trim() !== ""; });
      if (!typing) return load();
      return call("GET", api + "?state=all").then(function (j) { state.threads = j.comments; badges(); });
    } };

    if (!latest) return hooks;
    // "+" on every anchored element (hover or focus) and "Comment" on selected text.
    doc.addEventListener("click", function (ev) {
      var add = ev.target.closest && ev.target.closest(".pp-comment-add");
      if (add) startThread(add.getAttribute("data-for"), null);
    });
    decorators.push(function (scope) {
      within(scope, "section[data-anchor] > h2, section[data-anchor] > h3").forEach(function (h) {
        var a = h.parentElement.getAttribute("data-anchor");
        var b = el("button", "pp-comment-add", "+");
        b.type = "button"; b.setAttribute("data-for", a); b.setAttribute("aria-label", "Comment on this section");
        h.appendChild(b);
      });
    });
    var pop = el("button", "pp-select-comment", "Comment");
    pop.type = "button"; pop.hidden = true;
    document.body.appendChild(pop);
    var pending = null;
    function selectionQuote() {
      var sel = window.getSelection();
      if (!sel || sel.isCollapsed || !sel.rangeCount) return null;
      var range = sel.getRangeAt(0);
      var node = range.commonAncestorContainer;
      var host = (node.nodeType === 1 ? node : node.parentElement).closest("[data-anchor]");
      if (!host || !doc.contains(host)) return null;
      var exact = sel.toString().replace(/\s+/g, " ").trim();
      if (!exact) return null;
      var pre = document.createRange(); pre.selectNodeContents(host); pre.setEnd(range.startContainer, range.startOffset);
      var post = document.createRange(); post.selectNodeContents(host); post.setStart(range.endContainer, range.endOffset);
      var prefix = pre.toString().replace(/\s+/g, " ").slice(-32);
      var suffix = post.toString().replace(/\s+/g, " ").slice(0, 32);
      return { anchor: host.getAttribute("data-anchor"), quote: { exact: exact.slice(0, 1000), prefix: prefix, suffix: suffix }, rect: range.getBoundingClientRect() };
    }
    document.addEventListener("selectionchange", function () {
      pending = selectionQuote();
      if (!pending) { pop.hidden = true; return; }
      pop.hidden = false;
      pop.style.top = (window.scrollY + pending.rect.bottom + 6) + "px";
      pop.style.left = (window.scrollX + Math.max(8, pending.rect.left)) + "px";
    });
    pop.addEventListener("mousedown", function (ev) { ev.preventDefault(); });
    pop.addEventListener("click", function () {
      if (!pending) return;
      var p = pending; pop.hidden = true;
      startThread(p.anchor, p.quote);
    });
    return hooks;
  }

  // ---- Live updates ----------------------------------------------------------------------------
  // /p/{slug}/events (Server-Sent Events): a new version replaces only the parts that changed, in
  // place, keeping the reader's scroll position and the comment sidebar; comment activity re-reads
  // the threads. The browser reconnects by itself with Last-Event-ID, so nothing is missed.
  function live(doc, hooks) {
    if (!window.EventSource || doc.getAttribute("data-latest") !== "true" || !pristine) return;
    var slug = doc.getAttribute("data-slug");
    var shown = parseInt(doc.getAttribute("data-version"), 10);
    var queue = Promise.resolve();
    var source = new EventSource("/p/" + encodeURIComponent(slug) + "/events");
    // Leaving the page ends the stream at once (so the reader leaves the plan's presence), also
    // when the browser keeps the page in its back/forward cache.
    window.addEventListener("pagehide", function () { source.close(); });
    // Back to a page from that cache: its stream is closed, so load the plan afresh.
    window.addEventListener("pageshow", function (ev) { if (ev.persisted) location.reload(); });
    function data(ev) { try { return JSON.parse(ev.data); } catch (e) { return {}; } }
    function later(fn) { queue = queue.then(fn).catch(function (e) { notice("Live update failed: " + e.message + ". Reload the page to see the latest version.", true); }); }
    function catchUp(ev) { var d = data(ev); if (d.version > shown) later(function () { return update(d.version, null); }); }
    source.addEventListener("ready", catchUp);
    source.addEventListener("resync", function (ev) { catchUp(ev); later(hooks.reload); });
    source.addEventListener("version", function (ev) {
      var d = data(ev);
      later(function () { return d.version > shown ? update(d.version, d) : null; });
    });
    source.addEventListener("comment", function () { later(hooks.reload); });
    source.addEventListener("plan", function (ev) {
      var d = data(ev), by = d.by ? d.by.login : "someone";
      if (d.activity === "deleted") { source.close(); notice("This plan was deleted by " + by + ".", true); return; }
      notice(by + " " + d.activity + " this plan.", false);
    });
    source.addEventListener("signed_out", function () { source.close(); showPresence(null); notice("You have been signed out. Sign in again to keep following this plan.", true); });
    var lastReaders = null;
    source.addEventListener("presence", function (ev) { lastReaders = data(ev).readers || []; showPresence(lastReaders); });
    document.addEventListener("pp:me", function () { if (lastReaders) showPresence(lastReaders); });

    // Who reads the plan now, in the header: the others by name, then "you".
    function showPresence(readers) {
      var bar = document.getElementById("pp-presence");
      if (!bar) return;
      bar.textContent = "";
      var me = hooks.me ? hooks.me() : null;
      var others = (readers || []).filter(function (r) { return r.id !== me; });
      if (!readers || !others.length) { bar.hidden = true; return; }
      var withMe = others.length < readers.length;
      bar.appendChild(document.createTextNode("Reading now: "));
      others.forEach(function (r, i) {
        if (i) bar.appendChild(document.createTextNode(", "));
        var who = document.createElement("span");
        who.className = "pp-reader";
        who.setAttribute("data-login", r.login);
        who.textContent = r.name || r.login;
        who.title = "@" + r.login;
        bar.appendChild(who);
      });
      if (withMe) bar.appendChild(document.createTextNode(" and you"));
      bar.hidden = false;
    }

    // `lines`: what changed in the plan's terms, one per line under the text (optional).
    function notice(text, sticky, lines) {
      var bar = document.querySelector(".pp-live");
      if (!bar) {
        bar = document.createElement("p");
        bar.className = "pp-banner pp-live";
        bar.setAttribute("role", "status");
        var header = document.querySelector(".pp-header");
        header.parentNode.insertBefore(bar, header.nextSibling);
      }
      bar.textContent = text;
      (lines || []).forEach(function (l) {
        var line = document.createElement("span");
        line.className = "pp-live-typed";
        line.textContent = l;
        bar.appendChild(line);
      });
      bar.hidden = false;
      clearTimeout(bar._timer);
      // Longer when there is a list to read.
      if (!sticky) bar._timer = setTimeout(function () { bar.hidden = true; }, lines && lines.length ? 20000 : 8000);
    }

    function anchors(scope) {
      var map = {};
      scope.querySelectorAll("[data-anchor]").forEach(function (e) { map[e.getAttribute("data-anchor")] = e; });
      return map;
    }
    // The nearest anchored ancestor of `e` below `top`, if any.
    function parentAnchor(e, top) {
      for (var p = e.parentElement; p && p !== top; p = p.parentElement) if (p.hasAttribute("data-anchor")) return p.getAttribute("data-anchor");
      return null;
    }
    // Top-level content that no anchor covers; if it changed, the whole document is replaced.
    function loose(scope) {
      return Array.prototype.filter.call(scope.children, function (c) { return !c.hasAttribute("data-anchor"); })
        .map(function (c) { return c.outerHTML; }).join("\n");
    }
    function find(a) { return doc.querySelector('[data-anchor="' + a.replace(/["\\]/g, "") + '"]'); }
    function flash(e) { e.classList.add("pp-updated"); setTimeout(function () { e.classList.remove("pp-updated"); }, 4000); }

    function update(version, info) {
      return fetch("/p/" + encodeURIComponent(slug) + "?v=" + version, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      }).then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var next = page.querySelector(".pp-document");
        if (!next) throw new Error("the new version has no content");
        // Keep what the reader looks at where it is.
        var pin = null, pinTop = 0;
        Array.prototype.some.call(doc.children, function (c) { var r = c.getBoundingClientRect(); if (r.bottom > 0) { pin = c; pinTop = r.top; return true; } return false; });
        var before = anchors(pristine), after = anchors(next);
        var changed = Object.keys(after).filter(function (a) { return before[a] && before[a].outerHTML !== after[a].outerHTML; });
        var added = Object.keys(after).filter(function (a) { return !before[a]; });
        var removed = Object.keys(before).filter(function (a) { return !after[a]; });
        var touched = {};
        changed.concat(added).forEach(function (a) { touched[a] = true; });
        // Only the outermost touched parts are swapped: a changed section brings its children along.
        var outer = function (map, a) { for (var p = parentAnchor(map[a], null); p; p = parentAnchor(map[p], null)) if (touched[p]) return false; return true; };
        var updated = [];
        if (loose(pristine) !== loose(next)) {
          doc.textContent = "";
          Array.prototype.forEach.call(next.children, function (c) { doc.appendChild(document.importNode(c, true)); });
          decorate(doc);
          updated.push(doc);
        } else {
          changed.filter(function (a) { return outer(after, a); }).forEach(function (a) {
            var old = find(a);
            if (!old) return;
            var fresh = document.importNode(after[a], true);
            old.replaceWith(fresh);
            decorate(fresh);
            updated.push(fresh);
          });
          removed.forEach(function (a) {
            var gone = find(a);
            var p = parentAnchor(before[a], pristine);
            if (gone && !(p && (touched[p] || !after[p]))) gone.remove();
          });
          added.filter(function (a) { return outer(after, a); }).forEach(function (a) {
            var e = after[a], fresh = document.importNode(e, true), placed = false;
            for (var s = e.previousElementSibling; s && !placed; s = s.previousElementSibling) {
              var there = s.hasAttribute("data-anchor") && find(s.getAttribute("data-anchor"));
              if (there) { there.after(fresh); placed = true; }
            }
            for (var n = e.nextElementSibling; n && !placed; n = n.nextElementSibling) {
              var here = n.hasAttribute("data-anchor") && find(n.getAttribute("data-anchor"));
              if (here) { here.before(fresh); placed = true; }
            }
            if (!placed) doc.appendChild(fresh);
            decorate(fresh);
            updated.push(fresh);
          });
        }
        // The header and the history follow the new version.
        [".pp-header h1", ".pp-meta", ".pp-history"].forEach(function (sel) {
          var now = document.querySelector(sel), then = page.querySelector(sel);
          if (now && then) { var fresh = document.importNode(then, true); now.replaceWith(fresh); decorate(fresh); }
        });
        if (pin && pin.isConnected) window.scrollBy(0, pin.getBoundingClientRect().top - pinTop);
        pristine = next;
        shown = version;
        doc.setAttribute("data-version", String(version));
        updated.forEach(flash);
        var who = info && info.pushed_by ? info.pushed_by.login : "Someone";
        var parts = [];
        if (changed.length) parts.push(changed.length + " changed");
        if (added.length) parts.push(added.length + " added");
        if (removed.length) parts.push(removed.length + " removed");
        // The server's "what changed" line (the diff page's and Slack's wording) when the event has it.
        var what = info && info.summary ? " · " + info.summary : (parts.length ? " · sections " + parts.join(", ") + "." : ".");
        // And what changed in the plan's terms (decisions, risks, endpoints…), one line each.
        var typed = info && Array.isArray(info.typed) ? info.typed : [];
        notice(who + " pushed version " + version + what, false, typed);
        document.dispatchEvent(new CustomEvent("pp:version", { detail: { version: version } }));
        return hooks.reload();
      });
    }
  }
})();
