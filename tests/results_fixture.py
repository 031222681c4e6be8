"""A synthetic results folder, shaped like the output of ``solarkataster run``, for the service tests.

Buildings are rectangles on a regular grid near Kaiserslautern (7.77° E, 49.44° N). Most have a gable
roof (a south- and a north-facing face, or east/west when rotated), some a flat roof, one a roof face that
is a MultiPolygon. Values follow simple closed forms so the tests can recompute them:

* irradiation [kWh/m²/a] = 1100 * (1 - 0.4 * sin(tilt) * (1 - cos(azimuth - 180°)) / 2) (flat: 1000)
* usable_area = 0.7 * area; kwp = 0.2 kWp/m² * usable_area; yield_kwh = 0.8 * irradiation * kwp
* co2_savings_kg = 0.38 kg/kWh * yield_kwh; monthly values = annual * MONTH_SHARE

Only the GeoJSON layers and run.json are written (the service reads nothing else).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from solarkataster import layers

CENTER_LON, CENTER_LAT = 7.77, 49.44
M_PER_DEG_LAT = 111_320.0
MONTH_SHARE = (0.03, 0.05, 0.08, 0.11, 0.13, 0.14, 0.14, 0.12, 0.09, 0.06, 0.03, 0.02)
THRESHOLDS = {"property": "irradiation", "unit": "kWh/m²/a",
              "min": {"very good": 1000.0, "good": 900.0, "limited": 750.0, "unsuitable": 0.0}}
UNITS = {name: layers.units(name) for name in ("roofs", "walls", "buildings")}


def _lonlat(x, y):
    """Local metres east/north of the centre -> lon/lat [°] (equirectangular, fine for a few km)."""
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(CENTER_LAT))
    return round(CENTER_LON + x / m_per_deg_lon, 8), round(CENTER_LAT + y / M_PER_DEG_LAT, 8)


def _ring(points):
    """Closed lon/lat ring, counter-clockwise (RFC 7946 exterior) for points given counter-clockwise."""
    coords = [list(_lonlat(x, y)) for x, y in points]
    return coords + [coords[0]]


def suitability(irradiation):
    """Class from :data:`THRESHOLDS` (minimum irradiation per class)."""
    for name in ("very good", "good", "limited"):
        if irradiation >= THRESHOLDS["min"][name]:
            return name
    return "unsuitable"


def _face_properties(building_id, face_id, tilt, azimuth, area, footprint_area, height, shading):
    if azimuth is None:
        irradiation = 1000.0 * (1 - shading)
    else:
        orient = (1 - math.cos(math.radians(azimuth - 180.0))) / 2
        irradiation = 1100.0 * (1 - 0.4 * math.sin(math.radians(tilt)) * orient) * (1 - shading)
    usable = 0.7 * area
    kwp = 0.2 * usable
    yield_kwh = 0.8 * irradiation * kwp
    return {
        "building_id": building_id, "face_id": face_id, "tilt": round(tilt, 2),
        "azimuth": None if azimuth is None else round(azimuth, 2), "area": round(area, 2),
        "footprint_area": round(footprint_area, 2), "height": round(height, 2),
        "irradiation": round(irradiation, 2), "irradiation_p10": round(0.9 * irradiation, 2),
        "irradiation_p50": round(irradiation, 2), "irradiation_p90": round(1.05 * irradiation, 2),
        "monthly_irradiation": [round(irradiation * s, 2) for s in MONTH_SHARE],
        "shading_loss": round(shading, 3), "usable_area": round(usable, 2), "modules": int(usable // 1.8),
        "kwp": round(kwp, 3), "yield_kwh": round(yield_kwh, 1),
        "specific_yield": round(yield_kwh / kwp, 1) if kwp else None,
        "co2_savings_kg": round(0.38 * yield_kwh, 1), "suitability": suitability(irradiation),
    }


def _building(k, x0, y0, rng, with_walls=True, multipolygon_face=False):
    """Features of one building: (roof faces, walls, building)."""
    building_id = f"DERP{k:06d}"
    w, d = float(rng.uniform(9, 16)), float(rng.uniform(8, 12))
    height = float(rng.uniform(6, 12))
    flat = k % 5 == 3
    shading = float(rng.choice([0.0, 0.05, 0.15, 0.35]))
    x1, y1, ym = x0 + w, y0 + d, y0 + d / 2
    faces = []
    if flat:
        geom = {"type": "Polygon", "coordinates": [_ring([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])]}
        faces.append((geom, _face_properties(building_id, f"{building_id}-1", 0.0, None, w * d, w * d,
                                             height, shading)))
    else:
        tilt = float(rng.uniform(25, 45))
        slope = 1 / math.cos(math.radians(tilt))
        halves = [((x0, y0), (x1, y0), (x1, ym), (x0, ym), 180.0), ((x0, ym), (x1, ym), (x1, y1), (x0, y1), 0.0)]
        for j, (a, b, c, e, azimuth) in enumerate(halves, start=1):
            geom = {"type": "Polygon", "coordinates": [_ring([a, b, c, e])]}
            faces.append((geom, _face_properties(building_id, f"{building_id}-{j}", tilt, azimuth,
                                                 w * d / 2 * slope, w * d / 2, height, shading)))
    if multipolygon_face:  # a face split by a chimney strip: two parts, one feature
        geom, props = faces[0]
        xm = x0 + w / 2
        parts = [[_ring([(x0, y0), (xm - 0.5, y0), (xm - 0.5, ym), (x0, ym)])],
                 [_ring([(xm + 0.5, y0), (x1, y0), (x1, ym), (xm + 0.5, ym)])]]
        faces[0] = ({"type": "MultiPolygon", "coordinates": parts}, props)

    walls = []
    if with_walls:
        # counter-clockwise footprint: the outward normal of edge a->b points right of it
        corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        for j in range(4):
            (ax, ay), (bx, by) = corners[j], corners[(j + 1) % 4]
            azimuth = math.degrees(math.atan2(by - ay, -(bx - ax))) % 360  # normal (dy, -dx), clockwise from N
            length = math.hypot(bx - ax, by - ay)
            orient = (1 - math.cos(math.radians(azimuth - 180.0))) / 2
            irradiation = 780.0 * (1 - 0.7 * orient) * (1 - shading)
            usable = 0.5 * length * height
            kwp = 0.2 * usable
            walls.append(({"type": "LineString", "coordinates": [list(_lonlat(ax, ay)), list(_lonlat(bx, by))]}, {
                "building_id": building_id, "wall_id": f"{building_id}-w{j + 1}", "azimuth": round(azimuth, 2),
                "length": round(length, 2), "height": round(height, 2), "area": round(length * height, 2),
                "irradiation": round(irradiation, 2),
                "monthly_irradiation": [round(irradiation * s, 2) for s in MONTH_SHARE],
                "bands": [{"z_min": z, "z_max": min(z + 3.0, height),
                           "irradiation": round(irradiation * (0.9 + 0.03 * z), 2)}
                          for z in np.arange(0.0, height, 3.0).tolist()],
                "usable_area": round(usable, 2), "kwp": round(kwp, 3), "yield_kwh": round(0.8 * irradiation * kwp, 1),
                "suitability": suitability(irradiation), "shared": False,
            }))

    face_props = [p for _, p in faces]
    kwp = sum(p["kwp"] for p in face_props)
    yield_kwh = sum(p["yield_kwh"] for p in face_props)
    best = max(face_props, key=lambda p: p["irradiation"])["suitability"]
    building = ({"type": "Polygon", "coordinates": [_ring([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])]}, {
        "building_id": building_id, "source": "synthetic", "status": "ok", "partly_outside": False,
        "faces": len(faces), "roof_area": round(sum(p["area"] for p in face_props), 2),
        "usable_area": round(sum(p["usable_area"] for p in face_props), 2), "kwp": round(kwp, 3),
        "yield_kwh": round(yield_kwh, 1), "specific_yield": round(yield_kwh / kwp, 1) if kwp else None,
        "co2_savings_kg": round(0.38 * yield_kwh, 1),
        "monthly_yield": [round(yield_kwh * s, 1) for s in MONTH_SHARE], "suitability": best,
        "wall_area": round(sum(p["area"] for _, p in walls), 2), "wall_kwp": round(sum(p["kwp"] for _, p in walls), 3),
        "wall_yield_kwh": round(sum(p["yield_kwh"] for _, p in walls), 1), "height": round(height, 2),
    })
    return faces, walls, building


def _collection(name, features, created):
    return {
        "type": "FeatureCollection",
        "metadata": {"layer": name, "units": UNITS[name], "version": "0.1.0", "created": created,
                     "weather": {"source": "clear-sky", "model": "Ineichen + Linke climatology", "year": 2025},
                     "provenance": {"inputs": [{"path": "dsm.tif", "sha256": "0" * 64}], "resolution_m": 0.5,
                                    "generator": "tests/results_fixture.py"},
                     **({"suitability": THRESHOLDS} if name == "roofs" else {})},
        "features": [{"type": "Feature", "properties": p, "geometry": g} for g, p in features],
    }


def write_results(folder, n_x=8, n_y=5, spacing=25.0, seed=7, with_walls=True) -> Path:
    """Write a results folder with ``n_x * n_y`` buildings on a grid; returns the folder.

    Parameters
    ----------
    folder : str or Path
        Created if needed.
    n_x, n_y : int
        Buildings per row and column.
    spacing : float
        Grid spacing [m] (buildings are at most 16 m wide, so they never touch at >= 20 m).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    roofs, walls, buildings = [], [], []
    k = 0
    for iy in range(n_y):
        for ix in range(n_x):
            x0 = (ix - n_x / 2) * spacing
            y0 = (iy - n_y / 2) * spacing
            f, w, b = _building(k, x0, y0, rng, with_walls=with_walls, multipolygon_face=(k == 1))
            roofs += f
            walls += w
            buildings.append(b)
            k += 1
    created = "2025-06-01T12:00:00+00:00"
    for name, features in (("roofs", roofs), ("walls", walls), ("buildings", buildings)):
        if name == "walls" and not with_walls:
            continue
        with open(folder / f"{name}.geojson", "w", encoding="utf-8") as fh:
            json.dump(_collection(name, features, created), fh, separators=(",", ":"), ensure_ascii=False)
    run = {"version": "0.1.0", "created": created, "command": "solarkataster run (synthetic fixture)",
           "weather": {"source": "clear-sky"}, "parameters": {"albedo": 0.2, "suitability": THRESHOLDS}}
    (folder / "run.json").write_text(json.dumps(run, indent=1), encoding="utf-8")
    return folder


def write_large_results(folder, n_faces=100_000, seed=11) -> Path:
    """A results folder with about ``n_faces`` roof faces (gable roofs, no walls) for the benchmark."""
    n_buildings = math.ceil(n_faces / 1.8)  # every 5th roof is flat (1 face), the rest gabled (2)
    n_x = math.ceil(math.sqrt(n_buildings))
    n_y = math.ceil(n_buildings / n_x)
    return write_results(folder, n_x=n_x, n_y=n_y, spacing=20.0, seed=seed, with_walls=False)


def load_features(folder, name):
    """The features of one layer as written (for brute-force reference checks)."""
    with open(Path(folder) / f"{name}.geojson", encoding="utf-8") as fh:
        return json.load(fh)["features"]
