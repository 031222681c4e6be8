"""Buildings from a surface model alone: ground filter, height and planarity tests, footprints.

Used when no footprint layer is given. The terrain comes from a progressive morphological filter [1]_:
grey openings with growing windows remove objects smaller than the window, and a pixel is non-ground
when it rises above the opened surface by more than a threshold that grows with the window (terrain slope
times window growth). The non-ground pixels are then filled by interpolation of the ground pixels around
them. The largest window (150 m by default) must exceed the widest flat roof, or that roof becomes ground.

Buildings are the pixels that stand at least ``min_height`` above that terrain, are not part of a surface
that runs into the ground without a wall (embankments), and belong to roofs: piecewise planes, while tree
crowns are rough. Planarity is judged on 3 x 3 plane fits; every pixel of a planar window counts as
supported, so narrow steep faces are supported up to their ridges and eaves. Supported patches seed
buildings that grow over ridges and roof furniture but not into large rough blobs (trees touching or
overhanging the roof); components with too few planar pixels (crowns) are dropped. See
:func:`detect_buildings`.

References
----------
.. [1] Zhang, K., Chen, S.-C., Whitman, D., Shyu, M.-L., Yan, J., & Zhang, C. (2003). A progressive
   morphological filter for removing nonground measurements from airborne LIDAR data. IEEE Transactions
   on Geoscience and Remote Sensing, 41(4), 872-882. https://doi.org/10.1109/TGRS.2003.810682
"""
from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from ._kernels.detection import continuous_surfaces, third_lowest_3x3
from .errors import ParameterError, check_range

log = logging.getLogger(__name__)

#: Steepest roof a planar window may have [m/m] (tan 60°).
_MAX_ROOF_GRADIENT = 1.7320508075688772


def _fill_nearest(z):
    """Copy of ``z`` with NaN replaced by the nearest valid value; None when nothing is valid."""
    valid = np.isfinite(z)
    if valid.all():
        return z.copy()
    if not valid.any():
        return None
    idx = ndimage.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return z[tuple(idx)]


def _check_dsm(z, cellsize):
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ParameterError(f"surface model must be a 2-D array, got shape {z.shape}")
    cellsize = check_range("cellsize", cellsize, 0.0, 1e4, " m", inclusive=False)
    return z, cellsize


def ground_from_dsm(z, cellsize, *, max_building_size=150.0, slope_threshold=0.3, initial_threshold=0.3,
                    max_threshold=3.0):
    """Terrain heights under a surface model by a progressive morphological filter.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m] (DSM), NaN where missing.
    cellsize : float
        Pixel size [m].
    max_building_size : float
        Width of the largest object to remove [m]; the largest opening window is this wide. Flat roofs
        wider than this become ground. Openings preserve planar slopes, so a wide window does not cut
        into sloping terrain, only into convex hilltops narrower than it.
    slope_threshold : float
        Steepest terrain slope that is kept as ground [m/m] (``s`` in [1]_).
    initial_threshold : float
        Height threshold of the first (3 x 3) window [m] (``dh0``).
    max_threshold : float
        Cap of the height threshold [m] (``dh_max``).

    Returns
    -------
    ground : ndarray of float64, shape (rows, cols)
        Terrain heights [m]; all NaN when ``z`` has no valid pixel.

    Notes
    -----
    Windows grow as 3, 5, 9, 17, ... pixels (``2^k + 1``) up to ``max_building_size``; the threshold of
    window ``k`` is ``min(dh0 + s (w_k - w_{k-1}) cellsize, dh_max)`` [1]_. Flat-window (separable)
    minimum and maximum filters keep each step linear in the number of pixels. One- and two-pixel pits
    (missing returns on roofs) are filled first so that they do not count as ground.
    """
    z, cellsize = _check_dsm(z, cellsize)
    check_range("max_building_size", max_building_size, 0.0, 1e4, " m", inclusive=False)
    check_range("slope_threshold", slope_threshold, 0.0, 100.0)
    filled = _fill_nearest(_remove_pits(z))
    if filled is None:
        return np.full(z.shape, np.nan)
    surface = filled
    nonground = np.zeros(z.shape, bool)
    max_w = max(3, int(np.ceil(max_building_size / cellsize)) | 1)
    w_prev, k = 1, 1
    while True:
        w = min(2 ** k + 1, max_w)
        opened = ndimage.maximum_filter(ndimage.minimum_filter(surface, size=w, mode="nearest"), size=w,
                                        mode="nearest")
        dh = min(initial_threshold + slope_threshold * (w - w_prev) * cellsize, max_threshold)
        if k == 1:
            dh = initial_threshold
        nonground |= (filled - opened) > dh
        surface = opened
        if w >= max_w:
            break
        w_prev, k = w, k + 1
    ground_mask = ~nonground & np.isfinite(z)
    if not ground_mask.any():
        # everything is an object: the deepest opening is the best guess of the terrain
        return surface
    ground = np.where(ground_mask, filled, np.nan)
    if ground_mask.all():
        return ground
    # pixels right next to objects are often eaves, walls or hedges that escaped the filter: drop them
    # (and isolated ground islands) before filling, unless that leaves nothing
    eroded = ndimage.binary_erosion(ground_mask, structure=np.ones((5, 5), bool))
    if eroded.sum() >= 0.05 * ground_mask.sum():
        ground_mask = eroded
    # fill the gaps smoothly from the surrounding ground pixels (pull-push, linear in the pixel count)
    return _fill_pull_push(np.where(ground_mask, filled, 0.0), ground_mask.astype(np.float64))


