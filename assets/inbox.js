// PlanPush inbox: the bell on every signed-in page (plan pages and the dashboard), the dashboard's
// Inbox tab, Follow / Mute on a plan page, and @mention autocomplete in comment boxes. Loaded from
// /assets (CSP: script-src 'self'); no inline script or style. Everything goes through the JSON API
// (/api/notifications, /api/sessions/{id}/subscription, /api/sessions/{id}/members). Pages are cached
// for every reader, so whatever is the reader's own is filled in here.
(function () {
  "use strict";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function call(method, url, payload) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (payload) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(payload); }
    return fetch(url, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { var e = new Error(j.message || j.error || ("HTTP " + r.status)); e.status = r.status; throw e; }
        return j;
      });
    });
  }
  function ago(iso) {
    var d = Date.parse(iso); if (isNaN(d)) return "";
    var s = Math.max(0, Math.round((Date.now() - d) / 1000));
    if (s < 60) return "just now"; if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago"; return Math.floor(s / 86400) + " d ago";
  }
  var uid = 0;
  function id(prefix) { uid += 1; return prefix + "-" + uid; }

  // ---- one notification, as the bell and the Inbox tab list it -------------------------------
  var VERB = { mention: "mentioned you", reply: "replied", comment: "commented", version: "pushed a new version" };
  function what(n) {
    var who = n.actor || "Someone";
    var verb = VERB[n.kind] || n.kind;
    if (n.kind === "version" && n.version) verb = "pushed v" + n.version;
    return who + " " + verb + " on " + n.title;
  }
  function markRead(ids) { return call("POST", "/api/notifications/read", { ids: ids }); }
  function entry(n, changed) {
    var li = el("li", "pp-inbox-item" + (n.read ? "" : " pp-unread"));
    li.setAttribute("data-id", n.id);
    li.setAttribute("data-kind", n.kind);
    var a = el("a", "pp-inbox-link");
    a.href = n.link;
    a.appendChild(el("span", "pp-inbox-what", what(n)));
    if (n.excerpt) a.appendChild(el("span", "pp-inbox-excerpt", n.excerpt));
    var when = el("time", "pp-inbox-when", ago(n.created_at));
    when.setAttribute("datetime", n.created_at);
    a.appendChild(when);
    if (!n.read) a.appendChild(el("span", "pp-visually-hidden", " (unread)"));
    // Following the link marks it read first (then the page it leads to opens).
    a.addEventListener("click", function (ev) {
      if (n.read || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      var go = function () { location.href = n.link; if (n.link.indexOf("#") >= 0 && location.pathname === n.link.split("#")[0]) location.reload(); };
      markRead([n.id]).then(go, go);
    });
    li.appendChild(a);
    if (!n.read) {
      var b = el("button", "pp-link pp-inbox-read", "Mark read");
      b.type = "button";
      b.setAttribute("aria-label", "Mark read: " + what(n));
      b.addEventListener("click", function () {
        markRead([n.id]).then(function (j) { n.read = true; li.classList.remove("pp-unread"); b.remove(); changed(j.unread); }).catch(function () {});
      });
      li.appendChild(b);
    }
    return li;
  }

  // Every bell on the page, and the Inbox tab, share one unread count.
  var counters = [];
  function setUnread(n) { counters.forEach(function (f) { f(n); }); }

  // ---- the bell: a disclosure button and its panel --------------------------------------------
  // A bell drawn in SVG (an emoji would depend on the reader's fonts; some have none).
  function bellIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "pp-bell-icon");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "16");
    svg.setAttribute("height", "16");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M6 16V11a6 6 0 0 1 12 0v5l2 2H4l2-2zM10 20a2 2 0 0 0 4 0");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linejoin", "round");
    svg.appendChild(path);
    return svg;
  }

  function bell(slot) {
    var panelId = id("pp-bell-panel");
    var button = el("button", "pp-bell-button");
    button.type = "button";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", panelId);
    var icon = bellIcon();
    // The accessible name is the button's own text: "Notifications", then "3 unread" when any.
    var count = el("span", "pp-bell-count");
    count.hidden = true;
    var unreadWord = el("span", "pp-visually-hidden", " unread");
    unreadWord.hidden = true;
    button.appendChild(icon);
    button.appendChild(el("span", "pp-visually-hidden", "Notifications "));
    button.appendChild(count);
    button.appendChild(unreadWord);
    var panel = el("div", "pp-bell-panel");
    panel.id = panelId;
    panel.hidden = true;
    panel.setAttribute("role", "region");
    panel.setAttribute("aria-label", "Notifications");
    var head = el("div", "pp-bell-head");
    head.appendChild(el("strong", null, "Notifications"));
    var all = el("button", "pp-link", "Mark all read");
    all.type = "button";
    head.appendChild(all);
    panel.appendChild(head);
    var list = el("ul", "pp-inbox-list");
    panel.appendChild(list);
    var more = el("a", "pp-bell-all", "Open the inbox");
    more.href = "/dashboard?tab=inbox#pane-inbox";
    panel.appendChild(more);
    slot.appendChild(button);
    slot.appendChild(panel);
    slot.hidden = true;

    function show(n) {
      count.textContent = n > 99 ? "99+" : String(n);
      count.hidden = unreadWord.hidden = !n;
      slot.classList.toggle("pp-has-unread", n > 0);
    }
    counters.push(show);
    function refresh() {
      return call("GET", "/api/notifications?limit=15").then(function (j) {
        slot.hidden = false;
        setUnread(j.unread);
        list.textContent = "";
        if (!j.notifications.length) list.appendChild(el("li", "pp-empty", "No notifications yet."));
        j.notifications.forEach(function (n) { list.appendChild(entry(n, setUnread)); });
      }).catch(function (e) { if (e.status === 401) slot.hidden = true; });
    }
    function open() {
      refresh().then(function () { panel.hidden = false; button.setAttribute("aria-expanded", "true"); });
    }
    function close(focus) {
      if (panel.hidden) return;
      panel.hidden = true;
      button.setAttribute("aria-expanded", "false");
      if (focus) button.focus();
    }
    button.addEventListener("click", function () { if (panel.hidden) open(); else close(false); });
    all.addEventListener("click", function () {
      call("POST", "/api/notifications/read", { all: true }).then(function (j) { setUnread(j.unread); return refresh(); }).catch(function () {});
    });
    panel.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { ev.stopPropagation(); close(true); } });
    button.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && !panel.hidden) { ev.stopPropagation(); close(true); } });
    document.addEventListener("click", function (ev) { if (!slot.contains(ev.target)) close(false); });
    // The count: now, when the reader comes back to the tab, and every minute while it is shown.
    function count_only() {
      return call("GET", "/api/notifications?unread=true&limit=1").then(function (j) { slot.hidden = false; setUnread(j.unread); })
        .catch(function (e) { if (e.status === 401) slot.hidden = true; });
    }
    count_only();
    window.addEventListener("focus", count_only);
    setInterval(function () { if (!document.hidden) count_only(); }, 60000);
  }

  // ---- the dashboard's Inbox tab ----------------------------------------------------------------
  function inboxPane(list) {
    var unreadOnly = document.getElementById("inbox-unread");
    var readAll = document.getElementById("inbox-read-all");
    var empty = document.getElementById("inbox-empty");
    var more = document.getElementById("inbox-more");
    var cursor = null;
    function load(reset) {
      var q = "/api/notifications?limit=30" + (unreadOnly && unreadOnly.checked ? "&unread=true" : "") + (!reset && cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
      return call("GET", q).then(function (j) {
        if (reset) list.textContent = "";
        j.notifications.forEach(function (n) { list.appendChild(entry(n, setUnread)); });
        cursor = j.next_cursor || null;
        if (more) more.hidden = !cursor;
        if (empty) empty.hidden = list.children.length > 0;
        setUnread(j.unread);
      }).catch(function () {});
    }
    if (unreadOnly) unreadOnly.addEventListener("change", function () { load(true); });
    if (more) more.addEventListener("click", function () { load(false); });
    if (readAll) readAll.addEventListener("click", function () {
      call("POST", "/api/notifications/read", { all: true }).then(function () { return load(true); }).catch(function () {});
    });
    load(true);
  }

  // ---- Follow / Mute on a plan page ---------------------------------------------------------------
  var WHY = {
    owner: "You follow this plan: you own it.",
    commented: "You follow this plan: you commented on it.",
    following: "You follow this plan.",
    muted: "Muted: nothing from this plan reaches you, mentions included.",
    none: "You are not following this plan."
  };
  function follow(slot) {
    var api = "/api/sessions/" + slot.getAttribute("data-plan-id") + "/subscription";
    var followBtn = el("button", "pp-follow-button", "Follow");
    var muteBtn = el("button", "pp-follow-button", "Mute");
    var why = el("span", "pp-visually-hidden");
    why.setAttribute("aria-live", "polite");
    followBtn.type = muteBtn.type = "button";
    slot.appendChild(followBtn);
    slot.appendChild(muteBtn);
    slot.appendChild(why);
    var current = null;
    function render(s) {
      current = s;
      followBtn.setAttribute("aria-pressed", s.state === "following" ? "true" : "false");
      muteBtn.setAttribute("aria-pressed", s.state === "muted" ? "true" : "false");
      followBtn.textContent = s.following ? "Following" : "Follow";
      muteBtn.textContent = s.state === "muted" ? "Muted" : "Mute";
      followBtn.title = muteBtn.title = why.textContent = WHY[s.reason] || "";
      slot.hidden = false;
    }
    function set(state) { call("PUT", api, { state: state }).then(render).catch(function () {}); }
    followBtn.addEventListener("click", function () { if (current) set(current.state === "following" ? "none" : "following"); });
    muteBtn.addEventListener("click", function () { if (current) set(current.state === "muted" ? "none" : "muted"); });
    call("GET", api).then(render).catch(function () {});
  }

  // ---- @mention autocomplete in comment boxes (ARIA combobox with a listbox) -----------------------
  // The trigger follows the server's parser (planpush_inbox::mentions): `@` not after a login
  // character, then the login typed so far, up to the caret.
  var TRIGGER = /(^|[^\p{L}\p{N}_.@-])@([\p{L}\p{N}_.-]*)$/u;
  function mentions(doc) {
    var planId = doc.getAttribute("data-plan-id");
    var members = null;
    function people() {
      if (!members) members = call("GET", "/api/sessions/" + planId + "/members").then(function (j) { return j.members; }, function () { members = null; return []; });
      return members;
    }
    function attach(ta) {
      ta.setAttribute("data-mentions", "on");
      var listId = id("pp-mentions");
      var box = el("ul", "pp-mention-list");
      box.id = listId;
      box.hidden = true;
      box.setAttribute("role", "listbox");
      box.setAttribute("aria-label", "People to mention");
      ta.parentNode.insertBefore(box, ta.nextSibling);
      ta.setAttribute("role", "combobox");
      ta.setAttribute("aria-autocomplete", "list");
      ta.setAttribute("aria-expanded", "false");
      ta.setAttribute("aria-controls", listId);
      var state = { items: [], active: -1, start: -1 };
      function close() {
        box.hidden = true;
        box.textContent = "";
        state.items = []; state.active = -1; state.start = -1;
        ta.setAttribute("aria-expanded", "false");
        ta.removeAttribute("aria-activedescendant");
      }
      function highlight(i) {
        state.active = i;
        Array.prototype.forEach.call(box.children, function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
        if (i >= 0) { ta.setAttribute("aria-activedescendant", box.children[i].id); box.children[i].scrollIntoView({ block: "nearest" }); }
      }
      function choose(i) {
        var m = state.items[i];
        if (!m || state.start < 0) return;
        var caret = ta.selectionStart;
        var insert = "@" + m.login + " ";
        ta.value = ta.value.slice(0, state.start) + insert + ta.value.slice(caret);
        var at = state.start + insert.length;
        ta.setSelectionRange(at, at);
        close();
        ta.focus();
      }
      function update() {
        var caret = ta.selectionStart;
        if (caret !== ta.selectionEnd) { close(); return; }
        var m = TRIGGER.exec(ta.value.slice(0, caret));
        if (!m) { close(); return; }
        var q = m[2].toLowerCase();
        var start = caret - m[2].length - 1;
        people().then(function (all) {
          var found = all.filter(function (p) {
            return p.login.toLowerCase().indexOf(q) === 0 || (p.name && p.name.toLowerCase().indexOf(q) >= 0);
          }).slice(0, 8);
          if (!found.length) { close(); return; }
          state.items = found; state.start = start;
          box.textContent = "";
          found.forEach(function (p, i) {
            var li = el("li", "pp-mention-option");
            li.id = listId + "-" + i;
            li.setAttribute("role", "option");
            li.appendChild(el("strong", null, "@" + p.login));
            if (p.name) li.appendChild(el("span", "pp-muted", " " + p.name));
            li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
            box.appendChild(li);
          });
          box.hidden = false;
          ta.setAttribute("aria-expanded", "true");
          highlight(0);
        });
      }
      ta.addEventListener("input", update);
      ta.addEventListener("click", update);
      ta.addEventListener("blur", function () { setTimeout(close, 150); });
      ta.addEventListener("keydown", function (ev) {
        if (box.hidden || !state.items.length) return;
        var n = state.items.length;
        if (ev.key === "ArrowDown") { ev.preventDefault(); highlight((state.active + 1) % n); }
        else if (ev.key === "ArrowUp") { ev.preventDefault(); highlight((state.active + n - 1) % n); }
        else if (ev.key === "Enter" || ev.key === "Tab") { ev.preventDefault(); choose(state.active < 0 ? 0 : state.active); }
        else if (ev.key === "Escape") { ev.preventDefault(); ev.stopPropagation(); close(); }
      });
    }
    document.addEventListener("focusin", function (ev) {
      var ta = ev.target;
      if (ta && ta.tagName === "TEXTAREA" && ta.closest(".pp-composer") && !ta.hasAttribute("data-mentions")) attach(ta);
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".pp-bell"), bell);
    var pane = document.getElementById("inbox-list");
    if (pane) inboxPane(pane);
    Array.prototype.forEach.call(document.querySelectorAll(".pp-follow[data-plan-id]"), follow);
    var doc = document.querySelector("article.pp-document[data-plan-id]");
    if (doc && doc.getAttribute("data-latest") === "true") mentions(doc);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
