"""Test helpers: LoD2 roof models (CityJSON, CityGML) rasterised into a DSM, with their true roof planes.

Each roof polygon is a plane (Newell normal through its vertices). A pixel takes the height of the highest
roof polygon whose 2-D outline contains the pixel centre, evaluated on that polygon's plane; pixels with no
roof get the ground height (the lowest vertex of the scene). The true planes are the roof polygons of one
building merged when they are adjacent and coplanar (normals within 2°, vertices within 5 cm of each
other's plane). ``visible_area`` counts only the pixels where the plane is the top surface, which is what a
DSM can show; ``area`` is the 3-D area of the polygons.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from shapely.geometry import Polygon


@dataclass
class RoofPolygon:
    building: str
    exterior: np.ndarray          # (k, 3) map coordinates [m]
    interiors: list
    surface_id: str = ""          # the model's surface id (from the reader)


@dataclass
class LoD2Scene:
    z: np.ndarray                 # DSM [m]
    transform: Affine
    cellsize: float
    building_labels: np.ndarray   # 1..n, 0 = ground
    plane_labels: np.ndarray      # true plane id (1..m) of the top surface, 0 = ground
    planes: pd.DataFrame          # plane, building, tilt, azimuth, area, visible_area, n_pixels
    buildings: list               # building ids in label order


def _read_roofs(path):
    """Roof polygons and base heights (lowest vertex of any LoD2 surface) per top-level building."""
    from solarkataster.io.lod2 import read_lod2

    model = read_lod2(path)
    s = model.surfaces
    base = {b: float(min(r[:, 2].min() for r in grp["exterior"])) for b, grp in s.groupby("building_id")}
    roofs = [RoofPolygon(b, ext, list(ints), sid) for b, ext, ints, sid in
             zip(s["building_id"], s["exterior"], s["interiors"], s["surface_id"])]
    kinds = s["kind"].to_numpy()
    return [r for r, k in zip(roofs, kinds) if k == "roof"], base


def read_cityjson_roofs(path):
    """Roof polygons and base heights of each top-level Building of a CityJSON file (LoD2), via the reader."""
    return _read_roofs(path)


def read_citygml_roofs(path):
    """Roof polygons (bldg:RoofSurface) and base heights of each bldg:Building of a CityGML file, via the reader."""
    return _read_roofs(path)


def _newell(ring):
    """Area vector (Newell's method): direction = normal, length = 3-D area."""
    p = ring - ring.mean(0)
    q = np.roll(p, -1, axis=0)
    return 0.5 * np.array([np.sum((p[:, 1] - q[:, 1]) * (p[:, 2] + q[:, 2])),
                           np.sum((p[:, 2] - q[:, 2]) * (p[:, 0] + q[:, 0])),
                           np.sum((p[:, 0] - q[:, 0]) * (p[:, 1] + q[:, 1]))])


def _tilt_azimuth(n):
    n = n / np.linalg.norm(n)
    tilt = np.degrees(np.arccos(np.clip(n[2], -1, 1)))
    az = np.degrees(np.arctan2(n[0], n[1])) % 360 if np.hypot(n[0], n[1]) > 1e-9 else 180.0
    return tilt, az


def _roof_polys(roofs, max_tilt):
    """Roof polygons with their Newell normal (upward), centre, 3-D area and plan shape."""
    polys = []
    for rp in roofs:
        ext = np.asarray(rp.exterior, float)
        if len(ext) >= 2 and np.allclose(ext[0], ext[-1], rtol=0, atol=1e-6):
            ext = ext[:-1]
        if len(ext) < 3:
            continue
        av = _newell(ext)
        area = np.linalg.norm(av)
        for hole in rp.interiors:
            h = np.asarray(hole, float)
            area -= np.linalg.norm(_newell(h[:-1] if np.allclose(h[0], h[-1], rtol=0, atol=1e-6) else h))
        if np.linalg.norm(av) < 1e-6:
            continue
        n = av / np.linalg.norm(av)
        if n[2] < 0:
            n = -n
        if n[2] < np.cos(np.radians(max_tilt)):
            continue
        p2 = Polygon(ext[:, :2], [np.asarray(h, float)[:, :2] for h in rp.interiors])
        if not p2.is_valid:
            p2 = shapely.make_valid(p2)
        if p2.is_empty or p2.area <= 0:
            continue
        polys.append(dict(building=rp.building, surface_id=rp.surface_id, normal=n, centre=ext.mean(0), area=area,
                          shape=p2, ring=ext))
    return polys


def _plane_groups(polys):
    """Union-find over adjacent coplanar polygons of the same building; returns ``find``."""
    parent = list(range(len(polys)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def dist_to_plane(ring, p):
        return np.abs((ring - p["centre"]) @ p["normal"])

    for i, p in enumerate(polys):
        for j in range(i + 1, len(polys)):
            q = polys[j]
            if q["building"] != p["building"] or np.dot(p["normal"], q["normal"]) < np.cos(np.radians(2)):
                continue
            if p["shape"].distance(q["shape"]) > 0.1:
                continue
            if dist_to_plane(q["ring"], p).max() > 0.05 or dist_to_plane(p["ring"], q).max() > 0.05:
                continue
            parent[find(j)] = find(i)
    return find


def true_planes(roofs, *, max_tilt=85.0):
    """The true planes of roof polygons (merged as in :func:`rasterise_roofs`), from Newell's method.

    Returns a DataFrame: ``building``, ``surface_ids`` (frozenset), ``tilt``, ``azimuth`` (of the summed area
    vectors) and ``area`` (sum of the members' 3-D areas).
    """
    polys = _roof_polys(roofs, max_tilt)
    find = _plane_groups(polys)
    groups = {}
    for i in range(len(polys)):
        groups.setdefault(find(i), []).append(i)
    rows = []
    for members in groups.values():
        normal = sum(polys[i]["normal"] * polys[i]["area"] for i in members)
        tilt, az = _tilt_azimuth(normal)
        rows.append(dict(building=polys[members[0]]["building"], surface_ids=frozenset(polys[i]["surface_id"]
                                                                                       for i in members),
                         tilt=tilt, azimuth=az, area=sum(polys[i]["area"] for i in members)))
    return pd.DataFrame(rows)


def rasterise_roofs(roofs, base, cellsize, *, margin=4.0, noise=0.0, rng=None, max_tilt=85.0):
    """Rasterise roof polygons into a DSM and label the true planes.

    Parameters
    ----------
    roofs : list of RoofPolygon
    base : dict building -> lowest vertex height [m]
    cellsize : float
        Pixel size [m].
    margin : float
        Ground border around the roofs [m].
    noise : float
        Half-width of uniform height noise added everywhere [m].
    max_tilt : float
        Roof polygons steeper than this are ignored (vertical parts drawn as roofs) [°].
    """
    polys = _roof_polys(roofs, max_tilt)
    if not polys:
        raise ValueError("no roof polygons to rasterise")
    bounds = np.array([p["shape"].bounds for p in polys])
    x0 = np.floor((bounds[:, 0].min() - margin) / cellsize) * cellsize
    y1 = np.ceil((bounds[:, 3].max() + margin) / cellsize) * cellsize
    cols = int(np.ceil((bounds[:, 2].max() + margin - x0) / cellsize))
    rows = int(np.ceil((y1 - bounds[:, 1].min() + margin) / cellsize))
    transform = Affine(cellsize, 0, x0, 0, -cellsize, y1)
    ground = min(base[p["building"]] for p in polys)
    z = np.full((rows, cols), ground)
    top = np.full((rows, cols), -1, np.int64)
    for i, p in enumerate(polys):
        bx0, by0, bx1, by1 = p["shape"].bounds
        c0 = max(int(np.floor((bx0 - x0) / cellsize)), 0)
        c1 = min(int(np.ceil((bx1 - x0) / cellsize)) + 1, cols)
        r0 = max(int(np.floor((y1 - by1) / cellsize)), 0)
        r1 = min(int(np.ceil((y1 - by0) / cellsize)) + 1, rows)
        rr, cc = np.mgrid[r0:r1, c0:c1]
        xs = x0 + (cc + 0.5) * cellsize
        ys = y1 - (rr + 0.5) * cellsize
        inside = shapely.intersects_xy(p["shape"], xs, ys)  # centres on shared edges belong to both
        n, ctr = p["normal"], p["centre"]
        zz = ctr[2] - (n[0] * (xs - ctr[0]) + n[1] * (ys - ctr[1])) / n[2]
        win = inside & (zz > z[r0:r1, c0:c1])
        z[r0:r1, c0:c1][win] = zz[win]
        top[r0:r1, c0:c1][win] = i

    find = _plane_groups(polys)
    roots = sorted({find(i) for i in range(len(polys))})
    plane_of = {r: k + 1 for k, r in enumerate(roots)}
    buildings = sorted({p["building"] for p in polys})
    bnum = {b: k + 1 for k, b in enumerate(buildings)}
    poly_plane = np.array([plane_of[find(i)] for i in range(len(polys))] + [0])
    poly_bld = np.array([bnum[p["building"]] for p in polys] + [0])
    plane_labels = poly_plane[top]
    building_labels = poly_bld[top].astype(np.int32)
    counts = np.bincount(plane_labels.ravel(), minlength=len(roots) + 1)
    records = []
    for r in roots:
        members = [i for i in range(len(polys)) if find(i) == r]
        normal = sum(polys[i]["normal"] * polys[i]["area"] for i in members)
        tilt, az = _tilt_azimuth(normal)
        k = plane_of[r]
        records.append(dict(plane=k, building=bnum[polys[r]["building"]], tilt=tilt, azimuth=az,
                            area=sum(polys[i]["area"] for i in members), n_pixels=int(counts[k]),
                            visible_area=counts[k] * cellsize ** 2 / np.cos(np.radians(tilt))))
    if noise > 0:
        rng = rng if rng is not None else np.random.default_rng(0)
        z = z + rng.uniform(-noise, noise, z.shape)
    return LoD2Scene(z, transform, cellsize, building_labels, plane_labels.astype(np.int32),
                     pd.DataFrame(records), buildings)


def match_planes(planes, plane_labels, face_labels, faces, *, min_area=10.0):
    """Match each true plane of ``visible_area >= min_area`` to the face with the largest pixel overlap.

    Returns the true planes with columns ``face``, ``face_tilt``, ``face_azimuth``, ``face_area``, ``d_tilt``,
    ``d_azimuth`` (wrapped to [0, 180]) and ``ok`` (tilt within 3°, azimuth within 10° for tilt >= 5°, area
    within 15 %).
    """
    sel = planes[planes["visible_area"] >= min_area].copy()
    m = int(face_labels.max()) + 1
    key = plane_labels.astype(np.int64).ravel() * m + face_labels.ravel()
    overlap = np.bincount(key, minlength=(int(plane_labels.max()) + 1) * m).reshape(-1, m)
    overlap[:, 0] = 0
    fi = faces.set_index("face")
    out = []
    for _, p in sel.iterrows():
        f = int(np.argmax(overlap[int(p["plane"])]))
        if f == 0:
            out.append(dict(face=0, face_tilt=np.nan, face_azimuth=np.nan, face_area=0.0))
        else:
            out.append(dict(face=f, face_tilt=fi.at[f, "tilt"], face_azimuth=fi.at[f, "azimuth"],
                            face_area=fi.at[f, "area"]))
    cols = ["face", "face_tilt", "face_azimuth", "face_area"]
    res = pd.concat([sel.reset_index(drop=True), pd.DataFrame(out, columns=cols)], axis=1)
    res["d_tilt"] = np.abs(res["face_tilt"] - res["tilt"])
    res["d_azimuth"] = np.abs((res["face_azimuth"] - res["azimuth"] + 180) % 360 - 180)
    res["d_area"] = np.abs(res["face_area"] / res["visible_area"] - 1)
    res["ok"] = ((res["face"] > 0) & (res["d_tilt"] <= 3) & ((res["tilt"] < 5) | (res["d_azimuth"] <= 10))
                 & (res["d_area"] <= 0.15))
    return res
