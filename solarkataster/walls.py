"""Facades: wall segments from footprints and the surface model, samples on them, their irradiation.

Pipeline (arrays and geometries in, arrays and geometries out, no file I/O)::

    footprints + Grid ─► wall_segments ─► wall_samples ─► wall_horizons ─► wall_irradiation ─► wall_layer

* **Segments** are footprint edges after merging (nearly) collinear vertices, exterior rings and courtyard
  rings alike. The outward normal points away from the building's interior: rings are oriented
  (exterior counter-clockwise, holes clockwise), so the interior always lies left of an edge and the
  outward normal is the edge direction turned 90° clockwise.
* **Eave height** is a low percentile of the DSM pixels inside the footprint within 1.5 cells of the
  edge (the roof just behind the wall); **ground** is the DTM near the edge when one is given, else a low
  percentile of the DSM pixels just outside the footprint. Gable triangles above the eave are not part
  of the wall (a documented simplification: wall height = eave height above ground).
* **Party walls**: an edge whose length lies at least half within 0.5 m of another footprint is
  ``shared``; it is not sampled and gets no irradiation or PV. Walls that are only partly covered by a
  neighbour are sampled, and every sample whose point one cell in front of the wall lies below the DSM
  (inside a neighbour, below its roof) is *covered*: it is left out of the wall's means, so a wall rising
  above a lower neighbour is assessed above the neighbour's roof only.
* **The raster's border**: an edge along it (within a cell) is where the raster cuts a building that goes
  on beyond it, not a facade; it is left out (a problem names the building), and the building's other
  walls keep their ids. A batch's tiles have halos, so only the mosaic's outer border cuts.
* **Horizons** are marched over the bilinear DSM from each sample's own position and height, over the
  half-space the wall faces (azimuths within ±90° of the outward normal). Directions behind the wall are
  set to +90° (the wall itself blocks them; for a vertical plane the irradiation kernel excludes them
  anyway, which a test checks). The bilinear surface spreads the wall's own roof one cell outwards
  (a ramp from the roof pixel to the ground pixel), which would look like an obstacle to rays running
  along the wall. The march therefore ignores everything closer to the wall plane than ``clearance``
  (one cell by default): along a ray at angle θ from the normal it starts at ``clearance / cos θ``.
  Masking the own building instead would lose self-shading in courtyards and the inner corners of L-shaped
  buildings, which this rule keeps (a wing extends far beyond one cell from the wall).

References
----------
.. [1] Lindberg, F., Jonsson, P., Honjo, T., & Wästberg, D. (2015). Solar energy on building envelopes - 3D
   modelling in a 2D environment. Solar Energy, 115, 369-378. https://doi.org/10.1016/j.solener.2015.03.001
   (SEBE: wall irradiation from a DSM; the per-wall, per-height-band reporting here extends its output).
.. [2] Dozier, J., & Frew, J. (1990). Rapid calculation of terrain parameters for radiation modeling from
   digital elevation data. IEEE Transactions on Geoscience and Remote Sensing, 28(5), 963-969.
   https://doi.org/10.1109/36.58986
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.polygon import orient

from . import layers
from ._kernels import walls as _kw
from .errors import ParameterError, VectorError, check_range
from .grid import Grid
from .horizon import grid_anchor, horizon_at_points, point_horizons

log = logging.getLogger(__name__)

#: Default number of horizon azimuths for wall samples (2°; half face the wall). Coarser sectors blur the
#: horizon where a street opens between blocks: 72 sectors overestimate a street-level facade by ~2.5 %
#: against a per-step ray cast, 180 by ~1 % (tests/test_walls.py). Per-wall annual irradiation on the Essen
#: tile against 360 sectors (benchmarks/convergence_walls.py, both with the wall defaults below), p99 of the
#: difference: 2.85 % at 72, 1.38 % at 120, 0.67 % at 180 (0.45 % with the former 32-cell near field and
#: every second sector swept); 120 sectors failed the facing-blocks ray-cast test (2.36 % > 2 %).
WALL_SECTORS = 180
#: Exact near field of the wall horizons [cells]: each sample marches its own ray this far, the sweep lines'
#: hulls serve beyond (the pixel sweep marches 2 cells, :data:`solarkataster.horizon.NEAR_CELLS`). What
#: stands close to a facade (the street, the opposite block) is marched exactly, so the lines can be
#: coarser (:data:`WALL_LINE_SPACING`). Against a 0.1-cell ray cast of 600 samples x all sectors facing the
#: wall on the Essen tile (benchmarks/convergence_walls.py) the horizon error with the wall defaults (this,
#: the lines and :data:`WALL_FAR_STRIDE`) is median 0.115°, p90 1.36°, p99 4.4° (every sector swept: 0.080°,
#: 0.63°, 2.7°; pixel settings: 0.054°, 0.48°, 2.3°; the issue's bars: median 0.5°, p90 2°). 32 cells with a
#: far stride of 2 gave 0.073°, 0.76°, 3.0° for 0.8 CPU-s more (of about 4): per-wall annual irradiation
#: (DWD TRY year) differs from it by median 0.05 %, p99 0.54 %, max 2.6 %, and from every sector swept by
#: median 0.05 %, p99 0.52 % (32 cells, stride 2: 0.02 %, 0.22 %).
WALL_NEAR_CELLS = 24.0
#: Lateral spacing of the wall horizons' sweep lines [cells] (the pixel sweep's: 0.5): beyond the near field
#: an obstacle is at least 24 cells away, where blending over 2 cells moves its angle little (see above).
WALL_LINE_SPACING = 2.0
#: Only every n-th wall sector sweeps its lines; the others interpolate that far field between the swept
#: sectors beside them and march their own near field (:func:`solarkataster.horizon.point_horizons`).
#: Beyond the near field (24 cells) the 6° between swept sectors is 2.5 cells sideways, about the lines'
#: own blending; the accuracy is given with :data:`WALL_NEAR_CELLS`. A far obstacle narrower than 6° can
#: fall between swept sectors, as with 60 sectors.
WALL_FAR_STRIDE = 3
#: Eave height: percentile of the roof pixels just behind the wall.
EAVE_PERCENTILE = 25.0
#: Ground height without a DTM: percentile of the DSM pixels just outside the wall.
GROUND_PERCENTILE = 10.0
#: An edge within this distance of another footprint along at least half its length is a party wall [m].
PARTY_WALL_DISTANCE = 0.5
#: Walls lower than this are not walls (fences, kerbs, noise) [m].
MIN_WALL_HEIGHT = 0.5

#: Columns of the walls layer, in order (the layer contract's, plus the potential of uncounted walls).
#: Columns of the walls layer, in order: the layer contract's (:mod:`solarkataster.layers`).
WALL_COLUMNS = layers.columns("walls")


# ----------------------------------------------------------------------------------------- segments

def _footprint_table(footprints, id_column):
    """(ids, geometries, crs) from a GeoDataFrame or a mapping id -> polygon."""
    if isinstance(footprints, dict):
        return [str(k) for k in footprints], list(footprints.values()), None
    if not hasattr(footprints, "geometry"):
        raise VectorError("footprints must be a GeoDataFrame or a dict of building id -> polygon")
    if id_column in footprints.columns:
        ids = [str(v) for v in footprints[id_column]]
    else:
        ids = [str(v) for v in footprints.index]
    if len(set(ids)) != len(ids):
        raise VectorError(f"footprints: column {id_column!r} has duplicate building ids; make them unique")
    return ids, list(footprints.geometry), footprints.crs


def _polygon_parts(geom):
    """Polygons of a (repaired) geometry; lines and points from make_valid are dropped."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygon_parts(g)]
    return []