def _fill_pull_push(values, weight):
    """Fill pixels of zero weight from a pyramid of weighted 2 x 2 means (pull-push hole filling).

    Gortler, S. J., Grzeszczuk, R., Szeliski, R., & Cohen, M. F. (1996). The Lumigraph. Proc. SIGGRAPH 96,
    43-54. https://doi.org/10.1145/237170.237200
    """
    if weight.min() > 0:
        return values
    if weight.max() <= 0:
        return np.full(values.shape, np.nan)
    r, c = values.shape
    R, C = (r + 1) // 2, (c + 1) // 2
    wv = np.zeros((2 * R, 2 * C))
    ww = np.zeros((2 * R, 2 * C))
    wv[:r, :c] = values * weight
    ww[:r, :c] = weight
    ws = ww.reshape(R, 2, C, 2).sum(axis=(1, 3))
    vs = wv.reshape(R, 2, C, 2).sum(axis=(1, 3))
    coarse = _fill_pull_push(np.where(ws > 0, vs / np.maximum(ws, 1e-300), 0.0), np.minimum(ws, 1.0))
    if R == 1 and C == 1:
        up = np.full((2, 2), coarse[0, 0])
    else:
        up = ndimage.zoom(coarse, 2, order=1, mode="nearest", grid_mode=True)
    up = up[:r, :c]
    return weight * values + (1.0 - weight) * up


def _remove_pits(z, depth=0.5):
    """Copy of ``z`` with one- and two-pixel pits (missing roof returns, drop-outs) set to the 3 x 3 median.

    A pixel is a pit when it lies more than ``depth`` [m] below the third-lowest value of its 3 x 3
    window: at most one neighbour is as low, which never holds on the ground along a wall or in a
    building's inner corner, so outlines are kept.
    """
    filled = _fill_nearest(z)
    if filled is None:
        return z.copy()
    third = np.empty_like(filled)
    third_lowest_3x3(filled, third)  # ndimage.rank_filter(filled, 2, size=3, mode="nearest"), in one pass
    pit = np.isfinite(z) & (filled < third - depth)
    out = z.copy()
    if pit.any():
        # the 3 x 3 median (edges repeated) at the pits only: ndimage.median_filter's value there
        r, c = np.nonzero(pit)
        rows, cols = filled.shape
        window = np.stack([filled[np.clip(r + dr, 0, rows - 1), np.clip(c + dc, 0, cols - 1)]
                           for dr in (-1, 0, 1) for dc in (-1, 0, 1)], axis=1)
        out[pit] = np.sort(window, axis=1)[:, 4]
    return out


def _plane_fit_3x3(filled, cellsize):
    """Vertical RMS residual [m] and gradient magnitude [m/m] of the 3 x 3 least-squares plane of each pixel."""
    # the regular 3x3 design (x, y in {-1, 0, 1} and a constant) is orthogonal, so the fit decouples
    kx = np.array([[-1, 0, 1]] * 3, float)
    s = ndimage.uniform_filter(filled, 3, mode="nearest") * 9
    s2 = ndimage.uniform_filter(filled * filled, 3, mode="nearest") * 9
    sx = ndimage.correlate(filled, kx, mode="nearest")
    sy = ndimage.correlate(filled, kx.T, mode="nearest")
    sse = s2 - s * s / 9 - sx * sx / 6 - sy * sy / 6
    rough = np.sqrt(np.maximum(sse, 0.0) / 9)
    gradient = np.hypot(sx, sy) / 6 / cellsize
    return rough, gradient


