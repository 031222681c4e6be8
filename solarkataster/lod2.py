"""LoD2 surfaces: exact roof faces and walls from an LoD2 model, and their irradiation on 3-D sample points.

Pipeline (tables and arrays in, tables and arrays out, no file I/O; :func:`solarkataster.io.lod2.read_lod2`
reads the surfaces)::

    surfaces ─► roof_faces / wall_faces (coplanar pieces merged, exact planes)
             ─► face_samples (regular grid in each face's plane) ─► horizons from the DSM ─► irradiation
    surfaces ─► model_footprints (ground surfaces, else roof outlines), rasterise_model (a DSM for shading)

* **Planes.** Each polygon's area vector comes from Newell's method [1]_ (direction = normal, length =
  area; holes subtracted). Roof pieces of one building are merged into one face when their normals are
  within ``angle_tolerance``, every vertex of each lies within ``distance_tolerance`` of the other's plane,
  and their plan outlines touch (union-find over such pairs). A face's plane is the area-weighted normal
  through the area-weighted centroid; tilt, azimuth (pvlib convention: clockwise from north, 180 for
  flat) and the sloped area follow from the summed area vector, so they are the model's own values.
* **Walls** are merged the same way; each becomes its bottom edge in plan (a LineString with the
  building on its left, as in :mod:`solarkataster.walls`), its outward azimuth, height and true area.
  Walls are oriented outwards: a wall whose normal points into its building's footprint is flipped.
  A wall that lies on another building's coplanar, opposite wall is a party wall (``shared``).
* **Samples** sit on a regular grid in the face's own plane (cell centres, ``spacing`` or finer so that a
  small face still gets about :data:`MIN_SAMPLES`), ``offset`` metres out along the normal.
* **Own roof.** Horizons are marched over the DSM from each sample. Where the DSM shows this very roof
  (rasterised from the model, or measured), it rises at most at the face's own slope, which the
  irradiation kernel already treats as the face's own plane, so it costs nothing. A measured DSM may lie
  a little above the model's plane; a sample is lifted onto the DSM when the DSM is at most ``max_lift``
  above the plane there, so the roof under the sample does not shade it, while anything higher (a
  chimney, a higher wing of the same building, a neighbour, a tree) stays an obstacle. Self-shading by
  other parts of the building is therefore kept, as for LiDAR faces.
* **Rasterising.** :func:`rasterise_model` gives each pixel centre the highest roof plane over it, on a DTM
  or on flat ground at the model's lowest ground height, for shading when no DSM is given.

References
----------
.. [1] Sutherland, I. E., Sproull, R. F., & Schumacker, R. A. (1974). A characterization of ten
   hidden-surface algorithms. ACM Computing Surveys, 6(1), 1-55. https://doi.org/10.1145/356625.356626
   (Newell's method for the plane of a polygon).
.. [2] Biljecki, F., Ledoux, H., & Stoter, J. (2016). An improved LOD specification for 3D building models.
   Computers, Environment and Urban Systems, 59, 25-37. https://doi.org/10.1016/j.compenvurbsys.2016.04.005
"""
from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from shapely.geometry import LineString, Polygon

from .errors import ParameterError, check_range
from .grid import Grid
from .horizon import DEFAULT_SECTORS, horizon_at_points, sector_azimuths

log = logging.getLogger(__name__)

#: Coplanar merge: largest angle between normals [°], vertex distance to the other plane [m] and plan gap
#: [m]. LoD2 polygons of one plane agree to millimetres; 1° and 5 cm leave real kinks (mansard breaks,
#: dormer cheeks) apart.
MERGE_ANGLE = 1.0
MERGE_DISTANCE = 0.05
MERGE_GAP = 0.05
#: Roof polygons steeper than this are walls drawn as roofs, not faces [°].
MAX_ROOF_TILT = 85.0
#: Sample grid in the face plane [m]; a small face gets a finer grid with about MIN_SAMPLES points.
SAMPLE_SPACING = 1.0
MIN_SAMPLES = 16
#: Distance of a sample above its face, along the normal [m].
SAMPLE_OFFSET = 0.1
#: A sample is lifted onto the DSM where the DSM is at most this much above the face's plane [m].
MAX_LIFT = 0.5

FACE_COLUMNS = ["building_id", "face_id", "tilt", "azimuth", "area", "footprint_area", "height", "irradiation",
                "irradiation_p10", "irradiation_p50", "irradiation_p90", "monthly_irradiation", "shading_loss",
                "beam", "diffuse", "reflected", "sky_view_factor", "n_samples", "normal_e", "normal_n",
                "normal_u", "offset", "z_min", "z_max", "plane_rmse", "surface_ids", "source"]
LOD2_WALL_COLUMNS = ["building_id", "wall_id", "azimuth", "tilt", "length", "height", "area", "ground", "eave",
                     "irradiation", "monthly_irradiation", "bands", "sky_view_factor", "covered_share",
                     "shading_loss", "shared", "plane_rmse", "surface_ids", "source"]


# --------------------------------------------------------------------------------------------- planes

def newell_vector(ring):
    """Area vector of a planar 3-D polygon ring (Newell's method [1]_).

    Parameters
    ----------
    ring : ndarray, shape (k, 3)
        Vertices [m], open or closed.

    Returns
    -------
    ndarray, shape (3,)
        Direction: the normal (right-hand rule over the vertex order); length: the area [m²].
    """
    p = np.asarray(ring, float)
    p = p - p.mean(axis=0)
    q = np.roll(p, -1, axis=0)
    return 0.5 * np.array([np.sum((p[:, 1] - q[:, 1]) * (p[:, 2] + q[:, 2])),
                           np.sum((p[:, 2] - q[:, 2]) * (p[:, 0] + q[:, 0])),
                           np.sum((p[:, 0] - q[:, 0]) * (p[:, 1] + q[:, 1]))])