def _ring_edges(coords, tolerance):
    """Vertices of a closed ring with collinear and duplicate vertices merged, starting at a fixed vertex.

    Returns (vertices (n, 2), zero_length_count). A vertex is dropped when it lies within ``tolerance`` of
    the line through its neighbours (repeated until none is), so a slightly bent edge becomes one wall.
    """
    pts = np.asarray(coords, float)[:-1, :2]
    step = np.linalg.norm(np.diff(np.vstack([pts, pts[:1]]), axis=0), axis=1)
    zero = int(np.sum(step < 1e-6))
    pts = _kw.merge_collinear(np.ascontiguousarray(pts[step >= 1e-6] if zero else pts), float(tolerance))
    # deterministic start: the south-west-most vertex (lowest y, then lowest x, at mm precision)
    key = np.lexsort((np.round(pts[:, 0], 3), np.round(pts[:, 1], 3)))
    return np.roll(pts, -int(key[0]), axis=0), zero


def _percentile(values, q):
    """``np.percentile(values, q)`` (linear method) of a small 1-D array of finite values, without its overhead.

    The same selection and the same interpolation arithmetic as NumPy's, so the same float.
    """
    if values.dtype != np.float64:  # NumPy interpolates in the values' own precision: leave it to NumPy
        return float(np.percentile(values, q))
    n = values.size
    index = (n - 1) * (q / 100.0)
    k = int(math.floor(index))
    if k >= n - 1:
        return float(np.partition(values, n - 1)[n - 1])
    part = np.partition(values, (k, k + 1))
    a, b = float(part[k]), float(part[k + 1])
    g = index - k
    diff = b - a
    return b - diff * (1.0 - g) if g >= 0.5 else a + diff * g


def _building_walls(b, bid, plist, ctx, rows_out, problems):
    """Append the walls of one building (its polygon parts ``plist``) to ``rows_out``."""
    z, labels, ground, grid = ctx["z"], ctx["labels"], ctx["ground"], ctx["grid"]
    cs, shape, t, near = grid.cellsize, grid.shape, grid.transform, ctx["near"]
    min_length, collinear_tolerance = ctx["min_length"], ctx["collinear_tolerance"]
    # pixel window around the building
    minx, miny, maxx, maxy = shapely.bounds(MultiPolygon([p for _, p in plist]) if len(plist) > 1
                                           else plist[0][1])
    pad = 4 * cs + 1.0
    c0 = max(int(math.floor((minx - pad - t.c) / t.a)), 0)
    c1 = min(int(math.ceil((maxx + pad - t.c) / t.a)), shape[1])
    r0 = max(int(math.floor((maxy + pad - t.f) / t.e)), 0)
    r1 = min(int(math.ceil((miny - pad - t.f) / t.e)), shape[0])
    if c1 <= c0 or r1 <= r0:
        problems.append(dict(building_id=bid, problem="outside raster",
                             detail="footprint does not overlap the surface model"))
        return
    zw = z[r0:r1, c0:c1]
    lw = labels[r0:r1, c0:c1]
    inside = (lw == b + 1) & np.isfinite(zw)
    if not inside.any():
        problems.append(dict(building_id=bid, problem="no height",
                             detail="no valid DSM pixel centre inside the footprint (too small, or nodata)"))
        return
    edges, ring_of, zero_edges, ring_no = [], [], 0, 0
    for pi, poly in plist:
        rings = [poly.exterior] + sorted(poly.interiors, key=lambda r: (round(r.bounds[1], 3),
                                                                        round(r.bounds[0], 3)))
        for ri, ring in enumerate(rings):
            verts, zero = _ring_edges(ring.coords, collinear_tolerance)
            zero_edges += zero
            n = len(verts)
            for e in range(n if n >= 3 else 0):
                (x0, y0), (x1, y1) = verts[e], verts[(e + 1) % n]
                if math.hypot(x1 - x0, y1 - y0) >= min_length:
                    edges.append((x0, y0, x1, y1))
                    ring_of.append(ring_no + ri)
        ring_no += len(rings)
    if edges:
        ends = np.array(edges, float)
        # eave and ground of every edge from the pixels near it (pixel centres along a row and down a column)
        heights = np.empty((len(edges), 2))
        _kw.edge_heights(zw, lw, b + 1, np.empty((0, 0)) if ground is None else ground[r0:r1, c0:c1],
                         grid.xy(0, np.arange(c0, c1))[0], grid.xy(np.arange(r0, r1), 0)[1], ends, near,
                         3 * cs + 0.5, max(near, 3 * cs + 0.5) + cs, EAVE_PERCENTILE, GROUND_PERCENTILE,
                         _percentile(zw[inside], EAVE_PERCENTILE), heights)
        lines = shapely.linestrings(ends.reshape(-1, 2, 2))
        shared = _party_walls(b, lines, ctx)
        cut = _on_raster_edge(ends, grid)
        if cut.any():
            problems.append(dict(building_id=bid, problem="edge of the surface model",
                                 detail=f"{int(cut.sum())} edge(s) along the raster's border left out: the "
                                        "building continues beyond it, so they are no facades"))
        for k, ((x0, y0, x1, y1), edge) in enumerate(zip(edges, lines)):
            if cut[k]:  # ids keep their numbers: the other walls' ids do not depend on the raster's extent
                continue
            azimuth = math.degrees(math.atan2(y1 - y0, -(x1 - x0))) % 360.0  # normal (dy, -dx)
            rows_out.append(dict(building_id=bid, wall_id=f"{bid}-W{k:03d}", ring=ring_of[k], azimuth=azimuth,
                                 length=math.hypot(x1 - x0, y1 - y0), eave=float(heights[k, 0]),
                                 ground=float(heights[k, 1]), shared=bool(shared[k]), label=b + 1, geometry=edge))
    if zero_edges:
        problems.append(dict(building_id=bid, problem="zero-length edges removed",
                             detail=f"{zero_edges} repeated vertex(es) dropped"))