def local_roughness(z, cellsize):
    """RMS residual of the least-squares plane through each pixel's 3 x 3 neighbourhood [m].

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Heights [m]; NaN neighbours are replaced by the nearest valid value.
    cellsize : float
        Pixel size [m]; the residual of a plane fit on a regular grid does not depend on it, the argument
        keeps the signature of the other per-pixel functions.

    Returns
    -------
    ndarray
        Roughness [m] (vertical residual), NaN where ``z`` is NaN.
    """
    z = np.asarray(z, dtype=np.float64)
    filled = _fill_nearest(z)
    if filled is None:
        return np.full(z.shape, np.nan)
    rough, _ = _plane_fit_3x3(filled, float(cellsize))
    rough[~np.isfinite(z)] = np.nan
    return rough


#: Default smallest height of a building above ground [m]: single garages stand 2.2-2.5 m tall.
MIN_HEIGHT = 2.2
#: Default smallest width of a building [m]: garages are at least 2.5 m wide, cut hedges 0.5-2 m.
MIN_WIDTH = 2.5


def detect_buildings(z, cellsize, ground=None, *, min_height=MIN_HEIGHT, min_area=25.0, max_roughness=0.15,
                     min_planarity=0.2, min_support=0.5, max_terrain_step=0.5, min_width=MIN_WIDTH):
    """Label buildings in a surface model.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m] (DSM), NaN where missing.
    cellsize : float
        Pixel size [m].
    ground : ndarray, optional
        Terrain heights [m] (DTM) on the same grid; default :func:`ground_from_dsm`.
    min_height : float
        Smallest height above ground of a building pixel [m]; 2.2 m keeps single garages.
    min_area : float
        Smallest building footprint [m²].
    max_roughness : float
        Largest RMS residual, measured perpendicular to the plane, of the 3 x 3 least-squares plane of a
        planar (roof) window [m].
    min_planarity : float
        Smallest fraction of a building's pixels that are the centre of a planar 3 x 3 window [0-1].
    min_support : float
        Smallest fraction of a building's pixels that lie on some planar 3 x 3 window [0-1]. Tree crowns
        fall below one of the two fractions; roofs with narrow faces, ridges and dormers stay above both.
    max_terrain_step : float
        Largest height step between neighbouring pixels of one continuous surface [m]. Raised surfaces
        that run into the ground without a wall (embankments, ramps, bridges' approaches) are terrain,
        not buildings.
    min_width : float
        Smallest width of a building [m] (twice the largest distance of a pixel from the outside, less a
        pixel): cut hedges are planar and as tall as garages, but narrower.

    Returns
    -------
    labels : ndarray of int32, shape (rows, cols)
        Buildings numbered 1..n in raster order of their first pixel (north-west first), 0 elsewhere.

    Notes
    -----
    1. Pits of one or two pixels (missing returns on dark or glass roofs) are filled with the 3 x 3
       median. Elevated pixels are those at least ``min_height`` above the ground, except surfaces
       that connect to the ground through steps of at most ``max_terrain_step``.
    2. A window is planar when the residual of its 3 x 3 plane fit, divided by ``sqrt(1 + |grad|²)``
       (perpendicular instead of vertical distance, so steep roofs with the same planimetric noise are
       not penalised), is at most ``max_roughness`` and the window is no steeper than 60°. Every pixel
       of a planar window with at least two planar neighbours is *supported*; a roof face a few pixels
       deep is supported right up to its ridge and eaves, while a tree crown only has scattered smooth
       spots, and a lone one next to a roof does not join it.
    3. Connected supported patches of at least ``min(min_area, 20 m²) / 2`` seed buildings. They grow
       by up to two pixels over elevated pixels (ridges, eaves, chimneys) but not into large rough
       blobs (the non-supported mask opened with a 5 x 5 window: trees next to or over a roof), and
       enclosed elevated holes that are not such blobs (dormers, roof furniture) are filled.
    4. Connected components of at least ``min_area`` and ``min_width`` with at least ``min_support``
       supported pixels and ``min_planarity`` planar-window centres are buildings. On the Essen DOM1
       tile (1 m) the false detections in tree crowns had 7-17 % centres, roofs mostly 25-95 %.
    """
    z, cellsize = _check_dsm(z, cellsize)
    check_range("min_height", min_height, 0.0, 1e3, " m")
    check_range("min_area", min_area, 0.0, 1e9, " m²")
    check_range("max_roughness", max_roughness, 0.0, 1e3, " m", inclusive=False)
    check_range("min_planarity", min_planarity, 0.0, 1.0)
    check_range("min_support", min_support, 0.0, 1.0)
    check_range("max_terrain_step", max_terrain_step, 0.0, 1e3, " m")
    check_range("min_width", min_width, 0.0, 1e4, " m")
    labels = np.zeros(z.shape, np.int32)
    valid = np.isfinite(z)
    if not valid.any():
        return labels
    if ground is None:
        ground = ground_from_dsm(z, cellsize)
    else:
        ground = np.asarray(ground, dtype=np.float64)
        if ground.shape != z.shape:
            raise ParameterError(f"ground shape {ground.shape} must equal the DSM's {z.shape}")
    z = _remove_pits(z)
    elevated = _elevated(z, ground, valid, cellsize, min_height, min_area, max_terrain_step)
    if not elevated.any():
        return labels
    planar_window, supported = _roof_support(z, elevated, cellsize, max_roughness)
    lab, n = _grow_buildings(elevated, supported, min_area, cellsize)
    if n == 0:
        return labels
    flat = lab.ravel()
    npx = np.bincount(flat, minlength=n + 1)
    nsupported = np.bincount(flat, weights=supported.ravel(), minlength=n + 1)
    ncentre = np.bincount(flat, weights=planar_window.ravel(), minlength=n + 1)
    # width of a component: twice the largest distance of an inner pixel from the outside, less a pixel
    depth = np.zeros(n + 1)  # per label, as ndimage.maximum (which sorts every pixel: 50 times slower)
    np.maximum.at(depth, flat, ndimage.distance_transform_edt(lab > 0).ravel())
    width = (2 * depth - 1) * cellsize
    ok = ((npx * cellsize ** 2 >= min_area) & (nsupported >= min_support * np.maximum(npx, 1))
          & (ncentre >= min_planarity * np.maximum(npx, 1)) & (width >= min_width))
    ok[0] = False
    # ndimage.label numbers components in raster order of their first pixel; keep that order
    newid = np.zeros(n + 1, np.int32)
    newid[ok] = np.arange(1, ok.sum() + 1, dtype=np.int32)
    labels = newid[lab]
    log.debug("detected %d buildings of %d elevated components", ok.sum(), n)
    return labels


