"""Roof faces a city can publish, from the segmentation.

:func:`roof_faces` turns that segmentation into faces a city can publish: steep planes the growing
missed are added from the pixels no face explains, pieces of one plane that a superstructure separates
are merged, the roof is grown by its eaves overhangs beyond the footprint, every roof pixel takes a face
or an excluded class, and the boundaries between faces are drawn as straight lines, the planes'
intersection (ridge, hip, valley) or a fitted step edge, on a sub-pixel partition that is polygonised,
snapped onto those lines, simplified as a coverage and clipped to the outline. Faces never overlap and,
with the excluded parts, tile the outline. Its cost is one pass over the 4 to 16 sub-pixels of every roof
pixel plus polygon operations per face; on the Essen 1 km² tile (1 m, detected buildings) it takes about
1.8 times the path without the polygon step at the start of issue 11 (pixel outlines, :func:`segment_roofs`,
pixel polygons), of which the regularised outlines are about an eighth and GEOS polygon operations about
two fifths (``benchmarks/bench_segmentation.py --stages``, ``--only`` and ``--compare``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ._outline import (
    excluded_pixels,
    nearest_any_face,
    nearest_face,
    outside_owner,
    overhang_roof,
    plane_continuation,
    raised_in_outline,
    raised_ring,
    roof_outlines,
)
from ._planes import plane_height, raster_planes
from ._polygons import (
    building_rest,
    face_geometries,
    fill_slivers,
    merge_small_parts,
    rasterise_faces,
    resolve_overlaps,
    tidy_faces,
)
from ._refine import add_misfit_planes, drop_ridge_strips, drop_stray_pixels, merge_coplanar_faces
from ._split import join_coplanar_pieces, refit_mixed_faces, split_two_plane_faces
from .segmentation import segment_roofs


@dataclass(frozen=True)
class RoofOptions:
    """Options of :func:`roof_faces`.

    Attributes
    ----------
    min_face_area : float
        Smallest face [m², horizontal] of the segmentation (:func:`segment_roofs`).
    angle_tolerance : float
        Angle tolerance of the segmentation [°].
    distance_tolerance : float
        Distance of a pixel from its face's plane up to which the plane explains it [m]; about three times
        the height noise of the DSM.
    max_overhang : float
        Widest eaves overhang beyond a footprint [m]: pixels outside the footprint that continue a face's
        plane up to this distance are roof.
    max_flat_overhang : float
        Widest overhang of a flat face (tilt under 5°) beyond a footprint [m]: upper storeys and flat roofs
        that project over the ground floor (a LoD2 ground surface, a cadastral footprint) reach further than
        eaves; 2.5 m recovers those of the Zürich LoD2 scenes. Pitched eaves keep ``max_overhang``, and so
        does every face without footprints (the detected outline is the roof).
    min_part_area : float
        Smallest part of a face polygon [m²]; smaller parts, and secondary parts under ``min_face_area``,
        join the adjacent face of the same building with the longest shared boundary, or are dropped.
    min_excluded_area : float
        Smallest superstructure (chimney, dormer too small to be a face, installation) kept as an excluded
        part of the roof [m²]; smaller misfits belong to the face around them.
    subcell : float
        Target size of the sub-pixels on which face boundaries are drawn [m] (2 to 4 per pixel side).
    simplify : float or None
        Tolerance of the topological simplification of the face polygons [m]; None = the larger of 1.5
        sub-pixels and 0.75 pixel.
    """

    min_face_area: float = 3.0
    angle_tolerance: float = 10.0
    distance_tolerance: float = 0.15
    max_overhang: float = 1.5
    max_flat_overhang: float = 2.5
    min_part_area: float = 1.0
    min_excluded_area: float = 1.0
    subcell: float = 0.5
    simplify: float | None = None


@dataclass
class RoofFaces:
    """Result of :func:`roof_faces`: roof faces as clean polygons, and the roofs they tile.

    Attributes
    ----------
    faces : geopandas.GeoDataFrame
        One row per face (no CRS set; coordinates are the transform's). Columns: ``face`` (id, as in
        ``face_labels``), ``building`` (building label), ``tilt`` [°], ``azimuth`` [°] (clockwise from
        north, 180 when flat), ``normal_e``, ``normal_n``, ``normal_u`` (upward unit normal) and ``offset``
        [m] of the plane ``normal_e X + normal_n Y + normal_u z = offset`` in map coordinates,
        ``area_horizontal`` [m²] (plan area of the polygon), ``area`` [m²] (sloped,
        ``area_horizontal / normal_u``), ``n_pixels`` (pixels of ``face_labels``), ``plane_rmse`` [m] (RMS
        vertical residual of the pixels the plane explains), ``plane_share`` [0-1] (share of the face's
        pixels within ``distance_tolerance`` of the plane; NaN for a face without a pixel centre inside),
        ``source`` (``'lidar'``) and ``geometry`` (Polygon, MultiPolygon only where the face really has
        several parts of at least ``min_part_area``).
    buildings : geopandas.GeoDataFrame
        One row per building with faces or roof pixels: ``building`` (label), ``footprint_area`` [m²] (the
        footprint given, else the detected outline), ``roof_area`` [m²] (plan area of the roof outline,
        overhangs included), ``excluded_area`` [m²], ``n_faces``, ``geometry`` (roof outline) and
        ``excluded`` (the outline minus its faces: superstructures and unexplained parts; faces and excluded
        parts tile the outline; NaN and None when :func:`roof_faces` was asked not to compute them).
    face_labels : ndarray of int32
        Face id of every pixel whose centre lies in the face polygon (overhangs included), 0 elsewhere.
    transform : affine.Affine
        The raster's transform.
    """

    faces: object
    buildings: object
    face_labels: np.ndarray
    transform: object


def _face_stats(z, face_labels, coef, n, cellsize, distance_tolerance):
    """Pixels, plane share and inlier RMS residual per face id (index 0 unused)."""
    rows, cols = np.nonzero(face_labels)
    f = face_labels[rows, cols]
    dz = z[rows, cols] - plane_height(coef, f, rows, cols, cellsize)
    nu = 1.0 / np.sqrt(coef[f, 0] ** 2 + coef[f, 1] ** 2 + 1.0)
    with np.errstate(invalid="ignore"):
        inlier = np.abs(dz) * nu <= distance_tolerance
    npx = np.bincount(f, minlength=n + 1).astype(float)
    nin = np.bincount(f, weights=inlier, minlength=n + 1)
    sse = np.bincount(f, weights=np.where(inlier, dz, 0.0) ** 2, minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return npx, nin / npx, np.sqrt(sse / nin)


def _tables(seg, geoms, outlines, footprints, face_labels, z, coef, transform, opts, rests=None, excluded=True):
    import geopandas as gpd
    import shapely

    cs = float(transform.a)
    n = len(geoms) - 1
    npx, share, rmse = _face_stats(z, face_labels, coef, n, cs, opts.distance_tolerance)
    f = seg.faces[[g is not None for g in geoms[seg.faces["face"].to_numpy()]]].copy()
    ids = f["face"].to_numpy()
    poly = list(geoms[ids])
    # plane offset in map coordinates: X = x + transform.c, Y = y + transform.f
    f["offset"] = f["offset"] + f["normal_e"] * transform.c + f["normal_n"] * transform.f
    f["area_horizontal"] = shapely.area(np.array(poly, dtype=object))
    f["area"] = f["area_horizontal"] / f["normal_u"]
    f["n_pixels"] = npx[ids].astype(np.int64)
    f["plane_rmse"] = rmse[ids]
    f["plane_share"] = share[ids]
    f["source"] = "lidar"
    faces = gpd.GeoDataFrame(f[FACE_LAYER_COLUMNS].reset_index(drop=True), geometry=poly)
    recs, outl, excl = [], [], []
    by_b: dict = {}
    for b, g in zip(faces["building"].to_numpy(), poly):
        by_b.setdefault(b, []).append(g)
    for b, outline in sorted(outlines.items()):
        if outline is None or outline.is_empty:
            continue
        rest = building_rest(outline, by_b.get(b, []), rests, b) if excluded else None
        fp = footprints.get(b) if footprints is not None else None
        recs.append(dict(building=b, footprint_area=float((fp if fp is not None else outline).area),
                         roof_area=float(outline.area), excluded_area=float(rest.area) if excluded else np.nan,
                         n_faces=len(by_b.get(b, []))))
        outl.append(outline)
        excl.append(rest)
    buildings = gpd.GeoDataFrame(recs, columns=BUILDING_LAYER_COLUMNS, geometry=outl)
    buildings["excluded"] = gpd.GeoSeries(excl, index=buildings.index)
    return faces, buildings


FACE_LAYER_COLUMNS = ["face", "building", "tilt", "azimuth", "normal_e", "normal_n", "normal_u", "offset",
                      "area_horizontal", "area", "n_pixels", "plane_rmse", "plane_share", "source"]


BUILDING_LAYER_COLUMNS = ["building", "footprint_area", "roof_area", "excluded_area", "n_faces"]


def _empty_roof_faces(shape, transform):
    import geopandas as gpd

    faces = gpd.GeoDataFrame({c: [] for c in FACE_LAYER_COLUMNS}, geometry=[])
    buildings = gpd.GeoDataFrame({c: [] for c in BUILDING_LAYER_COLUMNS}, geometry=[])
    buildings["excluded"] = gpd.GeoSeries([], index=buildings.index)
    return RoofFaces(faces, buildings, np.zeros(shape, np.int32), transform)


def _checked_inputs(z, transform, building_labels, ground):
    """(z, cell size, building labels, ground) of :func:`roof_faces` as arrays, or a ParameterError."""
    z = np.asarray(z, dtype=np.float64)
    cs = float(transform.a)
    if transform.b != 0 or transform.d != 0 or not np.isclose(-transform.e, cs) or cs <= 0:
        raise ParameterError(f"transform {tuple(transform)[:6]} must be north-up with square pixels")
    building_labels = np.asarray(building_labels)
    if z.ndim != 2 or building_labels.shape != z.shape:
        raise ParameterError(f"building_labels shape {building_labels.shape} must equal the DSM's {z.shape}")
    return z, cs, building_labels, None if ground is None else np.asarray(ground, dtype=np.float64)


def _as_mapping(footprints):
    if footprints is None:
        return None
    if isinstance(footprints, dict):
        return {int(k): v for k, v in footprints.items()}
    return {i + 1: g for i, g in enumerate(footprints)}


def _growth(opts, footprints):
    """Return the options of the overhang growth.

    Without footprints the detected outline is the roof, and no storey projects past it
    (``max_flat_overhang`` falls back to ``max_overhang``).
    """
    return opts if footprints is not None else dataclasses.replace(opts, max_flat_overhang=opts.max_overhang)


def _roof_pixels(z, ground, building_labels, face_labels, coef, face_building, cs, opts, footprints, outside):
    """Roof (overhangs included), nearest face of every pixel, and face of every roof pixel (``filled``).

    With footprints a pixel takes the face whose plane it continues (:func:`plane_continuation`), else the
    nearest face; without, the nearest face (on the Essen tile, 1 m, detected outlines, the continuation
    made 0.5 % more faces multipart).
    """
    near = nearest_any_face(face_labels)
    growth = _growth(opts, footprints)
    if footprints is None:
        roof = overhang_roof(z, ground, building_labels, near, coef, face_building, cs, growth, outside)
        return roof, near, nearest_face(face_labels, face_building, roof, near)
    on_plane = plane_continuation(z, face_labels, building_labels, outside, coef, face_building, cs, growth, ground)
    roof = overhang_roof(z, ground, building_labels, np.where(on_plane > 0, on_plane, near), coef, face_building,
                         cs, growth, outside)
    filled = nearest_face(face_labels, face_building, roof, near)
    return roof, near, np.where((on_plane > 0) & (roof > 0) & (face_building[on_plane] == roof), on_plane, filled)


def _split_at_eaves(z, cs, labels, seg, coef, face_building, opts):
    """:func:`split_two_plane_faces`, helped by the raised pixels just outside the roof.

    A kicked eave (a strip flatter than its plane, 1-2 px wide) often lies half beyond the footprint,
    where the overhang growth leaves it out because it is off the face's plane. Inside, only one pixel
    row is left, too close to the plane to stand out. Its raised pixels outside the roof, within
    ``max_overhang`` (``ring``), lend the second plane their support: they take part in the two-plane
    split as pixels of the nearest face and are dropped again afterwards, as is a second plane left
    under ``min_face_area`` inside the roof (excluded, -1). A face left with a few pixels of the next
    plane at a corner then takes the plane most of its pixels lie on (:func:`refit_mixed_faces`), and
    touching faces on one plane join (:func:`join_coplanar_pieces`).
    ``labels`` holds the filled face labels, the nearest face of every pixel and the raised ring's
    building labels (:func:`raised_ring`).
    """
    filled, near, ring = labels
    virtual = (filled == 0) & (ring > 0) & (near > 0) & (face_building[near] == ring)
    n = len(face_building) - 1
    ext, seg, coef, face_building = split_two_plane_faces(z, cs, np.where(virtual, near, filled), seg, coef,
                                                          face_building, opts)
    out = np.where(virtual, 0, ext)
    if len(face_building) - 1 > n:
        real = np.bincount(np.maximum(out, 0).ravel(), minlength=len(face_building))
        small = np.zeros(len(face_building), bool)
        small[n + 1:] = real[n + 1:] * cs ** 2 < opts.min_face_area
        out = np.where(small[np.maximum(out, 0)] & (out > 0), -1, out)
    seg, coef = refit_mixed_faces(z, cs, out, seg, coef, face_building, opts)
    out, seg, coef = join_coplanar_pieces(z, cs, out, seg, coef, face_building, opts)
    return out, seg, coef, face_building


def _publishable_polygons(filled, face_building, coef, outlines, transform, opts, rests):
    """Face polygons from the filled face labels: plane-intersection boundaries, no small parts, no overlaps.

    ``rests`` collects each building's unassigned remainder (:func:`fill_slivers`).
    """
    cs = float(transform.a)
    geoms = face_geometries(filled, face_building, coef, outlines, transform, opts)
    geoms = merge_small_parts(geoms, face_building, opts.min_part_area, opts.min_face_area)
    geoms = tidy_faces(geoms, 0.05 * cs, face_building, outlines)
    geoms = merge_small_parts(geoms, face_building, opts.min_part_area, opts.min_part_area)
    geoms = fill_slivers(geoms, face_building, outlines, opts.min_excluded_area, 0.5 * cs, rests)
    return resolve_overlaps(geoms, opts.min_part_area)


def roof_faces(z, transform, building_labels, footprints=None, ground=None, *, options=None, excluded=True):
    """Roof faces a city can publish: one clean polygon per plane, tiling each building's whole roof.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m] (DSM), NaN where missing.
    transform : affine.Affine
        North-up transform with square pixels of the raster.
    building_labels : ndarray of int, shape (rows, cols)
        Building label of every pixel, 0 elsewhere (rasterised footprints, pixel centres, or
        :func:`solarkataster.detection.detect_buildings`).
    footprints : dict of int to Polygon, or sequence of Polygon, optional
        Footprint of each label (a sequence holds label ``i + 1`` at position ``i``). None: the outline is
        the regularised outline of the roof pixels (:func:`solarkataster.detection.building_polygons`).
    ground : ndarray, optional
        Terrain heights [m]; an overhang pixel must stand 1 m above it.
    options : RoofOptions, optional
        Tolerances; see :class:`RoofOptions`.
    excluded : bool
        Compute each building's excluded parts (``buildings['excluded']``, ``excluded_area``); without them
        a caller saves an overlay per building whose faces changed after the sliver fill (0.17 CPU-s, Essen).

    Returns
    -------
    RoofFaces
        Faces with polygons, planes and quality flags, building outlines with excluded parts, and the face
        label raster for statistics over pixels.

    Notes
    -----
    1. :func:`segment_roofs` finds the planes. Steep planes that region growing missed are fitted to the
       unexplained pixels; faces of one building within 3 m of each other (6 m when both are sloped) that
       one plane explains are merged, and flat strips along ridges are dropped.
    2. The roof is the building's pixels plus the pixels up to ``max_overhang`` outside it that continue
       the plane of a face (eaves overhangs; with footprints, ``max_flat_overhang`` for a flat face): with
       footprints, of the face that a chain of pixels on its plane connects them to, within 4 m (the eave
       row in front of a dormer continues the main plane, not the nearer dormer's;
       :func:`plane_continuation`), else of the nearest face. With footprints, each footprint edge moves
       outward by the mean depth of the overhang pixels nearest to it; without, the roof pixels' outline
       is regularised. Every roof pixel takes the face whose plane it so continues (with footprints), else
       the nearest face of its building, unless it belongs to a blob of at least ``min_excluded_area``
       that no plane explains (superstructures, excluded); with footprints such a blob is 8-connected and
       includes the pixels inside the outline, off the roof, that stand above the plane (a dormer of
       1-2 m² at the eave, :func:`raised_in_outline`). With footprints, a group of unexplained pixels
       may give several planes (RANSAC, a steep mansard side next to a flat strip), and a face whose
       pixels hold a second plane (a 1-2 px mansard side or kicked eave, with the raised pixels beyond
       the roof) is split when two planes explain them much better than one, a face with a few pixels
       of the next plane takes its main plane, and touching faces on one plane join (:func:`_split_at_eaves`).
    3. For every pair of adjacent faces the boundary is a straight line: the intersection of the two
       planes (ridge, hip, valley) where the pixel boundary runs along it, else the principal axis of the
       pixel boundary (a height step). Sub-pixels of about ``subcell`` take their pixel's face unless such
       a line hands them to a face within one pixel (a pixel without a face: the nearest within two).
    4. The sub-pixel partition is polygonised, simplified as a coverage (shared edges stay shared, so
       faces never overlap; Visvalingam-Whyatt [3]_), clipped to the outline (eaves follow it), and parts
       under ``min_part_area`` join a neighbouring face.

    The partition costs one pass over ``(pixel size / subcell)²`` sub-pixels per roof pixel.

    References
    ----------
    .. [3] Visvalingam, M., & Whyatt, J. D. (1993). Line generalisation by repeated elimination of points.
       The Cartographic Journal, 30(1), 46-51. https://doi.org/10.1179/000870493786962263
    """
    opts = options if options is not None else RoofOptions()
    z, cs, building_labels, ground = _checked_inputs(z, transform, building_labels, ground)
    footprints = _as_mapping(footprints)
    seg = segment_roofs(z, cs, building_labels, min_face_area=opts.min_face_area,
                        angle_tolerance=opts.angle_tolerance, distance_tolerance=opts.distance_tolerance)
    outside = outside_owner(building_labels) if (building_labels > 0).any() else None
    ring = raised_ring(z, ground, building_labels, cs, opts.max_overhang, outside)
    seg = add_misfit_planes(z, cs, ring, seg, opts, several=footprints is not None)
    seg = drop_ridge_strips(seg, cs)
    seg = merge_coplanar_faces(z, cs, ring, seg, opts)
    seg = drop_stray_pixels(seg, opts.min_part_area / cs ** 2)
    n = int(seg.faces["face"].max()) if len(seg.faces) else 0
    if n == 0:
        return _empty_roof_faces(z.shape, transform)
    coef = raster_planes(seg.faces, n)
    face_building = np.full(n + 1, -1, np.int64)
    face_building[seg.faces["face"].to_numpy()] = seg.faces["building"].to_numpy()
    roof, near, filled = _roof_pixels(z, ground, building_labels, seg.face_labels, coef, face_building, cs, opts,
                                      footprints, outside)
    outlines = roof_outlines(roof, building_labels, transform, footprints, opts)
    # a footprint may reach beyond the roof; a detected outline is the roof, with mixed pixels at its edge
    beyond = raised_in_outline(z, filled, near, coef, outlines, transform, opts) if footprints is not None else None
    filled[excluded_pixels(z, roof, seg.face_labels, filled, coef, cs, opts, below=footprints is not None,
                           beyond=beyond)] = -1
    if footprints is not None:
        filled, seg, coef, face_building = _split_at_eaves(z, cs, (filled, near, ring), seg, coef, face_building, opts)
    rests = {}
    geoms = _publishable_polygons(filled, face_building, coef, outlines, transform, opts, rests)
    face_labels = rasterise_faces(geoms, z.shape, transform)
    faces, buildings = _tables(seg, geoms, outlines, footprints, face_labels, z, coef, transform, opts, rests,
                               excluded)
    return RoofFaces(faces, buildings, face_labels, transform)

