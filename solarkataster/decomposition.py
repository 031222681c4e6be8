"""Irradiance components from what weather records give: sun geometry over a record, DNI, decomposition.

Weather files give interval means. Some give global and diffuse horizontal (DWD TRY: direct horizontal B and
diffuse D), some only global. The engine needs the beam on the horizontal (``ghi - dhi``, authoritative for
energy) and, for plane-of-array models that take it, the direct normal irradiance. This module holds, once,
the three steps every caller uses:

* **Sun geometry over a record** (:func:`interval_mean_cos_zenith`, :func:`extraterrestrial_horizontal_max`,
  :func:`cos_zenith_solar_time`): Spencer's (1971) Fourier series for the declination, the equation of time
  and the eccentricity correction. They are accurate to ~0.05° in declination and ~30 s in time, ample for
  averages over an hour, and cost a few array operations per sample, where NREL SPA (used for the engine's
  sun steps, :func:`solarkataster.sky.solar_position`) costs 100x more. :func:`cos_zenith_solar_time` works
  in a *solar* time scale, which the DWD TRY 2010 reader needs to test which clock a file follows.
* **DNI from the horizontal beam** (:func:`dni_from_horizontal`): ``(ghi - dhi) / cos(zenith)`` with a zenith
  limit, beyond which the division only amplifies noise (pvlib's :func:`pvlib.irradiance.dni` applies the
  same idea at 88°), and a cap at the extraterrestrial DNI.
* **Decomposition** of global into diffuse and direct (:func:`complete_irradiance`): Erbs et al. (1982), or
  its continuous reformulation by Driesse et al. (2024), both through pvlib.

Cost: O(records x samples) array arithmetic; a year of hourly records with 10 samples takes ~20 ms.

References
----------
.. [1] Spencer, J. W. (1971). Fourier series representation of the position of the sun. Search 2(5), 172.
.. [2] Erbs, D. G., Klein, S. A., Duffie, J. A. (1982). Estimation of the diffuse radiation fraction for
   hourly, daily and monthly-average global radiation. Solar Energy 28(4), 293-302.
   https://doi.org/10.1016/0038-092X(82)90302-4
.. [3] Driesse, A., Jensen, A., Perez, R. (2024). A continuous form of the Perez diffuse sky model for
   forward and reverse transposition. Solar Energy 267, 112093. https://doi.org/10.1016/j.solener.2023.112093
.. [4] Kopp, G., Lean, J. L. (2011). A new, lower value of total solar irradiance: Evidence and climate
   significance. Geophysical Research Letters 38, L01706. https://doi.org/10.1029/2010GL045777
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from .errors import ParameterError

#: Total solar irradiance at 1 AU [W/m²] [4]_.
SOLAR_CONSTANT = 1361.1
#: No DNI is derived beyond this zenith [°] (cosine 0.052): dividing the horizontal beam by a smaller cosine
#: turns a few W/m² of measurement noise into hundreds of W/m² normal to the sun.
MAX_ZENITH = 87.0
DECOMPOSITION_MODELS = ("erbs", "erbs_driesse")


class Components(NamedTuple):
    """Horizontal diffuse and direct normal irradiance [W/m²] (arrays of the records' shape)."""

    dhi: np.ndarray
    dni: np.ndarray


# ---------------------------------------------------------------------------------------------------
# Sun geometry (Spencer 1971)
# ---------------------------------------------------------------------------------------------------

def equation_of_time(day_of_year):
    """Equation of time [min], true minus mean solar time, Spencer (1971) [1]_ through pvlib.

    Parameters
    ----------
    day_of_year : array_like
        Day of the year [1-366].

    Returns
    -------
    ndarray
        Equation of time [min].
    """
    import pvlib

    return pvlib.solarposition.equation_of_time_spencer71(np.asarray(day_of_year))


def dni_extra_spencer(day_of_year):
    """Extraterrestrial normal irradiance [W/m²]: solar constant times Spencer's eccentricity correction.

    Parameters
    ----------
    day_of_year : array_like
        Day of the year [1-366].

    Returns
    -------
    ndarray
        Extraterrestrial direct normal irradiance [W/m²], as
        ``pvlib.irradiance.get_extra_radiation(method='spencer', solar_constant=1361.1)``.
    """
    gamma = 2 * np.pi * (np.asarray(day_of_year) - 1) / 365.0
    return SOLAR_CONSTANT * (1.00011 + 0.034221 * np.cos(gamma) + 0.00128 * np.sin(gamma)
                             + 0.000719 * np.cos(2 * gamma) + 0.000077 * np.sin(2 * gamma))


def cos_zenith_solar_time(day_of_year, solar_time, latitude):
    """Cosine of the solar zenith from the day of year and true solar time; Spencer (1971) declination.

    Parameters
    ----------
    day_of_year : array_like
        Day of the year [1-366].
    solar_time : array_like
        True solar time [h], 12 = solar noon.
    latitude : float
        Site latitude [°].

    Returns
    -------
    ndarray
        cos(zenith) [-], negative with the sun below the horizon.
    """
    import pvlib

    decl = pvlib.solarposition.declination_spencer71(np.asarray(day_of_year))
    hour_angle = np.radians(15.0 * (np.asarray(solar_time) - 12.0))
    phi = math.radians(latitude)
    return math.sin(phi) * np.sin(decl) + math.cos(phi) * np.cos(decl) * np.cos(hour_angle)


def cos_zenith_utc(t_ns, latitude, longitude):
    """Cosine of the solar zenith and extraterrestrial normal irradiance at UTC instants.

    Parameters
    ----------
    t_ns : ndarray of int64
        UTC instants as nanoseconds since the epoch, any shape.
    latitude, longitude : float
        Site [°].

    Returns
    -------
    cos_zenith : ndarray
        [-], shape of ``t_ns``.
    dni_extra : ndarray
        [W/m²], shape of ``t_ns``.
    """
    t_ns = np.asarray(t_ns, dtype=np.int64)
    stamps = pd.DatetimeIndex(t_ns.ravel(), tz="UTC")
    doy = stamps.day_of_year.to_numpy().reshape(t_ns.shape)
    hours_utc = ((stamps - stamps.normalize()) / pd.Timedelta(hours=1)).to_numpy().reshape(t_ns.shape)
    solar_time = hours_utc + longitude / 15.0 + equation_of_time(doy) / 60.0
    return cos_zenith_solar_time(doy, solar_time, latitude), dni_extra_spencer(doy)


def _interval_samples(starts, interval, offsets):
    starts = pd.DatetimeIndex(starts)
    step = int(pd.Timedelta(interval) / pd.Timedelta(nanoseconds=1))
    return starts.as_unit("ns").asi8[:, None] + (np.asarray(offsets)[None, :] * step).astype(np.int64)


def interval_mean_cos_zenith(starts, interval, latitude, longitude, samples=10):
    """Mean of max(cos zenith, 0) over each record's interval, and its extraterrestrial normal irradiance.

    Parameters
    ----------
    starts : pandas.DatetimeIndex
        Interval starts (UTC).
    interval : pandas.Timedelta
        Record length.
    latitude, longitude : float
        Site [°].
    samples : int
        Equally spaced samples per interval (at their midpoints).

    Returns
    -------
    mean_cos : ndarray
        Interval mean of max(cos zenith, 0) [-]; the sun below the horizon counts as 0.
    dni_extra : ndarray
        Extraterrestrial normal irradiance of the record's day [W/m²].
    """
    t = _interval_samples(starts, interval, (np.arange(samples) + 0.5) / samples)
    cos_z, e0 = cos_zenith_utc(t, latitude, longitude)
    return np.clip(cos_z, 0.0, None).mean(axis=1), e0[:, 0]


def extraterrestrial_horizontal_max(starts, interval, latitude, longitude, samples=7):
    """Largest extraterrestrial horizontal irradiance [W/m²] within each record's interval.

    Parameters
    ----------
    starts : pandas.DatetimeIndex
        Interval starts (UTC).
    interval : pandas.Timedelta
        Record length.
    latitude, longitude : float
        Site [°].
    samples : int
        Samples per interval, both ends included.

    Returns
    -------
    ndarray
        [W/m²], an upper bound for a record's global horizontal irradiance (plus scattering margins).
    """
    t = _interval_samples(starts, interval, np.linspace(0.0, 1.0, samples))
    cos_z, e0 = cos_zenith_utc(t, latitude, longitude)
    return (np.clip(cos_z, 0.0, None) * e0).max(axis=1)


# ---------------------------------------------------------------------------------------------------
# DNI and decomposition
# ---------------------------------------------------------------------------------------------------

def dni_from_horizontal(ghi, dhi, solar_zenith, dni_extra=None, max_zenith=MAX_ZENITH):
    """Direct normal irradiance from the horizontal beam, ``(ghi - dhi) / cos(zenith)``.

    Parameters
    ----------
    ghi, dhi : array_like
        Global and diffuse horizontal irradiance [W/m²]. Negative beam (``dhi > ghi``) counts as 0.
    solar_zenith : array_like
        Solar zenith [°]. For interval means pass the zenith of the interval-mean cosine
        (:func:`interval_mean_cos_zenith`), which keeps the horizontal beam energy of the record.
    dni_extra : array_like, optional
        Extraterrestrial normal irradiance [W/m²], the cap; None for no cap.
    max_zenith : float
        Beyond this zenith [°] the DNI is 0 (the division amplifies noise near the horizon).

    Returns
    -------
    ndarray
        DNI [W/m²], finite and >= 0; 0 with the sun below ``max_zenith`` or below the horizon.

    Notes
    -----
    The beam that a zero DNI drops is small: at 87° the sun is 3° high, and DWD TRY records with an interval
    mean zenith beyond 87° hold 0.1 % of the annual horizontal beam. Callers that must keep the energy
    count it as diffuse (:func:`solarkataster.sky.sun_steps`).
    """
    ghi, dhi, zenith = np.broadcast_arrays(*(np.asarray(v, float) for v in (ghi, dhi, solar_zenith)))
    beam_h = np.clip(np.nan_to_num(ghi - dhi), 0.0, None)
    up = np.isfinite(zenith) & (zenith <= max_zenith) & (zenith < 90.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dni = np.where(up, beam_h / np.cos(np.radians(np.where(up, zenith, 0.0))), 0.0)
    if dni_extra is not None:
        dni = np.minimum(dni, np.asarray(dni_extra, float))
    return np.clip(np.nan_to_num(dni), 0.0, None)


def complete_irradiance(ghi, dhi, dni, solar_zenith, dni_extra, *, model="erbs_driesse", max_zenith=MAX_ZENITH):
    """Fill missing diffuse (decomposition of global) and missing DNI (from the horizontal beam).

    Parameters
    ----------
    ghi : array_like
        Global horizontal irradiance [W/m²], complete.
    dhi : array_like
        Diffuse horizontal irradiance [W/m²]; NaN where unknown, then estimated with ``model``.
    dni : array_like
        Direct normal irradiance [W/m²]; NaN where unknown, then :func:`dni_from_horizontal`. Where dhi is
        estimated, dni is derived too (a measured dni would disagree with an estimated dhi).
    solar_zenith : array_like
        Solar zenith [°] (of the interval-mean cosine for interval records).
    dni_extra : array_like
        Extraterrestrial normal irradiance [W/m²].
    model : {'erbs_driesse', 'erbs'}
        Decomposition model: the continuous form of Erbs et al. (1982) by Driesse et al. (2024) [3]_
        (pvlib.irradiance.erbs_driesse; default: no jumps in the diffuse fraction) or the original piecewise
        Erbs correlation [2]_.
    max_zenith : float
        Zenith limit [°] of the decomposition and of :func:`dni_from_horizontal`; beyond it the global
        irradiance is all diffuse.

    Returns
    -------
    Components
        ``dhi`` (0 <= dhi <= ghi where estimated) and ``dni`` [W/m²]; given values are kept.
    """
    import pvlib

    if model not in DECOMPOSITION_MODELS:
        raise ParameterError(f"decomposition model {model!r} is unknown: use one of {DECOMPOSITION_MODELS}")
    ghi, dhi, dni, zenith, dni_extra = np.broadcast_arrays(
        *(np.asarray(v, float) for v in (ghi, dhi, dni, solar_zenith, dni_extra)))
    estimate = ~np.isfinite(dhi)
    dhi = dhi.copy()
    if estimate.any():
        if model == "erbs":
            # pvlib's erbs computes its own dni_extra from a day of year; one solar constant here instead
            kt = pvlib.irradiance.clearness_index(ghi[estimate], zenith[estimate], dni_extra[estimate],
                                                  max_clearness_index=1.0)
            fraction = _erbs_diffuse_fraction(kt)
        else:
            part = pvlib.irradiance.erbs_driesse(ghi[estimate], zenith[estimate],
                                                 dni_extra=dni_extra[estimate], max_zenith=max_zenith)
            with np.errstate(divide="ignore", invalid="ignore"):
                fraction = np.where(ghi[estimate] > 0, np.asarray(part["dhi"], float) / ghi[estimate], 1.0)
        estimated = np.clip(np.nan_to_num(fraction, nan=1.0), 0.0, 1.0) * ghi[estimate]
        dhi[estimate] = np.where(zenith[estimate] > max_zenith, ghi[estimate], estimated)
    derive = ~np.isfinite(dni) | estimate
    dni = np.where(derive, dni_from_horizontal(ghi, dhi, zenith, dni_extra, max_zenith), dni)
    return Components(dhi=dhi, dni=dni)


def _erbs_diffuse_fraction(kt):
    """Erbs et al. (1982) [2]_ diffuse fraction of the clearness index (their eq. 1, as in pvlib.erbs)."""
    kt = np.asarray(kt, float)
    low = 1.0 - 0.09 * kt
    mid = 0.9511 - 0.1604 * kt + 4.388 * kt ** 2 - 16.638 * kt ** 3 + 12.336 * kt ** 4
    return np.where(kt <= 0.22, low, np.where(kt <= 0.80, mid, 0.165))