def _elevated(z, ground, valid, cellsize, min_height, min_area, max_terrain_step):
    """Pixels at least ``min_height`` above ground that are not part of a surface running into the ground."""
    with np.errstate(invalid="ignore"):
        height = z - ground
        elevated = valid & (height >= min_height)
        ground_level = valid & (height < 0.5 * min_height)
    if max_terrain_step > 0 and elevated.any() and ground_level.any():
        surfaces = continuous_surfaces(z, float(max_terrain_step))
        n_surf = surfaces.max() + 1
        on_ground = np.bincount(surfaces[ground_level], minlength=n_surf)
        on_top = np.bincount(surfaces[elevated], minlength=n_surf)
        # mostly ground: an embankment running into the street; mostly raised: a roof with a ramp
        terrain = on_ground >= np.maximum(on_top, min_area / cellsize ** 2)
        elevated &= ~terrain[np.where(valid, surfaces, 0)]
    return elevated


def _roof_support(z, elevated, cellsize, max_roughness):
    """Centres of planar 3 x 3 windows, and the pixels those windows support (see :func:`detect_buildings`)."""
    filled = _fill_nearest(np.where(elevated, z, np.nan))
    rough, gradient = _plane_fit_3x3(filled, cellsize)
    # windows steeper than any roof are walls or crown flanks
    planar_window = elevated & (gradient <= _MAX_ROOF_GRADIENT) & (
        rough <= max_roughness * np.sqrt(1.0 + gradient ** 2))
    eight = np.ones((3, 3), bool)
    # a lone planar window is a smooth spot in a crown; on a roof face they come in rows
    neighbours = ndimage.correlate(planar_window.astype(np.uint8), eight.astype(np.uint8), mode="constant")
    supported = elevated & ndimage.binary_dilation(planar_window & (neighbours >= 3), structure=eight)
    return planar_window, supported


def _grow_buildings(elevated, supported, min_area, cellsize):
    """Components of supported seed patches grown over elevated pixels that are not tree blobs."""
    eight = np.ones((3, 3), bool)
    patch, n_patch = ndimage.label(supported, structure=eight)
    if n_patch == 0:
        return patch, 0
    patch_area = np.bincount(patch.ravel(), minlength=n_patch + 1) * cellsize ** 2
    keep = patch_area >= 0.5 * min(min_area, 20.0)
    keep[0] = False
    seeds = keep[patch]
    # large rough blobs are trees; thin rough lines (ridges, eaves, walls' tops) are part of roofs
    trees = ndimage.binary_opening(elevated & ~supported, structure=np.ones((5, 5), bool))
    growable = elevated & ~trees
    mask = seeds | (growable & ndimage.binary_dilation(seeds, structure=eight, iterations=2))
    mask |= growable & ndimage.binary_fill_holes(mask)
    return ndimage.label(mask, structure=eight)