def _polygon_planes(surfaces, upward):
    """Per polygon: area vector (holes subtracted), unit normal, centroid and all vertices."""
    vec, cen, verts = [], [], []
    for ext, ints in zip(surfaces["exterior"], surfaces["interiors"]):
        a = newell_vector(ext)
        size = np.linalg.norm(a)
        n = a / size if size > 0 else np.array([0.0, 0.0, 1.0])
        if upward and n[2] < 0:
            n = -n
        hole = sum(np.linalg.norm(newell_vector(h)) for h in ints)
        vec.append(n * max(size - hole, 0.0))
        cen.append(np.asarray(ext, float).mean(axis=0))
        verts.append(np.vstack([ext] + list(ints)))
    return np.array(vec).reshape(-1, 3), np.array(cen).reshape(-1, 3), verts


def _plan_shape(ring, interiors=()):
    """Plan geometry of a 3-D ring: its polygon, or its outline where it has no plan area (walls)."""
    p = Polygon(np.asarray(ring)[:, :2], [np.asarray(h)[:, :2] for h in interiors])
    if p.area > 1e-6:
        return p if p.is_valid else shapely.make_valid(p)
    return LineString(np.vstack([ring, ring[:1]])[:, :2])


def _coplanar_groups(buildings, vec, cen, verts, shapes, angle, distance, gap):
    """Group labels 0..g-1: union-find over same-building, coplanar, touching pairs."""
    n = len(vec)
    parent = np.arange(n)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    size = np.linalg.norm(vec, axis=1)
    unit = vec / np.maximum(size, 1e-12)[:, None]
    cos_tol = math.cos(math.radians(angle))
    order = pd.Series(np.arange(n)).groupby(np.asarray(buildings)).agg(list)
    for members in order:
        for a, i in enumerate(members):
            for j in members[a + 1:]:
                if unit[i] @ unit[j] < cos_tol or size[i] <= 0 or size[j] <= 0:
                    continue
                if (np.abs((verts[j] - cen[i]) @ unit[i]).max() > distance
                        or np.abs((verts[i] - cen[j]) @ unit[j]).max() > distance):
                    continue
                if shapes[i].distance(shapes[j]) > gap:
                    continue
                parent[find(j)] = find(i)
    roots = np.array([find(i) for i in range(n)])
    _, labels = np.unique(roots, return_inverse=True)
    return labels


def _group_planes(labels, vec, cen, verts):
    """Per group: summed area vector, unit normal, area-weighted centroid and vertex RMS to the plane."""
    g = int(labels.max()) + 1 if len(labels) else 0
    area_vec = np.zeros((g, 3))
    np.add.at(area_vec, labels, vec)
    area = np.linalg.norm(vec, axis=1)
    w = np.bincount(labels, weights=area, minlength=g)
    centre = np.stack([np.bincount(labels, weights=area * cen[:, k], minlength=g) for k in range(3)], axis=1)
    centre /= np.maximum(w, 1e-12)[:, None]
    normal = area_vec / np.maximum(np.linalg.norm(area_vec, axis=1), 1e-12)[:, None]
    sq = np.zeros(g)
    cnt = np.zeros(g)
    for i, v in enumerate(verts):
        d = (v - centre[labels[i]]) @ normal[labels[i]]
        sq[labels[i]] += np.sum(d * d)
        cnt[labels[i]] += len(v)
    return area_vec, normal, centre, np.sqrt(sq / np.maximum(cnt, 1))


def _tilt_azimuth(normal):
    """Tilt [°] and azimuth [°] (clockwise from north; 180 when flat) of unit normals (n, 3)."""
    tilt = np.degrees(np.arccos(np.clip(np.abs(normal[:, 2]), 0.0, 1.0)))
    az = np.degrees(np.arctan2(normal[:, 0], normal[:, 1])) % 360.0
    return tilt, np.where(np.hypot(normal[:, 0], normal[:, 1]) < 1e-9, 180.0, az)


def _ground_heights(surfaces):
    """Ground height [m] per building: its lowest ground-surface vertex, else its lowest vertex."""
    zmin = pd.Series([float(np.min(r[:, 2])) for r in surfaces["exterior"]], index=surfaces.index)
    ground = zmin[surfaces["kind"] == "ground"].groupby(surfaces["building_id"]).min()
    return ground.combine_first(zmin.groupby(surfaces["building_id"]).min())


