/* The conversation workspace, live without reloading: the server's event stream (/api/v1/events, SSE) says what
   changed; this module fetches the fragment that shows it (the list, the open thread's new messages and header) and
   puts it in place. The composer is never touched by an update: what the operator is typing stays, and drafts are
   kept per conversation in localStorage across navigation and reloads. Alerts: a new waiting chat beeps, raises a
   desktop notification (once permitted) and the tab title carries the queue's count. */
(function () {
  "use strict";
  var ws = document.getElementById("ws");
  if (!ws) return;
  var conv = ws.dataset.conv || "";
  var after = parseInt(ws.dataset.after || "0", 10);
  var qs = ws.dataset.qs || "";
  var messages = document.getElementById("ws-messages");
  var baseTitle = document.title;
  var DRAFT = "urp.draft.";

  // --- drafts ------------------------------------------------------------------------------------------------------
  function draftKey(el) { return DRAFT + el.dataset.draft + "." + conv; }
  document.querySelectorAll("textarea[data-draft]").forEach(function (el) {
    if (!conv) return;
    try { var saved = localStorage.getItem(draftKey(el)); if (saved && !el.value) el.value = saved; } catch (e) { /* private mode */ }
    el.addEventListener("input", function () {
      try { if (el.value) localStorage.setItem(draftKey(el), el.value); else localStorage.removeItem(draftKey(el)); } catch (e) { /* full */ }
    });
  });

  // --- scroll anchored to the newest -------------------------------------------------------------------------------
  var newer = document.getElementById("ws-newer");
  function nearBottom() { return !messages || messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80; }
  function toBottom() { if (messages) messages.scrollTop = messages.scrollHeight; if (newer) newer.hidden = true; }
  toBottom();
  // on a tablet or a phone the thread is below the menu: bring it (and its composer) into view
  function showThread() {
    var c = document.querySelector(".ws-composer");
    if (conv && c && window.innerWidth < 992) c.scrollIntoView({block: "end"});
  }
  showThread();
  window.addEventListener("load", showThread);
  if (newer) newer.addEventListener("click", toBottom);
  if (messages) messages.addEventListener("scroll", function () { if (nearBottom() && newer) newer.hidden = true; });

  // --- the thread's news -------------------------------------------------------------------------------------------
  function apply(news, own) {
    if (!news || String(news.conversation_id) !== conv) return;
    var stay = own || nearBottom();
    if (news.last_id && news.last_id > after && messages) {
      var box = document.createElement("ol");
      box.innerHTML = news.messages;
      Array.prototype.slice.call(box.children).forEach(function (li) {
        if (!messages.querySelector('[data-id="' + li.dataset.id + '"]')) { messages.appendChild(li); bindForms(li); }
      });
      after = news.last_id;
      if (stay) toBottom(); else if (newer) newer.hidden = false;
      typing(false);
    }
    var head = document.getElementById("ws-head");
    var sig = function (root) { var st = root.querySelector(".ws-state"); return st ? st.dataset.sig : ""; };
    var incoming = document.createElement("div");
    incoming.innerHTML = news.head || "";
    if (head && news.head && sig(incoming) !== sig(head)) {  // only a real change: the page stays where it is
      var focusedAction = document.activeElement && head.contains(document.activeElement);
      head.innerHTML = news.head;
      bindForms(head);
      if (focusedAction) { var first = head.querySelector("button"); if (first) first.focus(); }
    }
    // the SLA clock's words change every minute: only the badge is replaced, not the header's forms
    var freshSla = incoming.querySelector(".ws-sla"), shownSla = head && head.querySelector(".ws-sla");
    if (freshSla && shownSla && freshSla.outerHTML !== shownSla.outerHTML) shownSla.replaceWith(freshSla);
    // a file arrived (or was refused) after its message was shown: the message is drawn again
    Object.keys(news.replaced || {}).forEach(function (id) {
      var old = messages && messages.querySelector('li[data-id="' + id + '"]');
      if (!old) return;
      var box = document.createElement("ol");
      box.innerHTML = news.replaced[id];
      var li = box.firstElementChild;
      if (li) { old.replaceWith(li); bindForms(li); }
    });
    Object.keys(news.statuses || {}).forEach(function (id) {
      var el = document.querySelector('[data-status-for="' + id + '"]');
      if (el) el.innerHTML = news.statuses[id];
    });
    var reply = document.getElementById("reply");
    if (reply) {
      reply.disabled = !news.can_reply;
      var send = reply.form.querySelector('button[type="submit"]');
      if (send) send.disabled = !news.can_reply;
      var attach = document.getElementById("ws-file");
      if (attach) attach.disabled = !news.can_reply;
      var help = document.getElementById("reply-help");
      if (help) help.textContent = news.can_reply ? "Invio per inviare, Maiusc+Invio per andare a capo."
        : (news.mode === "closed" ? "La conversazione è chiusa." : "Prendi in carico la conversazione per rispondere.");
    }
  }

  var fetching = null, again = false;
  function refreshThread() {
    if (!conv) return;
    if (fetching) { again = true; return; }
    // the messages whose files were still on their way from Telegram or Twilio are asked for again
    var waiting = messages ? Array.prototype.map.call(messages.querySelectorAll("li[data-pending]"),
      function (li) { return li.dataset.id; }).slice(0, 20) : [];
    fetching = fetch("/console/conversations/" + conv + "/live?after=" + after +
      (waiting.length ? "&refresh=" + waiting.join(",") : ""), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (news) { apply(news, false); })
      .catch(function () { /* the next event or the reconnect fetches again */ })
      .then(function () { fetching = null; if (again) { again = false; refreshThread(); } });
  }

  // --- forms: replies, notes and actions without leaving the page --------------------------------------------------
  var error = document.getElementById("ws-error");
  function submit(form) {
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    var data = new FormData(form);
    var text = form.querySelector("textarea");
    var file = form.querySelector('input[type="file"]');
    var hasFile = file && file.files && file.files.length;
    if (text && !text.value.trim() && !hasFile) return;
    data.append("after", String(after));
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    if (error) error.textContent = "";
    fetch(form.action, {method: "POST", body: data, credentials: "same-origin",
                        headers: {"X-Requested-With": "workspace"}})
      .then(function (r) {
        if (r.ok) return r.json();
        return r.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var msg = doc.querySelector("main p, main h1");
          throw new Error(msg ? msg.textContent.trim() : "Operazione non riuscita.");
        });
      })
      .then(function (news) {
        if (text) {
          text.value = "";
          try { localStorage.removeItem(draftKey(text)); } catch (e) { /* ignore */ }
        }
        if (file) { file.value = ""; file.dispatchEvent(new Event("change")); }
        apply(news, true);
        refreshList();
        // after a reply the box is ready for the next; after taking the chat, the operator writes next
        var reply = document.getElementById("reply");
        if (text && !text.disabled) text.focus();
        else if (form.dataset.ws === "take" && reply && !reply.disabled) reply.focus();
      })
      .catch(function (e) { if (error) error.textContent = e.message || "Operazione non riuscita: riprova."; })
      .then(function () { buttons.forEach(function (b) { if (b.isConnected) b.disabled = false; }); });
  }
  function bindForms(root) {
    root.querySelectorAll("form[data-ws]").forEach(function (form) {
      form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(form); });
    });
  }
  bindForms(ws);
  // the composer's file: its name shown until it is sent (or another chosen)
  var fileInput = document.getElementById("ws-file"), chosen = document.getElementById("ws-file-chosen");
  if (fileInput && chosen) {
    fileInput.addEventListener("change", function () {
      var f = fileInput.files && fileInput.files[0];
      chosen.textContent = f ? "Allegato: " + f.name : "";
    });
  }
  document.querySelectorAll("textarea[data-draft]").forEach(function (el) {
    el.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); submit(el.form); }
    });
  });

  // --- the contact in the context panel: edited in place, conflicts resolved, without leaving the page -----------
  var contactBox = document.getElementById("ws-contact");
  function showContact(html, focus) {
    if (!contactBox || !html) return;
    contactBox.innerHTML = html;
    bindContact();
    if (!focus) return;  // a live refresh leaves the focus where it is
    var invalid = contactBox.querySelector('[aria-invalid="true"]');
    var summary = contactBox.querySelector("summary");
    if (invalid) invalid.focus(); else if (summary) summary.focus();
  }
  var outcome = {esito: "", at: 0}, contactSeq = 0;
  function refreshContact(esito) {
    if (!conv || !contactBox) return;
    // a form being filled in is not replaced under the operator's fingers
    if (!esito && contactBox.querySelector("details[open]")) return;
    var own = !!esito;
    if (esito) outcome = {esito: esito, at: Date.now()};
    else if (Date.now() - outcome.at < 10000) esito = outcome.esito;  // the event of one's own change: keep saying it
    var seq = ++contactSeq;
    fetch("/console/conversations/" + conv + "/contact" + (esito ? "?esito=" + encodeURIComponent(esito) : ""),
          {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d && seq === contactSeq) showContact(d.html, own); })
      .catch(function () { /* the next event */ });
  }
  function sendContact(form, submitter) {
    var data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    fetch(form.action, {method: "POST", body: data, credentials: "same-origin",
                        headers: {"X-Requested-With": "workspace"}})
      .then(function (r) {
        if (r.ok || r.status === 422) return r.json();
        throw new Error("Operazione non riuscita: riprova.");
      })
      .then(function (d) {
        if (d.html) { contactSeq++; outcome = {esito: d.ok ? "salvato" : "", at: d.ok ? Date.now() : 0};
                      showContact(d.html, true); }
        else refreshContact(d.esito || "");
        if (d.ok || d.esito) { refreshThread(); refreshList(); }
      })
      .catch(function (e) {
        if (error) error.textContent = e.message;
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      });
  }
  function bindContact() {
    if (!contactBox) return;
    contactBox.querySelectorAll("form[data-ws-contact]").forEach(function (form) {
      form.addEventListener("submit", function (ev) { ev.preventDefault(); sendContact(form, ev.submitter); });
    });
  }
  bindContact();

  // the citizen sees "L'operatore sta scrivendo…" while the operator writes a reply: one hint every few seconds
  var replyBox = document.getElementById("reply"), lastHint = 0;
  if (replyBox && conv) {
    replyBox.addEventListener("input", function () {
      var now = Date.now();
      if (!replyBox.value.trim() || replyBox.disabled || now - lastHint < 3000) return;
      lastHint = now;
      var hint = new FormData();
      hint.append("csrf", ws.dataset.csrf || "");
      fetch("/console/conversations/" + conv + "/typing", {method: "POST", body: hint, credentials: "same-origin",
                                                           headers: {"X-Requested-With": "workspace"}})
        .catch(function () { /* a hint only */ });
    });
    replyBox.form.addEventListener("submit", function () { lastHint = 0; });
  }

  // --- typing ------------------------------------------------------------------------------------------------------
  var typingBox = document.getElementById("ws-typing"), typingTimer = null;
  function typing(on) {
    if (!typingBox) return;
    clearTimeout(typingTimer);
    typingBox.textContent = on ? "Il cittadino sta scrivendo…" : "";
    if (on) typingTimer = setTimeout(function () { typing(false); }, 5000);
  }

  // --- the list, the queue count and the alerts --------------------------------------------------------------------
  var known = null;
  function waitingIds(root) {
    var el = (root || document).querySelector("#ws-waiting-count");
    return el && el.dataset.waiting ? el.dataset.waiting.split(",") : [];
  }
  function title(n) { document.title = (n ? "(" + n + ") " : "") + baseTitle; }
  function seen(ids) {
    if (known !== null) {
      var fresh = ids.filter(function (id) { return known.indexOf(id) < 0; });
      if (fresh.length) alertNew(fresh.length);
    }
    known = ids;
    title(ids.length);
  }
  seen(waitingIds());

  var listTimer = null;
  function refreshList() {
    clearTimeout(listTimer);
    listTimer = setTimeout(function () {
      var url = "/console/inbox/list?" + qs + (qs ? "&" : "") + "current=" + conv;
      fetch(url, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          var box = document.getElementById("ws-list-items");
          var scroll = box.scrollTop;
          if (!box.contains(document.activeElement)) box.innerHTML = data.html; else box.dataset.stale = "1";
          box.scrollTop = scroll;
          seen((data.waiting_ids || []).map(String));
        })
        .catch(function () { /* next event */ });
    }, 300);
  }

  var audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.08;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.25);
    } catch (e) { /* no audio */ }
  }
  document.addEventListener("click", function () { if (audio && audio.state === "suspended") audio.resume(); });
  function alertNew(n) {
    beep();
    if (window.Notification && Notification.permission === "granted") {
      try {
        new Notification("Sportello URP", {body: n === 1 ? "Una nuova conversazione in attesa" :
                                            n + " nuove conversazioni in attesa", tag: "urp-waiting"});
      } catch (e) { /* e.g. only through a service worker on some mobiles */ }
    }
  }
  var ask = document.getElementById("ws-notify");
  if (ask && window.Notification && Notification.permission === "default") {
    ask.hidden = false;
    ask.addEventListener("click", function () {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      Notification.requestPermission().then(function () { ask.hidden = true; });
    });
  }

  // --- the chat SLA: the server words the time left or over; while a clock is shown it is asked again every 30 s --
  setInterval(function () {
    if (document.hidden) return;
    if (document.querySelector("#ws-list-items .ws-sla")) refreshList();
    if (document.querySelector("#ws-head .ws-sla")) refreshThread();
  }, 30000);
  // a chat that ran out of its first-response time: the supervisors (admins) and whoever holds it are told
  function escalated(d) {
    if (d.action !== "sla_escalate") return;
    if (ws.dataset.role !== "admin" && String(d.assignee_id || "") !== ws.dataset.me) return;
    beep();
    var link = "/console/conversations/" + d.id;
    var note = document.getElementById("ws-escalated");
    if (note) {
      note.textContent = "";
      var a = document.createElement("a");
      a.href = link; a.textContent = "Una conversazione ha superato il tempo di prima risposta: aprila";
      note.appendChild(a);
    }
    if (window.Notification && Notification.permission === "granted") {
      try {
        new Notification("Sportello URP", {body: "Una conversazione ha superato il tempo di prima risposta",
                                           tag: "urp-sla-" + d.id});
      } catch (e) { /* e.g. only through a service worker on some mobiles */ }
    }
  }

  // --- the event stream --------------------------------------------------------------------------------------------
  if (!window.EventSource) return;
  var es = new EventSource("/api/v1/events");
  function data(ev) { try { return JSON.parse(ev.data); } catch (e) { return {}; } }
  function mine(d) { return conv && String(d.conversation_id || (d.type === "conversation" ? d.id : "")) === conv; }
  es.addEventListener("message", function (ev) { var d = data(ev); if (mine(d)) refreshThread(); refreshList(); });
  es.addEventListener("conversation", function (ev) {
    var d = data(ev); if (mine(d)) refreshThread(); refreshList(); escalated(d);
  });
  es.addEventListener("delivery", function (ev) { if (mine(data(ev))) refreshThread(); });
  es.addEventListener("typing", function (ev) { if (mine(data(ev))) typing(true); });
  // a contact's details changed (the citizen gave their name to the assistant, a colleague edited them): the list
  // and the thread's header show the name
  es.addEventListener("contact", function (ev) {
    var d = data(ev);
    refreshList();
    if (ws.dataset.contact && String(d.id) === ws.dataset.contact) { refreshThread(); refreshContact(""); }
  });
  // after a reconnect, whatever was missed
  es.addEventListener("open", function () { refreshThread(); refreshList(); ws.dataset.live = "on"; });
})();