def _on_raster_edge(ends, grid, points=8):
    """Tell which edges ``(n, 4)`` [m] lie along the raster's border: a cut through a building, not a facade.

    An edge is on the border when at least half of ``points`` points along it, moved one cell outwards
    (along the outward normal, the edge direction turned clockwise), lie beyond the raster's extent. A
    footprint detected from the raster ends at the border or, regularised, up to about a cell inside it
    (on the Essen tile 0-0.86 m, the roof's height the same on both sides of the edge); a wall a cell or
    more inside keeps all its points on the raster. An edge more than a cell beyond the raster is not a cut
    along it (off the raster: :func:`solarkataster.cadastre` leaves such walls out). Nodata inside the
    extent does not count: a facade on a canal whose water has no returns looks the same there as a
    building cut by a nodata margin.
    """
    x0, y0, x1, y1 = ends.T
    length = np.maximum(np.hypot(x1 - x0, y1 - y0), 1e-12)
    step = grid.cellsize
    nx, ny = (y1 - y0) / length * step, -(x1 - x0) / length * step
    f = (np.arange(points) + 0.5) / points
    px = x0[:, None] + f * (x1 - x0)[:, None] + nx[:, None]
    py = y0[:, None] + f * (y1 - y0)[:, None] + ny[:, None]
    off = _beyond(grid, px, py, 0.0)
    # an edge off the raster altogether is not a cut along its border (the cadastre leaves it out as such)
    own = _beyond(grid, px - nx[:, None], py - ny[:, None], 1.0)
    return (off.sum(axis=1) * 2 >= points) & ~own.any(axis=1)


def _beyond(grid, x, y, margin):
    """Points [m] beyond the raster's extent widened by ``margin`` cells."""
    row, col = grid.rowcol(x, y)  # pixel centres at integers: the extent is -0.5 .. n - 0.5
    rows, cols = grid.shape
    return (col < -0.5 - margin) | (col > cols - 0.5 + margin) | (row < -0.5 - margin) | (row > rows - 0.5 + margin)


def _party_walls(b, lines, ctx):
    """Tell which edges of building ``b`` lie at least half their length within PARTY_WALL_DISTANCE of another."""
    tree, part_building, part_polys, buffered = ctx["tree"], ctx["part_building"], ctx["part_polys"], ctx["buffered"]
    shared = np.zeros(len(lines), bool)
    for e, j in zip(*tree.query(lines, predicate="dwithin", distance=PARTY_WALL_DISTANCE)):
        if shared[e] or part_building[j] == b:
            continue
        if j not in buffered:  # each neighbour's buffer once, not once per edge near it
            buffered[j] = part_polys[j].buffer(PARTY_WALL_DISTANCE)
        shared[e] = lines[e].intersection(buffered[j]).length >= 0.5 * lines[e].length
    return shared


def _finish_walls(rows_out, problems, crs):
    """Build the walls table from the collected rows: ground fallback, height, area; low walls dropped."""
    import geopandas as gpd

    walls = gpd.GeoDataFrame(rows_out, columns=["building_id", "wall_id", "ring", "azimuth", "length", "eave",
                                                "ground", "shared", "label", "geometry"],
                             geometry="geometry", crs=crs)
    if len(walls):
        # building-wide ground where a wall has no free pixels outside (party walls, courtyards of nodata)
        fallback = walls.groupby("building_id")["ground"].transform("min")
        walls["ground"] = walls["ground"].fillna(fallback)
        walls["height"] = walls["eave"] - walls["ground"]
        bad = ~(walls["height"] >= MIN_WALL_HEIGHT)
        for bid, grp in walls[bad].groupby("building_id"):
            problems.append(dict(building_id=bid, problem="no wall height",
                                 detail=f"{len(grp)} wall(s) without ground or lower than {MIN_WALL_HEIGHT} m "
                                        "dropped"))
        walls = walls[~bad].reset_index(drop=True)
    else:
        walls["height"] = pd.Series(dtype=float)
    walls["area"] = walls["length"] * walls["height"]
    walls = walls[["building_id", "wall_id", "ring", "azimuth", "length", "eave", "ground", "height", "area",
                   "shared", "label", "geometry"]]
    for p in problems:
        log.info("building %s: %s (%s)", p["building_id"], p["problem"], p["detail"])
    return walls, problems


