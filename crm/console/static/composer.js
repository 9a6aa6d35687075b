/* The composer's suggestions: "/" and a few letters of a shortcut offer the quick replies (risposte rapide) the
   admins wrote for this ente and the conversation's topic (the page carries them in #ws-quick). The list is
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

  // "/" at the start of the text or after a space, then the letters typed so far, up to the cursor
  function tokenAt() {
    if (reply.selectionStart !== reply.selectionEnd) return null;
    var pos = reply.selectionStart, before = reply.value.slice(0, pos);
    var m = /(^|\s)\/([^\s\/]{0,40})$/.exec(before);
    if (!m) return null;
    return {start: pos - m[2].length - 1, end: pos, q: m[2].toLowerCase()};
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
  var sources = [function (t) { return t.q.indexOf("kb ") === 0 ? null : quickMatches(t.q); }];
  window.urpComposer = {
    addSource: function (fn) { sources.unshift(fn); },
    show: function (list, t) { if (token === null || t === token || (token && t.start === token.start)) show(list, t); },
    insert: insert,
    say: say,
  };

  function update() {
    var t = tokenAt();
    if (!t || reply.disabled) { close(); return; }
    var mine = ++seq;
    for (var n = 0; n < sources.length; n++) {
      var got = sources[n](t, function (list) { if (mine === seq) show(list, t); });
      if (got === undefined) { token = t; return; }  // asynchronous: it calls back
      if (got !== null) {
        show(got, t);
        if (!got.length) say("Nessuna risposta rapida per «" + t.q + "».");
        return;
      }
    }
    close();
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
