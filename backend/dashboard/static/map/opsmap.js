/* The operations-centre map (ours): Leaflet over the city's own base layer, grids coloured by lights,
   clustered ticket pins coloured by light, a heat layer, click-through to tickets. No network beyond this
   server unless a tile URL is configured. window.opsMap.reload() refetches the live layers. */
(function () {
  "use strict";
  var el = document.getElementById("ops-map");
  if (!el || typeof L === "undefined") return;
  var LIGHT = { green: "#16a34a", yellow: "#f59e0b", red: "#dc2626" };
  var RANK = { green: 0, yellow: 1, red: 2 };
  var query = el.dataset.query || "";
  var W = JSON.parse(el.dataset.words || "{}"); // the page's words, in its language (dash.map.* of the catalogue)

  var map = L.map(el, { zoomSnap: 0.25, minZoom: 12, maxZoom: 19 });
  map.attributionControl.setPrefix('<a href="/dashboard/static/map/README.md">Leaflet</a>');
  map.createPane("basemap").style.zIndex = 350;
  map.createPane("areas").style.zIndex = 400;
  map.createPane("roads").style.zIndex = 450;
  map.getPane("roads").style.pointerEvents = "none";

  var overlays = {};
  var control = L.control.layers({}, overlays, { collapsed: false }).addTo(map);
  if (el.dataset.tileUrl) {
    var tiles = L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution || "", maxZoom: 19 });
    tiles.addTo(map);
    control.addOverlay(tiles, W.layer_tiles);
  }

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/geo+json" } }).then(function (r) {
      if (r.redirected || !r.ok) {
        window.location.href = "/dashboard/login";
        throw new Error("not logged in");
      }
      return r.json();
    });
  }

  function setText(id, value) {
    var node = document.getElementById(id);
    if (node) node.textContent = String(value);
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // The city's own base layer: water, roads, landmarks (drawn by our code, no tiles needed).
  var base = L.layerGroup().addTo(map);
  control.addOverlay(base, W.layer_base);
  get("/dashboard/map/basemap.geojson").then(function (data) {
    function named(f, layer) {
      layer.bindTooltip(escapeHtml(f.properties.name), { sticky: true });
    }
    // Water lies under the grids; roads and landmarks are drawn over them (they do not take clicks).
    L.geoJSON(data, {
      pane: "basemap",
      filter: function (f) { return f.properties.kind === "water"; },
      style: { color: "#60a5fa", weight: 7, opacity: 0.9, fillColor: "#93c5fd", fillOpacity: 0.9 },
      onEachFeature: named,
    }).addTo(base);
    L.geoJSON(data, {
      pane: "roads",
      filter: function (f) { return f.properties.kind !== "water"; },
      style: function (f) { return { color: "#64748b", weight: f.properties.major ? 3.5 : 2, opacity: 0.55 }; },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, { pane: "roads", radius: 3, color: "#475569", weight: 1, fillColor: "#fff", fillOpacity: 1 });
      },
      onEachFeature: named,
    }).addTo(base);
  });

  // Grids, micro-grids and special grids, coloured by open tickets and lights in the viewer's scope.
  var areas = L.layerGroup().addTo(map);
  control.addOverlay(areas, W.layer_areas);
  var fitted = false;
  function drawAreas(data) {
    areas.clearLayers();
    var layer = L.geoJSON(data, {
      pane: "areas",
      style: function (f) {
        var p = f.properties;
        if (p.level === "microgrid") return { color: "#64748b", weight: 0.8, dashArray: "2 3", fill: false, interactive: false };
        return {
          color: p.level === "special" ? "#7c3aed" : "#475569",
          weight: p.level === "special" ? 2 : 1,
          dashArray: p.level === "special" ? "5 3" : null,
          fillColor: p.fill,
          fillOpacity: p.level === "special" ? 0.35 : 0.55,
        };
      },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        if (p.level === "microgrid") return;
        // The path exists once the map has a view: mark it then (tests and styles find grids by code).
        layer.on("add", function () {
          var path = layer.getElement();
          path.classList.add("cell", p.level, "state-" + p.state);
          path.setAttribute("data-grid", p.code);
          path.setAttribute("data-state", p.state);
          path.setAttribute("data-open", p.open);
        });
        layer.bindPopup(
          "<strong>" + escapeHtml(p.name) + "</strong><br>" + escapeHtml(W.popup_open) + " " + p.open + " / " +
            escapeHtml(W.popup_yellow) + " " + p.yellow + " / " + escapeHtml(W.popup_red) + " " + p.red +
            '<br><a class="grid-queue" href="/dashboard/?grid=' + encodeURIComponent(p.code) + '">' +
            escapeHtml(W.popup_queue) + "</a>"
        );
      },
    }).addTo(areas);
    var open = 0, red = 0;
    data.features.forEach(function (f) {
      open += f.properties.open;
      red += f.properties.red;
    });
    setText("open-total", open);
    setText("red-total", red);
    if (!fitted && layer.getBounds().isValid()) {
      map.fitBounds(layer.getBounds(), { padding: [10, 10] });
      fitted = true;
    }
  }

  // Ticket pins, clustered (a cluster shows its worst light), and the heat layer of the same tickets.
  function pinIcon(p) {
    var c = LIGHT[p.light] || LIGHT.green;
    var svg =
      '<svg width="22" height="30" viewBox="0 0 22 30" aria-hidden="true"><path d="M11 29C11 29 2 17.5 2 11a9 9 0 0 1 18 0c0 6.5-9 18-9 18z" fill="' +
      c + '" stroke="#fff" stroke-width="1.5"/><circle cx="11" cy="11" r="3.6" fill="#fff"/>' +
      (p.urgent ? '<circle cx="18" cy="4" r="3.5" fill="#7f1d1d" stroke="#fff"/>' : "") + "</svg>";
    return L.divIcon({
      className: "ticket-pin",
      html: '<a href="' + escapeHtml(p.url) + '" data-number="' + escapeHtml(p.number) + '" data-light="' + escapeHtml(p.light) +
        '" aria-label="' + escapeHtml(p.number + " " + p.category + " " + p.status) + '">' + svg + "</a>",
      iconSize: [22, 30],
      iconAnchor: [11, 29],
      tooltipAnchor: [0, -24],
    });
  }
  var pins = L.markerClusterGroup({
    maxClusterRadius: 36,
    disableClusteringAtZoom: 18,
    showCoverageOnHover: false,
    iconCreateFunction: function (cluster) {
      var worst = "green";
      cluster.getAllChildMarkers().forEach(function (m) {
        if (RANK[m.options.light] > RANK[worst]) worst = m.options.light;
      });
      var n = cluster.getChildCount(), size = n < 10 ? 30 : n < 100 ? 36 : 44;
      return L.divIcon({
        html: "<span>" + n + "</span>",
        className: "light-cluster light-" + worst,
        iconSize: [size, size],
      });
    },
  }).addTo(map);
  control.addOverlay(pins, W.layer_pins);
  var heat = L.heatLayer([], { radius: 24, blur: 18, maxZoom: 17, minOpacity: 0.25 });
  control.addOverlay(heat, W.layer_heat);
  var HEAT = { green: 0.4, yellow: 0.7, red: 1 };
  function drawPins(data) {
    pins.clearLayers();
    var markers = [], points = [];
    data.features.forEach(function (f) {
      var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      var m = L.marker(ll, { icon: pinIcon(p), light: p.light, keyboard: false, title: "" });
      m.bindTooltip(
        escapeHtml(p.number) + ", " + escapeHtml(p.category) + ", " + escapeHtml(p.status) + (p.approx ? escapeHtml(W.popup_approx) : "")
      );
      markers.push(m);
      points.push([ll[0], ll[1], HEAT[p.light] || 0.4]);
    });
    pins.addLayers(markers);
    heat.setLatLngs(points);
    setText("pin-total", markers.length);
    el.dataset.pins = String(markers.length);
  }

  function reload() {
    return Promise.all([
      get("/dashboard/map/areas.geojson").then(drawAreas),
      get("/dashboard/map/tickets.geojson" + (query ? "?" + query : "")).then(drawPins),
    ]).then(function () {
      el.dataset.loaded = String(Number(el.dataset.loaded || 0) + 1);
    });
  }
  // The cluster paints its light as a background colour.
  var style = document.createElement("style");
  style.textContent =
    ".light-cluster.light-green{background:" + LIGHT.green + "}.light-cluster.light-yellow{background:" + LIGHT.yellow +
    "}.light-cluster.light-red{background:" + LIGHT.red + "}";
  document.head.appendChild(style);
  window.opsMap = { map: map, reload: reload, pins: pins, heat: heat };
  reload();
})();
