// PlanPush dashboard behaviour. Loaded from /assets (CSP: script-src 'self'); no inline script.
// Without JavaScript the dashboard still reads: every section shows, the Audit log filters with
// plain GET forms. Here: tabs, client-side search / filter / sort (no round trips), and the
// actions, all through the same JSON API the CLI uses. A 401 sends the reader to sign-in.
(function () {
  "use strict";
  var root = document.documentElement;
  var main = document.querySelector("main.dash");
  if (!main) return;
  root.classList.add("dash-ready");
  var status = document.getElementById("dash-status");

  function say(text, failed) {
    status.textContent = text;
    status.classList.toggle("dash-failed", !!failed);
    status.setAttribute("role", failed ? "alert" : "status");
  }

  // ---- tabs (WAI-ARIA tabs: arrow keys, Home/End; the URL hash remembers the tab) ----
  var nav = main.querySelector(".dash-tabs");
  var tabs = Array.prototype.slice.call(nav.querySelectorAll("a.dash-tab"));
  nav.setAttribute("role", "tablist");
  function pane(tab) { return document.getElementById(tab.getAttribute("aria-controls")); }
  function select(tab, focus, remember) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("role", "tab");
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      var p = pane(t);
      if (p) { p.hidden = !on; p.setAttribute("role", "tabpanel"); p.setAttribute("aria-labelledby", t.id); }
    });
    if (focus) tab.focus();
    if (remember && history.replaceState) history.replaceState(null, "", location.pathname + location.search + "#" + tab.getAttribute("aria-controls"));
  }
  tabs.forEach(function (t, i) {
    t.addEventListener("click", function (ev) { ev.preventDefault(); select(t, false, true); });
    t.addEventListener("keydown", function (ev) {
      var n = null;
      if (ev.key === "ArrowRight") n = tabs[(i + 1) % tabs.length];
      else if (ev.key === "ArrowLeft") n = tabs[(i + tabs.length - 1) % tabs.length];
      else if (ev.key === "Home") n = tabs[0];
      else if (ev.key === "End") n = tabs[tabs.length - 1];
      if (n) { ev.preventDefault(); select(n, true, true); }
    });
  });
  var wanted = (location.hash || "").slice(1) || "pane-" + main.getAttribute("data-tab");
  select(tabs.filter(function (t) { return t.getAttribute("aria-controls") === wanted; })[0] || tabs[0], false);

  // ---- plans: search, filter, sort, all in the page ----
  var table = document.getElementById("plans-table");
  var body = table && table.tBodies[0];
  var rows = body ? Array.prototype.slice.call(body.rows) : [];
  var $ = function (id) { return document.getElementById(id); };
  var controls = ["plans-search", "plans-scope", "plans-owner", "plans-visibility", "plans-archived", "plans-sort"].map($);
  var data = rows.map(function (r) {
    var d = r.dataset;
    return { row: r, search: d.search, owner: d.owner, visibility: d.visibility, archived: d.archived === "true",
      mine: d.mine === "true", pushed: +d.pushed, title: d.title, version: +d.version, comments: +d.comments };
  });
  var sorters = {
    "pushed-desc": function (a, b) { return b.pushed - a.pushed; },
    "pushed-asc": function (a, b) { return a.pushed - b.pushed; },
    "title": function (a, b) { return a.title < b.title ? -1 : a.title > b.title ? 1 : 0; },
    "comments": function (a, b) { return b.comments - a.comments || b.pushed - a.pushed; },
    "version": function (a, b) { return b.version - a.version || b.pushed - a.pushed; }
  };
  var lastSort = "pushed-desc";
  var order = data.slice();
  // Only the first LIMIT matches are laid out (a 2,000-row table costs the browser far more to lay
  // out than to filter); "Show all" lifts the limit.
  var LIMIT = 100, showAll = false, more = $("plans-more");
  function applyPlans() {
    if (!body) return;
    var q = controls[0].value.trim().toLowerCase(), scope = controls[1].value, owner = controls[2].value,
      vis = controls[3].value, archived = controls[4].checked, sort = controls[5].value;
    if (sort !== lastSort) {
      lastSort = sort;
      order = data.slice().sort(sorters[sort]);
      var frag = document.createDocumentFragment();
      order.forEach(function (x) { frag.appendChild(x.row); });
      body.appendChild(frag);
    }
    var matches = 0;
    for (var i = 0; i < order.length; i++) {
      var x = order[i];
      var ok = (!q || x.search.indexOf(q) !== -1) && (scope !== "mine" || x.mine) && (!owner || x.owner === owner) &&
        (!vis || x.visibility === vis) && (archived || !x.archived);
      if (ok) matches++;
      var show = ok && (showAll || matches <= LIMIT);
      if (x.row.hidden === show) x.row.hidden = !show;
    }
    $("plans-none").hidden = matches !== 0;
    var capped = !showAll && matches > LIMIT;
    $("plans-count").textContent = (capped ? "showing " + LIMIT + " of " + matches + " matching, " : matches + " of ") + data.length + " plans";
    if (more) { more.hidden = !capped; more.textContent = "Show all " + matches + " matching plans"; }
  }
  if (more) more.addEventListener("click", function () { showAll = true; applyPlans(); });
  window.ppDashboardApplyPlans = applyPlans; // for the benchmark and tests
  controls.forEach(function (c) { if (c) c.addEventListener(c.type === "search" ? "input" : "change", applyPlans); });
  if (body) applyPlans();

  // ---- comments: whose / state ----
  var list = $("comments-list");
  function applyComments() {
    if (!list) return;
    var who = $("comments-who").value, state = $("comments-state").value, shown = 0;
    Array.prototype.forEach.call(list.children, function (li) {
      var ok = (!who || (who === "mine" ? li.dataset.mine === "true" : li.dataset.onMine === "true")) &&
        (!state || li.dataset.state === state);
      li.hidden = !ok;
      if (ok) shown++;
    });
    $("comments-none").hidden = shown !== 0;
  }
  ["comments-who", "comments-state"].forEach(function (id) { var c = $(id); if (c) c.addEventListener("change", applyComments); });

  // ---- the JSON API ----
  function signIn() { location.assign("/auth/login?redirect_to=" + encodeURIComponent("/dashboard" + location.hash)); }
  function api(method, path, json) {
    var init = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (json !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(json); }
    return fetch(path, init).then(function (res) {
      if (res.status === 401) { signIn(); throw new Error("signed out"); }
      if (res.status === 204) return null;
      return res.json().catch(function () { return {}; }).then(function (b) {
        if (!res.ok) { var e = new Error(b.message || ("HTTP " + res.status)); e.code = b.error; throw e; }
        return b;
      });
    });
  }
  function failed(e) { if (e.message !== "signed out") say(e.message, true); }

  // ---- full-text search over everything the reader may see (GET /api/search) ----
  var searchForm = $("search-form"), searchBox = $("search-all"), searchOut = $("search-results");
  var searchTimer = null, searchSeq = 0;
  function kindLabel(k) { return k === "comment" ? "Comment" : k === "section" ? "Section" : "Plan"; }
  function runSearch() {
    var q = searchBox.value.trim(), seq = ++searchSeq;
    if (!q) { searchOut.textContent = ""; return; }
    var url = "/api/search?q=" + encodeURIComponent(q) + ($("search-archived").checked ? "&archived=true" : "");
    api("GET", url).then(function (b) {
      if (seq !== searchSeq) return;
      searchOut.textContent = "";
      var head = document.createElement("p");
      head.className = "pp-meta";
      head.id = "search-count";
      head.textContent = b.results.length ? b.results.length + (b.results.length === 1 ? " result" : " results") : "Nothing found.";
      searchOut.appendChild(head);
      if (!b.results.length) return;
      var list = document.createElement("ol");
      list.className = "dash-search-list";
      b.results.forEach(function (r) {
        var li = document.createElement("li"), a = document.createElement("a"), badge = document.createElement("span");
        li.className = "dash-search-hit";
        li.dataset.kind = r.kind;
        a.href = r.path;
        a.textContent = r.kind === "section" ? r.plan_title + " › " + r.title : r.plan_title;
        badge.className = "pp-badge";
        badge.textContent = kindLabel(r.kind) + (r.visibility === "private" ? " · private" : "") + (r.archived ? " · archived" : "");
        var snip = document.createElement("p");
        snip.className = "dash-snippet";
        // The server escapes the text, then wraps matching words in <mark>: nothing else.
        snip.innerHTML = r.snippet_html;
        li.appendChild(a); li.appendChild(document.createTextNode(" ")); li.appendChild(badge); li.appendChild(snip);
        list.appendChild(li);
      });
      searchOut.appendChild(list);
    }, function (e) { if (seq === searchSeq) failed(e); });
  }
  if (searchForm) {
    searchForm.addEventListener("submit", function (ev) { ev.preventDefault(); clearTimeout(searchTimer); runSearch(); });
    searchBox.addEventListener("input", function () { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 250); });
    $("search-archived").addEventListener("change", runSearch);
  }

  // ---- confirmation dialog ----
  var dialog = $("dash-confirm");
  function confirmThen(title, text, okLabel, then) {
    $("dash-confirm-title").textContent = title;
    $("dash-confirm-text").textContent = text;
    $("dash-confirm-ok").textContent = okLabel;
    var opener = document.activeElement;
    function close(ok) {
      $("dash-confirm-ok").onclick = $("dash-confirm-cancel").onclick = null;
      dialog.close();
      if (opener && opener.focus) opener.focus();
      if (ok) then();
    }
    $("dash-confirm-ok").onclick = function () { close(true); };
    $("dash-confirm-cancel").onclick = function () { close(false); };
    dialog.oncancel = function () { close(false); };
    dialog.showModal();
    $("dash-confirm-cancel").focus();
  }

  function planRow(id) { return document.querySelector("tr.dash-plan[data-id='" + id + "']"); }
  function planUpdated(p) {
    var r = planRow(p.session_id);
    if (!r) return;
    var x = data.filter(function (d) { return d.row === r; })[0];
    r.dataset.visibility = p.visibility; r.dataset.archived = String(p.archived);
    if (x) { x.visibility = p.visibility; x.archived = p.archived; }
    var vis = r.querySelector(".dash-visibility");
    vis.innerHTML = "";
    var badge = document.createElement("span");
    badge.className = "pp-badge " + (p.visibility === "published" ? "pp-accepted" : "dash-private");
    badge.textContent = p.visibility === "published" ? "Published" : "Private";
    vis.appendChild(badge);
    if (p.visibility === "published") { var pb = r.querySelector("[data-action=publish]"); if (pb) pb.remove(); }
    var ab = r.querySelector("[data-action=archive]");
    if (ab) { ab.textContent = p.archived ? "Unarchive" : "Archive"; ab.setAttribute("aria-pressed", String(p.archived)); }
    var cell = r.cells[0], old = cell.querySelector(".dash-archived-badge");
    if (p.archived && !old) { var b = document.createElement("span"); b.className = "pp-badge dash-archived-badge"; b.textContent = "Archived"; cell.insertBefore(b, cell.querySelector(".pp-meta")); }
    if (!p.archived && old) old.remove();
    applyPlans();
  }

  function memberUpdated(m) {
    var r = document.querySelector("tr.dash-member[data-id='" + m.id + "']");
    if (!r) return;
    r.dataset.active = String(m.active);
    r.querySelector(".dash-member-status").textContent = m.active ? "active" : "deactivated";
    var g = r.querySelector(".dash-member-grants");
    g.innerHTML = "";
    var names = { admin: "Admin", project_manager: "PM", developer: "Developer", qa: "QA" };
    m.grants.forEach(function (x) { var s = document.createElement("span"); s.className = "pp-badge dash-grant"; s.textContent = names[x.role] + " · " + x.origin; g.appendChild(s); g.appendChild(document.createTextNode(" ")); });
    if (!m.grants.length) g.textContent = "none";
    Array.prototype.forEach.call(r.querySelectorAll("input[name=role]"), function (c) { c.checked = m.roles.indexOf(c.value) !== -1; });
    var toggle = r.querySelector("[data-action=deactivate],[data-action=reactivate]");
    toggle.dataset.action = m.active ? "deactivate" : "reactivate";
    toggle.textContent = m.active ? "Deactivate" : "Reactivate";
    toggle.classList.toggle("dash-danger", m.active);
  }

  var actions = {
    publish: function (b) {
      confirmThen("Publish “" + b.dataset.title + "”?", "Everyone signed in will be able to read it. Publishing cannot be undone.", "Publish", function () {
        api("POST", "/api/sessions/" + b.dataset.id + "/publish").then(function (p) { planUpdated(p); say("Published “" + p.title + "”."); }, failed);
      });
    },
    archive: function (b) {
      var archived = b.getAttribute("aria-pressed") !== "true";
      api("PATCH", "/api/sessions/" + b.dataset.id + "/archive", { archived: archived }).then(function (p) {
        planUpdated(p); say((p.archived ? "Archived “" : "Unarchived “") + p.title + "”.");
      }, failed);
    },
    delete: function (b) {
      confirmThen("Delete “" + b.dataset.title + "”?", "The plan and its comments disappear for everyone and its name becomes free again.", "Delete", function () {
        api("DELETE", "/api/sessions/" + b.dataset.id).then(function () {
          var r = planRow(b.dataset.id);
          data = data.filter(function (d) { return d.row !== r; });
          r.remove(); applyPlans(); say("Deleted “" + b.dataset.title + "”.");
        }, failed);
      });
    },
    revoke: function (b) {
      confirmThen("Revoke “" + b.dataset.title + "”?", "Anything using this token stops working immediately.", "Revoke", function () {
        api("DELETE", "/api/tokens/" + b.dataset.id).then(function () {
          var r = b.closest("tr");
          r.querySelector(".dash-token-status").textContent = "revoked";
          b.remove(); say("Revoked “" + b.dataset.title + "”.");
        }, failed);
      });
    },
    roles: function (b) {
      var roles = Array.prototype.filter.call(b.closest("fieldset").querySelectorAll("input[name=role]"), function (c) { return c.checked; })
        .map(function (c) { return c.value; });
      api("PATCH", "/api/users/" + b.dataset.id, { roles: roles }).then(function (m) { memberUpdated(m); say("Saved the roles of " + m.login + "."); }, failed);
    },
    deactivate: function (b) {
      confirmThen("Deactivate " + b.dataset.title + "?", "They are signed out everywhere, their tokens stop working, and they cannot sign in until reactivated.", "Deactivate", function () {
        api("PATCH", "/api/users/" + b.dataset.id, { active: false }).then(function (m) { memberUpdated(m); say("Deactivated " + m.login + "."); }, failed);
      });
    },
    reactivate: function (b) {
      api("PATCH", "/api/users/" + b.dataset.id, { active: true }).then(function (m) { memberUpdated(m); say("Reactivated " + m.login + "."); }, failed);
    },
    unmap: function (b) {
      confirmThen("Remove " + b.dataset.title + "?", "Members of the group lose this role at their next request, unless another mapping or a manual grant gives it.", "Remove", function () {
        api("DELETE", "/api/admin/group-mappings?group=" + encodeURIComponent(b.dataset.group) + "&role=" + encodeURIComponent(b.dataset.role)).then(function () {
          b.closest("tr").remove(); say("Removed " + b.dataset.title + ".");
        }, failed);
      });
    },
    "webhook-test": function (b) {
      api("POST", "/api/admin/webhooks/" + b.dataset.id + "/test").then(function () {
        say("Queued a test delivery to " + b.dataset.title + ".");
        refreshWebhooks();
      }, failed);
    },
    "webhook-delete": function (b) {
      confirmThen("Delete the webhook " + b.dataset.title + "?", "Nothing more is sent to it, including deliveries still waiting for a retry.", "Delete", function () {
        api("DELETE", "/api/admin/webhooks/" + b.dataset.id).then(function () {
          say("Deleted the webhook " + b.dataset.title + ".");
          refreshWebhooks();
        }, failed);
      });
    },
    signout: function (b) {
      api("DELETE", "/api/users/" + b.dataset.id + "/sessions").then(function (r) { say("Ended " + r.sessions_ended + " browser session(s) of " + b.dataset.title + "."); }, failed);
    }
  };
  main.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("button[data-action]");
    if (!b || !actions[b.dataset.action]) return;
    ev.preventDefault();
    actions[b.dataset.action](b);
  });

  // ---- tokens: create, shown once, copy ----
  var form = $("token-form");
  if (form) form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var label = $("token-label").value;
    api("POST", "/api/tokens", { label: label }).then(function (t) {
      $("token-new").hidden = false;
      $("token-secret").value = t.token;
      $("token-secret").select();
      $("token-label").value = "";
      var empty = $("tokens-empty"); if (empty) empty.remove();
      var tr = document.createElement("tr");
      tr.className = "dash-token"; tr.dataset.id = t.id;
      var cells = [t.label, "just now", "never", "active"];
      cells.forEach(function (text, i) { var td = document.createElement("td"); td.textContent = text; if (i === 3) td.className = "dash-token-status"; tr.appendChild(td); });
      var act = document.createElement("td"); act.className = "dash-actions";
      var rb = document.createElement("button"); rb.type = "button"; rb.className = "dash-button dash-danger dash-js";
      rb.dataset.action = "revoke"; rb.dataset.id = t.id; rb.dataset.title = t.label; rb.textContent = "Revoke";
      act.appendChild(rb); tr.appendChild(act);
      $("tokens-table").tBodies[0].prepend(tr);
      say("Created “" + t.label + "”. Copy it now: it will not be shown again.");
    }, failed);
  });
  // ---- settings: e-mail notifications (PUT /api/me/email-preferences) ----
  var eform = $("email-form");
  function emailStatus(p) {
    var st = $("email-status");
    if (!st) return;
    if (!p.enabled) st.textContent = "This server sends no e-mail (no SMTP_URL is configured); your choice applies once it does.";
    else if (!p.address) st.textContent = "Your account has no e-mail address, so nothing is sent.";
    else st.textContent = "E-mail goes to " + p.address + ".";
  }
  if (eform) {
    api("GET", "/api/me/email-preferences").then(emailStatus, failed);
    eform.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var picked = eform.querySelector("input[name=email-mode]:checked");
      if (!picked) return;
      api("PUT", "/api/me/email-preferences", { mode: picked.value }).then(function (p) {
        emailStatus(p);
        var names = { immediate: "immediately", daily: "as a daily digest", off: "off" };
        say(p.mode === "off" ? "E-mail notifications are off." : "E-mail notifications: " + names[p.mode] + ".");
      }, failed);
    });
  }
  // ---- groups: add a mapping ----
  var mform = $("mapping-form");
  if (mform) mform.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var group = $("mapping-group").value.trim(), role = $("mapping-role").value;
    api("POST", "/api/admin/group-mappings", { group: group, role: role }).then(function (m) {
      var names = { admin: "Admin", project_manager: "PM", developer: "Developer", qa: "QA" };
      var exists = Array.prototype.some.call(document.querySelectorAll("tr.dash-mapping"), function (r) { return r.dataset.group === m.group && r.dataset.role === m.role; });
      if (!exists) {
        var empty = $("mappings-empty"); if (empty) empty.remove();
        var tr = document.createElement("tr");
        tr.className = "dash-mapping"; tr.dataset.group = m.group; tr.dataset.role = m.role;
        var g = document.createElement("td"), code = document.createElement("code"); code.textContent = m.group; g.appendChild(code); tr.appendChild(g);
        var r = document.createElement("td"); r.textContent = names[m.role]; tr.appendChild(r);
        var act = document.createElement("td"); act.className = "dash-actions";
        var rb = document.createElement("button"); rb.type = "button"; rb.className = "dash-button dash-danger dash-js";
        rb.dataset.action = "unmap"; rb.dataset.group = m.group; rb.dataset.role = m.role; rb.dataset.title = m.group + " → " + names[m.role]; rb.textContent = "Remove";
        act.appendChild(rb); tr.appendChild(act);
        $("mappings-table").tBodies[0].appendChild(tr);
      }
      $("mapping-group").value = "";
      say("Mapped " + m.group + " → " + names[m.role] + ".");
    }, failed);
  });

  // ---- webhooks: add (secret shown once), test, delete; the list is rebuilt from the API ----
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function when(iso) {
    var t = el("time", null, new Date(iso).toLocaleString());
    t.setAttribute("datetime", iso);
    return t;
  }
  function renderWebhooks(list) {
    var box = $("webhooks-list");
    if (!box) return;
    box.textContent = "";
    var empty = $("webhooks-empty");
    if (empty) empty.hidden = list.length > 0;
    list.forEach(function (h) {
      var art = el("article", "dash-webhook");
      art.dataset.id = h.id;
      art.setAttribute("aria-labelledby", "wh-" + h.id);
      var h3 = el("h3"); h3.id = "wh-" + h.id; h3.appendChild(el("code", null, h.url)); art.appendChild(h3);
      var meta = el("p", "pp-meta", "Events: ");
      h.events.forEach(function (e, i) { if (i) meta.appendChild(document.createTextNode(", ")); meta.appendChild(el("code", null, e)); });
      meta.appendChild(document.createTextNode(" · added ")); meta.appendChild(when(h.created_at));
      art.appendChild(meta);
      var act = el("div", "dash-actions");
      [["webhook-test", "Send test", ""], ["webhook-delete", "Delete", " dash-danger"]].forEach(function (a) {
        var b = el("button", "dash-button dash-js" + a[2], a[1]);
        b.type = "button"; b.dataset.action = a[0]; b.dataset.id = h.id; b.dataset.title = h.url;
        act.appendChild(b);
      });
      art.appendChild(act);
      var log = el("div", "dash-webhook-deliveries");
      if (!h.deliveries.length) log.appendChild(el("p", "dash-empty dash-webhook-empty", "No delivery yet."));
      else {
        var wrap = el("div", "dash-scroll"), table = el("table", "dash-table dash-webhook-log");
        table.appendChild(el("caption", "dash-visually-hidden", "Recent deliveries to " + h.url));
        var head = el("tr");
        ["Event", "Status", "Attempts", "Created", "Next attempt", "Last error"].forEach(function (t) { var th = el("th", null, t); th.scope = "col"; head.appendChild(th); });
        var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
        var tbody = el("tbody");
        h.deliveries.forEach(function (d) {
          var tr = el("tr", "dash-delivery"); tr.dataset.id = d.id; tr.dataset.status = d.status;
          var ev = el("td"); ev.appendChild(el("code", null, d.event)); tr.appendChild(ev);
          tr.appendChild(el("td", "dash-delivery-status", d.status));
          tr.appendChild(el("td", null, String(d.attempts)));
          var c = el("td"); c.appendChild(when(d.created_at)); tr.appendChild(c);
          var n = el("td"); if (d.next_attempt_at) n.appendChild(when(d.next_attempt_at)); else n.textContent = "—"; tr.appendChild(n);
          tr.appendChild(el("td", null, d.last_error || ""));
          tbody.appendChild(tr);
        });
        table.appendChild(tbody); wrap.appendChild(table); log.appendChild(wrap);
      }
      art.appendChild(log);
      box.appendChild(art);
    });
  }
  function refreshWebhooks() {
    return api("GET", "/api/admin/webhooks").then(function (r) { renderWebhooks(r.webhooks); }, failed);
  }
  var wform = $("webhook-form");
  if (wform) wform.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var events = Array.prototype.filter.call(wform.querySelectorAll("input[name=event]"), function (c) { return c.checked; })
      .map(function (c) { return c.value; });
    if (!events.length) { say("Choose at least one event.", true); return; }
    api("POST", "/api/admin/webhooks", { url: $("webhook-url").value.trim(), events: events }).then(function (h) {
      $("webhook-new").hidden = false;
      $("webhook-secret").value = h.secret;
      $("webhook-secret").select();
      $("webhook-url").value = "";
      say("Added the webhook " + h.url + ". Copy its signing secret now: it will not be shown again.");
      refreshWebhooks();
    }, failed);
  });

  var copy = $("token-copy");
  if (copy) copy.addEventListener("click", function () {
    var v = $("token-secret").value;
    var done = function () { copy.textContent = "Copied"; say("Token copied to the clipboard."); };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(v).then(done, function () { $("token-secret").select(); say("Press Ctrl+C (⌘C) to copy.", false); });
    else { $("token-secret").select(); say("Press Ctrl+C (⌘C) to copy.", false); }
  });
})();
