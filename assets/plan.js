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
