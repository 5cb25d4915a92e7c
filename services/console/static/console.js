// Live updates for the console's pages: when the server's event stream says a tip or a notification arrived,
// the page's live region is fetched again and swapped in. Everything works without this script (reload).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch || !window.DOMParser) { return; }
  var wanted = live.getAttribute("data-live");
  var busy = false;
  var again = false;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) { live.innerHTML = fresh.innerHTML; live.setAttribute("data-updated", String(Date.now())); }
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var source = new EventSource("/events?topic=" + encodeURIComponent(wanted));
  source.addEventListener(wanted, refresh);
  source.addEventListener("signed-out", function () { source.close(); window.location.assign("/login"); });
})();

// Upload forms: a file over the service's limit is refused in the browser with the sentence the server would
// give, before it is sent (the server refuses it anyway; a body over the limit gets only a bare 413 there).
(function () {
  "use strict";
  var inputs = document.querySelectorAll("input[type=file][data-max-bytes]");
  Array.prototype.forEach.call(inputs, function (input) {
    input.addEventListener("change", function () {
      var max = Number(input.getAttribute("data-max-bytes"));
      var file = input.files && input.files[0];
      input.setCustomValidity(file && max && file.size > max ? input.getAttribute("data-too-large") : "");
    });
  });
})();
