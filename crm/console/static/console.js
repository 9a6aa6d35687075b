/* Live console: the server's event stream (SSE) says "something changed"; lists marked data-live="reload" reload.
   Only those: the workspace marks itself data-live="on" once its own stream is open and updates itself in place. */
(function () {
  "use strict";
  // a form sent once stays sent: a double click must not book twice or file two istanze
  document.querySelectorAll("form").forEach(function (f) {
    f.addEventListener("submit", function () {
      f.querySelectorAll("button[data-once]").forEach(function (b) {
        setTimeout(function () { b.disabled = true; b.setAttribute("aria-disabled", "true"); }, 0);
      });
    });
  });
  if (!document.querySelector('[data-live="reload"]') || !window.EventSource) return;
  var es = new EventSource("/api/v1/events");
  var pending = null;
  es.onmessage = es.addEventListener("conversation", refresh) || refresh;
  ["message", "request", "delivery", "instance", "booking"].forEach(function (t) { es.addEventListener(t, refresh); });
  function refresh() {
    if (pending || document.activeElement && ["TEXTAREA", "INPUT", "SELECT"].indexOf(document.activeElement.tagName) >= 0) return;
    pending = setTimeout(function () { window.location.reload(); }, 800);
  }
})();
