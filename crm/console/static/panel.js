/* "Nuova richiesta", "Prenota", "Apri istanza" for the conversation's contact without leaving the thread: the phone
   intake's own pages (crm/console/intake.py) are loaded into a side panel (a modal <dialog>): their forms are sent
   from here, every answer (the form again with its errors, the free times, the confirmation) is shown in the panel.
   Each form carries the conversation, so the record is on the conversation's channel. After a confirmation the
   context panel is fetched again: the new request, booking or istanza is there as a link. Without script the
   buttons are links to the intake pages. */
(function () {
  "use strict";
  var ws = document.getElementById("ws");
  var dialog = document.getElementById("ws-panel");
  var body = document.getElementById("ws-panel-body");
  if (!ws || !dialog || !body || typeof dialog.showModal !== "function") return;
  var conv = ws.dataset.conv || "";
  var opener = null;

  function extract(html, kind) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var main = doc.querySelector("main");
    if (!main) return null;
    var root = main;
    if (kind === "request") {  // the caller's page: only its request form
      var h = main.querySelector("#h-request");
      if (h && h.closest("section")) root = h.closest("section");
    }
    var box = document.createElement("div");
    Array.prototype.slice.call(root === main ? main.childNodes : [root]).forEach(function (n) {
      box.appendChild(document.importNode(n, true));
    });
    // the intake's breadcrumbs and "back to the call" buttons lead away from the thread
    box.querySelectorAll("p.small.mb-1, p.d-flex.gap-2").forEach(function (el) {
      if (el.querySelector('a[href^="/console/intake"]')) el.remove();
    });
    // the dialog's title is its heading: the page's h1 becomes a heading of the panel
    box.querySelectorAll("h1").forEach(function (h1) {
      var h2 = document.createElement("h2");
      h2.className = h1.className;
      h2.innerHTML = h1.innerHTML;
      h1.replaceWith(h2);
    });
    return box;
  }

  function show(html, kind, url) {
    var box = extract(html, kind);
    body.innerHTML = "";
    if (!box) { body.textContent = "Pagina non disponibile."; return; }
    while (box.firstChild) body.appendChild(box.firstChild);
    body.dataset.kind = kind;
    if (url) body.dataset.url = url.replace(/^https?:\/\/[^\/]+/, "");
    var done = /\/done\//.test(url || "");
    if (done) refreshContext();
    var focus = body.querySelector(".alert-danger, [role=status], .is-invalid") ||
      body.querySelector("h2, h3") || body;
    if (focus === body || !/^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(focus.tagName)) focus.setAttribute("tabindex", "-1");
    focus.focus();
  }

  function load(url, kind, init) {
    body.setAttribute("aria-busy", "true");
    return fetch(url, Object.assign({credentials: "same-origin"}, init || {}))
      .then(function (r) { return r.text().then(function (html) { show(html, kind, r.url); }); })
      .catch(function () { body.textContent = "Operazione non riuscita: controlli la connessione e riprovi."; })
      .then(function () { body.removeAttribute("aria-busy"); });
  }

  // the context panel again, from the conversation's page: the new item is among the contact's records
  function refreshContext() {
    if (!conv) return;
    fetch("/console/conversations/" + conv, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector(".ws-context");
        var here = document.querySelector(".ws-context");
        if (fresh && here) here.innerHTML = fresh.innerHTML;
      })
      .catch(function () { /* the next visit shows it */ });
  }

  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest("a[data-panel]");
    if (!a) return;
    ev.preventDefault();
    opener = a.dataset.panel;
    body.innerHTML = "";
    dialog.showModal();
    load(a.getAttribute("href").split("#")[0], a.dataset.panel);
  });

  // inside the panel: the intake's links and forms stay in the panel
  body.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest("a[href]");
    if (!a || !/^\/console\/intake\//.test(a.getAttribute("href")) && !/^\?/.test(a.getAttribute("href"))) return;
    ev.preventDefault();
    var href = a.getAttribute("href");
    if (href.charAt(0) === "?") href = (body.dataset.url || "").split("?")[0] + href;
    load(href, body.dataset.kind || opener);
  });
  body.addEventListener("submit", function (ev) {
    var form = ev.target;
    ev.preventDefault();
    var data = new FormData(form);
    var kind = body.dataset.kind || opener;
    var action = form.getAttribute("action");
    if ((form.getAttribute("method") || "get").toLowerCase() === "get") {
      var url = action + "?" + new URLSearchParams(data).toString();
      body.dataset.url = url;
      load(url, kind);
      return;
    }
    if (conv) data.append("conversazione", conv);
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    load(action, kind, {method: "POST", body: data});
  });

  document.getElementById("ws-panel-close").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () {
    var back = document.querySelector('a[data-panel="' + opener + '"]');
    if (back) back.focus();
  });
})();
