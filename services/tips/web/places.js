// The submission form's place lists: choosing a province fills its communes (from this service's
// /places/{province}), and typing filters them, accents and case ignored. Without this script the form
// still works: the "show the communes" button posts the form back with the province's communes.
(function () {
  "use strict";
  var province = document.getElementById("province");
  var commune = document.getElementById("commune");
  var search = document.getElementById("commune-search");
  var step = document.getElementById("province-step");
  if (!province || !commune || !search || !window.fetch) { return; }
  var fold = function (text) {
    return text.replace(/đ/g, "d").replace(/Đ/g, "D").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  };
  var all = [];
  var remember = function () {
    all = Array.prototype.slice.call(commune.options, 1).map(function (o) { return {code: o.value, name: o.text}; });
  };
  var show = function () {
    var needle = fold(search.value.trim());
    var chosen = commune.value;
    while (commune.options.length > 1) { commune.remove(1); }
    all.forEach(function (c) {
      if (!needle || fold(c.name).indexOf(needle) !== -1) {
        commune.add(new Option(c.name, c.code, false, c.code === chosen));
      }
    });
    if (needle && commune.options.length === 2) { commune.selectedIndex = 1; }
  };
  step.hidden = true;
  search.hidden = false;
  remember();
  province.addEventListener("change", function () {
    search.value = "";
    all = [];
    show();
    if (!province.value) { return; }
    fetch("/places/" + encodeURIComponent(province.value), {headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) { all = list; show(); });
  });
  search.addEventListener("input", show);
}());