def wall_segments(footprints, grid: Grid, ground=None, *, id_column="building_id", min_length=1.0,
                  collinear_tolerance=0.15):
    """Wall segments of building footprints with outward normal, eave and ground height.

    Parameters
    ----------
    footprints : geopandas.GeoDataFrame or dict
        Building footprint polygons in (or reprojectable to) the grid's CRS, ids in ``id_column`` (else
        the index); or a dict of building id -> polygon in the grid's CRS.
    grid : Grid
        Surface model (DSM) [m].
    ground : ndarray, shape grid.shape, optional
        Terrain model (DTM) on the same grid [m]; default: estimated from the DSM outside each wall.
    id_column : str
    min_length : float
        Shorter edges are dropped (after merging collinear vertices) [m].
    collinear_tolerance : float
        A vertex closer than this to the line through its neighbours is merged away [m].

    Returns
    -------
    walls : geopandas.GeoDataFrame
        One row per wall in the grid's CRS: ``building_id``, ``wall_id`` (``f"{building_id}-W{k:03d}"``:
        exterior ring first, counter-clockwise from its south-west-most vertex, then courtyard rings),
        ``ring`` (0 = exterior), ``azimuth`` of the outward normal [°], ``length`` [m], ``eave`` and
        ``ground`` (absolute) [m], ``height`` = eave - ground [m], ``area`` = length x height [m²],
        ``shared`` (party wall), ``label`` (footprint raster label, internal), LineString geometry.
    problems : list of dict
        ``{'building_id', 'problem', 'detail'}`` for every repaired or skipped footprint or wall.
    """
    from rasterio.features import rasterize

    check_range("min_length", min_length, 0.0, 1e4, " m")
    check_range("collinear_tolerance", collinear_tolerance, 0.0, 10.0, " m")
    if ground is not None:
        ground = np.asarray(ground, float)
        if ground.shape != grid.shape:
            raise ParameterError(f"ground has shape {ground.shape}, the DSM {grid.shape}: resample the DTM "
                                 "onto the DSM grid")
    if hasattr(footprints, "crs") and footprints.crs is not None and grid.crs is not None:
        from pyproj import CRS
        if CRS.from_user_input(footprints.crs) != CRS.from_user_input(grid.crs):
            footprints = footprints.to_crs(grid.crs)
    ids, geoms, _ = _footprint_table(footprints, id_column)
    problems = []
    parts = []  # (building index, polygon)
    for b, (bid, geom) in enumerate(zip(ids, geoms)):
        if geom is None or geom.is_empty:
            problems.append(dict(building_id=bid, problem="empty geometry", detail="footprint has no geometry"))
            continue
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            geom = shapely.make_valid(geom)
            problems.append(dict(building_id=bid, problem="invalid geometry repaired",
                                 detail=f"{reason}; repaired with shapely.make_valid"))
        polys = [p for p in _polygon_parts(geom) if p.area > 0]
        if not polys:
            problems.append(dict(building_id=bid, problem="no area", detail="footprint has no polygonal area"))
        parts.extend((b, orient(p, sign=1.0)) for p in polys)

    z = grid.z
    cs = grid.cellsize
    shape = grid.shape
    labels = np.zeros(shape, np.int32)
    if parts:
        labels = rasterize([(p, b + 1) for b, p in parts], out_shape=shape, transform=grid.transform,
                           fill=0, dtype="int32")
    tree = shapely.STRtree([p for _, p in parts]) if parts else None
    part_building = np.array([b for b, _ in parts], int)
    part_polys = [p for _, p in parts]
    near = max(1.5 * cs, 0.75)
    rows_out = []
    by_building = {}
    for pi, (b, poly) in enumerate(parts):
        by_building.setdefault(b, []).append((pi, poly))
    ctx = dict(z=z, labels=labels, ground=ground, grid=grid, near=near, tree=tree, part_building=part_building,
               part_polys=part_polys, min_length=min_length, collinear_tolerance=collinear_tolerance, buffered={})
    for b, plist in by_building.items():
        _building_walls(b, ids[b], plist, ctx, rows_out, problems)
    return _finish_walls(rows_out, problems, grid.crs)


# ------------------------------------------------------------------------------------------ samples

