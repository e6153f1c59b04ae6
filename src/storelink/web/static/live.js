// Live figures over Server-Sent Events: the server sends each card's figures already formatted,
// and every element marked data-live="<connector>:<field>" takes the new text (or width/state);
// "_site:<field>" is the site knowledge warm-up panel.
// The stream is the page's store's (<body data-events="/app/stores/<store>/events">).
(function () {
  "use strict";
  var targets = document.querySelectorAll("[data-live]");
  var status = document.querySelector("[data-live-status]");
  if (!targets.length || !window.EventSource) { return; }
  var source = new EventSource(document.body.getAttribute("data-events") || "/app/events");
  source.addEventListener("snapshot", function (event) {
    var payload = JSON.parse(event.data);
    targets.forEach(function (el) {
      var key = el.getAttribute("data-live").split(":");
      var card = key[0] === "_site" ? payload.site : payload.connectors[key[0]];  // the site knowledge panel
      if (!card || !(key[1] in card.display)) { return; }
      var value = card.display[key[1]];
      if (el.getAttribute("data-live-attr") === "width") { el.style.width = value + "%"; return; }
      if (el.hasAttribute("data-live-state")) { el.setAttribute("data-state", value); }
      if (key[1] === "health") {
        var article = el.closest("[data-health]");
        if (article) { article.setAttribute("data-health", value); }
      }
      if (el.textContent !== value) { el.textContent = value; }
    });
    if (status) { status.textContent = "live · " + new Date(payload.at * 1000).toLocaleTimeString(); }
  });
  source.onerror = function () { if (status) { status.textContent = "live updates: reconnecting…"; } };
})();
