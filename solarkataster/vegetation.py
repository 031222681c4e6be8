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
