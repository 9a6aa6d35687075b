/* The sportello's small script: the phone menu, the rating steps (the form also works without it), the map of
 * a segnalazione, and linking the chat widget's session to the signed-in citizen. No framework. */
(function () {
  "use strict";
  document.documentElement.classList.add("sp-js");

  document.querySelectorAll("[data-sp-toggle]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var target = document.getElementById(btn.getAttribute("data-sp-toggle"));
      var open = target.classList.toggle("sp-open");
      btn.setAttribute("aria-expanded", open ? "true" : "false");
    });
  });

  document.querySelectorAll("[data-sp-rating]").forEach(function (form) {
    var follow = form.querySelector("[data-sp-followup]");
    var thanks = form.querySelector("[data-sp-thanks]");
    function show(stars) {
      follow.classList.add("sp-open");
      form.querySelectorAll("[data-sp-when]").forEach(function (fs) {
        var want = stars > 3 ? "positive" : "negative";
        fs.classList.toggle("sp-hidden", fs.getAttribute("data-sp-when") !== want);
        fs.disabled = fs.getAttribute("data-sp-when") !== want;
      });
    }
    form.querySelectorAll("input[name=stars]").forEach(function (r) {
      r.addEventListener("change", function () { show(parseInt(r.value, 10)); });
    });
    form.addEventListener("submit", function (ev) {
      if (!window.fetch) return;
      ev.preventDefault();
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "Accept": "application/json" } }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        follow.classList.remove("sp-open");
        form.querySelector(".sp-stars").disabled = true;
        thanks.hidden = false;
        thanks.focus && thanks.setAttribute("tabindex", "-1") && thanks.focus();
      }).catch(function () { form.submit(); });
    });
  });

  // the chat widget keeps its session id in localStorage: tell the desk it is this citizen's (their own browser)
  var link = document.getElementById("sp-chat-link");
  if (link && window.fetch) {
    var csrf = JSON.parse(link.textContent).csrf;
    var tries = 0;
    (function post() {
      var id = null;
      try { id = localStorage.getItem("urp-chat-session"); } catch (e) { return; }
      if (!id) { if (tries++ < 20) setTimeout(post, 500); return; }
      try { if (sessionStorage.getItem("sp-chat-linked") === id) return; } catch (e) { /* ignore */ }
      var body = new FormData(); body.append("csrf", csrf); body.append("chat_session", id);
      fetch("/sportello/chat/collega", { method: "POST", body: body, credentials: "same-origin" }).then(function (r) {
        if (r.ok) { try { sessionStorage.setItem("sp-chat-linked", id); } catch (e) { /* ignore */ } }
      });
    })();
  }

  // segnala disservizio: the map is an aid; the address field alone is enough
  var mapBox = document.getElementById("sp-map");
  if (mapBox) window.addEventListener("load", function () { if (window.L) initMap(); });
  function initMap() {
    var lat = document.getElementById("latitude"), lon = document.getElementById("longitude");
    var center = [parseFloat(mapBox.getAttribute("data-lat")), parseFloat(mapBox.getAttribute("data-lon"))];
    var map = window.L.map(mapBox).setView(center, 15);
    window.L.tileLayer(mapBox.getAttribute("data-tiles"), { maxZoom: 19,
      attribution: mapBox.getAttribute("data-attribution") }).addTo(map);
    var marker = null;
    function place(latlng) {
      if (marker) marker.setLatLng(latlng); else marker = window.L.marker(latlng, { keyboard: true }).addTo(map);
      lat.value = latlng.lat.toFixed(6); lon.value = latlng.lng.toFixed(6);
      var note = document.getElementById("sp-map-note");
      if (note) note.textContent = "Punto indicato sulla mappa: " + lat.value + ", " + lon.value;
    }
    if (lat.value && lon.value) place({ lat: parseFloat(lat.value), lng: parseFloat(lon.value) });
    map.on("click", function (e) { place(e.latlng); });
    document.getElementById("sp-map-center") && document.getElementById("sp-map-center").addEventListener("click",
      function () { place(map.getCenter()); });
  }
})();
