// PlanPush plan page behaviour. Loaded from /assets (CSP: script-src 'self'); no inline script.
// Without JavaScript the page still reads: every pane shows, <details> collapse natively.
(function () {
  "use strict";
  var root = document.documentElement;

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
  document.querySelectorAll(".pp-tabs").forEach(function (tabs) {
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
  });

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
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var then = Date.parse(t.getAttribute("datetime"));
    if (isNaN(then)) return;
    t.title = t.textContent;
    t.textContent = ago(then);
  });

  // Anchor links: every section heading gets a "#" link to itself.
  document.querySelectorAll("section[data-anchor] > h2, h3[data-anchor]").forEach(function (h) {
    var host = h.hasAttribute("data-anchor") ? h : h.parentElement;
    var id = host.getAttribute("data-anchor");
    if (!host.id) host.id = id;
    var a = document.createElement("a");
    a.className = "pp-anchor-link";
    a.href = "#" + id;
    a.setAttribute("aria-label", "Link to this section");
    a.textContent = "#";
    h.appendChild(a);
  });
})();