def vegetation_mask(z, cellsize, ground, buildings=None, *, detected=None, min_height=MIN_HEIGHT, max_roughness=0.15,
                    min_planarity=0.2, min_support=0.5, max_terrain_step=0.5):
    """Tree pixels of a surface model: above the ground, not buildings and not roof-like.

    Used by ``--vegetation auto`` (:func:`solarkataster.vegetation.canopy_from_surface`): these pixels
    become canopy and leave the opaque surface, so trees are never roofs.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m] (DSM), NaN where missing.
    cellsize : float
        Pixel size [m].
    ground : ndarray
        Terrain heights [m] on the same grid.
    buildings : ndarray of bool or int, optional
        Building pixels (footprints); default: :func:`detect_buildings`. Buildings found by the detection
        are never trees either way.
    detected : ndarray of int or bool, optional
        The detection's buildings when already known (:func:`detect_buildings` with these parameters);
        default: detected here.
    min_height : float
        Smallest height of a tree pixel above ground [m] (lower objects, cars and shrubs, stay opaque).
    max_roughness, min_planarity, min_support, max_terrain_step : float
        As in :func:`detect_buildings`: an elevated component off the buildings with the support and
        planarity of a roof (a shed, a wall, a cut hedge) stays opaque; surfaces running into the ground
        are terrain.

    Returns
    -------
    ndarray of bool
        True on tree pixels. A crown overhanging a footprint is tree there too where it is a rough blob
        (5 x 5 opening of the unsupported pixels, as in :func:`detect_buildings`, grown back by two pixels
        over unsupported ones) connected to the crown outside.
    """
    z, cellsize = _check_dsm(z, cellsize)
    ground = np.asarray(ground, dtype=np.float64)
    if ground.shape != z.shape:
        raise ParameterError(f"ground shape {ground.shape} must equal the DSM's {z.shape}")
    valid = np.isfinite(z)
    trees = np.zeros(z.shape, bool)
    if not valid.any():
        return trees
    if detected is None:
        detected = detect_buildings(z, cellsize, ground, min_height=min_height, max_roughness=max_roughness,
                                    min_planarity=min_planarity, min_support=min_support,
                                    max_terrain_step=max_terrain_step)
    detected = np.asarray(detected) > 0
    given = np.zeros(z.shape, bool) if buildings is None else np.asarray(buildings) > 0
    zf = _remove_pits(z)
    elevated = _elevated(zf, ground, valid, cellsize, min_height, 25.0, max_terrain_step)
    planar_window, supported = _roof_support(zf, elevated, cellsize, max_roughness)
    eight = np.ones((3, 3), bool)
    candidates = elevated & ~detected & ~given
    lab, n = ndimage.label(candidates, structure=eight)
    if n:
        npx = np.bincount(lab.ravel(), minlength=n + 1)
        nsup = np.bincount(lab.ravel(), weights=supported.ravel(), minlength=n + 1)
        ncen = np.bincount(lab.ravel(), weights=planar_window.ravel(), minlength=n + 1)
        roof_like = (nsup >= min_support * npx) & (ncen >= min_planarity * npx)
        roof_like[0] = True
        trees = candidates & ~roof_like[lab]
    if given.any() and trees.any():
        rough = elevated & ~supported & given & ~detected
        blobs = ndimage.binary_opening(rough, structure=np.ones((5, 5), bool))
        blobs |= rough & ndimage.binary_dilation(blobs, structure=eight, iterations=2)  # the opening's corners
        joint, _ = ndimage.label(trees | blobs, structure=eight)
        with_tree = np.unique(joint[trees])
        trees |= blobs & np.isin(joint, with_tree[with_tree > 0])
    log.debug("vegetation: %d tree pixels", int(trees.sum()))
    return trees