def wall_samples(walls, grid: Grid, spacing=1.0, offset=0.1):
    """Sample points on a regular grid on each (non-shared) wall, just in front of the facade.

    Each wall of length L and height H gets ``max(1, round(L / spacing))`` x ``max(1, round(H / spacing))``
    equal cells; a sample sits at each cell centre, ``offset`` metres out along the outward normal.

    Parameters
    ----------
    walls : GeoDataFrame
        From :func:`wall_segments`.
    grid : Grid
    spacing : float
        Target cell size on the wall [m].
    offset : float
        Distance in front of the facade [m].

    Returns
    -------
    pandas.DataFrame
        One row per sample: ``wall`` (row position in ``walls``), ``x``, ``y`` [m], ``z`` absolute [m],
        ``height`` above the wall's ground [m], ``row``, ``col`` (fractional pixel index),
        ``surface_azimuth`` [°], ``covered`` (the point one cell further out lies below the DSM: inside a
        neighbour or under an obstacle; no sky).
    """
    spacing = check_range("spacing", spacing, 0.05, 100.0, " m")
    offset = check_range("offset", offset, 0.0, 10.0, " m")
    cols = ["wall", "x", "y", "z", "height", "row", "col", "surface_azimuth", "covered"]
    height = walls["height"].to_numpy(float) if len(walls) else np.zeros(0)
    keep = np.flatnonzero(~walls["shared"].to_numpy(bool) & (height > 0)) if len(walls) else np.zeros(0, int)
    if not keep.size:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    # one u x v grid per wall, all walls at once: sample k of wall w is (u index, v index) = divmod(k, nv)
    lines = walls.geometry.to_numpy()[keep]
    ends = np.hstack([shapely.get_coordinates(shapely.get_point(lines, 0)),
                      shapely.get_coordinates(shapely.get_point(lines, -1))])
    nu = np.maximum(1, np.round(walls["length"].to_numpy(float)[keep] / spacing).astype(np.int64))
    nv = np.maximum(1, np.round(height[keep] / spacing).astype(np.int64))
    count = nu * nv
    w_of = np.repeat(np.arange(keep.size), count)
    k = np.arange(w_of.size) - np.repeat(np.cumsum(count) - count, count)
    iu, iv = np.divmod(k, nv[w_of])
    u = (iu + 0.5) / nu[w_of]
    vv = (iv + 0.5) / nv[w_of] * height[keep][w_of]
    azimuth = walls["azimuth"].to_numpy(float)[keep]
    a = np.radians(azimuth)[w_of]
    x0, y0, x1, y1 = (ends[w_of, i] for i in range(4))
    samples = pd.DataFrame({
        "wall": keep[w_of], "x": x0 + u * (x1 - x0) + offset * np.sin(a),
        "y": y0 + u * (y1 - y0) + offset * np.cos(a), "z": walls["ground"].to_numpy(float)[keep][w_of] + vv,
        "height": vv, "surface_azimuth": azimuth[w_of]})
    samples["row"], samples["col"] = grid.rowcol(samples["x"].to_numpy(), samples["y"].to_numpy())
    # the DSM pixel one cell in front: above the sample means the sample faces a neighbour's body
    a = np.radians(samples["surface_azimuth"].to_numpy())
    cs = grid.cellsize
    r = np.rint(samples["row"].to_numpy() - np.cos(a)).astype(int)
    c = np.rint(samples["col"].to_numpy() + np.sin(a)).astype(int)
    ok = (r >= 0) & (c >= 0) & (r < grid.shape[0]) & (c < grid.shape[1])
    front = np.full(len(samples), np.nan)
    front[ok] = grid.z[r[ok], c[ok]]
    samples["covered"] = np.nan_to_num(front, nan=-np.inf) > samples["z"].to_numpy() + 0.1 * cs
    return samples[cols]


def wall_horizons(samples, grid: Grid, sectors=WALL_SECTORS, max_distance=None, *, clearance=None, step=0.5,
                  growth=0.02, method="sweep", codes=False):
    """Horizon profiles of wall samples over the half-space each wall faces.

    Each sample is a tangent query on the horizon sweep's line hulls (:func:`solarkataster.horizon.
    point_horizons`, one sweep of the raster per pair of opposite sectors, lines :data:`WALL_LINE_SPACING`
    apart), with an exact march of its near field (:data:`WALL_NEAR_CELLS`); ``method='march'`` marches every
    sample's rays instead (the former method, slower by an order of magnitude on a city tile).

    Parameters
    ----------
    samples : pandas.DataFrame
        From :func:`wall_samples` (``row``, ``col``, ``z``, ``surface_azimuth``).
    grid : Grid
    sectors : int
        Azimuths k * 360 / sectors, clockwise from north.
    max_distance : float, optional
        Search distance [m]; default the raster's diagonal.
    clearance : float, optional
        Obstacles closer to the wall plane than this are ignored [m]; default one cell (see module notes).
    step : float
        Shortest march distance [cells].
    growth : float
        Growth of the march step with distance (``method='march'`` only), as in
        :func:`solarkataster.horizon.horizon_at_points`.
    method : {'sweep', 'march'}
        See above.
    codes : bool
        Return :func:`solarkataster.horizon.angles_to_codes` of the angles (int16), the irradiation's input.

    Returns
    -------
    ndarray of float32, shape (sectors, n_samples)
        Horizon elevation [°]; +90 behind the wall; -90 where nothing lies along the azimuth (int16 codes
        with ``codes``).
    """
    sectors = int(check_range("sectors", sectors, 4, 720))
    cs = grid.cellsize
    clearance = cs if clearance is None else check_range("clearance", clearance, 0.0, 100.0, " m")
    n = len(samples)
    if not n:
        return np.empty((sectors, 0), np.int16 if codes else np.float32)
    azimuths = np.arange(sectors) * 360.0 / sectors
    rows, cols = samples["row"].to_numpy(float), samples["col"].to_numpy(float)
    heights, facing = samples["z"].to_numpy(float), samples["surface_azimuth"].to_numpy(float)
    if method == "sweep":
        return point_horizons(grid.z, cs, rows, cols, heights, azimuths, max_distance, facing=facing,
                              clearance=clearance, step=step, near=WALL_NEAR_CELLS, line_spacing=WALL_LINE_SPACING,
                              anchor=grid_anchor(grid.transform),
                              far_stride=WALL_FAR_STRIDE if sectors % (2 * WALL_FAR_STRIDE) == 0 else 1,
                              codes=codes)
    out = horizon_at_points(grid.z, cs, rows, cols, heights, azimuths, max_distance, step=step, growth=growth,
                            facing=facing, clearance=clearance, method=method)
    out = np.ascontiguousarray(out.T, dtype=np.float32)
    return _horizon_codes(out) if codes else out


# ------------------------------------------------------------------------------------- irradiation

