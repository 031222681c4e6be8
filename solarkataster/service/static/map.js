/* solarkataster map page: roof faces by suitability, facades as lines, popups with yield and a monthly chart.
   Talks only to this server's API (relative URLs), so it works offline and behind a path prefix. */
(function () {
  "use strict";

  var MONTHS = ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"];
  var fallbackColor = "#9e9e9e";  /* replaced by the contract's no_class_color */
  var state = { roofs: 0, walls: 0, roofsMatched: 0, wallsMatched: 0, truncated: false, loads: 0, errors: 0 };
  var colors = {};
  /* Units per layer and column come from the layer contract (api/meta: units, contract). */
  var units = { roofs: {}, walls: {}, buildings: {} };
  var weatherLabel = "";

  var map = L.map("map", { preferCanvas: false, maxZoom: 22, zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix('<a href="docs">API</a> · <a href="https://leafletjs.com">Leaflet</a>');

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

  function roofPopup(p) {
    var monthly = null;
    if (Array.isArray(p.monthly_irradiation) && p.monthly_irradiation.length === 12 && p.yield_kwh) {
      var sum = p.monthly_irradiation.reduce(function (a, b) { return a + (Number(b) || 0); }, 0);
      // the face's yield shared out by monthly irradiation [kWh/month]
      monthly = p.monthly_irradiation.map(function (m) { return sum ? p.yield_kwh * (Number(m) || 0) / sum : 0; });
    }
    return '<div class="sk-popup sk-roof" data-face-id="' + escapeHtml(p.face_id) + '">' +
      "<b>Roof face</b> " + badge(p.suitability) + "<table>" +
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
      escapeHtml(p.building_id) + "</div>" + calculatorHtml() + "</div>";
  }

  /* Household calculator (issue 14): consumption, battery and price in; savings, self-consumption,
     autarky and payback out, from /api/buildings/{id}/economics; plus a typical summer and winter day. */
  function calculatorHtml() {
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
    var box = popup.getElement().getBoundingClientRect();
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
        // the popup grew after Leaflet's auto-pan: pan again so that its top stays in view
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

  function wallPopup(p) {
    return '<div class="sk-popup sk-wall" data-wall-id="' + escapeHtml(p.wall_id) + '">' +
      "<b>Facade</b> " + badge(p.suitability) + "<table>" +
      row("Peak power", "kwp", fmt(p.kwp, 2), unitOf("walls", "kwp", "kWp")) +
      row("Yield", "yield_kwh", fmt(p.yield_kwh, 0), unitOf("walls", "yield_kwh", "kWh/a")) +
      row("Usable area", "usable_area", fmt(p.usable_area, 1), unitOf("walls", "usable_area", "m²")) +
      row("Irradiation", "irradiation", fmt(p.irradiation, 0), unitOf("walls", "irradiation", "kWh/m²/a")) +
      row("Azimuth", "azimuth", fmt(p.azimuth, 0), unitOf("walls", "azimuth", "°")) +
      row("Length × height", "length", fmt(p.length, 1) + " × " + fmt(p.height, 1), unitOf("walls", "length", "m")) +
      "</table>" + monthlyChart(p.monthly_irradiation, unitOf("walls", "monthly_irradiation", "kWh/m²/month")) +
      weatherLine() + "</div>";
  }

  /* Building totals are filled in after the popup opens (one small request). */
  function addBuildingTotals(popup, buildingId) {
    fetch("api/buildings/" + encodeURIComponent(buildingId)).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (b) {
      if (!b || !popup.isOpen()) { return; }
      var el = popup.getElement() && popup.getElement().querySelector(".sk-building");
      if (!el) { return; }
      var t = b.totals || {};
      el.innerHTML = "Building " + escapeHtml(buildingId) + ": <b>" + fmt(t.kwp, 1) + " kWp</b>, " +
        fmt(t.yield_kwh, 0) + " kWh/a on " + fmt(t.faces, 0) + (t.faces === 1 ? " face" : " faces") +
        (t.wall_kwp ? "; facades " + fmt(t.wall_kwp, 1) + " kWp" : "");
    }).catch(function () { /* totals are optional */ });
  }

  var roofLayer = L.geoJSON(null, {
    style: function (f) {
      return { className: "sk-roof-path", color: "#444", weight: 0.8, fillColor: colorOf(f.properties.suitability),
               fillOpacity: 0.85 };
    },
    onEachFeature: function (f, layer) {
      layer.on("click", function (e) {
        L.DomEvent.stopPropagation(e);
        var popup = L.popup({ maxWidth: 300 }).setLatLng(e.latlng).setContent(roofPopup(f.properties)).openOn(map);
        addBuildingTotals(popup, f.properties.building_id);
        startCalculator(popup, f.properties.building_id);
      });
    }
  }).addTo(map);

  var wallLayer = L.geoJSON(null, {
    style: function (f) {
      return { className: "sk-wall-path", color: colorOf(f.properties.suitability), weight: 4, opacity: 0.95,
               lineCap: "butt" };
    },
    onEachFeature: function (f, layer) {
      layer.on("click", function (e) {
        L.DomEvent.stopPropagation(e);
        L.popup({ maxWidth: 260 }).setLatLng(e.latlng).setContent(wallPopup(f.properties)).openOn(map);
      });
    }
  }).addTo(map);

  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

  /* Legend and status panel. */
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    this._div = L.DomUtil.create("div", "sk-panel sk-legend");
    return this._div;
  };
  legend.addTo(map);

  var info = L.control({ position: "topright" });
  info.onAdd = function () {
    this._div = L.DomUtil.create("div", "sk-panel sk-info");
    this._div.innerHTML = '<h3>Solar potential</h3><div class="sk-status">loading…</div>' +
      '<div class="sk-provenance"></div>';
    return this._div;
  };
  info.addTo(map);

  function renderLegend(meta) {
    var s = meta.suitability || {};
    var unit = s.unit || "";
    var rows = (meta.legend || []).map(function (c) {
      var range = "";
      if (c.min !== null && c.min !== undefined && c.min > 0) {
        range = " (≥ " + fmt(c.min, 0) + " " + escapeHtml(unit) + ")";
      } else if (c.min_share) {  // no absolute bounds known: the site-relative share
        range = " (≥ " + fmt(100 * c.min_share, 0) + " % of the best orientation)";
      }
      return '<div><span class="sk-swatch" style="background:' + escapeHtml(c.color) + '"></span>' +
        escapeHtml(c.label || c["class"]) + range + "</div>";
    }).join("");
    legend._div.innerHTML = "<h3>Suitability</h3>" + rows +
      '<div><span class="sk-line"></span>facades (lines, same colours)</div>' +
      (meta.weather_label ? '<div class="sk-weather">weather: ' + escapeHtml(meta.weather_label) + "</div>" : "") +
      (s.source && s.source !== "results" ? '<div class="sk-provenance">thresholds: ' + escapeHtml(s.source) + "</div>" : "");
  }

  function renderProvenance(meta) {
    var w = meta.weather;
    var weather = meta.weather_label ||
      (w && typeof w === "object" ? (w.source || "") + (w.year ? " " + w.year : "") : (w || ""));
    weatherLabel = weather;
    info._div.querySelector(".sk-provenance").innerHTML =
      "solarkataster " + escapeHtml(meta.version || "?") + (weather ? " · weather: " + escapeHtml(weather) : "") +
      (meta.created ? " · " + escapeHtml(String(meta.created).slice(0, 10)) : "");
  }

  function renderStatus() {
    var el = info._div.querySelector(".sk-status");
    el.className = "sk-status" + (state.truncated ? " sk-warn" : "");
    el.textContent = state.roofs + " of " + state.roofsMatched + " roof faces, " + state.walls + " of " +
      state.wallsMatched + " facades in view" + (state.truncated ? " – zoom in to see all" : "");
  }

  function viewBbox() {
    var b = map.getBounds();
    var clamp = function (v, lim) { return Math.max(-lim, Math.min(lim, v)); };
    return [clamp(b.getWest(), 180), clamp(b.getSouth(), 90), clamp(b.getEast(), 180), clamp(b.getNorth(), 90)]
      .map(function (v) { return v.toFixed(7); }).join(",");
  }

  var pending = null;
  function loadView() {
    if (pending) { pending.abort(); }
    var controller = new AbortController();
    pending = controller;
    var bbox = viewBbox();
    var get = function (layer) {
      return fetch("api/" + layer + "?bbox=" + bbox, { signal: controller.signal }).then(function (r) {
        if (!r.ok) { throw new Error(layer + ": HTTP " + r.status); }
        return r.json();
      });
    };
    return Promise.all([get("roofs"), get("walls")]).then(function (res) {
      roofLayer.clearLayers().addData(res[0]);
      wallLayer.clearLayers().addData(res[1]);
      wallLayer.bringToFront();
      state.roofs = res[0].numberReturned; state.roofsMatched = res[0].numberMatched;
      state.walls = res[1].numberReturned; state.wallsMatched = res[1].numberMatched;
      state.truncated = res[0].truncated || res[1].truncated;
      state.loads += 1;
      renderStatus();
    }).catch(function (err) {
      if (err.name === "AbortError") { return; }
      state.errors += 1;
      info._div.querySelector(".sk-status").textContent = "could not load features: " + err.message;
    });
  }

  function basemapFrom(meta) {
    var fromQuery = new URLSearchParams(window.location.search).get("basemap");
    if (fromQuery && /^https?:\/\//.test(fromQuery)) { return { url: fromQuery, attribution: "" }; }
    return meta.basemap || null;
  }

  var ready = fetch("api/meta").then(function (r) {
    if (!r.ok) { throw new Error("api/meta: HTTP " + r.status); }
    return r.json();
  }).then(function (meta) {
    (meta.legend || []).forEach(function (c) { colors[c["class"]] = c.color; });
    fallbackColor = (meta.contract || {}).no_class_color || fallbackColor;
    units = meta.units || units;
    renderLegend(meta);
    renderProvenance(meta);
    var base = basemapFrom(meta);
    if (base) { L.tileLayer(base.url, { maxZoom: 22, maxNativeZoom: 19, attribution: base.attribution || "" }).addTo(map); }
    var e = meta.extent;
    if (e) { map.fitBounds([[e[1], e[0]], [e[3], e[2]]], { padding: [20, 20], maxZoom: 19 }); }
    else { map.setView([49.44, 7.77], 15); }
    map.on("moveend", loadView);
    return loadView();
  }).catch(function (err) {
    state.errors += 1;
    info._div.querySelector(".sk-status").textContent = "could not load the results: " + err.message;
  });

  window.solarkataster = { map: map, state: state, roofLayer: roofLayer, wallLayer: wallLayer, ready: ready };
})();
