// The community form's small map: tap where the place is, and its latitude and longitude
// are filled in. Without script (or if the map cannot load) the form still works: choose a
// listed place or type the latitude and longitude. The map draws only what the page gets
// from GET /api/community/{area}/pickmap (the area's outline, the passages and the listed
// places); it loads no tiles and asks no other site.
(function () {
  "use strict";
  var form = document.querySelector("form.report-form");
  var box = document.getElementById("pick-map");
  if (!form || !box || !window.L || !window.fetch) { return; }
  var lat = form.elements.namedItem("lat");
  var lon = form.elements.namedItem("lon");
  var place = form.elements.namedItem("place");
  var status = document.getElementById("pick-status");
  var marker = null;
  var map = null;

  function text(value) {  // names are shown as text, never as markup
    var span = document.createElement("span");
    span.textContent = value;
    return span;
  }

  function mark(y, x, fill) {
    if (!map || !isFinite(y) || !isFinite(x)) { return; }
    if (marker) { marker.setLatLng([y, x]); } else {
      marker = L.circleMarker([y, x], {radius: 11, color: "#b42318", weight: 3, fillColor: "#b42318",
                                       fillOpacity: 0.45, interactive: false}).addTo(map);
    }
    if (fill) {
      lat.value = y.toFixed(6);
      lon.value = x.toFixed(6);
    }
    if (status) { status.textContent = form.getAttribute("data-marked") + " " + y.toFixed(5) + ", " + x.toFixed(5); }
  }

  fetch(form.getAttribute("data-pickmap"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
    .then(function (answer) { if (!answer.ok) { throw new Error(String(answer.status)); } return answer.json(); })
    .then(function (data) {
      box.hidden = false;
      var hints = document.querySelectorAll(".js-only");
      for (var i = 0; i < hints.length; i++) { hints[i].hidden = false; }
      map = L.map(box, {attributionControl: false, zoomSnap: 0.25, tap: true});
      data.outline.forEach(function (ring) {
        L.polygon(ring, {color: "#57606a", weight: 1, fillColor: "#ffffff", fillOpacity: 0.6,
                         interactive: false}).addTo(map);
      });
      data.passages.forEach(function (line) {
        L.polyline(line, {color: "#1f6feb", weight: 4, opacity: 0.85, interactive: false}).addTo(map);
      });
      data.places.forEach(function (p) {
        L.circleMarker([p.lat, p.lon], {radius: 6, color: "#1a7f37", weight: 2, fillOpacity: 0.5})
          .bindTooltip(text(p.name)).addTo(map);
      });
      map.fitBounds(data.bounds);
      map.on("click", function (event) {
        mark(event.latlng.lat, event.latlng.lng, true);
        if (place) { place.value = ""; }
      });
      if (place) {
        place.addEventListener("change", function () {
          var parts = place.value.split(",");
          if (parts.length === 2) { mark(parseFloat(parts[0]), parseFloat(parts[1]), true); }
        });
      }
      function typed() { mark(parseFloat(lat.value), parseFloat(lon.value), false); }
      lat.addEventListener("change", typed);
      lon.addEventListener("change", typed);
      if (lat.value && lon.value) { typed(); }
    })
    .catch(function () { box.hidden = true; });
}());
