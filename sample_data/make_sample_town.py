"""Generate the synthetic sample town: DSM, DTM, footprints and exact ground truth.

A small, fully known scene near Kaiserslautern (EPSG:25832, 0.5 m pixels) for tests, docs and demos.
Every roof is a set of exact planes; the truth (tilt, azimuth, areas, plane polygons, walls, trees) is
computed from that geometry, never from the raster. The raster is the same geometry sampled at pixel
centres, plus tree canopies and LiDAR-like noise from a fixed seed, so a rerun reproduces it exactly.

Usage::

    python sample_data/make_sample_town.py [--out DIR]

or ``from make_sample_town import make_sample_town; make_sample_town(out_dir)``.
Depends only on numpy, rasterio, shapely, pyproj and geopandas.

Geometry model
--------------
A building is a footprint plus roof *parts*. Each part has a domain polygon and a few planes; over its
domain the part's roof is the lowest of its planes (a convex roof: gable, hip, shed, flat). The building's
roof is the highest of the parts covering a point (a union of solids: L-shaped hips, courtyard rings,
dormers, roof superstructures). The horizontal polygon of every roof plane follows exactly from this rule by
clipping the domains with half-planes.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import Affine
from shapely import affinity
from shapely.geometry import Point, Polygon
from shapely.geometry.polygon import orient

logger = logging.getLogger("make_sample_town")

SEED = 20250611
CRS = "EPSG:25832"
CELLSIZE = 0.5  # [m]
WIDTH, HEIGHT = 480, 400  # [px] -> 240 m x 200 m
CENTRE_LONLAT = (7.769, 49.444)  # Kaiserslautern city centre [°]
LIDAR_NOISE = 0.03  # std of the height noise on every DSM pixel [m]
TREE_ROUGHNESS = 0.5  # std of the canopy roughness [m]
HEIGHT_QUANTUM = 2.0 ** -10  # heights are stored on a ~1 mm grid, like LAS with scale 0.001 [m]
NODATA_BLOCK = 6  # [px] square of NaN at the north-east corner

OUTPUT_FILES = {
    "dsm": "town_dsm.tif",
    "dtm": "town_dtm.tif",
    "footprints_geojson": "town_footprints.geojson",
    "footprints_gpkg": "town_footprints.gpkg",
    "truth": "town_truth.json",
}


# --------------------------------------------------------------------------------------------- terrain
def terrain_z(x, y):
    """Terrain height [m] at local coordinates (x east, y north of the south-west corner) [m].

    A 2 % slope rising towards azimuth 60° plus a soft gaussian hill of 3 m.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    a = math.radians(60.0)
    slope = 0.02 * ((x - 120.0) * math.sin(a) + (y - 100.0) * math.cos(a))
    hill = 3.0 * np.exp(-((x - 185.0) ** 2 + (y - 60.0) ** 2) / (2 * 35.0 ** 2))
    return 239.0 + slope + hill


# --------------------------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class Plane:
    """z = z0 + gx * x + gy * y in local coordinates [m]."""
    z0: float
    gx: float
    gy: float

    def __call__(self, x, y):
        return self.z0 + self.gx * np.asarray(x, float) + self.gy * np.asarray(y, float)

    def same_as(self, other, tol=1e-7):
        return (abs(self.gx - other.gx) < tol and abs(self.gy - other.gy) < tol
                and abs(self.z0 - other.z0) < 1e-4)


@dataclass
class RoofPart:
    """A convex roof over ``domain``: the lowest of ``planes`` at every point."""

    domain: object  # shapely Polygon
    planes: list
    kind: str = "main"  # main | dormer | superstructure

    def height(self, x, y):
        return np.min([p(x, y) for p in self.planes], axis=0)