def polygonal(geom):
    """Only the polygon parts of ``geom`` (make_valid may return collections with lines/points)."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if isinstance(geom, (Polygon, MultiPolygon)):
        return None if geom.is_empty else geom
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, (Polygon, MultiPolygon)) and not g.is_empty]
    if not parts:
        return None
    out = shapely.union_all(parts)
    return out if not out.is_empty else None


def label_pieces(labels, transform):
    """Polygons of the 4-connected pieces of every positive label, and their labels, in raster order.

    Parameters
    ----------
    labels : ndarray of int32, shape (rows, cols)
        Labels, 0 or negative = none.
    transform : affine.Affine
        Pixel-to-map transform of the raster.

    Returns
    -------
    polygons : ndarray of shapely Polygon
        One polygon (with holes) per piece, as ``rasterio.features.shapes`` traces it.
    values : ndarray of int
        The label of each piece.
    """
    import gc

    import shapely
    from rasterio import features

    # all rings' coordinates in one array, then rings and polygons (shell first) built by index arrays; the
    # collector is paused while the many small lists are built (they hold no cycles)
    coords, ring_size, ring_poly, values = [], [], [], []
    was = gc.isenabled()
    gc.disable()
    try:
        for k, (geom, value) in enumerate(features.shapes(labels, mask=labels > 0, connectivity=4,
                                                          transform=transform)):
            for ring in geom["coordinates"]:
                coords.extend(ring)
                ring_size.append(len(ring))
                ring_poly.append(k)
            values.append(int(value))
    finally:
        if was:
            gc.enable()
    if not values:
        return np.zeros(0, dtype=object), np.zeros(0, np.int64)
    rings = shapely.linearrings(np.asarray(coords, dtype=np.float64),
                                indices=np.repeat(np.arange(len(ring_size)), ring_size))
    polys = np.asarray(shapely.polygons(rings, indices=np.asarray(ring_poly)), dtype=object)
    return polys, np.asarray(values, dtype=np.int64)


def label_polygons(labels, transform, *, simplify=None, clip=None):
    """Vector outlines of every non-zero label (shared by buildings and roof faces)."""
    import shapely

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ParameterError(f"labels must be a 2-D array, got shape {labels.shape}")
    tol = abs(float(transform.a)) if simplify is None else float(simplify)
    if tol < 0:
        raise ParameterError(f"simplify={simplify} must be >= 0 [m]")
    polys, values = label_pieces(labels.astype(np.int32), transform)
    order = np.argsort(values, kind="stable")
    ids, starts = np.unique(values[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    geoms = np.empty(len(ids), dtype=object)
    geoms[:] = [polys[order[s]] if e - s == 1 else shapely.union_all(list(polys[order[s:e]]))
                for s, e in zip(starts, ends)]
    if tol > 0:
        simplified = shapely.simplify(geoms, tol, preserve_topology=True)
        geoms = np.where(shapely.is_empty(simplified), geoms, simplified)
    out = {}
    for value, geom in zip(ids.tolist(), polygonal_array(geoms)):
        if geom is not None and clip is not None:
            mask_geom = clip(value) if callable(clip) else clip.get(value)
            if mask_geom is not None:
                geom = polygonal(geom.intersection(mask_geom))
        if geom is not None:
            out[value] = geom
    return out


def polygonal_array(geoms):
    """:func:`polygonal` of each geometry (object array in, object array out).

    Valid non-empty (Multi)Polygons are kept as they are, tested in one array call; only the others go
    through ``polygonal`` one by one.
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    there = ~shapely.is_missing(geoms)
    plain = there.copy()
    g = geoms[there]
    plain[there] = (np.isin(shapely.get_type_id(g), (3, 6)) & ~shapely.is_empty(g)) & shapely.is_valid(g)
    out[plain] = geoms[plain]
    for i in np.flatnonzero(there & ~plain):
        out[i] = polygonal(geoms[i])
    return out


#: Edges within this angle of a building's dominant orientation (or its normal) are snapped to it [°].
SNAP_ANGLE = 15.0


def dominant_orientation(polygon):
    """Dominant orientation of a building outline [°, 0-90), counter-clockwise from east.

    Parameters
    ----------
    polygon : shapely Polygon or MultiPolygon
        Outline.

    Returns
    -------
    float
        Orientation of the longer side of the minimum-area rotated rectangle around the outline, modulo
        90°; walls at right angles share it. For pixel outlines prefer :func:`label_orientations`: the
        rectangle of a pixel staircase may align with the staircase (atan 1/3 for a building turned 20°).
    """
    import shapely

    xy = np.asarray(shapely.oriented_envelope(polygon).exterior.coords)
    d = np.diff(xy[:3], axis=0)
    k = int(np.argmax(np.hypot(d[:, 0], d[:, 1])))
    return float(np.degrees(np.arctan2(d[k, 1], d[k, 0])) % 90.0)