def roof_faces(surfaces, *, angle_tolerance=MERGE_ANGLE, distance_tolerance=MERGE_DISTANCE, gap=MERGE_GAP,
               max_tilt=MAX_ROOF_TILT):
    """Roof faces of an LoD2 model: coplanar roof polygons of one building merged, exact planes.

    Parameters
    ----------
    surfaces : pandas.DataFrame
        :attr:`solarkataster.io.lod2.LoD2Model.surfaces` (``building_id``, ``kind``, ``surface_id``,
        ``exterior``, ``interiors``).
    angle_tolerance : float
        Largest angle between the normals of merged polygons [°].
    distance_tolerance : float
        Largest distance of a merged polygon's vertices from the other's plane [m].
    gap : float
        Largest gap between merged polygons in plan [m].
    max_tilt : float
        Roof polygons steeper than this are dropped (vertical pieces modelled as roof) [°].

    Returns
    -------
    geopandas.GeoDataFrame
        One row per face, in building order: ``building_id``, ``face_id`` (``f"{building_id}-F{k:02d}"``,
        north-west first), ``tilt`` [°], ``azimuth`` [°], ``area`` (sloped, the model's) [m²],
        ``footprint_area`` (plan) [m²], ``height`` (centroid above the building's ground) [m],
        ``normal_e``, ``normal_n``, ``normal_u`` (upward unit normal), ``offset`` [m] (plane
        ``n · (x, y, z) = offset`` in map coordinates), ``z_min``, ``z_max`` [m], ``plane_rmse`` [m] (RMS
        distance of the member vertices to the face plane), ``surface_ids`` (model ids, list), ``rings``
        (list of (exterior, interiors) of the members, 3-D), ``source`` ('lod2') and the plan polygon as
        geometry (no CRS).
    """
    import geopandas as gpd

    roofs = surfaces[surfaces["kind"] == "roof"].reset_index(drop=True)
    vec, cen, verts = _polygon_planes(roofs, upward=True)
    steep = np.abs(vec[:, 2]) < np.cos(np.radians(max_tilt)) * np.linalg.norm(vec, axis=1) if len(vec) else []
    keep = ~np.asarray(steep, bool) & (np.linalg.norm(vec, axis=1) > 1e-6) if len(vec) else np.zeros(0, bool)
    roofs, vec, cen = roofs[keep].reset_index(drop=True), vec[keep], cen[keep]
    verts = [v for v, k in zip(verts, keep) if k]
    if not len(roofs):
        return gpd.GeoDataFrame({c: [] for c in FACE_COLUMNS[:7]}, geometry=[])
    shapes = [_plan_shape(e, i) for e, i in zip(roofs["exterior"], roofs["interiors"])]
    labels = _coplanar_groups(roofs["building_id"].to_numpy(), vec, cen, verts, shapes, angle_tolerance,
                              distance_tolerance, gap)
    area_vec, normal, centre, rmse = _group_planes(labels, vec, cen, verts)
    tilt, azimuth = _tilt_azimuth(normal)
    ground = _ground_heights(surfaces)
    rows = []
    for g in range(len(normal)):
        m = np.flatnonzero(labels == g)
        plan = _union([shapes[i] for i in m])
        zs = np.concatenate([verts[i][:, 2] for i in m])
        bid = roofs["building_id"].iloc[m[0]]
        rows.append({"building_id": bid, "tilt": float(tilt[g]), "azimuth": float(azimuth[g]),
                     "area": float(np.linalg.norm(vec[m], axis=1).sum()), "footprint_area": float(plan.area),
                     "height": float(centre[g, 2] - ground[bid]), "normal_e": normal[g, 0], "normal_n": normal[g, 1],
                     "normal_u": normal[g, 2], "offset": float(centre[g] @ normal[g]), "z_min": float(zs.min()),
                     "z_max": float(zs.max()), "plane_rmse": float(rmse[g]),
                     "surface_ids": sorted(set(roofs["surface_id"].iloc[m])),
                     "rings": [(roofs["exterior"].iloc[i], roofs["interiors"].iloc[i]) for i in m],
                     "source": "lod2", "geometry": plan})
    faces = gpd.GeoDataFrame(rows, geometry="geometry")
    return _number(faces, "face_id", "F{:02d}")


def _union(shapes):
    """Plan union of a face's member polygons, snapped to millimetres so shared edges leave no slivers."""
    polys = [s for s in shapes if s.area > 0]
    try:
        u = shapely.union_all(polys, grid_size=1e-3)
    except shapely.errors.GEOSException:
        u = shapely.union_all(polys)
    return u if u.is_valid else shapely.make_valid(u)


def _number(table, column, pattern):
    """Stable per-building ids: sorted by building, then north-west first by representative point."""
    rp = table.geometry.representative_point()
    table = table.assign(_y=-np.round(rp.y.to_numpy(), 2), _x=np.round(rp.x.to_numpy(), 2))
    table = table.sort_values(["building_id", "_y", "_x"], kind="stable").reset_index(drop=True)
    k = table.groupby("building_id").cumcount() + 1
    table[column] = table["building_id"].astype(str) + "-" + k.map(pattern.format)
    return table.drop(columns=["_y", "_x"])


# ---------------------------------------------------------------------------------------------- walls

def _orient_walls(walls, vec, footprints):
    """Flip wall area vectors whose normal points into the building (test points 0.3 m each side)."""
    vec = vec.copy()
    for i, (bid, ext) in enumerate(zip(walls["building_id"], walls["exterior"])):
        fp = footprints.get(bid)
        h = vec[i, :2]
        if fp is None or np.hypot(*h) < 1e-9:
            continue
        h = 0.3 * h / np.hypot(*h)
        mid = np.asarray(ext, float)[:, :2].mean(axis=0)
        front = shapely.intersects_xy(fp, mid[0] + h[0], mid[1] + h[1])
        back = shapely.intersects_xy(fp, mid[0] - h[0], mid[1] - h[1])
        if front and not back:
            vec[i] = -vec[i]
    return vec


def _wall_line(normal, centre, vertices):
    """Bottom edge in plan (building on the left), length [m] and outward azimuth [°] of a wall plane."""
    a = math.atan2(normal[0], normal[1])
    d = np.array([-math.cos(a), math.sin(a)])
    s = (vertices[:, :2] - centre[:2]) @ d
    p0 = centre[:2] + s.min() * d
    p1 = centre[:2] + s.max() * d
    return LineString([tuple(p0), tuple(p1)]), float(s.max() - s.min()), math.degrees(a) % 360.0


