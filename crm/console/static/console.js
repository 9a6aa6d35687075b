/* Live console: the server's event stream (SSE) says "something changed"; lists marked data-live reload. */
(function () {
  "use strict";
  document.querySelectorAll("[data-canned]").forEach(function (b) {
    b.addEventListener("click", function () { var t = document.getElementById("reply"); t.value = b.dataset.canned; t.focus(); });
  });
  if (!document.querySelector("[data-live]") || !window.EventSource) return;
  var es = new EventSource("/api/v1/events");
  var pending = null;
  es.onmessage = es.addEventListener("conversation", refresh) || refresh;
  ["message", "request", "delivery"].forEach(function (t) { es.addEventListener(t, refresh); });
  function refresh() {
    if (pending || document.activeElement && ["TEXTAREA", "INPUT", "SELECT"].indexOf(document.activeElement.tagName) >= 0) return;
    pending = setTimeout(function () { window.location.reload(); }, 800);
  }
})();
