/* Sportello URP chat widget. Paste on any page:
 *   <script src="https://urp.comune.example.it/widget.js" defer></script>
 * It loads its stylesheet, keeps a private session id in localStorage, reconnects with backoff and shows history.
 * The citizen's text is always inserted as text. The Comune's replies come with HTML the server sanitised
 * (channels/render.py); the widget rebuilds it element by element through its own allow-list (no markup string is
 * ever assigned to the page), so even a bad server reply cannot run script or style the page. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script ? new URL(script.src).origin : window.location.origin;
  var KEY = "urp-chat-session";
  var BOT_WHO = "Risponde l'assistente virtuale";
  var css = document.createElement("link");
  css.rel = "stylesheet"; css.href = base + "/widget.css"; document.head.appendChild(css);

  // a paperclip, drawn (an emoji needs a font the citizen's device may not have)
  function clip() {
    var NS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "20"); svg.setAttribute("height", "20");
    svg.setAttribute("aria-hidden", "true"); svg.setAttribute("focusable", "false");
    var path = document.createElementNS(NS, "path");
    path.setAttribute("d", "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5");
    path.setAttribute("fill", "none"); path.setAttribute("stroke", "currentColor"); path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linecap", "round");
    svg.appendChild(path);
    return svg;
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }
  function uid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "s" + Date.now().toString(36) + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  }

  var root = el("div", { "class": "urp-chat" });
  var launcher = el("button", { "class": "urp-chat-launcher", "type": "button", "aria-expanded": "false",
    "aria-controls": "urp-chat-panel" }, "Scrivi al Comune");
  var panel = el("section", { "class": "urp-chat-panel", "id": "urp-chat-panel", "role": "dialog",
    "aria-labelledby": "urp-chat-title", "aria-describedby": "urp-chat-who", "hidden": "" });
  var header = el("div", { "class": "urp-chat-header" });
  var titles = el("div", { "class": "urp-chat-titles" });
  titles.appendChild(el("h2", { "id": "urp-chat-title" }, "Assistente del Comune"));
  // who is answering now: the assistant, or an operator by first name (from the notices the server sends)
  var who = el("p", { "class": "urp-chat-who", "id": "urp-chat-who", "aria-live": "polite" }, BOT_WHO);
  titles.appendChild(who);
  header.appendChild(titles);
  var close = el("button", { "class": "urp-chat-close", "type": "button", "aria-label": "Chiudi la chat" }, "×");
  header.appendChild(close);
  var log = el("div", { "class": "urp-chat-log", "role": "log", "aria-live": "polite", "aria-label": "Messaggi",
    "tabindex": "0" });  // a long thread scrolls from the keyboard too
  var typing = el("div", { "class": "urp-typing", "aria-live": "polite" }), typingTimer = null;
  var status = el("div", { "class": "urp-status", "role": "status" });
  var form = el("form", { "class": "urp-chat-form" });
  var label = el("label", { "for": "urp-chat-input", "class": "urp-sr-only" }, "Scrivi un messaggio");
  var input = el("input", { "id": "urp-chat-input", "type": "text", "autocomplete": "off", "maxlength": "2000",
    "placeholder": "Scrivi qui la tua domanda" });
  var send = el("button", { "type": "submit" }, "Invia");
  // a photo or a PDF: sent on its own, checked by the server (type, size) before it is stored
  var fileInput = el("input", { "id": "urp-chat-file", "type": "file", "class": "urp-sr-only urp-file-input",
    "accept": "image/jpeg,image/png,image/webp,application/pdf" });
  var attach = el("label", { "for": "urp-chat-file", "class": "urp-attach", "title": "Invia una foto o un PDF" });
  attach.appendChild(clip());
  attach.appendChild(el("span", { "class": "urp-sr-only" }, "Invia una foto o un PDF"));
  form.appendChild(label); form.appendChild(input); form.appendChild(fileInput); form.appendChild(attach);
  form.appendChild(send);
  // the transcript by e-mail: a link-like button opens a one-field form; the answer is said in the status line
  var tools = el("div", { "class": "urp-chat-tools" });
  var ask = el("button", { "type": "button", "class": "urp-chat-ask", "aria-expanded": "false",
    "aria-controls": "urp-chat-tform" }, "Ricevi la trascrizione via e-mail");
  var tform = el("form", { "class": "urp-chat-tform", "id": "urp-chat-tform", "hidden": "" });
  var tlabel = el("label", { "for": "urp-chat-email" }, "La sua e-mail");
  var temail = el("input", { "id": "urp-chat-email", "type": "email", "autocomplete": "email", "maxlength": "254",
    "required": "" });
  var tsend = el("button", { "type": "submit" }, "Invia");
  var tresult = el("p", { "class": "urp-chat-tresult", "role": "status" });
  tform.appendChild(tlabel); tform.appendChild(temail); tform.appendChild(tsend);
  tools.appendChild(ask); tools.appendChild(tform); tools.appendChild(tresult);
  [header, log, typing, status, tools, form].forEach(function (c) { panel.appendChild(c); });
  root.appendChild(panel); root.appendChild(launcher);
  document.body.appendChild(root);

  var session = null;
  try { session = localStorage.getItem(KEY); } catch (e) { /* private mode */ }
  var ws = null, retry = 0, ready = false;  // ready: the history arrived on this socket
  var maxFile = 0;  // the largest file the server keeps (bytes), from the history
  // messages not yet acknowledged (stored) by the server: sent again, with the same client_id, after a reconnect
  var pending = [];
  var wanted = null;  // a transcript request made before the socket was ready: sent once it is
  var shown = {};  // ids of stored messages on screen: a reply delivered twice (after a server crash) shows once

  var ALLOWED = { P: 1, BR: 1, STRONG: 1, EM: 1, UL: 1, OL: 1, LI: 1, A: 1, H2: 1, H3: 1, H4: 1, BLOCKQUOTE: 1,
    CODE: 1, PRE: 1, TABLE: 1, THEAD: 1, TBODY: 1, TR: 1, TH: 1, TD: 1 };
  var DROPPED = { SCRIPT: 1, STYLE: 1, TEMPLATE: 1, NOSCRIPT: 1, IFRAME: 1, OBJECT: 1, SVG: 1, MATH: 1, TEXTAREA: 1 };
  // a copy of the parsed (inert) tree: allowed elements without attributes, links only to web, mail or phone
  function rebuild(from, to) {
    Array.prototype.forEach.call(from.childNodes, function (n) {
      if (n.nodeType === 3) { to.appendChild(document.createTextNode(n.nodeValue)); return; }
      if (n.nodeType !== 1 || DROPPED[n.nodeName.toUpperCase()]) return;
      if (!ALLOWED[n.tagName]) { rebuild(n, to); return; }
      var c = document.createElement(n.tagName.toLowerCase());
      if (n.tagName === "A") {
        var href = n.getAttribute("href") || "";
        if (!/^(https?:|mailto:|tel:)/i.test(href)) { rebuild(n, to); return; }
        c.setAttribute("href", href);
        if (/^https?:/i.test(href)) { c.setAttribute("target", "_blank"); c.setAttribute("rel", "noopener noreferrer"); }
      }
      rebuild(n, c);
      to.appendChild(c);
    });
  }
  function rich(html) {
    var box = document.createDocumentFragment();
    rebuild(new DOMParser().parseFromString(html, "text/html").body, box);
    return box;
  }
  // author: citizen | bot | operator | system (notices); name: the operator's first name; html: the
  // reply as the server rendered and sanitised it (channels/render.py)
  // files: [{name, content_type, size, image, url}] (the url is signed by the server and relative to it)
  function showFiles(m, files) {
    (files || []).forEach(function (f) {
      var href = base + f.url;
      var a = el("a", { "class": "urp-file", "href": href, "target": "_blank", "rel": "noopener noreferrer" });
      if (f.image) {
        a.appendChild(el("img", { "class": "urp-thumb", "src": href, "alt": "Foto: " + f.name }));
      } else {
        a.appendChild(el("span", { "class": "urp-doc-kind" }, "PDF"));
        a.appendChild(document.createTextNode(" " + f.name + (f.size ? " (" + f.size + ")" : "")));
      }
      m.appendChild(a);
    });
  }
  function add(author, text, buttons, id, name, notice, html, files) {
    if (id !== undefined && id !== null) {
      if (shown[id]) return;
      shown[id] = true;
    }
    var kind = author === "citizen" ? "citizen" : "comune " + (author === "operator" || author === "system" ? author : "bot");
    var m = el("div", { "class": "urp-msg " + kind });
    if (author === "operator") {
      m.appendChild(el("span", { "class": "urp-author" }, (name || "Operatore") + " dell'URP"));
    }
    if (html && author !== "citizen" && author !== "system") {
      m.className += " rich";
      m.appendChild(rich(html));
    } else if (text) {
      m.appendChild(document.createTextNode(text));
    }
    if (files && files.length) { if (text && m.className.indexOf("rich") < 0) m.appendChild(el("br")); showFiles(m, files); }
    log.appendChild(m);
    if (notice === "joined") who.textContent = "Le risponde " + (name || "un operatore") + " dell'URP";
    else if (notice === "back") who.textContent = BOT_WHO;
    else if (notice === "closed") { who.textContent = "Conversazione chiusa"; tools.className += " offer"; }
    else if (notice === "transferred") who.textContent = "In attesa di un operatore";
    if (buttons && buttons.length) {
      var box = el("div", { "class": "urp-buttons", "role": "group", "aria-label": "Risposte rapide" });
      buttons.forEach(function (b) {
        var btn = el("button", { "type": "button" }, b.title);
        // the group goes away with the focused button: focus returns to the text box, not to the page
        btn.addEventListener("click", function () { box.remove(); submit(b.title, b.payload); input.focus(); });
        box.appendChild(btn);
      });
      log.appendChild(box);
    }
    log.scrollTop = log.scrollHeight;
    return m;
  }
  function connect() {
    var url = base.replace(/^http/, "ws") + "/channels/web/ws";
    ready = false;
    ws = new WebSocket(url);
    ws.onopen = function () {
      retry = 0; status.textContent = "";
      ws.send(JSON.stringify({ type: "hello", session: session }));
    };
    ws.onmessage = function (ev) {
      var data; try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data.type === "history") {
        session = data.session; try { localStorage.setItem(KEY, session); } catch (e) { /* ignore */ }
        if (data.max_file) maxFile = data.max_file;
        log.textContent = ""; typing.textContent = ""; shown = {};
        var msgs = data.messages;
        who.textContent = BOT_WHO;
        if (!msgs.length) add("bot", "Buongiorno! Sono l'assistente virtuale del Comune. Come posso aiutarla?");
        // only the last reply keeps its quick replies: older ones were answered already
        msgs.forEach(function (m, i) {
          add(m.author, m.text, i === msgs.length - 1 ? m.buttons : null, m.id, m.name, m.notice, m.html, m.files);
        });
        // what the server never acknowledged is shown again and sent again (stored once: same client_id)
        var stored = {};
        msgs.forEach(function (m) { if (m.client_id) stored[m.client_id] = true; });
        pending = pending.filter(function (p) { return !stored[p.id]; });
        pending.forEach(function (p) { add("citizen", p.text); ws.send(p.msg); });
        ready = true;
        // a transcript asked for while connecting goes now, after the messages it must include
        if (wanted) { ws.send(wanted); wanted = null; }
      } else if (data.type === "ack") {
        pending = pending.filter(function (p) { return p.id !== data.client_id; });
        if (data.id) shown[data.id] = true;
      } else if (data.type === "message") {
        if (data.id && shown[data.id]) return;
        typing.textContent = "";
        add(data.author, data.text, data.buttons, data.id, data.name, data.notice, data.html, data.files);
      } else if (data.type === "transcript") {
        tresult.textContent = data.text || "";
        if (data.ok) { tform.hidden = true; ask.setAttribute("aria-expanded", "false"); ask.focus(); }
        else if (data.need_email || !tform.hidden) {
          // no e-mail known for the citizen: the one-field form asks for it
          tform.hidden = false; ask.setAttribute("aria-expanded", "true"); temail.focus();
          log.scrollTop = log.scrollHeight;
        } else { ask.focus(); }
      } else if (data.type === "typing") {
        // the assistant's hint lasts until its reply; an operator's until they stop writing for a few seconds
        clearTimeout(typingTimer);
        if (data.author === "operator") {
          typing.textContent = "L'operatore sta scrivendo…";
          typingTimer = setTimeout(function () { typing.textContent = ""; }, 6000);
        } else {
          typing.textContent = "L'assistente sta scrivendo…";
        }
      }
    };
    ws.onclose = function () {
      ready = false;
      retry = Math.min(retry + 1, 6);
      status.textContent = "Connessione persa, riprovo…";
      setTimeout(connect, Math.min(500 * Math.pow(2, retry), 15000));
    };
  }
  function submit(text, payload) {
    text = (text || "").trim();
    if (!text) return;
    add("citizen", text);
    var id = uid();
    var msg = JSON.stringify({ type: "message", text: text, payload: payload || "", client_id: id });
    pending.push({ id: id, text: text, msg: msg });
    if (ws && ws.readyState === 1 && ready) ws.send(msg);
  }
  // the operator sees that the citizen is typing: one hint every few seconds while they type (never the text)
  var lastTyping = 0;
  input.addEventListener("input", function () {
    var now = Date.now();
    if (input.value && now - lastTyping > 3000 && ws && ws.readyState === 1 && ready) {
      lastTyping = now;
      ws.send(JSON.stringify({ type: "typing" }));
    }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault(); submit(input.value); input.value = ""; input.focus();
    lastTyping = 0;  // the next message's typing is news again
  });
  fileInput.addEventListener("change", function () {
    var f = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!f) return;
    if (!session || !ready) { status.textContent = "Attenda la connessione, poi invii di nuovo il file."; return; }
    if (maxFile && f.size > maxFile) {
      status.className = "urp-status urp-error";
      status.textContent = "Il file «" + f.name + "» è troppo grande: il limite è " +
        (maxFile / 1000000).toFixed(1).replace(".", ",") + " MB. Può inviarne una versione più leggera.";
      return;
    }
    var id = uid();
    var note = el("div", { "class": "urp-msg citizen urp-sending" }, "Invio di «" + f.name + "»…");
    log.appendChild(note); log.scrollTop = log.scrollHeight;
    var data = new FormData();
    data.append("session", session); data.append("client_id", id); data.append("file", f, f.name);
    fetch(base + "/channels/web/upload", { method: "POST", body: data })
      .then(function (r) {
        if (r.status === 413) throw new Error("Il file è troppo grande: ne invii una versione più leggera.");
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body.error && body.error.message) || "Il file non è stato inviato.");
          return body;
        });
      })
      .then(function (body) {
        status.className = "urp-status"; status.textContent = "";
        // in the place it was sent from, even if the assistant's answer came first
        var m = add("citizen", "", null, body.id, "", "", "", body.files);
        if (m) note.replaceWith(m); else note.remove();
      })
      .catch(function (e) {
        note.remove();
        status.className = "urp-status urp-error";
        status.textContent = e && e.message && !/fetch/i.test(e.message) ? e.message
          : "Il file non è stato inviato: controlli la connessione e riprovi.";
      });
  });
  // while the socket connects the request waits (it must follow the messages still to be stored), then goes
  function askTranscript(msg) {
    tresult.textContent = "Invio in corso…";
    if (ws && ws.readyState === 1 && ready) ws.send(msg); else wanted = msg;
  }
  // first without an address: the server sends it to the citizen's known e-mail, or asks for one (need_email)
  ask.addEventListener("click", function () {
    if (!tform.hidden) { tform.hidden = true; ask.setAttribute("aria-expanded", "false"); tresult.textContent = ""; return; }
    askTranscript(JSON.stringify({ type: "transcript" }));
  });
  tform.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!temail.value.trim()) { temail.focus(); return; }
    askTranscript(JSON.stringify({ type: "transcript", email: temail.value.trim() }));
  });
  function open(show) {
    panel.hidden = !show; launcher.setAttribute("aria-expanded", String(show));
    if (show) { if (!ws) connect(); input.focus(); } else { launcher.focus(); }
  }
  launcher.addEventListener("click", function () { open(panel.hidden); });
  close.addEventListener("click", function () { open(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") open(false); });
  window.URPChat = { open: function () { open(true); } };
})();
