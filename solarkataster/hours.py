"""Results per weather record onto whole UTC hours, for hourly outputs (profiles, ``point`` series, load).

A weather year's records start where the file's time basis puts them in UTC: whole UTC hours for most
formats, but a DWD TRY 2010 in true solar time starts its records -longitude/15 - EoT away from the hour (9 to
41 min past the UTC hour at Mannheim, moving through the year; :mod:`solarkataster.io.weather.solar_time`).
The engine keeps those exact intervals, because it integrates the sun positions within each record. Hourly
outputs that promise "time = start of the UTC hour" re-bin per-record results here: each record's share of a
UTC hour is the share of its interval that falls in that hour (values are taken as uniform within a record),
so energies are conserved exactly and interval means are time-weighted.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import ParameterError

#: One hour [ns].
_HOUR_NS = 3_600_000_000_000


def utc_hour_weights(starts, interval, *, year=None):
    """Return the share of each record's interval that falls in each whole UTC hour.

    Parameters
    ----------
    starts : pandas.DatetimeIndex
        Record interval starts (timezone-aware).
    interval : pandas.Timedelta
        Record length, at most one hour.
    year : int, optional
        Give the hours of this calendar year (UTC), 8760 or 8784 of them, with parts of records outside it
        wrapped around cyclically (a typical year's first and last hours, as
        :func:`solarkataster.io.weather.to_year` wraps records). Default: every hour touched by a record.

    Returns
    -------
    hours : pandas.DatetimeIndex
        Starts of the UTC hours (UTC).
    weights : scipy.sparse.csr_matrix, shape (records, hours)
        Share [0-1] of record ``i``'s interval inside hour ``j``; every row sums to 1.

    Raises
    ------
    ParameterError
        ``interval`` is not positive or longer than one hour.
    """
    from scipy import sparse

    length = int(pd.Timedelta(interval) / pd.Timedelta(nanoseconds=1))
    if not 0 < length <= _HOUR_NS:
        raise ParameterError(f"interval={interval}: records must last more than 0 and at most one hour")
    start = pd.DatetimeIndex(starts).tz_convert("UTC").as_unit("ns").asi8
    hour = start // _HOUR_NS
    first_share = (np.minimum(start + length, (hour + 1) * _HOUR_NS) - start) / length
    rows = np.concatenate([np.arange(start.size)] * 2)
    cols = np.concatenate([hour, hour + 1])
    data = np.concatenate([first_share, 1.0 - first_share])
    keep = data > 0
    rows, cols, data = rows[keep], cols[keep], data[keep]
    if year is None:
        origin, count = int(cols.min()), int(cols.max() - cols.min() + 1)
        cols = cols - origin
    else:
        first = pd.Timestamp(year=int(year), month=1, day=1, tz="UTC")
        origin = first.value // _HOUR_NS
        count = int((first.replace(year=int(year) + 1) - first) / pd.Timedelta(hours=1))
        cols = np.mod(cols - origin, count)
    hours = pd.DatetimeIndex((origin + np.arange(count)) * _HOUR_NS, tz="UTC")
    return hours, sparse.csr_matrix((data, (rows, cols)), shape=(start.size, count))


def to_utc_hours(values, starts, interval, *, quantity="energy", year=None):
    """Re-bin per-record values onto whole UTC hours.

    Parameters
    ----------
    values : array_like, shape (..., records)
        One value per record (last axis), e.g. a PV yield [kWh per record] or a mean irradiance [W/m²].
    starts : pandas.DatetimeIndex
        Record interval starts (timezone-aware), e.g. ``weather.data.index``.
    interval : pandas.Timedelta
        Record length (``weather.interval``), at most one hour.
    quantity : {'energy', 'mean'}
        'energy': amounts per record [e.g. kWh], split in proportion to time, so every total is kept.
        'mean': interval means [e.g. W/m²], time-weighted over the part of each hour that records cover
        (NaN where none does).
    year : int, optional
        Return exactly the hours of this calendar year, wrapping the ends (see :func:`utc_hour_weights`).

    Returns
    -------
    hours : pandas.DatetimeIndex
        Starts of the UTC hours.
    hourly : ndarray, shape (..., hours)
        The values per UTC hour, in the dtype of ``values`` when that is floating.

    Raises
    ------
    ParameterError
        Unknown ``quantity``, or an interval that is not positive or longer than one hour.

    Notes
    -----
    A sparse product over the records axis: about as fast as one pass over ``values`` when records are the
    first axis in memory. Re-binning is linear, so re-binning a yield table's hourly values once equals
    re-binning every face interpolated from it.
    """
    if quantity not in ("energy", "mean"):
        raise ParameterError(f"quantity={quantity!r}: use 'energy' or 'mean'")
    values = np.asarray(values)
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.dtype(float)
    hours, weights = utc_hour_weights(starts, interval, year=year)
    order = _whole_hour_order(weights)
    if order is not None and dtype in (np.float32, np.float64):
        # every record is one whole hour: the product only reorders (+ 0 as its sums turn -0 into 0)
        hourly = np.take(values.astype(dtype, copy=False), order, axis=-1)
        hourly += dtype.type(0)
        return hours, hourly
    by_record = np.moveaxis(values, -1, 0).reshape(values.shape[-1], -1).astype(dtype, copy=False)
    hourly = np.asarray(weights.T.tocsr().astype(dtype) @ by_record)
    if quantity == "mean":
        records_in_hour = np.asarray(weights.sum(axis=0)).ravel()  # time covered [record intervals]
        with np.errstate(invalid="ignore", divide="ignore"):
            hourly = np.where(records_in_hour[:, None] > 0, hourly / records_in_hour[:, None], np.nan)
    hourly = hourly.astype(dtype, copy=False).reshape((len(hours),) + values.shape[:-1])
    return hours, np.moveaxis(hourly, 0, -1)


def _whole_hour_order(weights):
    """Return the record of each hour when records and hours pair one to one (weights 1), else None."""
    records, count = weights.shape
    if records != count or not np.all(np.diff(weights.indptr) == 1) or not np.all(weights.data == 1.0):
        return None
    hour_of_record = weights.indices  # one entry per row (CSR, rows in order)
    if np.bincount(hour_of_record, minlength=count).max(initial=0) != 1:
        return None
    return np.argsort(hour_of_record)
