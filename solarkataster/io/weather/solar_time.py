"""Solar time scales of DWD TRY 2010 files: which one a file follows, and the exact conversion to UTC.

Which clock do the radiation values follow?
-------------------------------------------
The TRY 2010 header says "Stunde (MEZ)", but DWD keeps hourly radiation in true solar time (wahre Ortszeit,
WOZ): its hourly solar station series carry, beside the UTC stamp, ``MESS_DATUM_WOZ``, a whole hour of true
solar time whose UTC instant moves by the longitude correction plus the equation of time (DWD Climate Data
Center, hourly solar data set description; documented by the wetterdienst project, PR #1824). demandlib,
which ships the files, reads only temperature and cloud cover and says nothing about their clock; the TRY
handbook (BBR/DWD 2011, updated 2014) describes the format but not the radiation's time basis.

We tested the files themselves on the two regions in ``shared/validation/dwd-try2010`` by comparing the
irradiance-weighted centroid of (B + D) over the hour labels of each day (label HH counted at HH - 0.5 h) with
the centroid the same hours would have for extraterrestrial irradiance under each candidate convention
(computed at 1-min resolution, so the hourly discretisation cancels). Residuals [min], mean over all 365
days; rms and slope of the residual against -EoT over clear days (B/(B+D) > 0.5):

=====================================  ============================  ===========================
candidate (hour-ending unless noted)   Mannheim, region 12, IK = 1    Bad Marienberg, region 6,
                                       (measured B, D), 112 clear     IK = 9, 32 clear days
=====================================  ============================  ===========================
MEZ (the header's claim)               -24.7; rms 34.7; slope -1.06  -26.8; rms 30.8; slope 0.11
hour-beginning MEZ                     +35.3; rms 35.3               +33.2; rms 29.4
true solar time (TST)                  +1.1; rms 16.3; slope -0.06   +1.4; rms 9.8; slope 1.11
mean solar time (LMT, no EoT)          +1.3; rms 18.4; slope -1.06   +1.2; rms 3.6; slope 0.11
=====================================  ============================  ===========================

Mannheim's daily centroid sits at true solar noon (mean offset 1 min; no seasonal equation-of-time signal,
slope ≈ 0 where MEZ and LMT predict -1), so the measured data are hour-ending in true solar time. The
region-6 file (radiation flagged IK = 9 throughout, i.e. not the measured series) is 27 min off MEZ too, but
*does* follow the clock seasonally: it is hour-ending in mean solar time (equivalently, at 7.97° E, centred on
the MEZ hour). Both readings are 25-30 min away from the header's MEZ. :func:`detect_time_basis` therefore
chooses, per file, the candidate (TST, LMT, MEZ) with the smallest clear-day rms residual when the file has at
least :data:`MIN_CLEAR_DAYS` clear days, and TST (the measured case) otherwise.

Exact conversion
----------------
MEZ -> UTC subtracts 1 h and LMT -> UTC subtracts longitude/15 h; both keep a regular hourly index. TST
hour boundaries are instants at which the sun's hour angle is a whole multiple of 15°, so
:func:`true_solar_to_utc` solves ``utc = tst - longitude/15 h - EoT(utc)`` with the equation of time of the
same solar-position algorithm the engine uses for its sun positions (NREL SPA through
:func:`pvlib.solarposition.get_solarposition`; Reda & Andreas 2004, https://doi.org/10.1016/j.solener.2003.12.003),
evaluated at the instant itself, not once per day: the label TST 12:00 falls on SPA's solar transit. The
fixed point converges in two iterations (EoT changes by under 30 s per day). The resulting interval starts
are rounded to whole seconds and lie -lon/15 - EoT away from the TST hour, 9 to 41 min past the UTC hour at
Mannheim; consecutive starts are 1 h apart within ±2 s (EoT drift and rounding), so each record spans
``start .. start + 1 h`` as the engine assumes. Hourly outputs on whole UTC hours come from
:func:`solarkataster.io.weather.to_utc_hours`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...decomposition import cos_zenith_solar_time, equation_of_time

#: Time scales a TRY 2010 file may follow, in order of preference.
TIME_BASES = ("true solar time", "mean solar time", "MEZ")
#: Fewer clear days than this leave the detection to its default, true solar time (the measured case).
MIN_CLEAR_DAYS = 20
#: A day is clear when its global sum exceeds this [Wh/m²] and beam is more than half of global.
CLEAR_DAY_MIN_GLOBAL = 500.0
#: Fixed-point iterations of :func:`true_solar_to_utc` (two reach a millisecond).
_TST_ITERATIONS = 3
#: Spacing of the instants at which :func:`true_solar_to_utc` evaluates SPA's equation of time.
_EOT_GRID = "6h"


def true_solar_to_utc(true_solar, latitude, longitude):
    """Convert instants of true (apparent) solar time at a longitude into UTC, exactly.

    Parameters
    ----------
    true_solar : pandas.DatetimeIndex
        Naive instants in true solar time of the site (12:00 = solar transit).
    latitude, longitude : float
        Site [°] (east positive). The latitude only feeds the solar-position call; it does not change the
        equation of time.

    Returns
    -------
    pandas.DatetimeIndex
        UTC instants, rounded to whole seconds.

    Notes
    -----
    Solves ``utc = tst - longitude / 15 h - EoT(utc)`` by fixed-point iteration, EoT [min] from NREL's SPA
    [1]_ as returned by :func:`pvlib.solarposition.get_solarposition` (the engine's sun positions), evaluated
    every 6 h and interpolated linearly (error under 0.01 s).

    References
    ----------
    .. [1] I. Reda and A. Andreas, "Solar position algorithm for solar radiation applications", Solar Energy
       76(5), 577-589 (2004), https://doi.org/10.1016/j.solener.2003.12.003.
    """
    import pvlib

    tst = pd.DatetimeIndex(true_solar)
    mean_solar = tst - pd.Timedelta(hours=longitude / 15.0)
    # SPA's EoT on a coarse grid, interpolated: EoT'' < 0.02 min/day², so the error is under 0.01 s
    grid = pd.date_range(mean_solar.min().floor("D") - pd.Timedelta(days=1),
                         mean_solar.max().ceil("D") + pd.Timedelta(days=1), freq=_EOT_GRID)
    eot_grid = pvlib.solarposition.get_solarposition(grid.tz_localize("UTC"), latitude, longitude,
                                                     method="nrel_numpy")["equation_of_time"].to_numpy()
    grid_ns = grid.as_unit("ns").asi8
    utc = mean_solar
    for _ in range(_TST_ITERATIONS):
        eot = np.interp(utc.as_unit("ns").asi8, grid_ns, eot_grid)
        utc = mean_solar - pd.to_timedelta(eot, unit="min")
    return pd.DatetimeIndex(utc).tz_localize("UTC").round("s")


def labels_to_utc(basis, label_start, latitude, longitude):
    """Return the UTC interval starts of naive label starts in one of :data:`TIME_BASES`.

    Parameters
    ----------
    basis : {'true solar time', 'mean solar time', 'MEZ'}
        Time scale of the labels.
    label_start : pandas.DatetimeIndex
        Naive interval starts in that scale.
    latitude, longitude : float
        Station [°].

    Returns
    -------
    pandas.DatetimeIndex
        UTC interval starts (whole seconds).
    """
    label_start = pd.DatetimeIndex(label_start)
    if basis == "true solar time":
        return true_solar_to_utc(label_start, latitude, longitude)
    shift = pd.Timedelta(hours=1) if basis == "MEZ" else pd.Timedelta(hours=longitude / 15.0)
    return (label_start - shift).tz_localize("UTC").round("s")


def detect_time_basis(month, day, hour, beam_h, diffuse_h, latitude, longitude, year):
    """Pick the time scale whose clear-day irradiance centroids best match the data (module docstring).

    Parameters
    ----------
    month, day, hour : ndarray of int
        Hour-ending labels (hour 1..24).
    beam_h, diffuse_h : ndarray
        Direct and diffuse horizontal irradiance [W/m²] (NaN where missing).
    latitude, longitude : float
        Station [°].
    year : int
        Year of the labels (for the day of year).

    Returns
    -------
    basis : str
        One of :data:`TIME_BASES`.
    rms : dict
        Clear-day rms residual [min] of each candidate; empty with fewer than :data:`MIN_CLEAR_DAYS` clear
        days (then the basis is true solar time).
    """
    global_h = beam_h + diffuse_h  # a day with a missing value is never clear (NaN sums)
    days, inverse = np.unique(month * 100 + day, return_inverse=True)
    g_sum = np.bincount(inverse, global_h)
    b_sum = np.bincount(inverse, beam_h)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = np.bincount(inverse, global_h * (hour - 0.5)) / g_sum
    clear = (g_sum > CLEAR_DAY_MIN_GLOBAL) & (b_sum > 0.5 * g_sum)
    if clear.sum() < MIN_CLEAR_DAYS:
        return "true solar time", {}
    doy = pd.to_datetime(pd.DataFrame({"year": year, "month": days // 100,
                                       "day": days % 100})).dt.day_of_year.to_numpy()[clear]
    # extraterrestrial horizontal irradiance on a 1-min UTC grid, days x minutes (Spencer's EoT suffices
    # for a classifier whose candidates are 25 min apart)
    t_utc = (np.arange(1440) + 0.5) / 60.0
    eot_h = equation_of_time(doy) / 60.0
    tst = t_utc[None, :] + longitude / 15.0 + eot_h[:, None]
    etr = np.clip(cos_zenith_solar_time(doy[:, None], tst, latitude), 0.0, None)
    shifts = {"true solar time": -longitude / 15.0 - eot_h, "mean solar time": np.full(doy.shape, -longitude / 15.0),
              "MEZ": np.full(doy.shape, -1.0)}  # UTC = label + shift [h]
    rms = {}
    for basis in TIME_BASES:
        centre = np.floor(t_utc[None, :] - shifts[basis][:, None]) + 0.5
        expected = (etr * centre).sum(1) / etr.sum(1)
        residual = (centroid[clear] - expected) * 60.0
        rms[basis] = float(np.sqrt(np.mean(residual ** 2)))
    return min(rms, key=rms.get), rms
