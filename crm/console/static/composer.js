/* The composer's suggestions: "/" and a few letters of a shortcut offer the quick replies (risposte rapide) the
   admins wrote for this ente and the conversation's topic (the page carries them in #ws-quick); "/kb " and words
   offer knowledge-base articles (the console's /console/composer/kb), inserted as title, the paragraph that
   answers and the link; the search box under the reply does the same search. The list is
   navigable with the keyboard: arrows to move, Enter or Tab to insert the reply into the draft (never sent: the
   operator reads it and sends it), Esc to close. Inserted text is a draft like any typed text (workspace.js keeps it
   per conversation on every "input" event). */
(function () {
  "use strict";
  var reply = document.getElementById("reply");
  var box = document.getElementById("ws-suggest");
  var status = document.getElementById("ws-suggest-status");
  if (!reply || !box) return;
  var quick = [];
  try { quick = JSON.parse((document.getElementById("ws-quick") || {}).textContent || "[]"); } catch (e) { quick = []; }

  var items = [], active = -1, token = null, seq = 0;
  var MAX = 8;

  // "/" at the start of the text or after a space, then the letters typed so far, up to the cursor; "/kb " and
  // words: a knowledge-base search
  function tokenAt() {
    if (reply.selectionStart !== reply.selectionEnd) return null;
    var pos = reply.selectionStart, before = reply.value.slice(0, pos);
    var kb = /(^|\s)(\/kb\s+)([^\n\/]{0,80})$/i.exec(before);
    if (kb) return {start: pos - kb[2].length - kb[3].length, end: pos, q: kb[3].trim(), kind: "kb"};
    var m = /(^|\s)\/([^\s\/]{0,40})$/.exec(before);
    if (!m) return null;
    return {start: pos - m[2].length - 1, end: pos, q: m[2].toLowerCase(), kind: "quick"};
  }

  function quickMatches(q) {
    var first = [], then = [];
    quick.forEach(function (r) {
      if (r.shortcut.indexOf(q) === 0) first.push(r);
      else if (q && r.title.toLowerCase().indexOf(q) >= 0) then.push(r);
    });
    return first.concat(then).slice(0, MAX).map(function (r) {
      return {key: "/" + r.shortcut, label: r.title, text: r.text};
    });
  }

  function say(text) { if (status) status.textContent = text; }

  function close() {
    items = []; active = -1; token = null;
    box.hidden = true;
    box.innerHTML = "";
    reply.removeAttribute("aria-activedescendant");
  }

  function render() {
    box.innerHTML = "";
    items.forEach(function (it, i) {
      var li = document.createElement("li");
      li.id = "ws-suggest-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === active ? "true" : "false");
      li.className = "ws-suggest-item" + (i === active ? " active" : "");
      var k = document.createElement("strong");
      k.textContent = it.key;
      var l = document.createElement("span");
      l.textContent = " " + it.label;
      li.appendChild(k);
      li.appendChild(l);
      if (it.detail) {
        var d = document.createElement("span");
        d.className = "ws-suggest-detail";
        d.textContent = it.detail;
        li.appendChild(d);
      }
      // mousedown: chosen before the textarea loses the focus
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
      box.appendChild(li);
    });
    box.hidden = items.length === 0;
    if (active >= 0) {
      reply.setAttribute("aria-activedescendant", "ws-suggest-" + active);
      var el = document.getElementById("ws-suggest-" + active);
      if (el && el.scrollIntoView) el.scrollIntoView({block: "nearest"});
    } else {
      reply.removeAttribute("aria-activedescendant");
    }
  }

  function show(list, t) {
    items = list; token = t; active = list.length ? 0 : -1;
    render();
    if (list.length) {
      if (box.scrollIntoView) box.scrollIntoView({block: "nearest"});  // on a phone the list may be below the fold
      say(list.length === 1 ? "Una proposta: Invio o Tab per inserirla, Esc per chiudere."
        : list.length + " proposte: frecce per scegliere, Invio o Tab per inserire, Esc per chiudere.");
    }
  }

  // puts text in place of the token (or at the cursor), as if typed: the draft is saved, the operator sends it
  function insert(text, t) {
    var start = t ? t.start : reply.selectionStart, end = t ? t.end : reply.selectionEnd;
    var v = reply.value;
    reply.value = v.slice(0, start) + text + v.slice(end);
    var at = start + text.length;
    reply.focus();
    reply.setSelectionRange(at, at);
    reply.dispatchEvent(new Event("input", {bubbles: true}));
  }

  function choose(i) {
    var it = items[i], t = token;
    if (!it) return;
    close();
    var got = it.resolve ? it.resolve() : Promise.resolve(it.text);
    Promise.resolve(got).then(function (text) {
      if (text) { insert(text, t); say("Inserita nella risposta: " + it.label + "."); }
    }).catch(function () { say("Non è stato possibile inserire il testo: riprovi."); });
  }

  // a source of suggestions for the token (quick replies; workspace extensions may add theirs)
  // --- knowledge-base articles: the title, the paragraph that answers, the link ---------------------------------
  var kbTimer = null, kbUrl = reply.dataset.kb || "";
  function kbSearch(q) {
    return fetch(kbUrl + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (data) {
        return (data.items || []).map(function (a) {
          return {key: "Scheda", label: a.title, detail: a.passage, text: a.text, url: a.url};
        });
      });
  }

  function update() {
    var t = tokenAt();
    var mine = ++seq;
    clearTimeout(kbTimer);
    if (!t || reply.disabled) { close(); return; }
    if (t.kind === "quick") {
      var got = quickMatches(t.q);
      show(got, t);
      if (!got.length) say("Nessuna risposta rapida per «" + t.q + "».");
      return;
    }
    if (!kbUrl) { close(); return; }
    if (t.q.length < 2) { close(); say("Scriva almeno due lettere da cercare nelle schede informative."); return; }
    kbTimer = setTimeout(function () {
      kbSearch(t.q).then(function (list) {
        if (mine !== seq) return;  // typed on meanwhile
        show(list, t);
        if (!list.length) say("Nessuna scheda informativa per «" + t.q + "».");
      }).catch(function () { if (mine === seq) say("Ricerca nelle schede non riuscita: riprovi."); });
    }, 250);
  }

  // the search box under the reply: the same search, its results listed with a button each
  var kbForm = document.getElementById("ws-kb-form");
  var kbList = document.getElementById("ws-kb-results");
  if (kbForm && kbList && kbUrl) {
    kbForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var q = (kbForm.querySelector("input[name=q]") || {}).value || "";
      q = q.trim();
      kbList.innerHTML = "";
      if (q.length < 2) { say("Scriva almeno due lettere da cercare nelle schede informative."); return; }
      kbSearch(q).then(function (list) {
        kbList.innerHTML = "";
        list.forEach(function (a) {
          var li = document.createElement("li");
          li.className = "ws-kb-hit";
          var h = document.createElement("strong");
          h.textContent = a.label;
          var d = document.createElement("span");
          d.className = "ws-suggest-detail";
          d.textContent = a.detail;
          var b = document.createElement("button");
          b.type = "button";
          b.className = "btn btn-outline-primary btn-sm";
          b.textContent = "Inserisci";
          b.setAttribute("aria-label", "Inserisci nella risposta: " + a.label);
          b.addEventListener("click", function () {
            if (reply.disabled) { say("Prenda in carico la conversazione per rispondere."); return; }
            var pos = reply.selectionStart, before = reply.value.slice(0, pos);
            insert((before && !/\s$/.test(before) ? "\n" : "") + a.text, null);
            say("Scheda inserita nella risposta: " + a.label + ".");
          });
          li.appendChild(h);
          li.appendChild(d);
          li.appendChild(b);
          kbList.appendChild(li);
        });
        say(list.length ? (list.length === 1 ? "Una scheda trovata." : list.length + " schede trovate.")
          : "Nessuna scheda informativa per «" + q + "».");
      }).catch(function () { say("Ricerca nelle schede non riuscita: riprovi."); });
    });
  }

  reply.addEventListener("input", update);
  reply.addEventListener("click", update);
  reply.addEventListener("blur", function () { setTimeout(close, 150); });

  // capture: before workspace.js's Enter-to-send on the same box
  document.addEventListener("keydown", function (ev) {
    if (ev.target !== reply || box.hidden || !items.length || ev.isComposing) return;
    var key = ev.key;
    if (key === "ArrowDown" || key === "ArrowUp") {
      active = (active + (key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      render();
      say(items[active].key + " " + items[active].label);
    } else if ((key === "Enter" && !ev.shiftKey) || (key === "Tab" && !ev.shiftKey)) {
      choose(active < 0 ? 0 : active);
    } else if (key === "Escape") {
      close();
      say("Proposte chiuse.");
    } else {
      return;
    }
    ev.preventDefault();
    ev.stopImmediatePropagation();
  }, true);

  // the list under "Risposte rapide": a click inserts the reply at the cursor
  document.querySelectorAll("[data-quick]").forEach(function (b) {
    b.addEventListener("click", function () {
      var r = quick.filter(function (x) { return x.shortcut === b.dataset.quick; })[0];
      if (!r || reply.disabled) return;
      insert(r.text, null);
    });
  });
})();