def wall_canopy_horizons(samples, grid: Grid, vegetation, sectors=WALL_SECTORS, max_distance=None, *,
                         clearance=None):
    """Canopy-top and canopy-bottom horizons of wall samples, by :func:`wall_horizons` on canopy surfaces.

    The top is :func:`wall_horizons` on the opaque surface with the canopy tops on it; the bottom (the lowest
    elevation at which a ray meets the canopy above its trunk zone) is :func:`wall_horizons` on the negated
    trunk tops seen from the negated sample heights (see
    :func:`solarkataster.horizon.canopy_horizon_codes`).

    Parameters
    ----------
    samples : pandas.DataFrame
        From :func:`wall_samples`.
    grid : Grid
        Opaque surface model [m] (trees removed).
    vegetation : solarkataster.vegetation.Vegetation
        Canopy on the grid.
    sectors, max_distance, clearance
        As :func:`wall_horizons`.

    Returns
    -------
    top, bottom : ndarray of float32, shape (sectors, n_samples)
        Elevation [°]; top as :func:`wall_horizons`, bottom 90 where no canopy lies along the azimuth or
        behind the wall.
    """
    from dataclasses import replace

    from .horizon import canopy_surfaces

    top_z, bottom_z = canopy_surfaces(grid.z, vegetation)
    top = wall_horizons(samples, replace(grid, z=top_z), sectors, max_distance, clearance=clearance)
    negated = samples.assign(z=-samples["z"].to_numpy(float))
    neg = wall_horizons(negated, replace(grid, z=-bottom_z), sectors, max_distance, clearance=clearance)
    bottom = np.where((neg <= -89.999) | (neg >= 89.999), 90.0, -neg).astype(np.float32)
    return top, bottom


def wall_irradiation(walls, samples, horizons, sky, *, albedo=0.2, band_height=3.0, canopy=None, vegetation=None):
    """Irradiation of wall samples, aggregated per wall and per height band.

    Parameters
    ----------
    walls : GeoDataFrame
        From :func:`wall_segments`.
    samples : pandas.DataFrame
        From :func:`wall_samples`.
    horizons : ndarray, shape (sectors, n_samples)
        From :func:`wall_horizons`.
    sky : SkyTable
    albedo : float
        Ground albedo [0-1].
    band_height : float
        Height of the reporting bands, bottom to top (storeys) [m].
    canopy : (ndarray, ndarray), optional
        From :func:`wall_canopy_horizons`; needs ``vegetation`` and ``horizons`` of the opaque surface.
    vegetation : solarkataster.vegetation.Vegetation, optional
        Transmissivities and leaf-on days (the sky table needs the leaf-on split when they differ).

    Returns
    -------
    per_wall : pandas.DataFrame
        Indexed like ``walls``: ``irradiation`` (mean annual over uncovered samples) [kWh/m²],
        ``monthly_irradiation`` (list of 12) [kWh/m²], ``bands`` (list of dicts ``z_min``, ``z_max`` above
        ground [m], ``irradiation`` [kWh/m²], and with a canopy ``vegetation_loss`` [-]),
        ``sky_view_factor`` (mean) [-], ``covered_share`` [-], ``vegetation_loss`` [-] (irradiation lost to
        trees over the unobstructed irradiation of a vertical plane at the wall's azimuth, the denominator
        of ``shading_loss``; 0 without a canopy). Walls without samples (shared, or all covered) have NaN
        / None.
    sample_irradiation : solarkataster.irradiation.Irradiation
        Per sample (covered samples included as computed; use ``samples['covered']`` to drop them).
    """
    band_height = check_range("band_height", band_height, 0.1, 100.0, " m")
    irr, share = _sample_irradiation(_horizon_codes(horizons), samples["surface_azimuth"].to_numpy(float), sky,
                                     albedo, None if canopy is None else tuple(_horizon_codes(c) for c in canopy),
                                     vegetation)
    use = ~samples["covered"].to_numpy(bool)
    per_wall = _per_wall(walls, samples, use, irr, share, band_height, pick=use)
    return per_wall, irr


def _sample_irradiation(codes, sample_azimuth, sky, albedo, canopy, vegetation):
    """Irradiation of vertical samples from their horizon codes, and their vegetation-loss share [-].

    ``canopy``: canopy-top and canopy-bottom codes, or None (the share is then None).
    """
    from .irradiation import irradiation_from_codes, unobstructed_irradiation

    if canopy is None:
        return irradiation_from_codes(codes, 90.0, sample_azimuth, sky, albedo), None
    irr = irradiation_from_codes(codes, 90.0, sample_azimuth, sky, albedo, canopy=canopy, vegetation=vegetation)
    # the denominator of shading_loss: the unobstructed vertical plane at the wall's azimuth
    unique_azimuth, inverse = np.unique(sample_azimuth, return_inverse=True)
    free = unobstructed_irradiation(90.0, unique_azimuth, sky, albedo).global_[inverse]
    with np.errstate(invalid="ignore", divide="ignore"):
        return irr, irr.vegetation_loss / free


def _per_wall(walls, samples, use, irr, share, band_height, pick):
    """Means of the uncovered samples (``use``) per wall, and its height bands (:func:`wall_irradiation`).

    ``irr`` and ``share`` (None without a canopy) hold all samples (``pick=use``) or only the uncovered
    ones (``pick=slice(None)``); ``pick`` selects the uncovered among them.
    """
    n_walls = len(walls)
    wall_of = samples["wall"].to_numpy(int)
    glob = irr.global_[pick]
    loss = np.zeros(glob.size) if share is None else share[pick]
    count = np.bincount(wall_of[use], minlength=n_walls).astype(float)
    total = np.bincount(wall_of, minlength=n_walls).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(wall_of[use], glob, minlength=n_walls) / count
        svf = np.bincount(wall_of[use], irr.sky_view_factor[pick], minlength=n_walls) / count
        monthly = np.stack([np.bincount(wall_of[use], irr.monthly[m][pick], minlength=n_walls) / count
                            for m in range(12)], axis=1)
        covered = 1.0 - count / total
        veg_loss = np.bincount(wall_of[use], loss, minlength=n_walls) / count
    bands = _band_tables(wall_of[use], samples["height"].to_numpy(float)[use], walls["height"].to_numpy(float),
                         band_height, glob, None if share is None else loss, count)
    return pd.DataFrame({
        "irradiation": mean, "monthly_irradiation": [None if c == 0 else row  # one tolist, not one per wall
                                                     for c, row in zip(count.tolist(), monthly.tolist())],
        "bands": bands, "sky_view_factor": svf, "covered_share": covered, "vegetation_loss": veg_loss},
        index=walls.index)


