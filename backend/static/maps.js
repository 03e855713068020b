// Maps on Ritbox's pages, drawn with the vendored Leaflet: a progressive enhancement of what the
// page already shows (the SVG route, the coordinate table, the coordinate fields stay for a
// browser without script). Data comes from data- attributes (the CSP allows no inline script);
// tiles are loaded only when the page names a tile server (backend/maps.py), otherwise the
// route is drawn on a plain background and no request leaves for another host.
(function () {
  "use strict";
  if (!window.L) {
    return;
  }
  var NETHERLANDS = [[50.75, 3.35], [53.55, 7.25]];
  var BLUE = "#0969da", GREEN = "#1a7f37", RED = "#cf222e", GREY = "#57606a";

  function escapeHtml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function baseMap(element) {
    element.hidden = false;  // shown only now: without script the page keeps its fallback
    var map = L.map(element, {zoomControl: false, attributionControl: false});
    L.control.zoom({zoomInTitle: element.dataset.zoomIn || "+", zoomOutTitle: element.dataset.zoomOut || "-"})
      .addTo(map);
    L.control.scale({imperial: false}).addTo(map);
    if (element.dataset.tileUrl) {
      L.control.attribution({prefix: false}).addTo(map);
      L.tileLayer(element.dataset.tileUrl, {
        maxZoom: Number(element.dataset.tileMaxZoom) || 18,
        attribution: escapeHtml(element.dataset.tileAttribution || "")
      }).addTo(map);
    }
    return map;
  }

  function hideFallback(element) {
    var fallback = element.dataset.fallback && document.getElementById(element.dataset.fallback);
    if (fallback) {
      fallback.hidden = true;
    }
  }

  // A trip's route: the line, a green start and a red end (as the SVG it replaces).
  function routeMap(element) {
    var points = JSON.parse(element.dataset.points || "[]");
    if (points.length < 2) {
      return;
    }
    hideFallback(element);
    var map = baseMap(element);
    var line = L.polyline(points, {color: BLUE, weight: 4, interactive: false, className: "route-line"}).addTo(map);
    L.circleMarker(points[0], {radius: 7, color: GREEN, fillColor: GREEN, fillOpacity: 1, interactive: false})
      .addTo(map);
    L.circleMarker(points[points.length - 1], {radius: 7, color: RED, fillColor: RED, fillOpacity: 1,
                                               interactive: false}).addTo(map);
    map.fitBounds(line.getBounds(), {padding: [24, 24]});
  }

  function number(text) {
    var value = parseFloat(String(text || "").replace(",", "."));
    return isFinite(value) ? value : null;
  }

  // The places page: the driver's places as circles, and a click on the map fills in the new
  // place's centre (the latitude and longitude fields, which stay editable).
  function placePicker(element) {
    var lat = document.getElementById(element.dataset.latField);
    var lon = document.getElementById(element.dataset.lonField);
    var radius = document.getElementById(element.dataset.radiusField);
    if (!lat || !lon || !radius) {
      return;
    }
    var hint = element.dataset.hint && document.getElementById(element.dataset.hint);
    if (hint) {
      hint.hidden = false;  // "click the map" only where there is a map
    }
    var map = baseMap(element);
    var places = JSON.parse(element.dataset.points || "[]");
    places.forEach(function (place) {
      var options = {color: GREY, weight: 2, fillOpacity: 0.15, interactive: false};
      if (place[2]) {
        L.circle([place[0], place[1]], L.extend({radius: place[2]}, options)).addTo(map);
      } else {
        L.circleMarker([place[0], place[1]], L.extend({radius: 6}, options)).addTo(map);
      }
    });
    var chosen = null;
    function radiusMetres() {
      return number(radius.value) || 200;
    }
    function show(latlng) {
      if (chosen === null) {
        chosen = L.circle(latlng, {radius: radiusMetres(), color: BLUE, weight: 3, fillOpacity: 0.2,
                                   interactive: false, className: "chosen-place"}).addTo(map);
      } else {
        chosen.setLatLng(latlng);
        chosen.setRadius(radiusMetres());
      }
    }
    var start = number(lat.value) !== null && number(lon.value) !== null ? [number(lat.value), number(lon.value)] : null;
    if (start) {
      show(start);
      map.setView(start, 16);
    } else if (places.length) {
      map.fitBounds(places.map(function (p) { return [p[0], p[1]]; }), {padding: [40, 40], maxZoom: 15});
    } else {
      map.fitBounds(NETHERLANDS);
    }
    map.on("click", function (event) {
      lat.value = event.latlng.lat.toFixed(6);
      lon.value = event.latlng.lng.toFixed(6);
      show(event.latlng);
    });
    radius.addEventListener("input", function () {
      if (chosen !== null) {
        chosen.setRadius(radiusMetres());
      }
    });
  }

  document.querySelectorAll("[data-route-map]").forEach(routeMap);
  document.querySelectorAll("[data-place-picker]").forEach(placePicker);
}());
