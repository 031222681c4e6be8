"""Sun and sky: sub-hourly sun positions, Perez sky components and the time-integrated sky table.

Everything that depends on the weather passes through here once. The result, a `SkyTable`, is compact
(a few MB) and is all the per-pixel evaluation needs, so a pixel's cost does not grow with the number
of time steps, and another weather year or month reuses the same horizons.

Beam and circumsolar irradiation use the exact sun positions of every time step: the steps are grouped
by solar azimuth bin and sorted by elevation, with suffix sums of the sun-vector-weighted irradiation.
For a surface with normal n and an effective horizon H in a bin (the higher of the terrain horizon and
the surface's own plane), the beam irradiation of the steps in that bin is n · S(first step above H).

References
----------
.. [1] Perez, R., Ineichen, P., Seals, R., Michalsky, J., & Stewart, R. (1990). Modeling daylight
   availability and irradiance components from direct and global irradiance. Solar Energy, 44(5),
   271-289. https://doi.org/10.1016/0038-092X(90)90055-H
.. [2] Ineichen, P., & Perez, R. (2002). A new airmass independent formulation for the Linke turbidity
   coefficient. Solar Energy, 73(3), 151-157. https://doi.org/10.1016/S0038-092X(02)00045-2
.. [3] Reda, I., & Andreas, A. (2004). Solar position algorithm for solar radiation applications.
   Solar Energy, 76(5), 577-589. https://doi.org/10.1016/j.solener.2003.12.003
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .decomposition import dni_from_horizontal
from .errors import ParameterError, check_range
from .weather import WeatherYear

log = logging.getLogger(__name__)

#: Solar azimuth bins of the sky table (3° wide; benchmarks/convergence.py: p99 error 0.7 % against 0.25° bins).
DEFAULT_AZIMUTH_BINS = 120
#: Bins for facades and points: few surfaces whose cost is the horizon march, often in street canyons
#: where the horizon changes fast with azimuth.
FINE_AZIMUTH_BINS = 360
#: Width of the Perez horizon band [°] used to shade it consistently with the terrain horizon
#: (Perez et al. 1986, Solar Energy 36(6), 481-497, https://doi.org/10.1016/0038-092X(86)90013-7).
HORIZON_BAND = 6.5
#: sun_steps places no beam in records whose interval-mean cos(zenith) is below 0.01 (89.43°); their
#: horizontal beam counts as diffuse.
PLACED_BEAM_MAX_ZENITH = float(np.degrees(np.arccos(0.01)))


def clear_sky_weather(latitude, longitude, altitude, year=2025, freq="10min", linke=None):
    """Build a clear-sky weather year from pvlib's Ineichen model.

    Parameters
    ----------
    latitude, longitude : float
        Site [°].
    altitude : float
        Site altitude [m].
    year : int
        Calendar year.
    freq : str
        Record length; values are taken at interval midpoints.
    linke : float, optional
        Constant Linke turbidity; default pvlib's monthly climatology at the site [2]_.

    Returns
    -------
    WeatherYear
    """
    import pvlib

    check_range("latitude", latitude, -90, 90, "°")
    if linke is not None:
        check_range("linke", linke, 1.0, 10.0)
    step = pd.Timedelta(freq)
    starts = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq=step, tz="UTC", inclusive="left")
    mid = starts + step / 2
    loc = pvlib.location.Location(latitude, longitude, altitude=altitude, tz="UTC")
    kwargs = {} if linke is None else {"linke_turbidity": linke}
    zen, azi = solar_position(mid, latitude, longitude, altitude)
    sp = pd.DataFrame({"apparent_zenith": zen, "zenith": zen, "apparent_elevation": 90.0 - zen,
                       "elevation": 90.0 - zen, "azimuth": azi}, index=mid)
    cs = loc.get_clearsky(mid, model="ineichen", solar_position=sp, **kwargs)
    data = pd.DataFrame({"ghi": cs["ghi"].to_numpy(), "dni": cs["dni"].to_numpy(),
                         "dhi": cs["dhi"].to_numpy(), "temp_air": 12.0, "wind_speed": 1.0}, index=starts)
    linke_txt = f"constant {linke}" if linke is not None else "pvlib monthly climatology"
    return WeatherYear(data, step, {
        "name": "clear-sky", "model": "ineichen", "linke_turbidity": linke_txt,
        "latitude": latitude, "longitude": longitude, "elevation": altitude,
        "period": f"{starts[0].isoformat()} / {(starts[-1] + step).isoformat()}",
        "time_convention": "interval start UTC, values at interval midpoints"})


_SOLPOS_CACHE = {}


def solar_position(times, latitude, longitude, altitude):
    """Apparent zenith and azimuth from NREL SPA [3]_ (pvlib), memoised for the last few requests.

    Clear-sky weather and its sun steps ask for the same instants; the cache answers the second time.

    Parameters
    ----------
    times : pandas.DatetimeIndex
        Timezone-aware instants.
    latitude, longitude : float
        Site [°], WGS 84.
    altitude : float
        Site altitude [m].

    Returns
    -------
    apparent_zenith, azimuth : ndarray
        Apparent (refracted) solar zenith [°] and azimuth [°], clockwise from north.
    """
    import pvlib

    key = (times[0].value, times[-1].value, len(times), round(latitude, 9), round(longitude, 9),
           round(float(altitude), 3))
    hit = _SOLPOS_CACHE.get(key)
    if hit is None:
        sp = pvlib.solarposition.get_solarposition(times, latitude, longitude, altitude=altitude)
        hit = (sp["apparent_zenith"].to_numpy(), sp["azimuth"].to_numpy())
        if len(_SOLPOS_CACHE) > 4:
            _SOLPOS_CACHE.clear()
        _SOLPOS_CACHE[key] = hit
    return hit


@dataclass(frozen=True)
class SunSteps:
    """Irradiance and sun geometry at sub-hourly steps (arrays of equal length, one per step).

    ``weight`` is the duration each step stands for [h]; ``month`` is 0..11 (UTC).
    """

    time: pd.DatetimeIndex
    weight: np.ndarray
    apparent_zenith: np.ndarray
    azimuth: np.ndarray
    dni: np.ndarray
    dhi: np.ndarray
    ghi: np.ndarray
    f1: np.ndarray
    f2: np.ndarray
    month: np.ndarray
    record: np.ndarray  # index of the weather record each step belongs to

    @property
    def elevation(self):
        """Apparent solar elevation [°] of each step."""
        return 90.0 - self.apparent_zenith

    def sun_vectors(self):
        """Return unit vectors towards the sun, (east, north, up), shape (n, 3)."""
        el = np.radians(self.elevation)
        az = np.radians(self.azimuth)
        return np.stack([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)], axis=1)

    def circumsolar(self):
        """Perez circumsolar irradiance as a beam-like normal irradiance [W/m²]: DHI F1 / max(cos Z, cos 85°)."""
        b = np.maximum(np.cos(np.radians(self.apparent_zenith)), np.cos(np.radians(85.0)))
        return self.dhi * self.f1 / b


def sun_steps(weather, latitude, longitude, altitude, step_minutes=10, model="perez"):
    """Split weather records into sub-steps with their own sun positions and Perez coefficients.

    Each record's horizontal beam irradiation, ``ghi - dhi``, is distributed over its sub-steps in
    proportion to cos(zenith), so that hourly energy is preserved on a horizontal plane while tilted
    planes see the sun where it really was within the hour. DNI is capped at the extraterrestrial
    value; beam that cannot be placed (sun below ~0.5° for the whole interval) is counted as diffuse.

    Parameters
    ----------
    weather : WeatherYear
    latitude, longitude : float
        Site [°].
    altitude : float
        Site altitude [m].
    step_minutes : float
        Longest sub-step [min]; each record gets ``ceil(interval / step)`` equal sub-steps with sun
        positions at their midpoints (NREL SPA [3]_ through pvlib).
    model : {'perez', 'isotropic'}
        Diffuse sky model. 'perez' uses pvlib's 'allsitescomposite1990' coefficients [1]_.

    Returns
    -------
    SunSteps
    """
    import pvlib

    if model not in ("perez", "isotropic"):
        raise ParameterError(f"sky model {model!r} is unknown: use 'perez' or 'isotropic'")
    step_minutes = check_range("step", step_minutes, 0.5, 60, " min")
    data = weather.data
    interval = weather.interval
    n_sub = max(1, int(np.ceil(interval / pd.Timedelta(minutes=step_minutes) - 1e-9)))
    sub = interval / n_sub
    starts = data.index
    offsets = np.array([(i + 0.5) * sub for i in range(n_sub)], dtype="timedelta64[ns]")
    base = starts.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[ns]")
    times = pd.DatetimeIndex((base[:, None] + offsets[None, :]).ravel()).tz_localize("UTC")
    zen, azi = solar_position(times, latitude, longitude, altitude)
    cosz = np.cos(np.radians(zen)).reshape(-1, n_sub)
    cosz_pos = np.maximum(cosz, 0.0)

    ghi_rec = data["ghi"].to_numpy(float)
    dhi_rec = data["dhi"].to_numpy(float)
    beam_h = np.maximum(np.nan_to_num(ghi_rec - dhi_rec), 0.0)
    dni_extra = pvlib.irradiance.get_extra_radiation(times).to_numpy().reshape(-1, n_sub)
    mean_cos = cosz_pos.mean(axis=1)
    # the record's DNI at the zenith of its mean cosine keeps its horizontal beam; none below ~0.6° mean
    # elevation (cos 0.01), where it would be placed on a few sub-steps at the horizon
    record_dni = dni_from_horizontal(ghi_rec, dhi_rec, np.degrees(np.arccos(mean_cos)), None,
                                     max_zenith=PLACED_BEAM_MAX_ZENITH)
    dni = np.where(cosz_pos > 0, np.minimum(record_dni[:, None], dni_extra), 0.0)
    placed = (dni * cosz_pos).mean(axis=1)
    dhi = np.maximum(np.nan_to_num(dhi_rec), 0.0) + (beam_h - placed)  # unplaced beam -> diffuse
    dhi = np.repeat(dhi, n_sub)
    dni = dni.ravel()
    ghi = dhi + dni * cosz_pos.ravel()

    f1 = np.zeros_like(dni)
    f2 = np.zeros_like(dni)
    if model == "perez":
        up = (zen < 90.0) & (dhi > 0)
        if up.any():
            am = pvlib.atmosphere.get_relative_airmass(zen[up])
            comp = pvlib.irradiance.perez(90.0, azi[up], dhi[up], dni[up], dni_extra.ravel()[up], zen[up],
                                          azi[up], am, return_components=True)
            iso = np.asarray(comp["poa_isotropic"])
            hor = np.asarray(comp["poa_horizon"])
            with np.errstate(divide="ignore", invalid="ignore"):
                f1[up] = np.nan_to_num(1.0 - 2.0 * iso / dhi[up])
                f2[up] = np.nan_to_num(hor / dhi[up])
            # pvlib zeroes all components where its total is zero: treat those steps as isotropic
            zeroed = (iso == 0) & (hor == 0)
            f1[np.flatnonzero(up)[zeroed]] = 0.0
            f2[np.flatnonzero(up)[zeroed]] = 0.0
    hours = sub / pd.Timedelta(hours=1)
    return SunSteps(time=times, weight=np.full(dni.size, hours), apparent_zenith=zen, azimuth=azi,
                    dni=dni, dhi=dhi, ghi=ghi, f1=f1, f2=f2, month=(times.month.to_numpy() - 1),
                    record=np.repeat(np.arange(len(data)), n_sub))


@dataclass(frozen=True)
class SkyTable:
    """Time-integrated sun and sky, everything the per-pixel evaluation needs.

    Beam part (per solar-azimuth bin b, steps sorted by elevation in ``bin_start[b]:bin_start[b+1]``):
    ``elevation`` [°] and suffix sums ``beam_sum`` (n, 3) and ``month_sum`` (n, 12, 3) of
    irradiation x sun vector [kWh/m²] for beam alone and for beam + circumsolar by month.
    Diffuse part, per month [kWh/m²]: ``isotropic`` (DHI (1 - F1)), ``band`` (DHI F2, the horizon band
    on a vertical plane) and ``ghi`` (for ground reflection).
    ``season``: None, or (for vegetation) the leaf-on part of the sums, a dict with ``leaf_on`` (first and
    last day of year), ``beam_sum``, ``month_sum``, ``isotropic``, ``band`` and ``ghi`` shaped as above;
    the leaf-off part is the total minus it.
    """

    azimuth_bins: int
    bin_start: np.ndarray
    elevation: np.ndarray
    beam_sum: np.ndarray
    month_sum: np.ndarray
    bin_months: np.ndarray  # (bins, 12) bool: months with steps in the bin
    isotropic: np.ndarray
    band: np.ndarray
    ghi: np.ndarray
    info: dict = field(default_factory=dict)
    season: dict | None = None

    @property
    def nbytes(self):
        """Memory held by the table's arrays [bytes]."""
        return sum(a.nbytes for a in (self.bin_start, self.elevation, self.beam_sum, self.month_sum))