def label_orientations(labels, sigma=1.0):
    """Dominant wall orientation of every labelled building [°, 0-90), counter-clockwise from east.

    Parameters
    ----------
    labels : ndarray of int, shape (rows, cols)
        Building labels, 0 = none; rows run south.
    sigma : float
        Width of the Gaussian derivative filter [px].

    Returns
    -------
    ndarray of float, shape (labels.max() + 1,)
        Orientation per label (index 0 unused): the angle ``t`` maximising the gradient-weighted
        ``cos(4 (phi - t))`` over the gradient directions ``phi`` of the smoothed building mask near the
        building (each pixel counts for the nearest building). Smoothing makes the gradient of a pixel
        staircase point across the straight wall it approximates, so walls at right angles vote alike.
    """
    labels = np.asarray(labels)
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return np.zeros(1)
    m = (labels > 0).astype(float)
    gy = ndimage.gaussian_filter(m, sigma, order=(1, 0))
    gx = ndimage.gaussian_filter(m, sigma, order=(0, 1))
    # only pixels with a gradient vote (the others add exact zeros to the sums)
    edge = np.flatnonzero((gx != 0) | (gy != 0))
    gx, gy = gx.ravel()[edge], gy.ravel()[edge]
    weight, phi = np.hypot(gx, gy), np.arctan2(-gy, gx)
    ir, ic = ndimage.distance_transform_edt(labels == 0, return_distances=False, return_indices=True)
    near = labels[ir.ravel()[edge], ic.ravel()[edge]]
    vec = (np.bincount(near, weights=weight * np.cos(4 * phi), minlength=n + 1)
           + 1j * np.bincount(near, weights=weight * np.sin(4 * phi), minlength=n + 1))
    return np.degrees(np.angle(vec)) / 4 % 90.0


#: Largest relative change of a building's area by :func:`regularise_outline`; beyond it the simplified
#: pixel outline is kept.
MAX_AREA_CHANGE = 0.15


def regularise_outline(polygon, cellsize, *, orientation=None, snap_angle=SNAP_ANGLE):
    """Straight, right-angled outline of a building from the outline of its pixels.

    Parameters
    ----------
    polygon : shapely Polygon or MultiPolygon
        Pixel outline [m] (map coordinates).
    cellsize : float
        Pixel size [m].
    orientation : float, optional
        Dominant orientation [°] (:func:`label_orientations`); default :func:`dominant_orientation`.
    snap_angle : float
        Edges within this angle of the dominant orientation or its normal are made parallel to it [°].

    Returns
    -------
    shapely Polygon or MultiPolygon
        Each ring is simplified (Douglas-Peucker, one pixel), each edge is the line through the pixel corners
        it replaces, snapped to the building's dominant orientation (:func:`label_orientations`) where
        they are within ``snap_angle``, collinear neighbours
        merged, and the vertices put where consecutive edge lines meet. A ring whose result is invalid or
        differs in area from the pixel outline by more than half a pixel times its perimeter, or by more than
        :data:`MAX_AREA_CHANGE` of its area (small buildings), keeps the simplified ring.
    """
    theta = dominant_orientation(polygon) if orientation is None else float(orientation)
    return regularise_outlines([polygon], cellsize, np.array([theta]), snap_angle=snap_angle)[0]


