"""Irradiation on surfaces from their orientation, their horizon profile and a sky table.

For each surface (a raster pixel, a wall sample, a sensor):

* **beam** and **Perez circumsolar** use the exact sun positions of the sky table; a step counts when the
  sun is above both the terrain horizon (interpolated between sectors at the step's azimuth bin) and the
  surface's own plane;
* **isotropic diffuse** is weighted by the sky view factor of the surface: the part of its hemisphere of
  view above the terrain horizon, the horizontal and its own plane (Dozier & Frew 1990 [2]_);
* the **horizon band** (Perez F2) is weighted by the share of the horizon line that is visible in front
  of the surface, a band being hidden as the terrain horizon rises through its 6.5° width [3]_;
* **ground reflection** is isotropic: albedo x global horizontal irradiation x (1 - sky view factor),
  i.e. the non-sky part of the view is taken as ground lit by the unobstructed global irradiance. For an
  unobstructed plane this is pvlib's ``(1 - cos tilt) / 2`` term exactly.

References
----------
.. [1] Perez, R., Ineichen, P., Seals, R., Michalsky, J., & Stewart, R. (1990). Modeling daylight
   availability and irradiance components from direct and global irradiance. Solar Energy, 44(5),
   271-289. https://doi.org/10.1016/0038-092X(90)90055-H
.. [2] Dozier, J., & Frew, J. (1990). Rapid calculation of terrain parameters for radiation modeling
   from digital elevation data. IEEE Transactions on Geoscience and Remote Sensing, 28(5), 963-969.
   https://doi.org/10.1109/36.58986
.. [3] Perez, R., Seals, R., Ineichen, P., Stewart, R., & Menicucci, D. (1987). A new simplified version
   of the Perez diffuse irradiance model for tilted surfaces. Solar Energy, 39(3), 221-231.
   https://doi.org/10.1016/S0038-092X(87)80031-2
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ._kernels import irradiation as _k
from .errors import ParameterError, check_range
from .horizon import angles_to_codes
from .sky import HORIZON_BAND, SkyTable, SunSteps
from .surface import tilt_azimuth_to_normal

_GRID = 64  # lookup cells per azimuth bin for the elevation threshold


@dataclass(frozen=True)
class Irradiation:
    """Annual and monthly irradiation of a set of surfaces (all arrays share the surfaces' shape).

    Attributes
    ----------
    global_, beam, diffuse, reflected : ndarray
        Annual irradiation [kWh/m²]; diffuse includes circumsolar and the horizon band.
    monthly : ndarray, shape (12, ...)
        Monthly global irradiation [kWh/m²].
    sky_view_factor : ndarray
        Share of the isotropic sky the surface sees [0-1] ((1 + cos tilt) / 2 when unobstructed); the part
        seen through a canopy counts with the canopy's annual diffuse-weighted transmissivity.
    vegetation_loss : ndarray
        Annual irradiation the canopy removes [kWh/m²]: the global irradiation with transparent trees minus
        ``global_``; zeros without vegetation.
    """

    global_: np.ndarray
    beam: np.ndarray
    diffuse: np.ndarray
    reflected: np.ndarray
    monthly: np.ndarray
    sky_view_factor: np.ndarray
    vegetation_loss: np.ndarray | None = None

    def __post_init__(self):
        if self.vegetation_loss is None:
            object.__setattr__(self, "vegetation_loss", np.zeros_like(self.global_))


def _table_arrays(sky: SkyTable):
    """Kernel-ready arrays derived from a sky table (tan of elevation, per-bin lookup grids)."""
    nb = sky.azimuth_bins
    tan_el = np.tan(np.radians(np.clip(sky.elevation, -89.9, 89.9)))
    grid = np.zeros((nb, _GRID + 1), np.int64)
    t0 = np.zeros(nb)
    dt = np.ones(nb)
    for b in range(nb):
        a, e = sky.bin_start[b], sky.bin_start[b + 1]
        if e <= a:
            continue
        lo, hi = tan_el[a], tan_el[e - 1]
        t0[b] = lo
        dt[b] = max((hi - lo) / _GRID, 1e-12)
        edges = lo + dt[b] * np.arange(_GRID + 1)
        grid[b] = a + np.searchsorted(tan_el[a:e], edges, side="right")
    centres = np.radians((np.arange(nb) + 0.5) * 360.0 / nb)
    month_list, month_count, month_offset, month_compact = _compact_months(sky, sky.month_sum)
    return dict(bin_sin=np.sin(centres), bin_cos=np.cos(centres), tan_el=tan_el, grid=grid, grid_t0=t0,
                grid_dt=dt, month_list=month_list, month_count=month_count, month_offset=month_offset,
                month_compact=month_compact)


def _compact_months(sky: SkyTable, month_sum, bin_months=None):
    """Compact monthly suffix sums: per bin only its active months (``bin_months``), rows of k * 3 floats."""
    nb = sky.azimuth_bins
    bin_months = sky.bin_months if bin_months is None else bin_months
    month_list = np.zeros(bin_months.shape, np.int64)
    month_count = bin_months.sum(axis=1).astype(np.int64)
    month_offset = np.zeros(nb, np.int64)
    parts = []
    pos = 0
    for b in range(nb):
        ms = np.flatnonzero(bin_months[b])
        month_list[b, :ms.size] = ms
        a, e = sky.bin_start[b], sky.bin_start[b + 1]
        month_offset[b] = pos
        if e > a and ms.size:
            block = np.ascontiguousarray(month_sum[a:e][:, ms, :], np.float32).ravel()
            parts.append(block)
            pos += block.size
    month_compact = np.concatenate(parts) if parts else np.zeros(1, np.float32)
    return month_list, month_count, month_offset, month_compact


def _canopy_arrays(sky: SkyTable, vegetation):
    """Kernel-ready leaf-on sums and transmissivities of a sky table for a canopy."""
    season = sky.season
    tau_on, tau_off = float(vegetation.transmissivity), float(vegetation.leaf_off_transmissivity)
    if season is None:
        if tau_on != tau_off:
            raise ParameterError("the sky table has no leaf-on split: build it with "
                                 "sky_table(steps, bins, leaf_on=vegetation.leaf_on) for seasonal transmissivity")
        zeros12 = np.zeros(12)
        season = {"beam_sum": np.zeros_like(sky.beam_sum), "month_sum": np.zeros_like(sky.month_sum),
                  "isotropic": zeros12, "band": zeros12, "ghi": zeros12}
    elif tuple(season["leaf_on"]) != tuple(vegetation.leaf_on):
        raise ParameterError(f"the sky table's leaf-on days {season['leaf_on']} differ from the vegetation's "
                             f"{vegetation.leaf_on}: build the sky table with leaf_on=vegetation.leaf_on")
    iso_on = float(np.sum(season["isotropic"]))
    iso_all = float(np.sum(sky.isotropic))
    tau_svf = (tau_on * iso_on + tau_off * (iso_all - iso_on)) / iso_all if iso_all > 0 else tau_on
    # what one crossing removes: (1 - tau) of the suffix sums, split by season
    keep_on, keep_off = 1.0 - tau_on, 1.0 - tau_off
    att_beam = keep_on * season["beam_sum"] + keep_off * (sky.beam_sum - season["beam_sum"])
    att_month = keep_on * season["month_sum"] + keep_off * (sky.month_sum - season["month_sum"])
    # each step's row: the sums, then what a crossing removes (one cache line serves both)
    beam2 = np.ascontiguousarray(np.concatenate([sky.beam_sum, att_beam], axis=1), np.float32)
    both = np.concatenate([sky.month_sum, att_month], axis=1)  # (steps, 24, 3): months, then their attenuation
    month2 = _compact_months(sky, both, np.concatenate([sky.bin_months, sky.bin_months], axis=1))[3]
    return _k.CanopyArrays(beam2=beam2, month2=month2, iso_on=np.asarray(season["isotropic"], float),
                           band_on=np.asarray(season["band"], float), ghi_on=np.asarray(season["ghi"], float),
                           tau_on=tau_on, tau_off=tau_off, tau_svf=tau_svf)


_LAST_KERNEL_SKY = {}  # the last sky table's kernel arrays: a raster's row blocks share one table


def _kernel_sky(sky: SkyTable, n_sec):
    """Kernel-ready :data:`SkyArrays` of a sky table for ``n_sec`` sectors, reused while the table is the same."""
    key = ("sky", n_sec)
    hit = _LAST_KERNEL_SKY.get(key)
    if hit is not None and hit[0] is sky:
        return hit[1]
    sec = np.radians(np.arange(n_sec) * 360.0 / n_sec)
    arrays = _k.SkyArrays(tan_lut=_TAN_LUT, sec_sin=np.sin(sec), sec_cos=np.cos(sec), bin_start=sky.bin_start,
                          beam_sum=sky.beam_sum, iso=sky.isotropic, band=sky.band, ghi=sky.ghi,
                          **_table_arrays(sky))
    _LAST_KERNEL_SKY[key] = (sky, arrays)
    return arrays


def _kernel_canopy(sky: SkyTable, vegetation):
    """:func:`_canopy_arrays`, reused while the sky table and the canopy's transmissivities are the same."""
    key = (float(vegetation.transmissivity), float(vegetation.leaf_off_transmissivity), tuple(vegetation.leaf_on))
    hit = _LAST_KERNEL_SKY.get("canopy")
    if hit is not None and hit[0] is sky and hit[1] == key:
        return hit[2]
    arrays = _canopy_arrays(sky, vegetation)
    _LAST_KERNEL_SKY["canopy"] = (sky, key, arrays)
    return arrays


def irradiation(horizon_angles, surface_tilt, surface_azimuth, sky, albedo=0.2):
    """Annual and monthly irradiation of surfaces with given horizons and orientations.

    Parameters
    ----------
    horizon_angles : array_like, shape (sectors, ...)
        Horizon elevation [°] along azimuths k * 360 / sectors (see
        :func:`solarkataster.horizon.horizon_angles`); -90 where open, NaN where missing.
    surface_tilt, surface_azimuth : array_like, shape (...)
        Orientation of each surface [°].
    sky : SkyTable
        From :func:`solarkataster.sky.sky_table`.
    albedo : float
        Ground albedo [0-1].

    Returns
    -------
    Irradiation
    """
    return irradiation_from_codes(angles_to_codes(horizon_angles), surface_tilt, surface_azimuth, sky, albedo)


def irradiation_from_slopes(horizon_slopes, surface_tilt, surface_azimuth, sky, albedo=0.2):
    """Compute :func:`irradiation` from horizons given as slopes.

    Parameters
    ----------
    horizon_slopes : array_like, shape (sectors, ...)
        tan of the horizon elevation [-] (see :func:`solarkataster.horizon.horizon_slopes`); <= -1e29 where
        open, NaN where missing.
    surface_tilt, surface_azimuth, sky, albedo
        As :func:`irradiation`.

    Returns
    -------
    Irradiation
        As :func:`irradiation`.
    """
    s = np.asarray(horizon_slopes, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        deg = np.degrees(np.arctan(s))
    deg[s <= -1e29] = -90.0
    return irradiation(deg, surface_tilt, surface_azimuth, sky, albedo)


_TAN_LUT = np.tan(np.radians(np.arange(-9000, 9001) / 100.0))


def irradiation_from_codes(horizon_codes, surface_tilt, surface_azimuth, sky, albedo=0.2, *, canopy=None,
                           vegetation=None):
    """Compute :func:`irradiation` from horizons given as int16 codes (the engine's path).

    Parameters
    ----------
    horizon_codes : array_like of int16, shape (sectors, ...)
        Horizon elevation [0.01°] of the opaque surface (see :func:`solarkataster.horizon.horizon_codes`).
    surface_tilt, surface_azimuth, sky, albedo
        As :func:`irradiation`.
    canopy : (ndarray, ndarray), optional
        Canopy-top and canopy-bottom horizon codes shaped as ``horizon_codes``
        (:func:`solarkataster.horizon.canopy_horizon_codes`); needs ``vegetation``. Beam, circumsolar, sky
        diffuse and the horizon band through the canopy are attenuated by the day's transmissivity, via the
        sky table's leaf-on sums (``sky_table(..., leaf_on=vegetation.leaf_on)``; needed only when the two
        transmissivities differ), so the per-pixel cost stays independent of the time steps.
    vegetation : solarkataster.vegetation.Vegetation, optional
        Transmissivities and leaf-on days of the canopy.

    Returns
    -------
    Irradiation
        As :func:`irradiation`.
    """
    hor = np.asarray(horizon_codes, dtype=np.int16)
    shape = hor.shape[1:]
    tilt = np.broadcast_to(np.asarray(surface_tilt, float), shape)
    azi = np.broadcast_to(np.asarray(surface_azimuth, float), shape)
    return irradiation_from_normals(hor, tilt_azimuth_to_normal(tilt, azi), sky, albedo, canopy=canopy,
                                    vegetation=vegetation)


def irradiation_from_normals(horizon_codes, normals, sky, albedo=0.2, *, canopy=None, vegetation=None):
    """Compute :func:`irradiation_from_codes` for surfaces given by their unit normals.

    The engine's path for rasters: :func:`solarkataster.surface.surface_normals` goes in as it is, without
    the round trip through tilt and azimuth.

    Parameters
    ----------
    horizon_codes : array_like of int16, shape (sectors, ...)
        Horizon elevation [0.01°] (see :func:`irradiation_from_codes`).
    normals : array_like, shape (3, ...)
        Upward unit normals (east, north, up) [-] of the surfaces; NaN where missing.
    sky, albedo, canopy, vegetation
        As :func:`irradiation_from_codes`.

    Returns
    -------
    Irradiation
        As :func:`irradiation`.
    """
    albedo = check_range("albedo", albedo, 0.0, 1.0)
    hor = np.asarray(horizon_codes, dtype=np.int16)
    shape = hor.shape[1:]
    n_sec = hor.shape[0]
    if np.shape(normals) != (3,) + shape:
        raise ParameterError(f"normals {np.shape(normals)} do not match the horizons: expected {(3,) + shape}")
    nrm = np.ascontiguousarray(np.asarray(normals, np.float64).reshape(3, -1))
    hor2 = np.ascontiguousarray(hor.reshape(n_sec, -1))
    n = hor2.shape[1]
    beam = np.empty(n)
    month = np.empty((12, n))
    refl = np.empty(n)
    svf = np.empty(n)
    arrays = _kernel_sky(sky, n_sec)
    loss = None
    if canopy is None:
        _k.evaluate(hor2, nrm, arrays, albedo, HORIZON_BAND, beam, month, refl, svf)
    else:
        if vegetation is None:
            raise ParameterError("canopy horizons need the vegetation (its transmissivity and leaf-on days)")
        top, low = (np.ascontiguousarray(np.asarray(c, np.int16).reshape(n_sec, -1)) for c in canopy)
        if top.shape != hor2.shape or low.shape != hor2.shape:
            raise ParameterError(f"canopy horizons {top.shape}, {low.shape} differ from the opaque {hor2.shape}")
        loss = np.empty(n)
        _k.evaluate_canopy(hor2, top, low, nrm, arrays, _kernel_canopy(sky, vegetation), albedo, HORIZON_BAND,
                           beam, month, refl, svf, loss)
        loss = loss.reshape(shape)
    glob = month.sum(axis=0)
    return Irradiation(global_=glob.reshape(shape), beam=beam.reshape(shape),
                       diffuse=(glob - beam - refl).reshape(shape), reflected=refl.reshape(shape),
                       monthly=month.reshape((12,) + shape), sky_view_factor=svf.reshape(shape),
                       vegetation_loss=loss)


def unobstructed_irradiation(surface_tilt, surface_azimuth, sky, albedo=0.2, sectors=72):
    """Irradiation of surfaces with an open horizon (the reference for shading losses).

    Parameters
    ----------
    surface_tilt : array_like
        Tilt from horizontal [°].
    surface_azimuth : array_like
        Azimuth the surface faces [°], clockwise from north.
    sky : SkyTable
        See :func:`solarkataster.sky.sky_table`.
    albedo : float
        Ground reflectance [-].
    sectors : int
        Sectors of the (open) horizon profile; only the sky view and horizon-band sums use them.

    Returns
    -------
    Irradiation
        As :func:`irradiation`, with the shape of the broadcast tilt and azimuth.
    """
    tilt = np.asarray(surface_tilt, float)
    shape = np.broadcast_shapes(tilt.shape, np.shape(surface_azimuth))
    hor = np.full((sectors,) + shape, -90.0, np.float32)
    return irradiation(hor, surface_tilt, surface_azimuth, sky, albedo)


def poa_time_series(horizon_profile, surface_tilt, surface_azimuth, steps: SunSteps, albedo=0.2, *, canopy=None,
                    vegetation=None):
    """Plane-of-array irradiance time series at points, step by step.

    Parameters
    ----------
    horizon_profile : array_like, shape (sectors, n)
        Horizon elevation [°] per sector for each point (the opaque surface's when a canopy is given).
    surface_tilt, surface_azimuth : array_like, shape (n,)
        Orientation [°].
    steps : SunSteps
        Sub-hourly sun and sky steps.
    albedo : float
        Ground albedo [0-1].
    canopy : (array_like, array_like), optional
        Canopy-top and canopy-bottom elevation [°] per sector and point, shaped as ``horizon_profile``
        (bottom 90 where no canopy lies along the azimuth); needs ``vegetation``. At each step the ray to
        the sun between them is attenuated by that day's transmissivity, and so are the sky diffuse and the
        horizon band seen through the canopy.
    vegetation : solarkataster.vegetation.Vegetation, optional
        Transmissivities and leaf-on days.

    Returns
    -------
    list of pandas.DataFrame
        One per point, indexed by the steps' UTC midpoints: ``poa_global``, ``poa_beam``,
        ``poa_diffuse``, ``poa_reflected`` [W/m²] and ``sun_visible`` (bool).
    """
    hor = np.asarray(horizon_profile, float)
    n_sec = hor.shape[0]
    tilt = np.atleast_1d(np.asarray(surface_tilt, float))
    azi = np.atleast_1d(np.asarray(surface_azimuth, float))
    svf_all = irradiation(hor.astype(np.float32), tilt, azi, empty_sky(n_sec), albedo)
    svf_band = np.zeros(hor.shape[1])
    tau = np.ones(len(steps.time))
    if canopy is not None:
        if vegetation is None:
            raise ParameterError("canopy horizons need the vegetation (its transmissivity and leaf-on days)")
        top, low = (np.asarray(c, float) for c in canopy)
        opaque_veg = replace(vegetation, transmissivity=0.0, leaf_off_transmissivity=0.0)
        svf_clear = irradiation_from_codes(angles_to_codes(hor), tilt, azi, empty_sky(n_sec), albedo,
                                           canopy=(angles_to_codes(top), angles_to_codes(low)),
                                           vegetation=opaque_veg).sky_view_factor
        svf_band = svf_all.sky_view_factor - svf_clear
        tau = vegetation.transmissivity_on(steps.time.day_of_year.to_numpy()).astype(float)
    s = steps.sun_vectors()
    sec_w = 360.0 / n_sec
    # the horizons at each step's azimuth, linear between sectors
    f = steps.azimuth / sec_w
    k0 = np.floor(f).astype(int) % n_sec
    k1 = (k0 + 1) % n_sec
    w = f - np.floor(f)
    out = []
    for i in range(hor.shape[1]):
        n = tilt_azimuth_to_normal(tilt[i], azi[i])
        h = (1 - w) * hor[k0, i] + w * hor[k1, i]
        cos_aoi = s @ n
        visible = (steps.elevation > h) & (cos_aoi > 0) & (steps.apparent_zenith < 90)
        hb = _band_factor(hor[:, i], n)
        through = np.ones_like(tau)
        hb_band = 0.0
        if canopy is not None:
            hi = np.maximum((1 - w) * top[k0, i] + w * top[k1, i], h)
            lo0, lo1 = low[k0, i], low[k1, i]
            lo = np.where((lo0 >= 89.99) | (lo1 >= 89.99), np.minimum(lo0, lo1), (1 - w) * lo0 + w * lo1)
            inside = (steps.elevation >= np.maximum(lo, h)) & (steps.elevation < hi)
            through = np.where(inside, tau, 1.0)
            hb_band = _band_factor_canopy(hor[:, i], top[:, i], low[:, i], n)
        beam = np.where(visible, steps.dni * cos_aoi * through, 0.0)
        circ = np.where(visible, steps.circumsolar() * cos_aoi * through, 0.0)
        svf = svf_all.sky_view_factor[i] - (1.0 - tau) * svf_band[i]
        diffuse = circ + steps.dhi * (1 - steps.f1) * svf + steps.dhi * steps.f2 * (hb - (1.0 - tau) * hb_band)
        refl = albedo * steps.ghi * (1 - svf)
        out.append(pd.DataFrame({"poa_global": beam + diffuse + refl, "poa_beam": beam, "poa_diffuse": diffuse,
                                 "poa_reflected": refl, "sun_visible": visible}, index=steps.time))
    return out


def _band_factor_canopy(hor_deg, top_deg, low_deg, normal):
    """Share of the Perez horizon band seen through the canopy (to be attenuated), as :func:`_band_factor`."""
    n_sec = hor_deg.size
    phi = np.radians(np.arange(n_sec) * 360.0 / n_sec)
    proj = np.maximum(normal[0] * np.sin(phi) + normal[1] * np.cos(phi), 0.0)

    def vis(deg):
        t = np.tan(np.radians(np.clip(deg, -89.0, 89.0)))
        return np.clip(1.0 - np.maximum(t, 0.0) / np.tan(np.radians(HORIZON_BAND)), 0.0, 1.0)

    hi = np.maximum(top_deg, hor_deg)
    lo = np.maximum(low_deg, hor_deg)
    part = np.where(lo < hi, vis(lo) - vis(hi), 0.0)
    return float(np.sum(proj * part) * np.pi / n_sec)


def _band_factor(hor_deg, normal):
    """Visible share of the Perez horizon band for one surface (sin tilt when unobstructed).

    The band is hidden linearly in tan(horizon) as the horizon rises through its width, like the kernel.
    """
    n_sec = hor_deg.size
    phi = np.radians(np.arange(n_sec) * 360.0 / n_sec)
    proj = normal[0] * np.sin(phi) + normal[1] * np.cos(phi)
    t = np.tan(np.radians(np.clip(hor_deg, -89.0, 89.0)))
    vis = np.clip(1.0 - np.maximum(t, 0.0) / np.tan(np.radians(HORIZON_BAND)), 0.0, 1.0)
    return float(np.sum(np.maximum(proj, 0.0) * vis) * np.pi / n_sec + 0.0)


def empty_sky(n_sec):
    """Return a sky table with no sun and no sky light, for sky-view-factor-only evaluations.

    Parameters
    ----------
    n_sec : int
        Horizon sectors of the evaluation (kept for the call signature; the table has none).

    Returns
    -------
    SkyTable
    """
    zeros12 = np.zeros(12)
    nb = 8
    return SkyTable(azimuth_bins=nb, bin_start=np.zeros(nb + 1, np.int64), elevation=np.zeros(1),
                    beam_sum=np.zeros((1, 3)), month_sum=np.zeros((1, 12, 3)), bin_months=np.zeros((nb, 12), bool),
                    isotropic=zeros12, band=zeros12, ghi=zeros12)