def sky_table(steps, azimuth_bins=DEFAULT_AZIMUTH_BINS, leaf_on=None):
    """Integrate sub-steps into a `SkyTable`.

    Parameters
    ----------
    steps : SunSteps
    azimuth_bins : int
        Number of solar azimuth bins; the terrain and plane horizons are evaluated at bin centres.
    leaf_on : (int, int), optional
        First and last day of year with leaves (UTC days; ``first > last`` wraps over the new year): the
        table then also carries the leaf-on part of its sums (``season``), so that a canopy's seasonal
        transmissivity costs no more per pixel than one more suffix sum.

    Returns
    -------
    SkyTable
    """
    azimuth_bins = int(check_range("azimuth_bins", azimuth_bins, 8, 7200))
    w = steps.weight / 1000.0  # W h -> kWh
    s = steps.sun_vectors()
    beam = steps.dni * w
    circ = steps.circumsolar() * w
    sun = (beam + circ) > 0
    idx = np.flatnonzero(sun)
    b = np.minimum((steps.azimuth[idx] / 360.0 * azimuth_bins).astype(np.int64), azimuth_bins - 1)
    el = steps.elevation[idx]
    order = np.lexsort((el, b))
    idx, b, el = idx[order], b[order], el[order]
    bin_start = np.searchsorted(b, np.arange(azimuth_bins + 1)).astype(np.int64)
    beam_vec = beam[idx, None] * s[idx]
    month_vec = np.zeros((idx.size, 12, 3))
    month_vec[np.arange(idx.size), steps.month[idx]] = (beam[idx] + circ[idx])[:, None] * s[idx]
    # suffix sums within each bin: reverse cumulative sum minus the sum of the following bins
    beam_sum = _suffix_by_bin(beam_vec, bin_start)
    month_sum = _suffix_by_bin(month_vec, bin_start)
    bin_months = np.zeros((azimuth_bins, 12), bool)
    bin_months[b, steps.month[idx]] = True

    def monthly(values):
        return np.bincount(steps.month, weights=values * w, minlength=12)

    season = None
    if leaf_on is not None:
        from .vegetation import leaf_on_days

        on = leaf_on_days(steps.time.day_of_year.to_numpy(), leaf_on)
        on_sel = on[idx].astype(float)
        season = {"leaf_on": (int(leaf_on[0]), int(leaf_on[1])),
                  "beam_sum": np.ascontiguousarray(_suffix_by_bin(beam_vec * on_sel[:, None], bin_start),
                                                   np.float32),
                  "month_sum": np.ascontiguousarray(_suffix_by_bin(month_vec * on_sel[:, None, None], bin_start),
                                                    np.float32),
                  "isotropic": monthly(steps.dhi * (1.0 - steps.f1) * on), "band": monthly(steps.dhi * steps.f2 * on),
                  "ghi": monthly(steps.ghi * on)}

    return SkyTable(
        azimuth_bins=azimuth_bins, bin_start=bin_start, elevation=np.ascontiguousarray(el, np.float64),
        beam_sum=np.ascontiguousarray(beam_sum, np.float32), month_sum=np.ascontiguousarray(month_sum, np.float32),
        bin_months=bin_months,
        isotropic=monthly(steps.dhi * (1.0 - steps.f1)), band=monthly(steps.dhi * steps.f2),
        ghi=monthly(steps.ghi),
        info={"steps": int(steps.weight.size), "sun_steps": int(idx.size),
              "period": f"{steps.time[0].isoformat()} / {steps.time[-1].isoformat()}"},
        season=season)


def _suffix_by_bin(values, bin_start):
    """Suffix sums of ``values`` (rows) restricted to each bin's slice."""
    total = np.cumsum(values[::-1], axis=0)[::-1]  # suffix over all rows
    out = np.empty_like(values)
    nb = bin_start.size - 1
    for k in range(nb):
        a, e = bin_start[k], bin_start[k + 1]
        if e > a:
            after = total[e] if e < values.shape[0] else 0.0
            out[a:e] = total[a:e] - after
    return out
