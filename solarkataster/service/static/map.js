/* solarkataster map page (MapLibre GL JS + PMTiles): roof faces by suitability, facades as lines by irradiation,
   offline raster context (hillshade, annual irradiation), popups with yield and a monthly chart, search.

   Two modes, detected at start: against the service (api/meta answers) or as a static site written by
   'solarkataster tiles DIR --site OUT' (data/meta.json, data/search.json, data/buildings/KEY.json). Both read
   the same PMTiles archives under tiles/ with HTTP range requests. All URLs are relative, so the page works
   offline and behind a path prefix. */
(function () {
  "use strict";

  var MONTHS = ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"];
  /* Colour ramp of the facade lines by irradiation (viridis, 5 stops). */
  var WALL_RAMP = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
  var fallbackColor = "#9e9e9e";  /* replaced by the contract's no_class_color */
  var state = { mode: null, loads: 0, roofs: 0, walls: 0, errors: 0, searches: 0, popups: 0 };
  var colors = {};
  var units = { roofs: {}, walls: {}, buildings: {} };
  var weatherLabel = "";
  var meta = null;
  var $ = function (sel) { return document.querySelector(sel); };

  var protocol = new pmtiles.Protocol();
  maplibregl.addProtocol("pmtiles", protocol.tile);

  var map = new maplibregl.Map({
    container: "map", maxZoom: 22, attributionControl: false, fadeDuration: 0,
    style: { version: 8, sources: {}, layers: [{ id: "background", type: "background",
                                                  paint: { "background-color": "#eef1f4" } }] },
    center: [7.77, 49.44], zoom: 15
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  map.addControl(new maplibregl.AttributionControl({ compact: false,
    customAttribution: '<a href="docs">API</a> · <a href="https://maplibre.org">MapLibre</a>' }), "bottom-left");

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || value === "" || isNaN(Number(value))) { return "–"; }
    return Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function colorOf(cls) { return colors[cls] || fallbackColor; }

  function unitOf(layer, field, fallback) {
    var u = (units[layer] || {})[field];
    return u === undefined || u === null ? fallback : u;
  }

  function absolute(url) { return new URL(url, document.baseURI).href; }

  function getJson(url) {
    return fetch(url).then(function (r) {
      if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
      return r.json();
    });
  }

  /* ------------------------------------------------------------------ data access (service or static) */

  /* File name of a building's JSON in a static site: [A-Za-z0-9_-] kept, every other UTF-8 byte as ~XX
     (the same rule as solarkataster.io.site.building_key). */
  function buildingKey(id) {
    var out = "";
    new TextEncoder().encode(String(id)).forEach(function (b) {
      var c = String.fromCharCode(b);
      out += /[A-Za-z0-9_-]/.test(c) && b < 128 ? c : "~" + (b < 16 ? "0" : "") + b.toString(16).toUpperCase();
    });
    return out;
  }

  var staticIndex = null;
  function staticSearch(q, limit) {
    if (!staticIndex) { staticIndex = getJson("data/search.json"); }
    return staticIndex.then(function (index) {
      /* The ranking of /api/search: exact id, id prefix, exact attribute value, attribute with every word. */
      var query = q.toLowerCase().split(/\s+/).filter(Boolean).join(" ");
      var words = query.split(" ");
      var ranked = [];
      index.buildings.forEach(function (b, i) {
        var id = String(b[0]).toLowerCase(), rank = 9, hit = null, value = null;
        if (id === query) { rank = 0; hit = "building_id"; } else if (id.indexOf(query) === 0) { rank = 1; hit = "building_id"; }
        var fields = b[2] || {};
        Object.keys(fields).some(function (name) {
          if (rank <= 1) { return true; }
          var text = String(fields[name]).toLowerCase();
          if (text === query) { rank = 2; hit = name; value = fields[name]; return true; }
          if (rank > 3 && words.every(function (w) { return text.indexOf(w) >= 0; })) {
            rank = 3; hit = name; value = fields[name];
          }
          return false;
        });
        if (hit !== null) { ranked.push([rank, i, hit, value]); }
      });
      ranked.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
      return ranked.slice(0, limit).map(function (r) {
        var b = index.buildings[r[1]], box = b[1];
        return { building_id: String(b[0]), field: r[2], value: r[2] === "building_id" ? String(b[0]) : r[3],
                 bbox: box, center: [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2] };
      });
    });
  }

  var data = {
    meta: function () {
      return getJson("api/meta").then(function (m) { state.mode = "service"; return m; }, function () {
        return getJson("data/meta.json").then(function (m) { state.mode = "static"; return m; });
      });
    },
    building: function (id) {
      return getJson(state.mode === "service" ? "api/buildings/" + encodeURIComponent(id)
                                              : "data/buildings/" + buildingKey(id) + ".json");
    },
    search: function (q) {
      if (state.mode === "static") { return staticSearch(q, 10); }
      return getJson("api/search?q=" + encodeURIComponent(q) + "&limit=10").then(function (r) { return r.hits; });
    }
  };

  /* ------------------------------------------------------------------ popups */

  /* Inline SVG bar chart of 12 monthly values (no chart library). */
  function monthlyChart(values, unit) {
    if (!Array.isArray(values) || values.length !== 12) { return ""; }
    var w = 216, h = 74, pad = 12, bw = (w - 4) / 12;
    var max = Math.max.apply(null, values.map(function (v) { return Number(v) || 0; })) || 1;
    var bars = values.map(function (v, i) {
      var bh = Math.max(0, (Number(v) || 0) / max * (h - pad - 12));
      var x = 2 + i * bw, y = h - pad - bh;
      return '<rect x="' + (x + 1).toFixed(1) + '" y="' + y.toFixed(1) + '" width="' + (bw - 2).toFixed(1) +
        '" height="' + bh.toFixed(1) + '" fill="#f08c3a"><title>' + fmt(v, 0) + " " + escapeHtml(unit) +
        "</title></rect>" + '<text x="' + (x + bw / 2).toFixed(1) + '" y="' + (h - 2) +
        '" font-size="9" text-anchor="middle" fill="#555">' + MONTHS[i] + "</text>";
    }).join("");
    return '<svg class="sk-monthly" width="' + w + '" height="' + h + '" role="img" aria-label="Monthly ' +
      escapeHtml(unit) + '"><text x="2" y="9" font-size="9" fill="#555">monthly ' + escapeHtml(unit) +
      " (max " + fmt(max, 0) + ")</text>" + bars + "</svg>";
  }

  function weatherLine() {
    return weatherLabel ? '<div class="sk-weather">weather: ' + escapeHtml(weatherLabel) + "</div>" : "";
  }

  function row(label, field, value, unit) {
    return '<tr><td>' + label + '</td><td class="sk-value" data-field="' + field + '" data-raw="' +
      escapeHtml(value === null || value === undefined ? "" : value) + '">' + value + "</td><td>" + unit +
      "</td></tr>";
  }

  function badge(cls) {
    return '<span class="sk-class" style="background:' + colorOf(cls) + '">' + escapeHtml(cls || "–") + "</span>";
  }

  /* ``full``: the face's properties from the building's JSON (all columns); otherwise the tile's (key columns). */
  function roofPopup(p, full) {
    var monthly = null;
    if (Array.isArray(p.monthly_irradiation) && p.monthly_irradiation.length === 12 && p.yield_kwh) {
      var sum = p.monthly_irradiation.reduce(function (a, b) { return a + (Number(b) || 0); }, 0);
      // the face's yield shared out by monthly irradiation [kWh/month]
      monthly = p.monthly_irradiation.map(function (m) { return sum ? p.yield_kwh * (Number(m) || 0) / sum : 0; });
    }
    return '<div class="sk-popup sk-roof" data-face-id="' + escapeHtml(p.face_id) + '" data-full="' +
      (full ? "1" : "0") + '">' + "<b>Roof face</b> " + badge(p.suitability) + "<table>" +
      row("Peak power", "kwp", fmt(p.kwp, 2), unitOf("roofs", "kwp", "kWp")) +
      row("Yield", "yield_kwh", fmt(p.yield_kwh, 0), unitOf("roofs", "yield_kwh", "kWh/a")) +
      row("CO₂ saved", "co2_savings_kg", fmt(p.co2_savings_kg, 0), unitOf("roofs", "co2_savings_kg", "kg/a")) +
      row("Usable area", "usable_area", fmt(p.usable_area, 1), unitOf("roofs", "usable_area", "m²")) +
      row("Irradiation", "irradiation", fmt(p.irradiation, 0), unitOf("roofs", "irradiation", "kWh/m²/a")) +
      row("Tilt", "tilt", fmt(p.tilt, 0), unitOf("roofs", "tilt", "°")) +
      row("Azimuth", "azimuth", p.azimuth === null || p.azimuth === undefined ? "flat" : fmt(p.azimuth, 0),
          unitOf("roofs", "azimuth", "°")) +
      "</table>" + monthlyChart(monthly, "kWh") + weatherLine() +
      '<div class="sk-building" data-building-id="' + escapeHtml(p.building_id) + '">Building ' +
      escapeHtml(p.building_id) + "</div>" + (full ? calculatorHtml() : "") + "</div>";
  }

  function wallPopup(p, full) {
    return '<div class="sk-popup sk-wall" data-wall-id="' + escapeHtml(p.wall_id) + '" data-full="' +
      (full ? "1" : "0") + '">' + "<b>Facade</b> " + badge(p.suitability) + "<table>" +
      row("Peak power", "kwp", fmt(p.kwp, 2), unitOf("walls", "kwp", "kWp")) +
      row("Yield", "yield_kwh", fmt(p.yield_kwh, 0), unitOf("walls", "yield_kwh", "kWh/a")) +
      row("Usable area", "usable_area", fmt(p.usable_area, 1), unitOf("walls", "usable_area", "m²")) +
      row("Irradiation", "irradiation", fmt(p.irradiation, 0), unitOf("walls", "irradiation", "kWh/m²/a")) +
      row("Azimuth", "azimuth", fmt(p.azimuth, 0), unitOf("walls", "azimuth", "°")) +
      row("Length × height", "length", fmt(p.length, 1) + " × " + fmt(p.height, 1), unitOf("walls", "length", "m")) +
      "</table>" + monthlyChart(p.monthly_irradiation, unitOf("walls", "monthly_irradiation", "kWh/m²/month")) +
      weatherLine() + '<div class="sk-building" data-building-id="' + escapeHtml(p.building_id) + '">Building ' +
      escapeHtml(p.building_id) + "</div></div>";
  }

  /* Household calculator (issue 14): consumption, battery and price in; savings, self-consumption,
     autarky and payback out, from api/buildings/{id}/economics; plus a typical summer and winter day.
     Only against the service (a static site has no hourly model behind it). */
  function calculatorHtml() {
    if (state.mode !== "service") { return ""; }
    var input = function (name, label, step, unit) {
      return '<label>' + label + ' <input class="sk-in" name="' + name + '" type="number" min="0" step="' + step +
        '"> ' + unit + "</label>";
    };
    return '<div class="sk-econ" hidden><b>Your household</b><div class="sk-inputs">' +
      input("consumption_kwh", "Consumption", "100", "kWh/a") + input("battery_kwh", "Battery", "0.5", "kWh") +
      input("price_eur_kwh", "Price", "0.01", "€/kWh") + '</div><div class="sk-econ-out"></div>' +
      '<div class="sk-days"></div></div>';
  }

  function dayChart(days) {
    var w = 108, h = 70, pad = 12;
    var all = [];
    ["summer", "winter"].forEach(function (k) { all = all.concat(days[k].pv_kwh, days[k].load_kwh); });
    var max = Math.max.apply(null, all) || 1;
    var line = function (values, x0, color, cls) {
      var pts = values.map(function (v, i) {
        return (x0 + 2 + i * (w - 6) / 23).toFixed(1) + "," + (h - pad - v / max * (h - pad - 12)).toFixed(1);
      }).join(" ");
      return '<polyline class="' + cls + '" fill="none" stroke="' + color + '" stroke-width="1.5" points="' + pts + '"/>';
    };
    var panel = function (k, x0) {
      return '<text x="' + (x0 + 2) + '" y="9" font-size="9" fill="#555">' + k + " day</text>" +
        line(days[k].pv_kwh, x0, "#f08c3a", "sk-pv") + line(days[k].load_kwh, x0, "#3a78f0", "sk-load") +
        '<text x="' + (x0 + 2) + '" y="' + (h - 2) + '" font-size="8" fill="#555">0 h</text><text x="' +
        (x0 + w - 14) + '" y="' + (h - 2) + '" font-size="8" fill="#555">24</text>';
    };
    return '<svg class="sk-daychart" width="' + 2 * w + '" height="' + h + '" role="img" aria-label="Typical day">' +
      panel("summer", 0) + panel("winter", w) + "</svg><div class=\"sk-weather\">mean hour (local time), kWh: " +
      '<span style="color:#f08c3a">PV</span> vs <span style="color:#3a78f0">load</span> (max ' + fmt(max, 2) +
      ")</div>";
  }

  function keepInView(popup) {
    var el = popup.getElement();
    if (!el) { return; }
    var box = el.getBoundingClientRect();
    var top = map.getContainer().getBoundingClientRect().top + 10;
    if (box.top < top) { map.panBy([0, box.top - top], { animate: false }); }
  }

  function startCalculator(popup, buildingId) {
    var root = popup.getElement() && popup.getElement().querySelector(".sk-econ");
    if (!root) { return; }
    var timer = null, controller = null;
    var val = function (name) { return root.querySelector('input[name="' + name + '"]').value; };
    var update = function (initial) {
      var q = new URLSearchParams();
      ["consumption_kwh", "battery_kwh", "price_eur_kwh"].forEach(function (n) {
        if (!initial && val(n) !== "") { q.set(n, val(n)); }
      });
      if (controller) { controller.abort(); }
      controller = new AbortController();
      fetch("api/buildings/" + encodeURIComponent(buildingId) + "/economics?" + q.toString(),
            { signal: controller.signal }).then(function (r) {
        return r.ok ? r.json() : Promise.reject(r.status);
      }).then(function (e) {
        root.hidden = false;
        if (initial) {
          root.querySelector('input[name="consumption_kwh"]').value = Math.round(e.consumption_kwh);
          root.querySelector('input[name="battery_kwh"]').value = e.battery_kwh;
          root.querySelector('input[name="price_eur_kwh"]').value = e.price_eur_kwh;
        }
        root.querySelector(".sk-econ-out").innerHTML = "<table>" +
          row("Savings", "annual_savings_eur", fmt(e.annual_savings_eur, 0), "€/a") +
          row("Self-consumption", "self_consumption_share", fmt(100 * e.self_consumption_share, 0), "%") +
          row("Autarky", "autarky_share", fmt(100 * e.autarky_share, 0), "%") +
          row("Investment", "investment_eur", fmt(e.investment_eur, 0), "€") +
          row("Payback", "payback_years", e.payback_years === null ? "never" : fmt(e.payback_years, 1), "years") +
          "</table>";
        root.querySelector(".sk-days").innerHTML = dayChart(e.typical_days);
        // the popup grew after it was placed: pan so that its top stays in view
        if (initial && popup.isOpen()) { keepInView(popup); }
      }).catch(function (err) {
        if (err && err.name === "AbortError") { return; }
        if (!initial) { root.querySelector(".sk-econ-out").textContent = "check the inputs"; }
      });
    };
    root.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { update(false); }, 250);
    });
    update(true);
  }

  function totalsHtml(buildingId, t) {
    return "Building " + escapeHtml(buildingId) + ": <b>" + fmt(t.kwp, 1) + " kWp</b>, " +
      fmt(t.yield_kwh, 0) + " kWh/a on " + fmt(t.faces, 0) + (t.faces === 1 ? " face" : " faces") +
      (t.wall_kwp ? "; facades " + fmt(t.wall_kwp, 1) + " kWp" : "");
  }

  /* Open a popup from the tile's properties at once, then fill in every column, the building totals and (on
     the service) the calculator from the building's JSON. */
  function openPopup(kind, tileProps, lngLat) {
    var render = kind === "roof" ? roofPopup : wallPopup;
    var popup = new maplibregl.Popup({ maxWidth: kind === "roof" ? "300px" : "260px" })
      .setLngLat(lngLat).setHTML(render(tileProps, false)).addTo(map);
    state.popups += 1;
    var buildingId = tileProps.building_id;
    if (buildingId === undefined || buildingId === null) { return popup; }
    data.building(String(buildingId)).then(function (b) {
      if (!popup.isOpen()) { return; }
      var idField = kind === "roof" ? "face_id" : "wall_id";
      var collection = kind === "roof" ? b.faces : b.walls;
      var feature = ((collection || {}).features || []).filter(function (f) {
        return String(f.properties[idField]) === String(tileProps[idField]);
      })[0];
      if (feature) { popup.setHTML(render(feature.properties, true)); }
      var el = popup.getElement() && popup.getElement().querySelector(".sk-building");
      if (el && b.totals) { el.innerHTML = totalsHtml(buildingId, b.totals); }
      if (kind === "roof" && feature) { startCalculator(popup, String(buildingId)); }
    }).catch(function () { /* the tile's values stay */ });
    return popup;
  }

  /* ------------------------------------------------------------------ layers */

  function suitabilityColor() {
    var expr = ["match", ["get", "suitability"]];
    Object.keys(colors).forEach(function (cls) { expr.push(cls, colors[cls]); });
    expr.push(fallbackColor);
    return Object.keys(colors).length ? expr : fallbackColor;
  }

  function wallColor(range) {
    var lo = range[0], hi = range[1] > range[0] ? range[1] : range[0] + 1;
    var expr = ["interpolate", ["linear"], ["coalesce", ["get", "irradiation"], lo]];
    WALL_RAMP.forEach(function (c, i) { expr.push(lo + (hi - lo) * i / (WALL_RAMP.length - 1), c); });
    return expr;
  }

  /* The range of the walls' irradiation from the archive's tile statistics (tippecanoe's tilestats). */
  function wallRange(tileMeta) {
    var layersStats = ((tileMeta || {}).tilestats || {}).layers || [];
    var walls = layersStats.filter(function (l) { return l.layer === "walls"; })[0];
    var attr = walls && (walls.attributes || []).filter(function (a) { return a.attribute === "irradiation"; })[0];
    if (attr && isFinite(attr.min) && isFinite(attr.max)) {
      return [Math.floor(attr.min / 50) * 50, Math.ceil(attr.max / 50) * 50];
    }
    return [0, 1000];
  }

  var toggles = [];  /* [{id, label, layers: [layer ids], on}] */

  function addContext(rasters) {
    (rasters || []).forEach(function (r) {
      map.addSource(r.id, { type: "raster", url: "pmtiles://" + absolute(r.url), tileSize: 256 });
      map.addLayer({ id: r.id, type: "raster", source: r.id,
                     paint: { "raster-opacity": r.opacity === undefined ? 1 : r.opacity } });
      toggles.push({ id: r.id, label: r.label || r.id, layers: [r.id], on: r.visible !== false });
    });
  }

  function addVectorLayers(url, range) {
    map.addSource("solarkataster", { type: "vector", url: "pmtiles://" + absolute(url) });
    map.addLayer({ id: "buildings-fill", type: "fill", source: "solarkataster", "source-layer": "buildings",
                   maxzoom: 14, paint: { "fill-color": suitabilityColor(), "fill-opacity": 0.85 } });
    map.addLayer({ id: "buildings", type: "line", source: "solarkataster", "source-layer": "buildings",
                   paint: { "line-color": "#333", "line-width": ["interpolate", ["linear"], ["zoom"], 12, 0.2, 17, 1] } });
    map.addLayer({ id: "roofs", type: "fill", source: "solarkataster", "source-layer": "roofs",
                   paint: { "fill-color": suitabilityColor(), "fill-opacity": 0.85, "fill-outline-color": "#444" } });
    map.addLayer({ id: "walls", type: "line", source: "solarkataster", "source-layer": "walls",
                   layout: { "line-cap": "butt" },
                   paint: { "line-color": wallColor(range),
                            "line-width": ["interpolate", ["linear"], ["zoom"], 15, 1, 18, 4, 21, 8] } });
    toggles.push({ id: "roofs", label: "Roof faces", layers: ["roofs", "buildings-fill"], on: true });
    toggles.push({ id: "walls", label: "Facades", layers: ["walls"], on: true });
    toggles.push({ id: "buildings", label: "Building outlines", layers: ["buildings"], on: true });
  }

  function renderToggles() {
    var root = $(".sk-layers");
    root.innerHTML = toggles.slice().reverse().map(function (t) {
      return '<label><input type="checkbox" data-layer="' + escapeHtml(t.id) + '"' + (t.on ? " checked" : "") +
        "> " + escapeHtml(t.label) + "</label>";
    }).join("");
    root.addEventListener("change", function (e) {
      var t = toggles.filter(function (x) { return x.id === e.target.getAttribute("data-layer"); })[0];
      if (!t) { return; }
      t.on = e.target.checked;
      t.layers.forEach(function (id) { map.setLayoutProperty(id, "visibility", t.on ? "visible" : "none"); });
    });
    toggles.forEach(function (t) {
      t.layers.forEach(function (id) { map.setLayoutProperty(id, "visibility", t.on ? "visible" : "none"); });
    });
  }

  function rampHtml(title, stops, lo, hi, unit) {
    return "<h3>" + escapeHtml(title) + '</h3><div class="sk-ramp" style="background:linear-gradient(to right,' +
      stops.join(",") + ')"></div><div class="sk-ramp-labels"><span>' + fmt(lo, 0) + "</span><span>" +
      escapeHtml(unit) + "</span><span>" + fmt(hi, 0) + "</span></div>";
  }

  function renderLegend(m, range, rasters) {
    var s = m.suitability || {};
    var unit = s.unit || "";
    var rows = (m.legend || []).map(function (c) {
      var bound = "";
      if (c.min !== null && c.min !== undefined && c.min > 0) {
        bound = " (≥ " + fmt(c.min, 0) + " " + escapeHtml(unit) + ")";
      } else if (c.min_share) {  // no absolute bounds known: the site-relative share
        bound = " (≥ " + fmt(100 * c.min_share, 0) + " % of the best orientation)";
      }
      return '<div><span class="sk-swatch" style="background:' + escapeHtml(c.color) + '"></span>' +
        escapeHtml(c.label || c["class"]) + bound + "</div>";
    }).join("");
    var ramps = rampHtml("Facades: irradiation", WALL_RAMP, range[0], range[1],
                         unitOf("walls", "irradiation", "kWh/m²/a"));
    (rasters || []).forEach(function (r) {
      if (r.legend && r.legend.colors) {
        ramps += rampHtml(r.label || r.id, r.legend.colors, r.legend.min, r.legend.max, r.legend.unit || "");
      }
    });
    $(".sk-legend").innerHTML = "<h3>Roof suitability</h3>" + rows + ramps +
      (m.weather_label ? '<div class="sk-weather">weather: ' + escapeHtml(m.weather_label) + "</div>" : "") +
      (s.source && s.source !== "results" ? '<div class="sk-provenance">thresholds: ' + escapeHtml(s.source) + "</div>" : "");
  }

  function renderProvenance(m) {
    var w = m.weather;
    weatherLabel = m.weather_label ||
      (w && typeof w === "object" ? (w.source || "") + (w.year ? " " + w.year : "") : (w || ""));
    $(".sk-provenance").innerHTML =
      "solarkataster " + escapeHtml(m.version || "?") + (weatherLabel ? " · weather: " + escapeHtml(weatherLabel) : "") +
      (m.created ? " · " + escapeHtml(String(m.created).slice(0, 10)) : "") +
      (state.mode === "static" ? " · static site" : "");
  }

  function countRendered() {
    var unique = function (layer, key) {
      if (!map.getLayer(layer)) { return 0; }
      var seen = {};
      map.queryRenderedFeatures({ layers: [layer] }).forEach(function (f) { seen[f.properties[key]] = 1; });
      return Object.keys(seen).length;
    };
    state.roofs = unique("roofs", "face_id");
    state.walls = unique("walls", "wall_id");
    state.loads += 1;
    var el = $(".sk-status");
    if (state.noTiles) {
      el.className = "sk-status sk-warn";
      el.textContent = "no vector tiles in this results folder: build them with 'solarkataster tiles DIR'";
      return;
    }
    el.className = "sk-status" + (map.getZoom() < 14 ? " sk-warn" : "");
    el.textContent = map.getZoom() < 14 ? "zoom in to see the roof faces" :
      state.roofs + " roof faces, " + state.walls + " facades in view";
  }

  /* ------------------------------------------------------------------ basemap (online, optional) */

  /* An online base map under the results: a MapLibre style URL (its sources and layers go below ours) or an
     XYZ raster template with {z}/{x}/{y}. Offline, the request fails and the map keeps its own layers. */
  function addBasemap(base, beforeId) {
    if (!base || !/^https?:\/\//.test(base.url || "")) { return; }
    if (base.url.indexOf("{z}") >= 0) {
      map.addSource("basemap", { type: "raster", tiles: [base.url], tileSize: 256, maxzoom: 19,
                                 attribution: base.attribution || "" });
      map.addLayer({ id: "basemap", type: "raster", source: "basemap" }, beforeId);
      toggles.unshift({ id: "basemap", label: "Base map (online)", layers: ["basemap"], on: true });
      return;
    }
    getJson(base.url).then(function (style) {
      map.setStyle(style, { diff: false, transformStyle: function (previous, next) {
        var own = previous.layers.filter(function (l) { return l.id !== "background"; });
        return Object.assign({}, next, { sources: Object.assign({}, next.sources, previous.sources),
                                         layers: next.layers.concat(own) });
      } });
      state.basemap = "style";
    }).catch(function (err) { state.basemap = "failed: " + err.message; });
  }

  function basemapFrom(m) {
    var fromQuery = new URLSearchParams(window.location.search).get("basemap");
    if (fromQuery && /^https?:\/\//.test(fromQuery)) { return { url: fromQuery, attribution: "" }; }
    return m.basemap || null;
  }

  /* ------------------------------------------------------------------ search */

  function flyTo(hit) {
    var b = hit.bbox;
    document.querySelectorAll(".maplibregl-popup").forEach(function (el) { el.remove(); });
    map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 80, maxZoom: 19, duration: 800 });
    state.searches += 1;
    state.lastHit = hit;
  }

  function setUpSearch() {
    var form = $(".sk-search"), list = form.querySelector(".sk-hits");
    var show = function (hits) {
      list.innerHTML = hits.length ? hits.map(function (h, i) {
        return '<li tabindex="0" data-i="' + i + '">' + escapeHtml(h.building_id) +
          (h.field !== "building_id" ? ' <span class="sk-field">' + escapeHtml(h.field) + ": " +
           escapeHtml(h.value) + "</span>" : "") + "</li>";
      }).join("") : "<li>no building found</li>";
      list.querySelectorAll("li[data-i]").forEach(function (li) {
        var go = function () { flyTo(hits[Number(li.getAttribute("data-i"))]); list.innerHTML = ""; };
        li.addEventListener("click", go);
        li.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(); } });
      });
    };
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var q = form.elements.q.value.trim();
      if (!q) { return; }
      data.search(q).then(function (hits) {
        if (hits.length) { flyTo(hits[0]); }
        if (hits.length === 1) { list.innerHTML = ""; } else { show(hits); }
      }).catch(function (err) { list.innerHTML = "<li>search failed: " + escapeHtml(err.message) + "</li>"; });
    });
  }

  /* ------------------------------------------------------------------ start */

  function onClick(e) {
    var pad = 4, box = [[e.point.x - pad, e.point.y - pad], [e.point.x + pad, e.point.y + pad]];
    var visible = function (id) { return map.getLayer(id) && map.getLayoutProperty(id, "visibility") !== "none"; };
    var walls = visible("walls") ? map.queryRenderedFeatures(box, { layers: ["walls"] }) : [];
    if (walls.length) { openPopup("wall", walls[0].properties, e.lngLat); return; }
    var roofs = visible("roofs") ? map.queryRenderedFeatures(e.point, { layers: ["roofs"] }) : [];
    if (roofs.length) { openPopup("roof", roofs[0].properties, e.lngLat); }
  }

  function vectorMetadata(url) {
    return new pmtiles.PMTiles(absolute(url)).getMetadata().catch(function () { return {}; });
  }

  function rasterMetadata(rasters) {
    return Promise.all((rasters || []).map(function (r) {
      return new pmtiles.PMTiles(absolute(r.url)).getMetadata().then(function (m) {
        return Object.assign({}, m || {}, r);
      }).catch(function () { return null; });
    })).then(function (list) { return list.filter(Boolean); });
  }

  function start(m) {
    meta = m;
    (m.legend || []).forEach(function (c) { colors[c["class"]] = c.color; });
    fallbackColor = (m.contract || {}).no_class_color || fallbackColor;
    units = m.units || units;
    renderProvenance(m);
    var tiles = m.tiles || {};
    var vectorUrl = tiles.vector === undefined ? "tiles/solarkataster.pmtiles" : tiles.vector;
    return Promise.all([vectorUrl ? vectorMetadata(vectorUrl) : {}, rasterMetadata(tiles.raster)]).then(function (res) {
      var range = wallRange(res[0]);
      state.wallRange = range;
      var rasters = res[1];
      addContext(rasters);
      if (vectorUrl) { addVectorLayers(vectorUrl, range); } else { state.noTiles = true; }
      addBasemap(basemapFrom(m), rasters.length ? rasters[0].id : (vectorUrl ? "buildings-fill" : undefined));
      renderToggles();
      renderLegend(m, range, rasters);
      var e = m.extent;
      if (e) { map.fitBounds([[e[0], e[1]], [e[2], e[3]]], { padding: 20, maxZoom: 19, duration: 0 }); }
      map.on("click", onClick);
      map.on("idle", countRendered);
      setUpSearch();
    });
  }

  var ready = new Promise(function (resolve) { map.on("load", resolve); }).then(data.meta).then(start)
    .catch(function (err) {
      state.errors += 1;
      $(".sk-status").textContent = "could not load the results: " + err.message;
    });

  window.solarkataster = { map: map, state: state, ready: ready, buildingKey: buildingKey,
                           meta: function () { return meta; } };
})();