def _horizon_codes(horizons, chunk=32768):
    """:func:`solarkataster.horizon.angles_to_codes` of (sectors, samples) horizons, block of samples by block.

    The conversion's float64 temporaries are several times the float32 horizons; by blocks they stay small
    (a city's walls have millions of samples). The same codes.
    """
    from .horizon import angles_to_codes

    horizons = np.asarray(horizons)
    out = np.empty(horizons.shape, np.int16)
    for j in range(0, horizons.shape[-1], chunk):
        out[..., j:j + chunk] = angles_to_codes(horizons[..., j:j + chunk])
    return out


def _band_tables(wall_of, sample_height, wall_height, band_height, glob, share, count):
    """Per wall, the list of its height bands with their mean irradiation (and vegetation loss), or None.

    ``wall_of``, ``sample_height``, ``glob`` and ``share`` are those of the uncovered samples. One
    ``bincount`` over (wall, band) keys: the cost is linear in the samples, not walls x samples.
    """
    n_walls = wall_height.size
    n_bands = np.maximum(1, np.ceil(wall_height / band_height - 1e-9)).astype(int)
    stride = int(n_bands.max()) if n_walls else 1
    band_of = np.floor(sample_height / band_height).astype(int)
    ok = (band_of >= 0) & (band_of < n_bands[wall_of])
    key = wall_of[ok] * stride + band_of[ok]
    size = n_walls * stride
    n = np.bincount(key, minlength=size)
    irr_sum = np.bincount(key, glob[ok].astype(float), minlength=size)
    loss_sum = None if share is None else np.bincount(key, share[ok], minlength=size)
    bands = []
    for w in range(n_walls):
        if count[w] == 0:
            bands.append(None)
            continue
        wb = []
        for k in range(n_bands[w]):
            i = w * stride + k
            band = {"z_min": k * band_height, "z_max": min((k + 1) * band_height, float(wall_height[w])),
                    "irradiation": float(irr_sum[i] / n[i]) if n[i] else None}
            if loss_sum is not None:
                band["vegetation_loss"] = float(loss_sum[i] / n[i]) if n[i] else None
            wb.append(band)
        bands.append(wb)
    return bands


def wall_surfaces(footprints, grid: Grid, sky, *, ground=None, spacing=1.0, band_height=3.0, albedo=0.2,
                  id_column="building_id", sectors=WALL_SECTORS, max_distance=None, vegetation=None,
                  horizons=None):
    """Walls with their irradiation: the surface table of the assessment (no PV yet).

    Parameters
    ----------
    footprints : GeoDataFrame or dict
        Building footprints (see :func:`wall_segments`).
    grid : Grid
        Surface model [m].
    sky : SkyTable
        Time-integrated sky (:func:`solarkataster.sky.sky_table`).
    ground : ndarray, optional
        DTM on the grid [m].
    spacing : float
        Sample spacing on the wall [m].
    band_height : float
        Height band (storey) [m].
    albedo : float
        Ground albedo [0-1].
    id_column : str
    sectors : int
        Horizon azimuths per sample.
    max_distance : float, optional
        Horizon search distance [m].
    vegetation : solarkataster.vegetation.Vegetation, optional
        Canopy on the grid, whose ``z`` is then the opaque surface (trees removed); ``sky`` needs the
        leaf-on split (``run_engine(..., vegetation=...)`` builds its tables so).
    horizons : WallHorizons, optional
        :func:`wall_horizons_of` of the same footprints, grid and options, computed beforehand (they need
        no sky); computed here when not given.

    Returns
    -------
    walls : geopandas.GeoDataFrame
        ``building_id``, ``wall_id``, ``azimuth`` [°], ``length``, ``height`` [m], ``area`` [m²],
        ``irradiation`` [kWh/m²] (NaN without uncovered samples), ``monthly_irradiation``, ``bands``,
        ``shared``, ``sky_view_factor``, ``covered_share``, ``unobstructed_irradiation`` (vertical plane
        at the wall's azimuth) [kWh/m²], ``vegetation_loss`` [-] (see :func:`wall_irradiation`);
        LineString geometry in the grid's CRS.
    problems : list of dict
        Per-building reports from :func:`wall_segments`.
    """
    import geopandas as gpd

    from .irradiation import unobstructed_irradiation

    band_height = check_range("band_height", band_height, 0.1, 100.0, " m")
    if horizons is None:
        horizons = wall_horizons_of(footprints, grid, ground=ground, spacing=spacing, id_column=id_column,
                                    sectors=sectors, max_distance=max_distance, vegetation=vegetation)
    segments, samples, use = horizons.segments, horizons.samples, horizons.use
    irr, share = _sample_irradiation(horizons.codes, samples["surface_azimuth"].to_numpy(float)[use], sky, albedo,
                                     horizons.canopy, vegetation)
    per_wall = _per_wall(segments, samples, use, irr, share, band_height, pick=slice(None))
    azimuth = segments["azimuth"].to_numpy(float)
    out = segments[["building_id", "wall_id"]].copy()
    out["azimuth"] = np.round(azimuth, 2) % 360.0
    for col in ("length", "height", "area"):
        out[col] = segments[col].to_numpy(float)
    out["irradiation"] = per_wall["irradiation"].to_numpy(float)
    out["monthly_irradiation"] = per_wall["monthly_irradiation"].to_list()
    out["bands"] = per_wall["bands"].to_list()
    out["shared"] = segments["shared"].to_numpy(bool)
    out["sky_view_factor"] = per_wall["sky_view_factor"].to_numpy(float)
    out["covered_share"] = per_wall["covered_share"].to_numpy(float)
    out["unobstructed_irradiation"] = (unobstructed_irradiation(90.0, azimuth, sky, albedo).global_
                                       if len(segments) else np.zeros(0))
    out["vegetation_loss"] = per_wall["vegetation_loss"].to_numpy(float)
    return gpd.GeoDataFrame(out, geometry=segments.geometry.values, crs=grid.crs), horizons.problems


