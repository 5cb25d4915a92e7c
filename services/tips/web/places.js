// The submission form's dependent lists: choosing a province fills its communes (from this service's
// /places/{province}), choosing a commune fills its units (/places/{commune}/units), and typing in the box above
// each list filters it, accents and case ignored. Without this script the form still works: the "show the
// communes" and "show the units" buttons post the form back with the next list filled in.
(function () {
  "use strict";
  var form = document.getElementById("submit-form");
  var province = document.getElementById("province");
  var commune = document.getElementById("commune");
  var unit = document.getElementById("unit");
  if (!form || !province || !commune || !unit || !window.fetch) { return; }
  var lang = form.getAttribute("data-lang") === "en" ? "en" : "vi";
  var fold = function (text) {
    return text.replace(/đ/g, "d").replace(/Đ/g, "D").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  };
  // A list whose first option ("not known") stays, filtered by the text typed in its search box.
  var typeahead = function (select, search) {
    var all = Array.prototype.slice.call(select.options, 1).map(function (o) { return {value: o.value, text: o.text}; });
    var show = function () {
      var needle = fold(search.value.trim());
      var chosen = select.value;
      while (select.options.length > 1) { select.remove(1); }
      all.forEach(function (item) {
        if (!needle || fold(item.text).indexOf(needle) !== -1) {
          select.add(new Option(item.text, item.value, false, item.value === chosen));
        }
      });
      if (needle && select.options.length === 2) {
        select.selectedIndex = 1;
        select.dispatchEvent(new Event("change"));
      }
    };
    search.hidden = false;
    search.addEventListener("input", show);
    return {
      set: function (items) { search.value = ""; all = items; show(); }
    };
  };
  var get = function (url) {
    return fetch(url, {headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });
  };
  ["province-step", "commune-step"].forEach(function (id) {
    var button = document.getElementById(id);
    if (button) { button.hidden = true; }
  });
  var communes = typeahead(commune, document.getElementById("commune-search"));
  var units = typeahead(unit, document.getElementById("unit-search"));
  var lastCommune = commune.value;
  province.addEventListener("change", function () {
    communes.set([]);
    units.set([]);
    lastCommune = "";
    if (!province.value) { return; }
    get("/places/" + encodeURIComponent(province.value)).then(function (list) {
      communes.set((list || []).map(function (c) { return {value: c.code, text: c.name}; }));
    });
  });
  commune.addEventListener("change", function () {
    if (commune.value === lastCommune) { return; }
    lastCommune = commune.value;
    units.set([]);
    if (!commune.value) { return; }
    var asked = commune.value;
    get("/places/" + encodeURIComponent(asked) + "/units?lang=" + lang).then(function (body) {
      if (commune.value !== asked || !body) { return; }
      units.set(body.items.map(function (u) { return {value: u.unit_id, text: u.name + " (" + u.kind_label + ")"}; }));
    });
  });
}());