def _party_walls(table, tolerance=0.2, angle=5.0):
    """Walls lying on another building's (or part's) opposite wall along at least half their length."""
    lines = list(table.geometry)
    tree = shapely.STRtree(lines)
    n = np.stack([table["normal_e"], table["normal_n"], table["normal_u"]], axis=1)
    shared = np.zeros(len(table), bool)
    cos_tol = math.cos(math.radians(angle))
    for i, line in enumerate(lines):
        for j in tree.query(line, predicate="dwithin", distance=tolerance):
            if j == i or (table["building_id"].iloc[j] == table["building_id"].iloc[i]
                          and table["_part"].iloc[j] == table["_part"].iloc[i]):
                continue
            if n[i] @ n[j] > -cos_tol:
                continue
            if line.intersection(lines[j].buffer(tolerance)).length >= 0.5 * line.length:
                shared[i] = True
                break
    return shared


def wall_faces(surfaces, *, angle_tolerance=MERGE_ANGLE, distance_tolerance=MERGE_DISTANCE, gap=MERGE_GAP):
    """Walls of an LoD2 model: coplanar WallSurface polygons of one building merged, exact planes.

    Parameters
    ----------
    surfaces : pandas.DataFrame
        :attr:`solarkataster.io.lod2.LoD2Model.surfaces`.
    angle_tolerance, distance_tolerance, gap : float
        Merge rule as in :func:`roof_faces` [°, m, m].

    Returns
    -------
    geopandas.GeoDataFrame
        One row per wall: ``building_id``, ``wall_id`` (``f"{building_id}-W{k:03d}"``), ``azimuth``
        (outward) [°], ``tilt`` [°] (90 = vertical), ``length`` (bottom edge in plan) [m], ``ground`` and
        ``eave`` (lowest and highest vertex) [m], ``height`` [m], ``area`` (true polygon area) [m²],
        ``shared`` (party wall), ``normal_e``, ``normal_n``, ``normal_u``, ``plane_rmse`` [m],
        ``surface_ids``, ``rings`` (3-D members), ``source`` ('lod2'); geometry: the bottom edge
        LineString with the building on its left (the convention of :func:`solarkataster.walls.wall_segments`).
    """
    import geopandas as gpd

    walls = surfaces[surfaces["kind"] == "wall"].reset_index(drop=True)
    vec, cen, verts = _polygon_planes(walls, upward=False)
    keep = np.linalg.norm(vec, axis=1) > 1e-6 if len(vec) else np.zeros(0, bool)
    walls, vec, cen = walls[keep].reset_index(drop=True), vec[keep], cen[keep]
    verts = [v for v, k in zip(verts, keep) if k]
    if not len(walls):
        return gpd.GeoDataFrame({c: [] for c in LOD2_WALL_COLUMNS[:8]}, geometry=[])
    fp = model_footprints(surfaces)
    vec = _orient_walls(walls, vec, dict(zip(fp["building_id"], fp.geometry)))
    shapes = [_plan_shape(e) for e in walls["exterior"]]
    labels = _coplanar_groups(walls["building_id"].to_numpy() + "\x00" + walls["part_id"].to_numpy(), vec, cen,
                              verts, shapes, angle_tolerance, distance_tolerance, gap)
    area_vec, normal, centre, rmse = _group_planes(labels, vec, cen, verts)
    tilt = np.degrees(np.arccos(np.clip(normal[:, 2], -1.0, 1.0)))
    rows = []
    for g in range(len(normal)):
        m = np.flatnonzero(labels == g)
        v = np.vstack([verts[i] for i in m])
        line, length, azimuth = _wall_line(normal[g], centre[g], v)
        rows.append({"building_id": walls["building_id"].iloc[m[0]], "_part": walls["part_id"].iloc[m[0]],
                     "azimuth": azimuth, "tilt": float(tilt[g]), "length": length, "ground": float(v[:, 2].min()),
                     "eave": float(v[:, 2].max()), "height": float(v[:, 2].max() - v[:, 2].min()),
                     "area": float(np.linalg.norm(vec[m], axis=1).sum()), "normal_e": normal[g, 0],
                     "normal_n": normal[g, 1], "normal_u": normal[g, 2], "plane_rmse": float(rmse[g]),
                     "surface_ids": sorted(set(walls["surface_id"].iloc[m])),
                     "rings": [(walls["exterior"].iloc[i], walls["interiors"].iloc[i]) for i in m],
                     "source": "lod2", "geometry": line})
    table = gpd.GeoDataFrame(rows, geometry="geometry")
    table["shared"] = _party_walls(table)
    return _number(table.drop(columns="_part"), "wall_id", "W{:03d}")


# ------------------------------------------------------------------------------------ footprints, DSM

def model_footprints(surfaces, crs=None):
    """Derive building footprints from an LoD2 model: its ground surfaces, else the union of its roof outlines.

    Parameters
    ----------
    surfaces : pandas.DataFrame
        :attr:`solarkataster.io.lod2.LoD2Model.surfaces`.
    crs : optional
        CRS given to the result (the model's).

    Returns
    -------
    geopandas.GeoDataFrame
        ``building_id``, ``footprint_source`` ('ground' or 'roofs'), Polygon/MultiPolygon geometry in plan.
    """
    import geopandas as gpd

    rows = []
    for bid, grp in surfaces.groupby("building_id", sort=False):
        for kind in ("ground", "roof"):
            part = grp[grp["kind"] == kind]
            shapes = [_plan_shape(e, i) for e, i in zip(part["exterior"], part["interiors"])]
            shapes = [s for s in shapes if isinstance(s, Polygon) or s.geom_type == "MultiPolygon"]
            if shapes:
                geom = _union(shapes)
                if not geom.is_empty and geom.area > 0:
                    rows.append({"building_id": bid, "footprint_source": "ground" if kind == "ground" else "roofs",
                                 "geometry": geom})
                    break
    return gpd.GeoDataFrame(rows, columns=["building_id", "footprint_source", "geometry"], geometry="geometry",
                            crs=crs)