def regularise_outlines(polygons, cellsize, orientations, *, snap_angle=SNAP_ANGLE):
    """:func:`regularise_outline` of many outlines at once: their rings go through the kernels together.

    Parameters
    ----------
    polygons : sequence of shapely Polygon or MultiPolygon
        Pixel outlines [m] (map coordinates).
    cellsize : float
        Pixel size [m].
    orientations : ndarray of float
        Dominant orientation of each outline [°] (:func:`label_orientations`).
    snap_angle : float
        Edges within this angle of the dominant orientation or its normal are made parallel to it [°].

    Returns
    -------
    list of shapely Polygon, MultiPolygon or None
        The regularised outline of each polygon (see :func:`regularise_outline`).
    """
    import shapely

    from ._kernels.detection import regular_rings, ring_segments

    if len(polygons) == 0:
        return []
    geoms = np.empty(len(polygons), dtype=object)
    geoms[:] = list(polygons)
    parts, part_poly = shapely.get_parts(geoms, return_index=True)
    # all rings of all parts at once: Douglas-Peucker segments, snapped lines, corners (kernels)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    simple = shapely.simplify(rings, cellsize)
    xy, ri = shapely.get_coordinates(rings, return_index=True)
    sxy, si = shapely.get_coordinates(simple, return_index=True)
    size, s_size = np.bincount(ri, minlength=len(rings)), np.bincount(si, minlength=len(rings))
    start, s_start = np.cumsum(size) - size, np.cumsum(s_size) - s_size
    # corners without the closing one: the rings' and the simplified rings' own layouts
    closed, s_closed = size > 0, s_size > 0
    open_ = np.ones(len(xy), bool)
    open_[(start + size - 1)[closed]] = False
    s_open = np.ones(len(sxy), bool)
    s_open[(s_start + s_size - 1)[s_closed]] = False
    o_start, os_start = start - np.cumsum(closed) + closed, s_start - np.cumsum(s_closed) + s_closed
    ok, mean, d = ring_segments(xy[open_], o_start, np.maximum(size - 1, 0), sxy[s_open], os_start,
                                np.maximum(s_size - 1, 0))
    length = np.hypot(d[:, 0], d[:, 1])
    phi = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    theta = np.asarray(orientations, dtype=np.float64)[part_poly[ring_part]]
    delta = (phi - np.repeat(theta, np.maximum(s_size - 1, 0)) + 45.0) % 90.0 - 45.0
    snapped = np.abs(delta) <= snap_angle
    phi = np.where(snapped, phi - delta, phi)
    u = np.stack([np.cos(np.radians(phi)), np.sin(np.radians(phi))], axis=1)
    keep = snapped | (length > 5.0 * cellsize)
    corners, c_start, c_size, regular = regular_rings(mean, u, length, keep, os_start, np.maximum(s_size - 1, 0),
                                                      ok, float(cellsize))
    # a ring without enough straight edges keeps its simplified form (closed)
    ring_xy = [corners[c_start[r]:c_start[r] + c_size[r]] if regular[r] else sxy[s_start[r]:s_start[r] + s_size[r]]
               for r in range(len(rings))]
    return _checked_outlines(geoms, parts, part_poly, ring_xy, ring_part, cellsize)


def _checked_outlines(polygons, parts, part_poly, ring_xy, ring_part, cellsize):
    """Return one outline per polygon: the polygons of its parts' regularised rings, united.

    A part whose result is invalid or changes area too much keeps its simplified form (see
    :func:`regularise_outline`).
    """
    import shapely
    from shapely.geometry import Polygon

    ends = np.cumsum(np.bincount(ring_part, minlength=len(parts))).tolist()
    regs = np.full(len(parts), None, dtype=object)
    for k, (s, e) in enumerate(zip([0] + ends[:-1], ends)):
        try:
            regs[k] = Polygon(ring_xy[s], [r for r in ring_xy[s + 1:e] if len(r) >= 3])
        except (ValueError, shapely.errors.GEOSException):
            pass
    tolerance = np.minimum(0.5 * cellsize * shapely.length(parts), MAX_AREA_CHANGE * shapely.area(parts))
    there = ~shapely.is_missing(regs)
    bad = ~there
    bad[there] = (~shapely.is_valid(regs[there]) | shapely.is_empty(regs[there])
                  | (np.abs(shapely.area(regs[there]) - shapely.area(parts[there])) > tolerance[there]))
    regs[bad] = shapely.simplify(parts[bad], cellsize)
    ends = np.cumsum(np.bincount(part_poly, minlength=len(polygons))).tolist()
    out = []
    for s, e in zip([0] + ends[:-1], ends):
        if e - s == 0:
            out.append(None)
            continue
        out.append(polygonal(shapely.union_all(list(regs[s:e]))) if e - s > 1 else polygonal(regs[s]))
    return out


def building_polygons(labels, transform, *, regularise=True):
    """Footprint polygons of labelled buildings in map coordinates.

    Parameters
    ----------
    labels : ndarray of int, shape (rows, cols)
        Building labels, 0 = none (:func:`detect_buildings`).
    transform : affine.Affine
        Pixel-to-map transform of the raster.
    regularise : bool
        Straighten the outlines (:func:`regularise_outline`); False keeps the one-pixel simplification.

    Returns
    -------
    dict of int to shapely Polygon or MultiPolygon
        Valid polygons with holes kept. Regularised (:func:`regularise_outline`): straight edges along the
        building's dominant orientation, right angles where the pixels support them; else simplified with a
        tolerance of one pixel (removes the pixel staircase while keeping the outline within one pixel of
        the raster's).
    """
    polys = label_polygons(labels, transform, simplify=0 if regularise else None)
    if not regularise:
        return polys
    cs = abs(float(transform.a))
    theta = label_orientations(labels)
    keys = list(polys)
    out = regularise_outlines([polys[k] for k in keys], cs, theta[np.asarray(keys, dtype=np.int64)])
    return {k: g for k, g in zip(keys, out) if g is not None}