@dataclass
class WallHorizons:
    """The walls of some footprints, their samples and the horizons of the uncovered samples (no sky yet).

    Attributes
    ----------
    segments : geopandas.GeoDataFrame
        :func:`wall_segments`.
    samples : pandas.DataFrame
        :func:`wall_samples` of the segments.
    use : ndarray of bool
        Uncovered samples: the only ones with horizons and irradiation.
    codes : ndarray of int16, shape (sectors, n_used)
        Their horizons as codes (:func:`solarkataster.horizon.angles_to_codes`).
    canopy : tuple of two such arrays, or None
        Canopy-top and canopy-bottom horizon codes (:func:`wall_canopy_horizons`) with a vegetation.
    problems : list of dict
        Per-building reports of :func:`wall_segments`.
    """

    segments: object
    samples: object
    use: np.ndarray
    codes: np.ndarray
    canopy: tuple | None
    problems: list


def wall_horizons_of(footprints, grid: Grid, *, ground=None, spacing=1.0, id_column="building_id",
                     sectors=WALL_SECTORS, max_distance=None, vegetation=None) -> WallHorizons:
    """Walls, samples and sample horizons of footprints: the part of :func:`wall_surfaces` without the sky.

    It depends only on the surface model, so a run computes it beside the engine. Parameters as
    :func:`wall_surfaces`.

    Returns
    -------
    WallHorizons
    """
    segments, problems = wall_segments(footprints, grid, ground, id_column=id_column)
    samples = wall_samples(segments, grid, spacing=spacing)
    # covered samples are left out of every mean (wall_irradiation): no horizons, no irradiation for them
    use = ~samples["covered"].to_numpy(bool)
    uncovered = samples[use]
    codes = wall_horizons(uncovered, grid, sectors=sectors, max_distance=max_distance, codes=True)
    canopy = None
    if vegetation is not None and vegetation.mask.any() and len(samples):
        canopy = tuple(_horizon_codes(c) for c in wall_canopy_horizons(uncovered, grid, vegetation, sectors,
                                                                         max_distance))
    return WallHorizons(segments, samples, use, codes, canopy, problems)


def wall_layer(footprints, grid: Grid, sky, tables, reference_irradiation, *, ground=None, spacing=1.0,
               band_height=3.0, albedo=0.2, module=None, options=None, facade=None, id_column="building_id",
               sectors=WALL_SECTORS, max_distance=None, vegetation=None):
    """Compute the walls layer: one LineString per wall with irradiation, height bands and facade PV.

    :func:`wall_surfaces` then the surface assessment (:func:`solarkataster.assessment.assess_surfaces`
    with ``kind='wall'``), the same chain as roof faces.

    Parameters
    ----------
    footprints, grid, sky, ground, spacing, band_height, albedo, id_column, sectors, max_distance, vegetation
        As in :func:`wall_surfaces`.
    tables : solarkataster.pv.YieldTables
        The run's yield tables (the facade table is used).
    reference_irradiation : float
        Annual irradiation of the best unobstructed orientation at the site [kWh/m²] (suitability).
    module : solarkataster.pv.ModuleSpec, optional
    options : solarkataster.pv.PVOptions, optional
        Thresholds, ``min_usable_area``, ``min_class``, setback, CO2 factor.
    facade : solarkataster.assessment.FacadeOptions, optional
        Windows, ground floor; default 40 % windows, no modules on the ground floor.

    Returns
    -------
    walls : geopandas.GeoDataFrame
        Columns :data:`WALL_COLUMNS` in that order; LineString
        geometry in the grid's CRS. The yield of a counted wall is ``kwp x specific_yield(90°, azimuth,
        shading_loss)`` with ``shading_loss = 1 - irradiation / unobstructed vertical irradiation at that
        azimuth``; walls below ``options.min_class`` keep it in ``potential_kwp`` and
        ``potential_yield_kwh`` only. Party walls (``shared``) have no irradiation and no PV.
    problems : list of dict
        Per-building reports from :func:`wall_segments`.
    """
    from .assessment import FacadeOptions, assess_surfaces
    from .pv import ModuleSpec, PVOptions

    surfaces, problems = wall_surfaces(footprints, grid, sky, ground=ground, spacing=spacing,
                                       band_height=band_height, albedo=albedo, id_column=id_column,
                                       sectors=sectors, max_distance=max_distance, vegetation=vegetation)
    assessed = assess_surfaces(surfaces, tables, reference_irradiation, kind="wall", module=module or ModuleSpec(),
                               options=options or PVOptions(),
                               facade=facade or FacadeOptions(storey_height=band_height))
    return wall_table(surfaces, assessed), problems


def wall_table(surfaces, assessed):
    """Assemble the walls layer from :func:`wall_surfaces` and its assessment (same index)."""
    out = surfaces.copy()
    for col in ("usable_area", "kwp", "yield_kwh", "suitability", "potential_kwp", "potential_yield_kwh"):
        out[col] = assessed[col]
    return out[WALL_COLUMNS + ["geometry"]]