@dataclass
class Building:
    """A footprint and its roof parts; the roof is the highest part covering a point."""

    building_id: str
    roof_type: str
    footprint: object
    parts: list
    eave_height: float  # design value above ground_z [m]
    ground_z: float
    rotation: float = 0.0
    features: list = field(default_factory=list)

    def height(self, x, y):
        """Roof height [m] at points inside or on the footprint (NaN where no part covers them)."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        h = np.full(x.shape, -np.inf)
        for part in self.parts:
            inside = shapely.intersects_xy(part.domain, x, y)
            if inside.any():
                h[inside] = np.maximum(h[inside], part.height(x[inside], y[inside]))
        h[~np.isfinite(h)] = np.nan
        return h


def _rect(cx, cy, length, width, angle):
    """Corners (CCW, starting south-west before rotation) of a rectangle rotated ``angle`` [°] CCW."""
    a = math.radians(angle)
    ca, sa = math.cos(a), math.sin(a)
    local = [(-length / 2, -width / 2), (length / 2, -width / 2), (length / 2, width / 2), (-length / 2, width / 2)]
    return [(cx + u * ca - v * sa, cy + u * sa + v * ca) for u, v in local]


def _edge_plane(p, q, eave_z, tilt):
    """Plane through edge p->q at height ``eave_z`` rising at ``tilt`` [°] towards the left of p->q."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    n = math.hypot(dx, dy)
    ix, iy = -dy / n, dx / n  # inward (left) unit normal of a CCW ring
    s = math.tan(math.radians(tilt))
    return Plane(eave_z - s * (ix * p[0] + iy * p[1]), s * ix, s * iy)


def _flat(z):
    return Plane(float(z), 0.0, 0.0)


