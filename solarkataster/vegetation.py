"""Vegetation: a canopy that attenuates the rays to the sun and the sky instead of blocking them.

A tree is described on the surface model's grid by its canopy height above ground. A ray that passes through
the canopy is attenuated by the transmissivity once per crossing; a ray below the trunk zone (a share of the
canopy height, as in UMEP) passes freely. The transmissivity depends on the season: low with leaves, higher
with bare branches.

Defaults follow SOLWEIG (Lindberg and Grimmond 2011): transmissivity 0.03 with leaves, leaf-on from day 97
to day 300 and a trunk zone of 25 % of the canopy height; with bare branches the UMEP maintainers set 0.5
(UMEP issue 411).

References
----------
.. [1] Lindberg, F. and Grimmond, C. S. B. (2011). The influence of vegetation and building morphology on
   shadow patterns and mean radiant temperatures in urban areas: model development and evaluation.
   Theoretical and Applied Climatology 105, 311-323. :doi:`10.1007/s00704-010-0382-8`
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ParameterError, check_range

DEFAULT_TRANSMISSIVITY = 0.03  # leaf-on, SOLWEIG default [1]
DEFAULT_LEAF_OFF_TRANSMISSIVITY = 0.5  # bare branches, UMEP maintainers' advice (UMEP issue 411)
DEFAULT_LEAF_ON = (97, 300)  # first and last day of year with leaves, SOLWEIG default [1]
DEFAULT_TRUNK_RATIO = 0.25  # trunk zone as a share of the canopy height, SOLWEIG default [1]


@dataclass
class Vegetation:
    """A canopy on the surface model's grid and its seasonal transmissivity.

    Parameters
    ----------
    canopy_height : ndarray
        Canopy height above ground [m] on the surface model's grid; 0 or NaN = no vegetation.
    ground : ndarray
        Ground elevation [m] on the same grid (where the canopy stands).
    transmissivity : float
        Share of a ray that passes one canopy crossing in leaf-on days [0-1].
    leaf_off_transmissivity : float
        The same outside the leaf-on days [0-1].
    leaf_on : (int, int)
        First and last day of year with leaves (inclusive) [day of year]. ``first > last`` wraps over the
        new year (southern hemisphere).
    trunk_ratio : float
        Height of the trunk zone as a share of the canopy height [0-1]; rays below it pass freely.
    source : str
        Where the canopy came from (a file, 'auto', a point cloud), recorded in ``run.json``.
    """

    canopy_height: np.ndarray
    ground: np.ndarray
    transmissivity: float = DEFAULT_TRANSMISSIVITY
    leaf_off_transmissivity: float = DEFAULT_LEAF_OFF_TRANSMISSIVITY
    leaf_on: tuple = DEFAULT_LEAF_ON
    trunk_ratio: float = DEFAULT_TRUNK_RATIO
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        check_range("transmissivity", self.transmissivity, 0.0, 1.0)
        check_range("leaf_off_transmissivity", self.leaf_off_transmissivity, 0.0, 1.0)
        check_range("trunk_ratio", self.trunk_ratio, 0.0, 1.0)
        first, last = (int(d) for d in self.leaf_on)
        for name, d in (("leaf-on start", first), ("leaf-on end", last)):
            if not 1 <= d <= 366:
                raise ParameterError(f"{name} = {d}: a day of year is 1-366 (e.g. --leaf-on 97-300)")
        self.leaf_on = (first, last)
        h = np.asarray(self.canopy_height, dtype=np.float32)
        self.canopy_height = np.where(np.isfinite(h) & (h > 0), h, 0).astype(np.float32)
        if self.canopy_height.shape != np.shape(self.ground):
            raise ParameterError(f"canopy {self.canopy_height.shape} and ground {np.shape(self.ground)} "
                                 "must be on the same grid")

    @property
    def mask(self) -> np.ndarray:
        """True where there is canopy."""
        return self.canopy_height > 0

    @property
    def canopy_top(self) -> np.ndarray:
        """Absolute elevation of the canopy top [m], NaN where there is no canopy."""
        return np.where(self.mask, self.ground + self.canopy_height, np.nan).astype(np.float32)

    @property
    def trunk_top(self) -> np.ndarray:
        """Absolute elevation of the top of the free trunk zone [m], NaN where there is no canopy."""
        top = self.ground + self.trunk_ratio * self.canopy_height
        return np.where(self.mask, top, np.nan).astype(np.float32)

    def is_leaf_on(self, day_of_year) -> np.ndarray:
        """Return True for the days of year [1-366] with leaves."""
        doy = np.asarray(day_of_year)
        first, last = self.leaf_on
        if first <= last:
            return (doy >= first) & (doy <= last)
        return (doy >= first) | (doy <= last)

    def transmissivity_on(self, day_of_year) -> np.ndarray:
        """Return the transmissivity [0-1] for days of year [1-366]."""
        return np.where(self.is_leaf_on(day_of_year), self.transmissivity, self.leaf_off_transmissivity)

    def parameters(self) -> dict:
        """Describe the vegetation for the provenance (``run.json``)."""
        return {"source": self.source, "transmissivity": self.transmissivity,
                "leaf_off_transmissivity": self.leaf_off_transmissivity,
                "leaf_on": f"{self.leaf_on[0]}-{self.leaf_on[1]}", "trunk_ratio": self.trunk_ratio,
                "canopy_share": round(float(self.mask.mean()), 4) if self.mask.size else 0.0, **self.extra}


def leaf_on_days(day_of_year, leaf_on) -> np.ndarray:
    """Return True for the days of year [1-366] within ``leaf_on`` = (first, last), inclusive.

    ``first > last`` wraps over the new year (southern hemisphere); the same rule as
    :meth:`Vegetation.is_leaf_on`, for code that has the days but not the canopy (the sky table).
    """
    doy = np.asarray(day_of_year)
    first, last = (int(d) for d in leaf_on)
    if first <= last:
        return (doy >= first) & (doy <= last)
    return (doy >= first) | (doy <= last)


# ------------------------------------------------------------------------------------ canopy sources

#: Lowest canopy [m] above ground: lower vegetation (lawn, low shrubs) is ground.
MIN_CANOPY_HEIGHT = 1.0
#: A building pixel of the surface model shows the canopy (a crown over the roof) when it lies within this
#: share of the canopy height, and at least :data:`CANOPY_TOP_MIN_TOLERANCE`, of the canopy top; off
#: buildings a pixel does when it stands higher than half the canopy height above ground.
CANOPY_TOP_TOLERANCE = 0.1
CANOPY_TOP_MIN_TOLERANCE = 0.5  # [m]
#: Roof pixels around a crown that give the roof under it: 3 x 3 plane-fit residual at most this [m]
#: (the planarity test of :func:`solarkataster.detection.detect_buildings`).
ROOF_ROUGHNESS = 0.15


@dataclass
class VegetationSpec:
    """Where the canopy comes from and how it transmits light, before it is put on a grid.

    Parameters
    ----------
    source : str or Path
        A canopy height raster (canopy height above ground [m], UMEP CDSM convention, any grid), or
        ``'auto'``: trees taken from the surface model itself (above-ground pixels that are not buildings).
    transmissivity, leaf_off_transmissivity, leaf_on, trunk_ratio
        As in :class:`Vegetation` (defaults there).
    """

    source: object = "auto"
    transmissivity: float = DEFAULT_TRANSMISSIVITY
    leaf_off_transmissivity: float = DEFAULT_LEAF_OFF_TRANSMISSIVITY
    leaf_on: tuple = DEFAULT_LEAF_ON
    trunk_ratio: float = DEFAULT_TRUNK_RATIO

    def __post_init__(self):
        if isinstance(self.leaf_on, str):
            self.leaf_on = parse_leaf_on(self.leaf_on)
        # validate the numbers once, before any raster is read
        Vegetation(np.zeros((1, 1)), np.zeros((1, 1)), self.transmissivity, self.leaf_off_transmissivity,
                   self.leaf_on, self.trunk_ratio)

    @property
    def is_auto(self) -> bool:
        """True when the canopy is taken from the surface model itself."""
        return isinstance(self.source, str) and self.source.strip().lower() == "auto"

    def vegetation(self, canopy_height, ground, source=None, extra=None) -> Vegetation:
        """Return the :class:`Vegetation` of a canopy on a grid with this spec's parameters.

        Parameters
        ----------
        canopy_height, ground : ndarray
            Canopy height above ground [m] and ground elevation [m] on the surface model's grid.
        source : str, optional
            Recorded source (default: ``self.source``).
        extra : dict, optional
            Further provenance (e.g. pixels taken out of the surface model).
        """
        return Vegetation(canopy_height, ground, self.transmissivity, self.leaf_off_transmissivity, self.leaf_on,
                          self.trunk_ratio, str(self.source if source is None else source), dict(extra or {}))


def parse_leaf_on(text) -> tuple:
    """Parse a leaf-on period ``'DOY1-DOY2'`` (e.g. ``'97-300'``) into a pair of days of year [1-366].

    Raises
    ------
    ParameterError
        The text is not two whole days of year 1-366 joined by a hyphen.
    """
    parts = str(text).replace(" ", "").split("-")
    try:
        first, last = (int(p) for p in parts)
    except ValueError:
        raise ParameterError(f"leaf-on period {text!r}: give two days of year as DOY1-DOY2, e.g. 97-300") from None
    for d in (first, last):
        if not 1 <= d <= 366:
            raise ParameterError(f"leaf-on period {text!r}: a day of year is 1-366 (e.g. 97-300)")
    return first, last


def canopy_in_surface(z, ground, canopy_height, buildings=None, *, tolerance=CANOPY_TOP_TOLERANCE):
    """Pixels where a surface model shows the canopy (a first-return LiDAR DSM contains the trees).

    Parameters
    ----------
    z : ndarray
        Surface model [m].
    ground : ndarray
        Ground elevation [m] on the same grid.
    canopy_height : ndarray
        Canopy height above ground [m]; 0 or NaN = none.
    buildings : ndarray of bool or int, optional
        Building pixels (footprints or detection). There the surface shows the canopy only where it lies
        near the canopy top (a tree overhanging the roof); elsewhere it does where it stands higher than
        half the canopy height above ground.
    tolerance : float
        Share of the canopy height within which a building pixel counts as the canopy top [0-1] (at least
        :data:`CANOPY_TOP_MIN_TOLERANCE`). A canopy model derived from the same LiDAR matches the crown to
        centimetres; a roof that close under the crown top cannot be told from it.

    Returns
    -------
    ndarray of bool
    """
    z = np.asarray(z, dtype=np.float64)
    ch = np.nan_to_num(np.asarray(canopy_height, dtype=np.float64))
    ground = np.asarray(ground, dtype=np.float64)
    canopy = ch >= MIN_CANOPY_HEIGHT
    with np.errstate(invalid="ignore"):
        above = z - ground
        near_top = np.abs(z - (ground + ch)) <= np.maximum(tolerance * ch, CANOPY_TOP_MIN_TOLERANCE)
        shows = canopy & np.isfinite(above) & (above > 0.5 * ch) & (above >= MIN_CANOPY_HEIGHT)
    if buildings is not None:
        b = np.asarray(buildings) > 0
        shows &= ~b | near_top
    return shows


def remove_canopy(z, ground, canopy, buildings=None):
    """Take canopy pixels out of a surface model: the opaque surface under the trees.

    Off buildings the opaque surface under a canopy pixel is the ground. On a building (a tree
    overhanging its roof) it is the roof, interpolated linearly from the building's smooth pixels around the
    canopy (nearest roof pixel outside their hull; rough pixels are the crown's fringe), so the roof keeps
    its face and the tree shades it.

    Parameters
    ----------
    z : ndarray
        Surface model [m] with the trees.
    ground : ndarray
        Ground elevation [m] on the same grid (a DTM, or a ground filter of the surface model).
    canopy : ndarray of bool
        Pixels where the surface model shows the canopy (:func:`canopy_in_surface`, or the trees of
        :func:`solarkataster.detection.vegetation_mask`).
    buildings : ndarray of bool or int, optional
        Building pixels.

    Returns
    -------
    ndarray
        The opaque surface [m] (float64).
    """
    out = np.array(z, dtype=np.float64)
    canopy = np.asarray(canopy, bool)
    ground = np.asarray(ground, dtype=np.float64)
    b = np.zeros(out.shape, bool) if buildings is None else np.asarray(buildings) > 0
    off = canopy & ~b
    out[off] = np.where(np.isfinite(ground[off]), ground[off], out[off])
    on = canopy & b
    if on.any():
        from .detection import local_roughness

        known = b & ~canopy & np.isfinite(out)
        with np.errstate(invalid="ignore"):
            # on the roof alone (walls and crown masked out), so eaves stay smooth and the crown's fringe rough
            smooth = known & (local_roughness(np.where(known, out, np.nan), 1.0) <= ROOF_ROUGHNESS)
        out[on] = _interpolate_roof(out, on, smooth if smooth.any() else known)
    return out


def _interpolate_roof(z, holes, known):
    """Values at ``holes`` linearly interpolated from ``known`` pixels around them (nearest outside)."""
    from scipy import ndimage
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    ring = known & ndimage.binary_dilation(holes, structure=np.ones((3, 3), bool), iterations=4)
    if not ring.any():
        ring = known
    if not ring.any():
        return z[holes]
    pts = np.argwhere(ring)
    vals = z[ring]
    targets = np.argwhere(holes)
    est = np.full(len(targets), np.nan)
    if len(pts) >= 3:
        try:
            est = LinearNDInterpolator(pts, vals)(targets)
        except Exception:  # noqa: BLE001 - collinear ring pixels: Qhull cannot triangulate
            pass
    miss = ~np.isfinite(est)
    if miss.any():
        est[miss] = NearestNDInterpolator(pts, vals)(targets[miss])
    return est


def canopy_from_model(z, ground, canopy_height, buildings=None):
    """Split a surface model and a canopy height model into the opaque surface and the canopy.

    Where the surface model already contains the trees (a first-return LiDAR DSM), those pixels leave
    the opaque surface (:func:`canopy_in_surface`, :func:`remove_canopy`); a model without them (UMEP's
    DSM + CDSM) is returned unchanged.

    Parameters
    ----------
    z : ndarray
        Surface model [m].
    ground : ndarray
        Ground elevation [m].
    canopy_height : ndarray
        Canopy height above ground [m] on the same grid; 0 or NaN = none.
    buildings : ndarray of bool or int, optional
        Building pixels.

    Returns
    -------
    opaque : ndarray
        The surface model without the trees [m].
    canopy_height : ndarray
        Canopy height above ground [m] (float32, 0 = none, lower than :data:`MIN_CANOPY_HEIGHT` dropped).
    removed : int
        Pixels taken out of the surface model.
    """
    ch = np.nan_to_num(np.asarray(canopy_height, dtype=np.float64))
    ch = np.where(ch >= MIN_CANOPY_HEIGHT, ch, 0.0)
    shows = canopy_in_surface(z, ground, ch, buildings)
    return remove_canopy(z, ground, shows, buildings), ch.astype(np.float32), int(shows.sum())


def canopy_from_surface(z, ground, trees, buildings=None):
    """Return the opaque surface and the canopy height of the trees a surface model contains.

    Parameters
    ----------
    z : ndarray
        Surface model [m].
    ground : ndarray
        Ground elevation [m].
    trees : ndarray of bool
        Tree pixels (:func:`solarkataster.detection.vegetation_mask`).
    buildings : ndarray of bool or int, optional
        Building pixels (tree pixels on them get the roof interpolated under the crown).

    Returns
    -------
    opaque : ndarray
        The surface model without the trees [m].
    canopy_height : ndarray
        Canopy height above ground [m] (float32, 0 = none).
    """
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ch = np.where(np.asarray(trees, bool) & np.isfinite(z), z - np.asarray(ground, dtype=np.float64), 0.0)
    ch = np.where(np.nan_to_num(ch) >= MIN_CANOPY_HEIGHT, ch, 0.0)
    trees = ch > 0
    return remove_canopy(z, ground, trees, buildings), ch.astype(np.float32)