def model_clusters(surfaces, distance):
    """Group the buildings of a model into clusters whose footprints are more than ``distance`` apart.

    A model of scattered buildings (a sample over a whole city) would need one huge grid; each cluster can
    be rasterised and assessed on a grid of its own (:func:`model_extent` with ``margin=distance``)
    without losing any obstacle closer than ``distance`` (e.g. :func:`solarkataster.horizon.halo_width`).

    Parameters
    ----------
    surfaces : pandas.DataFrame
        :attr:`solarkataster.io.lod2.LoD2Model.surfaces`.
    distance : float
        Buildings closer than this belong to one cluster [m].

    Returns
    -------
    list of list of str
        Building ids per cluster, largest cluster first.
    """
    distance = check_range("distance", distance, 0.0, 1e5, " m")
    fp = model_footprints(surfaces)
    if not len(fp):
        return []
    merged = shapely.union_all(fp.geometry.buffer(distance / 2).to_numpy())
    parts = list(getattr(merged, "geoms", [merged]))
    tree = shapely.STRtree(parts)
    which = [int(tree.query(g.representative_point(), predicate="intersects")[0]) for g in fp.geometry]
    groups = pd.Series(fp["building_id"].to_numpy()).groupby(np.asarray(which)).agg(list)
    return sorted(groups.tolist(), key=len, reverse=True)


def model_extent(surfaces, cellsize, margin=10.0):
    """Transform and shape of a north-up grid covering the model plus ``margin`` [m].

    The grid's origin is a multiple of ``cellsize``, so grids of overlapping models line up.

    Returns
    -------
    transform : affine.Affine
    shape : (int, int)
    """
    cellsize = check_range("cellsize", cellsize, 0.01, 100.0, " m")
    xy = np.vstack([np.asarray(r)[:, :2] for r in surfaces["exterior"]])
    x0 = math.floor((xy[:, 0].min() - margin) / cellsize) * cellsize
    y1 = math.ceil((xy[:, 1].max() + margin) / cellsize) * cellsize
    cols = int(math.ceil((xy[:, 0].max() + margin - x0) / cellsize))
    rows = int(math.ceil((y1 - xy[:, 1].min() + margin) / cellsize))
    return Affine(cellsize, 0.0, x0, 0.0, -cellsize, y1), (max(rows, 3), max(cols, 3))


def rasterise_model(surfaces, transform, shape, ground=None, *, max_tilt=MAX_ROOF_TILT):
    """Rasterise LoD2 roofs into a surface model: the highest roof plane over each pixel centre, else the ground.

    Parameters
    ----------
    surfaces : pandas.DataFrame
        :attr:`solarkataster.io.lod2.LoD2Model.surfaces`.
    transform : affine.Affine
        North-up pixel-to-map transform.
    shape : (int, int)
        Raster shape (rows, cols).
    ground : ndarray, optional
        Terrain (DTM) on the same grid [m]; default flat at the model's lowest ground height.
    max_tilt : float
        Roof polygons steeper than this are skipped (they cover no pixel centres that matter) [°].

    Returns
    -------
    ndarray of float64, shape ``shape``
        Heights [m]. A pixel centre on the boundary of a roof polygon belongs to it.
    """
    rows, cols = (int(v) for v in shape)
    if ground is None:
        z = np.full((rows, cols), float(_ground_heights(surfaces).min()) if len(surfaces) else 0.0)
    else:
        z = np.array(ground, dtype=np.float64, copy=True)
        if z.shape != (rows, cols):
            raise ParameterError(f"ground has shape {z.shape}, the grid {(rows, cols)}: resample the DTM first")
    roofs = surfaces[surfaces["kind"] == "roof"]
    vec, cen, _ = _polygon_planes(roofs, upward=True)
    cs, x0, y1 = transform.a, transform.c, transform.f
    cos_max = math.cos(math.radians(max_tilt))
    for k, (ext, ints) in enumerate(zip(roofs["exterior"], roofs["interiors"])):
        size = np.linalg.norm(vec[k])
        if size <= 1e-9 or vec[k, 2] < cos_max * size:
            continue
        n = vec[k] / size
        shape2 = _plan_shape(ext, ints)
        bx0, by0, bx1, by1 = shape2.bounds
        c0, c1 = max(int(math.floor((bx0 - x0) / cs - 0.5)), 0), min(int(math.ceil((bx1 - x0) / cs)), cols)
        r0, r1 = max(int(math.floor((y1 - by1) / cs - 0.5)), 0), min(int(math.ceil((y1 - by0) / cs)), rows)
        if c1 <= c0 or r1 <= r0:
            continue
        rr, cc = np.mgrid[r0:r1, c0:c1]
        xs, ys = x0 + (cc + 0.5) * cs, y1 - (rr + 0.5) * cs
        inside = shapely.intersects_xy(shape2, xs, ys)
        zz = cen[k, 2] - (n[0] * (xs - cen[k, 0]) + n[1] * (ys - cen[k, 1])) / n[2]
        window = z[r0:r1, c0:c1]
        win = inside & ~(zz <= window)  # also where the ground is NaN
        window[win] = zz[win]
    return z