def gable_part(corners, eave_z, tilt, ridge_along_long=True):
    """Gable over a rectangle: planes rise from the two long edges (or the two short ones)."""
    edges = [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    long_first = math.dist(*edges[0]) >= math.dist(*edges[1])
    pick = (0, 2) if long_first == ridge_along_long else (1, 3)
    return RoofPart(Polygon(corners), [_edge_plane(*edges[i], eave_z, tilt) for i in pick])


def hip_part(corners, eave_z, tilt):
    """Hip roof over a convex polygon: one plane rising from every edge."""
    n = len(corners)
    return RoofPart(Polygon(corners),
                    [_edge_plane(corners[i], corners[(i + 1) % n], eave_z, tilt) for i in range(n)])


def shed_part(corners, eave_z, tilt, low_edge):
    """Mono-pitch roof rising from edge ``low_edge`` (index into the CCW corners)."""
    p, q = corners[low_edge], corners[(low_edge + 1) % len(corners)]
    return RoofPart(Polygon(corners), [_edge_plane(p, q, eave_z, tilt)])


def flat_part(corners, z, kind="main"):
    return RoofPart(Polygon(corners), [_flat(z)], kind=kind)


# --------------------------------------------------------------------------------------------- the town
def _town():
    """Buildings and trees of the sample town, in local coordinates [m]."""
    buildings = []

    def add(bid, roof_type, footprint_corners, parts_fn, eave_height, rotation=0.0, features=(), holes=None):
        fp = Polygon(footprint_corners, holes)
        gz = float(terrain_z(fp.centroid.x, fp.centroid.y))
        parts = parts_fn(gz + eave_height)
        buildings.append(Building(bid, roof_type, fp, parts, eave_height, gz, rotation, list(features)))

    # row 1 (north)
    c = _rect(27, 160, 14, 10, 0)
    add("B01", "gable", c, lambda e: [gable_part(c, e, 35)], 7.0)
    c2 = _rect(62, 162, 16, 10, 23)
    add("B02", "gable", c2, lambda e: [gable_part(c2, e, 38)], 6.5, rotation=23)
    c3 = _rect(102, 160, 20, 12, 61)
    add("B03", "hip", c3, lambda e: [hip_part(c3, e, 28)], 9.0, rotation=61)
    c4 = _rect(140, 165, 12, 9, 10)
    add("B04", "shed", c4, lambda e: [shed_part(c4, e, 18, 0)], 6.0, rotation=10)
    c5 = _rect(185, 160, 24, 18, 0)
    box = _rect(190, 163, 1.5, 1.5, 0)
    add("B05", "flat", c5, lambda e: [flat_part(c5, e), flat_part(box, e + 2.5, "superstructure")], 20.0,
        features=["superstructure"])

    # row 2 (middle)
    wing_a = [(12, 83), (34, 83), (34, 93), (12, 93)]
    wing_b = [(24, 83), (34, 83), (34, 107), (24, 107)]
    l_shape = [(12, 83), (34, 83), (34, 107), (24, 107), (24, 93), (12, 93)]
    # hip roof on an L: the union of two hipped wings is the L's straight skeleton (one valley at the
    # reflex corner); cross gables flush with a common wall would split a plane in two
    add("B06", "hip", l_shape,
        lambda e: [hip_part(wing_a, e, 35), hip_part(wing_b, e, 35)], 8.0, features=["L-shape"])
    outer = [(50, 85), (80, 85), (80, 115), (50, 115)]
    inner = [(58, 93), (58, 107), (72, 107), (72, 93)]  # clockwise hole
    wings = [[(50, 107), (80, 107), (80, 115), (50, 115)], [(50, 85), (80, 85), (80, 93), (50, 93)],
             [(50, 85), (58, 85), (58, 115), (50, 115)], [(72, 85), (80, 85), (80, 115), (72, 115)]]
    add("B07", "hip", outer, lambda e: [hip_part(w, e, 30) for w in wings], 12.0, features=["courtyard"],
        holes=[inner])
    c8 = [(95, 88), (103, 88), (103, 100), (95, 100)]
    add("B08", "gable", c8, lambda e: [gable_part(c8, e, 40, ridge_along_long=False)], 7.0,
        features=["row house"])
    c9 = [(103, 88), (111, 88), (111, 100), (103, 100)]
    add("B09", "gable", c9, lambda e: [gable_part(c9, e, 30, ridge_along_long=False)], 7.5,
        features=["row house"])
    c10 = [(125, 88), (139, 88), (139, 98), (125, 98)]
    dormer = [(129, 88.5), (135, 88.5), (135, 93), (129, 93)]

    def b10_parts(e):
        # dormer front wall 0.5 m behind the eave line, 3 m above the main roof there; its shed roof
        # (16°) runs back until it meets the 45° main roof
        front = e + 0.5 + 3.0
        return [gable_part(c10, e, 45),
                RoofPart(Polygon(dormer), [_edge_plane((129, 88.5), (135, 88.5), front, 16)], kind="dormer")]

    add("B10", "gable", c10, b10_parts, 6.0, features=["dormer"])
    c11 = _rect(160, 100, 12, 12, 0)
    add("B11", "hip", c11, lambda e: [hip_part(c11, e, 35)], 7.0, features=["pyramid"])

    # row 3 (south)
    c12 = _rect(35, 40, 24, 12, -35)
    add("B12", "gable", c12, lambda e: [gable_part(c12, e, 25)], 8.0, rotation=-35)
    c13 = _rect(80, 35, 20, 14, 10)
    add("B13", "flat", c13, lambda e: [flat_part(c13, e)], 10.0, rotation=10)
    c14 = _rect(120, 40, 14, 10, 20)
    add("B14", "shed", c14, lambda e: [shed_part(c14, e, 20, 2)], 7.0, rotation=20)
    c15 = _rect(160, 35, 15, 8, 90)
    add("B15", "gable", c15, lambda e: [gable_part(c15, e, 50)], 6.0, rotation=90)
    c16 = _rect(205, 35, 18, 11, 135)
    add("B16", "hip", c16, lambda e: [hip_part(c16, e, 22)], 6.0, rotation=135)

    # trees: (id, x, y, crown radius [m], height above ground [m]); some close to buildings for shadows
    trees = [("T01", 183.0, 145.0, 4.0, 12.0), ("T02", 65.0, 100.0, 3.5, 9.0), ("T03", 132.0, 82.0, 3.0, 10.0),
             ("T04", 205.0, 100.0, 5.0, 15.0), ("T05", 218.0, 110.0, 4.0, 13.0), ("T06", 226.0, 92.0, 3.0, 8.0),
             ("T07", 60.0, 146.0, 3.5, 11.0), ("T08", 54.0, 22.0, 4.5, 14.0)]
    return buildings, trees


# --------------------------------------------------------------------------------------------- truth
def _halfplane(a, b, c, bounds):
    """Polygon of {a + b x + c y >= 0} within the box ``bounds`` (Sutherland-Hodgman on a convex box)."""
    x0, y0, x1, y1 = bounds
    box = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    f = [a + b * x + c * y for x, y in box]
    out = []
    for i in range(4):
        p, q, fp, fq = box[i], box[(i + 1) % 4], f[i], f[(i + 1) % 4]
        if fp >= 0:
            out.append(p)
        if (fp >= 0) != (fq >= 0):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return Polygon(out) if len(out) >= 3 else Polygon()


def _ge(p, q, bounds):
    """Region where plane p >= plane q."""
    return _halfplane(p.z0 - q.z0, p.gx - q.gx, p.gy - q.gy, bounds)


def _plane_regions(building):
    """[(plane, kind, polygon)] where each plane forms the visible roof; coplanar pieces merged."""
    x0, y0, x1, y1 = building.footprint.bounds
    bounds = (x0 - 5, y0 - 5, x1 + 5, y1 + 5)
    pieces = []
    for i, part in enumerate(building.parts):
        for k, plane in enumerate(part.planes):
            region = part.domain
            for j, other in enumerate(part.planes):
                if j != k:
                    region = region.intersection(_ge(other, plane, bounds))
            for m, rival in enumerate(building.parts):
                if m == i:
                    continue
                wins = shapely.union_all([_ge(plane, q, bounds) for q in rival.planes])
                region = region.intersection(wins.union(shapely.box(*bounds).difference(rival.domain)))
            if region.area > 1e-6:
                pieces.append((plane, part.kind, region))
    merged = []
    for plane, kind, region in pieces:
        for entry in merged:
            if entry[0].same_as(plane):
                entry[2].append(region)
                break
        else:
            merged.append((plane, kind, [region]))
    out = []
    for plane, kind, regions in merged:
        poly = shapely.set_precision(shapely.union_all(regions), 1e-6)
        poly = shapely.simplify(poly, 1e-6)  # drop collinear vertices left by the merge
        polys = [g for g in getattr(poly, "geoms", [poly]) if g.area > 1e-4]
        if len(polys) != 1 or not isinstance(polys[0], Polygon):
            raise AssertionError(f"{building.building_id}: a roof plane is not one polygon: {poly.wkt}")
        out.append((plane, kind, orient(polys[0], 1.0)))
    return out


def _tilt_azimuth(plane):
    """Tilt [°] and azimuth [°] (direction the plane faces downhill, clockwise from north; 180 if flat)."""
    slope = math.hypot(plane.gx, plane.gy)
    tilt = math.degrees(math.atan(slope))
    az = math.degrees(math.atan2(-plane.gx, -plane.gy)) % 360.0 if slope > 1e-12 else 180.0
    return tilt, az


def _walls(building, buildings, origin):
    """Walls along every footprint edge: exposed area from roof top down to terrain or a neighbour's roof."""
    fp = orient(building.footprint, 1.0)  # exterior CCW, holes CW: the building is always to the left
    others = [b for b in buildings if b is not building]
    walls = []
    rings = [("exterior", fp.exterior)] + [("interior", r) for r in fp.interiors]
    for ring_name, ring in rings:
        coords = list(ring.coords)
        for p, q in zip(coords[:-1], coords[1:]):
            dx, dy = q[0] - p[0], q[1] - p[1]
            length = math.hypot(dx, dy)
            nx, ny = dy / length, -dx / length  # outward normal (right of travel)
            # midpoint rule on <= 1 cm steps; midpoints keep the samples off the corners, where the
            # neighbour test along a shared wall would be ambiguous
            n = max(400, int(length / 0.01) + 1)
            s = (np.arange(n) + 0.5) / n
            x, y = p[0] + s * dx, p[1] + s * dy
            eps = 1e-9
            top = building.height(x - nx * eps, y - ny * eps)
            base = terrain_z(x, y)
            outside = np.full(n, -np.inf)
            shared = None
            for other in others:
                xo, yo = x + nx * eps, y + ny * eps
                inside = shapely.contains_xy(other.footprint, xo, yo)
                if inside.mean() > 0.5:
                    shared = other.building_id
                if inside.any():
                    outside[inside] = np.maximum(outside[inside], other.height(xo[inside], yo[inside]))
            exposed = np.clip(top - np.maximum(base, outside), 0.0, None)
            area = float(exposed.mean() * length)
            walls.append({
                "ring": ring_name,
                "start": [round(p[0] + origin[0], 6), round(p[1] + origin[1], 6)],
                "end": [round(q[0] + origin[0], 6), round(q[1] + origin[1], 6)],
                "surface_azimuth": round(math.degrees(math.atan2(nx, ny)) % 360.0, 4),
                "surface_tilt": 90.0,
                "length": round(length, 4),
                "height": round(area / length, 4),
                "height_min": round(float(exposed.min()), 4),
                "height_max": round(float(exposed.max()), 4),
                "area": round(area, 4),
                "shared_with": shared,
            })
    for i, w in enumerate(walls, 1):
        w["wall_id"] = f"{building.building_id}-W{i:02d}"
    return walls


def _building_truth(building, buildings, origin):
    """The truth record of one building, in EPSG:25832 coordinates."""

    def world(geom):
        return affinity.translate(geom, origin[0], origin[1])

    regions = _plane_regions(building)
    planes = []
    main_top = -np.inf
    roof_top = -np.inf
    for i, (plane, kind, poly) in enumerate(regions, 1):
        tilt, az = _tilt_azimuth(plane)
        coords = np.asarray(poly.exterior.coords)
        top = float(plane(coords[:, 0], coords[:, 1]).max())  # a plane peaks at a vertex
        roof_top = max(roof_top, top)
        if kind != "superstructure":
            main_top = max(main_top, top)
        c = poly.centroid
        t, a = math.radians(tilt), math.radians(az)
        planes.append({
            "plane_id": f"{building.building_id}-R{i}",
            "kind": kind,
            "surface_tilt": round(tilt, 4),
            "surface_azimuth": round(az, 4),
            "area_3d": round(poly.area / math.cos(t), 4),
            "area_horizontal": round(poly.area, 4),
            "normal": [round(math.sin(t) * math.sin(a), 6), round(math.sin(t) * math.cos(a), 6),
                       round(math.cos(t), 6)],
            "centroid": [round(c.x + origin[0], 4), round(c.y + origin[1], 4), round(float(plane(c.x, c.y)), 4)],
            "polygon_wkt": shapely.to_wkt(world(poly), rounding_precision=6),
        })
    total = sum(p["area_horizontal"] for p in planes)
    if abs(total - building.footprint.area) > 1e-3 * building.footprint.area:
        raise AssertionError(f"{building.building_id}: roof planes cover {total} m² of {building.footprint.area}")
    walls = _walls(building, buildings, origin)
    eave_z = min(w_top for w_top in _eave_samples(building))
    if abs(eave_z - (building.ground_z + building.eave_height)) > 1e-6:
        raise AssertionError(f"{building.building_id}: eave at {eave_z}, designed {building.eave_height}")
    return {
        "building_id": building.building_id,
        "roof_type": building.roof_type,
        "features": building.features,
        "rotation": building.rotation,
        "ground_z": round(building.ground_z, 4),
        "eave_height": round(building.eave_height, 4),
        "ridge_height": round(main_top - building.ground_z, 4),
        "max_height": round(roof_top - building.ground_z, 4),
        "footprint_area": round(building.footprint.area, 4),
        "footprint_wkt": shapely.to_wkt(world(building.footprint), rounding_precision=6),
        "roof_planes": planes,
        "walls": walls,
    }


def _eave_samples(building):
    """Roof heights along the footprint boundary (the lowest is the eave)."""
    fp = orient(building.footprint, 1.0)
    for ring in [fp.exterior, *fp.interiors]:
        xy = np.asarray(ring.coords)
        for p, q in zip(xy[:-1], xy[1:]):
            d = q - p
            n = np.array([-d[1], d[0]]) / np.hypot(*d) * 1e-9  # inward
            s = ((np.arange(200) + 0.5) / 200)[:, None]
            pts = p + s * d + n
            yield float(np.nanmin(building.height(pts[:, 0], pts[:, 1])))


# --------------------------------------------------------------------------------------------- raster
def _origin():
    """Upper-left corner (west, north) [m] in EPSG:25832, snapped to whole metres."""
    tr = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    x, y = tr.transform(*CENTRE_LONLAT)
    return float(round(x - WIDTH * CELLSIZE / 2)), float(round(y + HEIGHT * CELLSIZE / 2))


def _rasters(buildings, trees):
    """(dsm, dtm) float32 arrays on the local grid (row 0 north)."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    x = (cols + 0.5) * CELLSIZE
    y = HEIGHT * CELLSIZE - (rows + 0.5) * CELLSIZE
    ground = terrain_z(x, y)
    surface = ground.copy()

    tree_rng, lidar_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(SEED).spawn(2))
    roughness = tree_rng.normal(0.0, TREE_ROUGHNESS, size=ground.shape)
    for _, tx, ty, radius, height in trees:
        r2 = ((x - tx) ** 2 + (y - ty) ** 2) / radius ** 2
        crown = height * np.exp(-1.2 * r2) + roughness  # gaussian dome, 30 % of its height at the rim
        canopy = np.where(r2 <= 1.0, ground + np.clip(crown, 0.0, None), -np.inf)
        surface = np.maximum(surface, canopy)

    for b in buildings:
        x0, y0, x1, y1 = b.footprint.bounds
        win = (x >= x0 - 1) & (x <= x1 + 1) & (y >= y0 - 1) & (y <= y1 + 1)
        inside = np.zeros_like(win)
        inside[win] = shapely.contains_xy(b.footprint, x[win], y[win])
        roof = b.height(x[inside], y[inside])
        if not np.all(np.isfinite(roof)):
            raise AssertionError(f"{b.building_id}: footprint pixels without a roof part")
        surface[inside] = roof

    surface = surface + lidar_rng.normal(0.0, LIDAR_NOISE, size=surface.shape)
    dsm = (np.round(surface / HEIGHT_QUANTUM) * HEIGHT_QUANTUM).astype(np.float32)
    dtm = (np.round(ground / HEIGHT_QUANTUM) * HEIGHT_QUANTUM).astype(np.float32)
    dsm[:NODATA_BLOCK, -NODATA_BLOCK:] = np.nan
    return dsm, dtm


def _write_raster(path, z, transform, description):
    profile = dict(driver="GTiff", width=WIDTH, height=HEIGHT, count=1, dtype="float32", crs=CRS,
                   transform=transform, nodata=float("nan"), compress="deflate", predictor=3, zlevel=9,
                   tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)
        dst.update_tags(DESCRIPTION=description, GENERATOR="sample_data/make_sample_town.py", SEED=str(SEED))
        dst.set_band_unit(1, "m")


# --------------------------------------------------------------------------------------------- checks
def _check_layout(buildings, trees):
    """Buildings touch at most along an edge; tree crowns keep 0.5 m from every building."""
    for i, a in enumerate(buildings):
        for b in buildings[i + 1:]:
            if a.footprint.intersection(b.footprint).area > 1e-9:
                raise AssertionError(f"{a.building_id} overlaps {b.building_id}")
        for part in a.parts:
            if part.domain.difference(a.footprint).area > 1e-9:
                raise AssertionError(f"{a.building_id}: roof part outside the footprint")
    for tid, tx, ty, radius, _ in trees:
        for b in buildings:
            if b.footprint.distance(Point(tx, ty)) < radius + 0.5:
                raise AssertionError(f"tree {tid} overlaps {b.building_id}")
        if not (radius < tx < WIDTH * CELLSIZE - radius and radius < ty < HEIGHT * CELLSIZE - radius):
            raise AssertionError(f"tree {tid} leaves the raster")


# --------------------------------------------------------------------------------------------- main
def make_sample_town(out_dir=None):
    """Write the sample town into ``out_dir`` (default: this file's folder).

    Parameters
    ----------
    out_dir : str or Path, optional
        Output folder; created when missing.

    Returns
    -------
    dict
        Paths of the written files, keyed ``dsm``, ``dtm``, ``footprints_geojson``, ``footprints_gpkg``,
        ``truth``.
    """
    out = Path(out_dir) if out_dir is not None else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in OUTPUT_FILES.items()}

    west, north = _origin()
    south = north - HEIGHT * CELLSIZE
    origin = (west, south)  # local (0, 0) = south-west corner
    transform = Affine(CELLSIZE, 0.0, west, 0.0, -CELLSIZE, north)

    buildings, trees = _town()
    _check_layout(buildings, trees)
    dsm, dtm = _rasters(buildings, trees)
    _write_raster(paths["dsm"], dsm, transform, "synthetic sample town: digital surface model")
    _write_raster(paths["dtm"], dtm, transform, "synthetic sample town: digital terrain model")

    building_truth = [_building_truth(b, buildings, origin) for b in buildings]
    tree_truth = [{"tree_id": tid, "centre": [tx + west, ty + south], "radius": radius, "height": height,
                   "ground_z": round(float(terrain_z(tx, ty)), 4)} for tid, tx, ty, radius, height in trees]
    truth = {
        "description": "Exact ground truth of the synthetic sample town (sample_data/make_sample_town.py)",
        "crs": CRS,
        "cellsize": CELLSIZE,
        "width": WIDTH,
        "height": HEIGHT,
        "transform": [transform.a, transform.b, transform.c, transform.d, transform.e, transform.f],
        "seed": SEED,
        "lidar_noise_std": LIDAR_NOISE,
        "height_quantum": HEIGHT_QUANTUM,
        "nodata_block": {"rows": [0, NODATA_BLOCK], "cols": [WIDTH - NODATA_BLOCK, WIDTH]},
        "conventions": {
            "surface_azimuth": "degrees clockwise from north, the direction the surface faces "
                               "(downhill for roof planes, outward for walls); 180 for flat planes",
            "surface_tilt": "degrees from horizontal",
            "heights": "eave_height, ridge_height, max_height and wall heights in metres above ground_z "
                       "(terrain at the footprint centroid) resp. above the terrain/neighbour roof at the wall",
            "areas": "square metres; area_3d is the sloped area, area_horizontal its horizontal projection",
        },
        "buildings": building_truth,
        "trees": tree_truth,
    }
    paths["truth"].write_text(json.dumps(truth, indent=1) + "\n")

    fps = [orient(affinity.translate(b.footprint, west, south), 1.0) for b in buildings]
    rows = [{"building_id": b.building_id, "roof_type": b.roof_type,
             "eave_height": t["eave_height"], "ridge_height": t["ridge_height"]}
            for b, t in zip(buildings, building_truth)]
    features = [{"type": "Feature", "properties": r, "geometry": shapely.geometry.mapping(g)}
                for r, g in zip(rows, fps)]
    geojson = {"type": "FeatureCollection", "name": "town_footprints",
               "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25832"}},
               "features": features}
    paths["footprints_geojson"].write_text(json.dumps(geojson, indent=None, separators=(",", ":")) + "\n")
    if paths["footprints_gpkg"].exists():
        paths["footprints_gpkg"].unlink()
    gpd.GeoDataFrame(rows, geometry=fps, crs=CRS).to_file(paths["footprints_gpkg"], driver="GPKG",
                                                          layer="town_footprints")
    logger.info("sample town written to %s", out)
    return {k: str(v) for k, v in paths.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: the folder of this script)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    for name, path in make_sample_town(args.out).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