# -------------------------------------------------------------------------------------------- samples

def _plane_basis(normal):
    """Two in-plane unit vectors: ``u`` horizontal (along the contour), ``w`` = normal x u."""
    h = np.array([normal[1], -normal[0], 0.0])
    u = h / np.linalg.norm(h) if np.linalg.norm(h) > 1e-9 else np.array([1.0, 0.0, 0.0])
    return u, np.cross(normal, u)


def _in_plane(rings, centre, u, w):
    """Unite a face's member polygons in the plane's (u, w) coordinates."""
    polys = []
    for ext, ints in rings:
        def flat(r):
            d = np.asarray(r, float) - centre
            return np.column_stack([d @ u, d @ w])
        p = Polygon(flat(ext), [flat(h) for h in ints])
        polys.append(p if p.is_valid else shapely.make_valid(p))
    return _union(polys)


def face_samples(faces, grid, *, spacing=SAMPLE_SPACING, offset=SAMPLE_OFFSET, max_lift=MAX_LIFT,
                 min_samples=MIN_SAMPLES):
    """Sample points on a regular grid in the plane of each face, just above it.

    Parameters
    ----------
    faces : GeoDataFrame
        From :func:`roof_faces` (``normal_*``, ``rings``, ``area``, ``tilt``, ``azimuth``).
    grid : Grid
        Surface model used for shading [m].
    spacing : float
        Cell size of the sample grid in the face plane [m]; a face of area A gets
        ``min(spacing, sqrt(A / min_samples))`` (not below 0.1 m).
    offset : float
        Distance of the samples from the face along its normal [m].
    max_lift : float
        Where the DSM at a sample is up to this much above the face's plane, the sample is lifted onto
        the DSM (plus ``offset``) [m].
    min_samples : int
        Target number of samples on a small face.

    Returns
    -------
    pandas.DataFrame
        One row per sample: ``face`` (row position in ``faces``), ``x``, ``y``, ``z`` [m], ``row``,
        ``col`` (fractional pixel index), ``lift`` [m], ``inside`` (within the grid's data).
    """
    from scipy import ndimage

    spacing = check_range("spacing", spacing, 0.05, 100.0, " m")
    offset = check_range("offset", offset, 0.0, 10.0, " m")
    max_lift = check_range("max_lift", max_lift, 0.0, 100.0, " m")
    parts = []
    for f, face in enumerate(faces.itertuples(index=False)):
        n = np.array([face.normal_e, face.normal_n, face.normal_u])
        centre = np.asarray(face.rings[0][0], float).mean(axis=0)
        centre = centre - (centre @ n - face.offset) * n  # onto the face's (merged) plane
        u, w = _plane_basis(n)
        shape = _in_plane(face.rings, centre, u, w)
        h = max(min(spacing, math.sqrt(max(face.area, 0.0) / max(min_samples, 1))), 0.1)
        b = shape.bounds
        su = b[0] + (np.arange(max(int(math.ceil((b[2] - b[0]) / h)), 1)) + 0.5) * h
        sw = b[1] + (np.arange(max(int(math.ceil((b[3] - b[1]) / h)), 1)) + 0.5) * h
        uu, ww = (a.ravel() for a in np.meshgrid(su, sw))
        keep = shapely.contains_xy(shape, uu, ww)
        if not keep.any():
            p = shape.representative_point()
            uu, ww, keep = np.array([p.x]), np.array([p.y]), np.array([True])
        pts = centre + uu[keep, None] * u + ww[keep, None] * w + offset * n
        parts.append(pd.DataFrame({"face": f, "x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2]}))
    cols = ["face", "x", "y", "z", "row", "col", "lift", "inside"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    s = pd.concat(parts, ignore_index=True)
    s["row"], s["col"] = grid.rowcol(s["x"].to_numpy(), s["y"].to_numpy())
    r, c = s["row"].to_numpy(), s["col"].to_numpy()
    inside = (r >= 0) & (c >= 0) & (r <= grid.shape[0] - 1) & (c <= grid.shape[1] - 1)
    dsm = ndimage.map_coordinates(np.nan_to_num(grid.z, nan=-1e9), [np.clip(r, 0, grid.shape[0] - 1),
                                                                    np.clip(c, 0, grid.shape[1] - 1)],
                                  order=1, mode="nearest")
    nu = faces["normal_u"].to_numpy(float)[s["face"].to_numpy()]
    above = dsm + offset / np.maximum(nu, 1e-3) - s["z"].to_numpy()  # DSM above the sample's own plane height
    lift = np.where((above > 0) & (above <= max_lift), above, 0.0)
    s["lift"] = np.where(inside, lift, 0.0)
    s["z"] = s["z"] + s["lift"]
    s["inside"] = inside & (dsm > -1e8)
    return s[cols]


# ---------------------------------------------------------------------------------------- irradiation

def _face_statistics(faces, samples, irr, open_global):
    """Per-face means, quantiles and monthly means of the sample irradiation (NaN without samples)."""
    nf = len(faces)
    use = samples["inside"].to_numpy(bool)
    f = samples["face"].to_numpy(int)[use]
    count = np.bincount(f, minlength=nf).astype(float)

    def mean(values):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.bincount(f, weights=np.asarray(values, float)[use], minlength=nf) / count

    glob = pd.Series(irr.global_[use], index=f)
    q = glob.groupby(level=0).quantile([0.1, 0.5, 0.9]).unstack().reindex(range(nf))
    out = pd.DataFrame({"irradiation": mean(irr.global_), "irradiation_p10": q[0.1].to_numpy(),
                        "irradiation_p50": q[0.5].to_numpy(), "irradiation_p90": q[0.9].to_numpy(),
                        "beam": mean(irr.beam), "diffuse": mean(irr.diffuse), "reflected": mean(irr.reflected),
                        "sky_view_factor": mean(irr.sky_view_factor), "n_samples": count.astype(int)},
                       index=faces.index)
    monthly = np.stack([mean(irr.monthly[m]) for m in range(12)], axis=1)
    out["monthly_irradiation"] = [None if count[i] == 0 else monthly[i].tolist() for i in range(nf)]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["shading_loss"] = np.clip(1.0 - out["irradiation"].to_numpy() / open_global, 0.0, 1.0)
    return out


def roof_face_irradiation(faces, grid, sky, *, albedo=0.2, spacing=SAMPLE_SPACING, offset=SAMPLE_OFFSET,
                          max_lift=MAX_LIFT, sectors=DEFAULT_SECTORS, max_distance=None):
    """Irradiation of LoD2 roof faces from sample points in their planes, shaded by the DSM.

    Parameters
    ----------
    faces : GeoDataFrame
        From :func:`roof_faces`, in the grid's CRS.
    grid : Grid
        Surface model for the horizons (measured, or :func:`rasterise_model`) [m].
    sky : SkyTable
        From :func:`solarkataster.sky.sky_table`.
    albedo : float
        Ground albedo [0-1].
    spacing, offset, max_lift : float
        Sample grid, distance above the face and lift onto the DSM [m] (:func:`face_samples`).
    sectors : int
        Horizon azimuths per sample (as for the pixels of LiDAR faces).
    max_distance : float, optional
        Horizon search distance [m]; default the raster's diagonal.

    Returns
    -------
    per_face : pandas.DataFrame
        Indexed like ``faces``: ``irradiation`` (mean annual global) [kWh/m²], ``irradiation_p10``,
        ``_p50``, ``_p90`` [kWh/m²], ``beam``, ``diffuse``, ``reflected`` (means) [kWh/m²],
        ``sky_view_factor`` [-], ``n_samples``, ``monthly_irradiation`` (list of 12) [kWh/m²] and
        ``shading_loss`` (1 - irradiation / that of the unobstructed plane) [-]. NaN for faces with no
        sample on the grid.
    samples : pandas.DataFrame
        From :func:`face_samples`.
    """
    from .irradiation import irradiation, unobstructed_irradiation

    sectors = int(check_range("sectors", sectors, 4, 720))
    samples = face_samples(faces, grid, spacing=spacing, offset=offset, max_lift=max_lift)
    use = samples["inside"].to_numpy(bool)
    f = samples["face"].to_numpy(int)
    hor = np.full((sectors, len(samples)), -90.0, np.float32)
    if use.any():
        hor[:, use] = horizon_at_points(grid.z, grid.cellsize, samples["row"].to_numpy(float)[use],
                                        samples["col"].to_numpy(float)[use], samples["z"].to_numpy(float)[use],
                                        sector_azimuths(sectors), max_distance).T
    tilt = faces["tilt"].to_numpy(float)
    azimuth = faces["azimuth"].to_numpy(float)
    irr = irradiation(hor, tilt[f], azimuth[f], sky, albedo)
    open_global = unobstructed_irradiation(tilt, azimuth, sky, albedo).global_ if len(faces) else np.zeros(0)
    return _face_statistics(faces, samples, irr, open_global), samples


def _inside_wall(walls, samples):
    """Mask the samples of :func:`solarkataster.walls.wall_samples` that lie on the wall's true shape."""
    keep = np.zeros(len(samples), bool)
    for w, grp in samples.groupby("wall"):
        wall = walls.iloc[int(w)]
        (x0, y0), (x1, y1) = wall.geometry.coords[0], wall.geometry.coords[-1]
        d = np.array([x1 - x0, y1 - y0]) / max(wall.length, 1e-9)
        shapes = []
        for ext, ints in wall.rings:
            def flat(r):
                r = np.asarray(r, float)
                return np.column_stack([(r[:, :2] - (x0, y0)) @ d, r[:, 2]])
            p = Polygon(flat(ext), [flat(h) for h in ints])
            shapes.append(p.buffer(0.05) if p.is_valid else shapely.make_valid(p).buffer(0.05))
        shape = shapely.union_all(shapes)
        s = (np.column_stack([grp["x"], grp["y"]]) - (x0, y0)) @ d
        keep[grp.index.to_numpy()] = shapely.contains_xy(shape, s, grp["z"].to_numpy(float))
    return keep


def wall_irradiation(walls, grid, sky, *, albedo=0.2, spacing=1.0, band_height=3.0, sectors=None,
                     max_distance=None):
    """Irradiation of LoD2 walls with the facade machinery of :mod:`solarkataster.walls`.

    Samples come from :func:`solarkataster.walls.wall_samples` over the wall's bounding rectangle and are
    kept where they lie on the wall polygons (gables are triangles, not rectangles); horizons and
    irradiation are :func:`solarkataster.walls.wall_horizons` and :func:`solarkataster.walls.wall_irradiation`.

    Parameters
    ----------
    walls : GeoDataFrame
        From :func:`wall_faces`, in the grid's CRS.
    grid : Grid
    sky : SkyTable
    albedo : float
        Ground albedo [0-1].
    spacing, band_height : float
        Sample grid on the wall and storey height of the bands [m].
    sectors : int, optional
        Horizon azimuths (default :data:`solarkataster.walls.WALL_SECTORS`).
    max_distance : float, optional
        Horizon search distance [m].

    Returns
    -------
    pandas.DataFrame
        Indexed like ``walls``: as :func:`solarkataster.walls.wall_irradiation` plus ``shading_loss``
        against the unobstructed vertical plane at the wall's azimuth [-].
    """
    from . import walls as W
    from .irradiation import unobstructed_irradiation

    samples = W.wall_samples(walls, grid, spacing=spacing)
    samples = samples[_inside_wall(walls, samples)].reset_index(drop=True) if len(samples) else samples
    r, c = samples["row"].to_numpy(float), samples["col"].to_numpy(float)
    on_grid = (r >= 0) & (c >= 0) & (r <= grid.shape[0] - 1) & (c <= grid.shape[1] - 1)
    samples = samples[on_grid].reset_index(drop=True)
    hor = W.wall_horizons(samples, grid, sectors=sectors or W.WALL_SECTORS, max_distance=max_distance)
    per_wall, _ = W.wall_irradiation(walls, samples, hor, sky, albedo=albedo, band_height=band_height)
    azimuth = walls["azimuth"].to_numpy(float)
    open_global = unobstructed_irradiation(90.0, azimuth, sky, albedo).global_ if len(walls) else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_wall["shading_loss"] = np.clip(1.0 - per_wall["irradiation"].to_numpy(float) / open_global, 0.0, 1.0)
    return per_wall


def lod2_surfaces(surfaces, grid, sky, *, albedo=0.2, walls=True, spacing=SAMPLE_SPACING, offset=SAMPLE_OFFSET,
                  max_lift=MAX_LIFT, sectors=DEFAULT_SECTORS, wall_spacing=1.0, band_height=3.0,
                  max_distance=None, wall_sky=None, min_wall_length=1.0):
    """Roof faces and walls of an LoD2 model with their irradiation: the LoD2 counterpart of LiDAR faces.

    Parameters
    ----------
    surfaces : pandas.DataFrame or LoD2Model
        :attr:`solarkataster.io.lod2.LoD2Model.surfaces` in the grid's CRS, or the model itself (then
        transformed to the grid's CRS).
    grid : Grid
        Surface model for shading: a measured DSM, or one from :func:`rasterise_model`.
    sky : SkyTable
        From :func:`solarkataster.sky.sky_table`.
    albedo : float
        Ground albedo [0-1].
    walls : bool
        Also assess the walls.
    spacing, offset, max_lift : float
        Roof samples (:func:`face_samples`) [m].
    sectors : int
        Horizon azimuths of the roof samples.
    wall_spacing, band_height : float
        Wall sample grid and storey bands [m].
    max_distance : float, optional
        Horizon search distance [m].
    wall_sky : SkyTable, optional
        Sky table for the walls (the cadastre uses finer azimuth bins there); default ``sky``.
    min_wall_length : float
        Walls shorter than this, or lower than :data:`solarkataster.walls.MIN_WALL_HEIGHT`, are left out,
        as for walls from footprints [m].

    Returns
    -------
    roof_faces : geopandas.GeoDataFrame
        :data:`FACE_COLUMNS` (the columns of the LiDAR roof faces before PV, plus ``beam``, ``diffuse``,
        ``reflected``, ``sky_view_factor``, the plane and ``source='lod2'``), plan polygon geometry in the
        grid's CRS. Azimuth is reported for every face (the cadastre blanks it for flat faces).
    walls : geopandas.GeoDataFrame or None
        :data:`LOD2_WALL_COLUMNS`, bottom-edge LineString geometry in the grid's CRS; None when
        ``walls=False``.
    """
    if not isinstance(grid, Grid):
        raise ParameterError("grid must be a solarkataster.grid.Grid (the DSM used for shading)")
    if hasattr(surfaces, "to_crs"):  # an LoD2Model: bring it into the grid's CRS
        surfaces = surfaces.to_crs(grid.crs).surfaces
    faces = roof_faces(surfaces)
    faces = faces.set_crs(grid.crs, allow_override=True)
    if len(faces):
        per_face, _ = roof_face_irradiation(faces, grid, sky, albedo=albedo, spacing=spacing, offset=offset,
                                            max_lift=max_lift, sectors=sectors, max_distance=max_distance)
        faces = faces.drop(columns=[c for c in per_face.columns if c in faces.columns]).join(per_face)
    else:
        faces = faces.reindex(columns=FACE_COLUMNS + ["geometry"])
    faces = faces[FACE_COLUMNS + ["geometry"]]
    if not walls:
        return faces, None
    from .walls import MIN_WALL_HEIGHT

    wall_table = wall_faces(surfaces).set_crs(grid.crs, allow_override=True)
    wall_table = wall_table[(wall_table["length"] >= min_wall_length)
                            & (wall_table["height"] >= MIN_WALL_HEIGHT)].reset_index(drop=True)
    if len(wall_table):
        per_wall = wall_irradiation(wall_table, grid, wall_sky or sky, albedo=albedo, spacing=wall_spacing,
                                    band_height=band_height, max_distance=max_distance)
        wall_table = wall_table.join(per_wall[["irradiation", "monthly_irradiation", "bands", "sky_view_factor",
                                               "covered_share", "shading_loss"]])
    wall_table = wall_table.reindex(columns=LOD2_WALL_COLUMNS + ["geometry"])
    return faces, wall_table
