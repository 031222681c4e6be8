"""Numba kernel evaluating the sky table against each point's horizon profile. Private, no validation."""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange

INF = 1.0e30
OPEN_CODE = -32768  # horizon code: no terrain along the azimuth
MISSING_CODE = 32767  # horizon code: no data


#: Sky-table arrays the kernel reads, as built by :func:`solarkataster.irradiation._table_arrays`:
#: sector directions (``sec_sin``, ``sec_cos``), azimuth-bin centres (``bin_sin``, ``bin_cos``), steps per bin
#: (``bin_start``) by elevation (``tan_el``) with lookup grids (``grid``, ``grid_t0``, ``grid_dt``), the
#: beam suffix sums (``beam_sum``), compact monthly suffix sums (``month_list``, ``month_count``,
#: ``month_offset``, ``month_compact``), monthly isotropic, horizon-band and GHI sums and ``tan_lut``
#: (``tan_lut[c + 9000]`` is tan of horizon code ``c``).
SkyArrays = namedtuple("SkyArrays", ["tan_lut", "sec_sin", "sec_cos", "bin_sin", "bin_cos", "bin_start", "tan_el",
                                     "grid", "grid_t0", "grid_dt", "month_list", "month_count", "month_offset",
                                     "beam_sum", "month_compact", "iso", "band", "ghi"])


@njit(cache=True, nogil=True, parallel=True)
def evaluate(hor, nrm, sky, albedo, band_width, out_beam, out_month, out_refl, out_svf):
    """Annual beam, monthly global, annual reflected and sky view factor for each point.

    hor: (N, P) int16 horizon codes (hundredths of a degree, see solarkataster.horizon); nrm: (3, P) unit
    normals (east, north, up); sky: :data:`SkyArrays`, where ``month_compact`` holds, per bin from
    ``month_offset[b]``, one row of ``month_count[b] * 3`` suffix sums per step.
    """
    n_sec = hor.shape[0]
    n_pts = hor.shape[1]
    band_tan = math.tan(math.radians(band_width))
    chunk = 256
    n_chunks = (n_pts + chunk - 1) // chunk
    for ch in prange(n_chunks):
        macc = np.empty(12)
        tan_h = np.empty(n_sec + 1)
        for p in range(ch * chunk, min(n_pts, (ch + 1) * chunk)):
            _one(p, hor, nrm, sky, albedo, band_tan, macc, tan_h, out_beam, out_month, out_refl, out_svf)


@njit(cache=True, nogil=True)
def _one(p, hor, nrm, sky, albedo, band_tan, macc, tan_h, out_beam, out_month, out_refl, out_svf):
    """Evaluate point ``p`` (see :func:`evaluate`); ``macc`` (12) and ``tan_h`` (sectors + 1) are scratch."""
    n_sec = hor.shape[0]
    nx = nrm[0, p]
    ny = nrm[1, p]
    nz = nrm[2, p]
    if not np.isfinite(nx) or hor[0, p] == MISSING_CODE:  # missing data
        out_beam[p] = np.nan
        out_refl[p] = np.nan
        out_svf[p] = np.nan
        for m in range(12):
            out_month[m, p] = np.nan
        return
    cos_b = nz
    sin_b = math.sqrt(max(0.0, 1.0 - nz * nz))
    loss_v, loss_band = _horizon_losses(p, hor, sky, nx, ny, nz, band_tan, tan_h)
    svf = 0.5 * (1.0 + cos_b) - loss_v / n_sec
    hb = sin_b - loss_band * math.pi / n_sec
    out_svf[p] = svf
    beam = _beam_and_months(nx, ny, nz, tan_h, n_sec, sky, macc)
    refl = 0.0
    for m in range(12):
        r = albedo * sky.ghi[m] * (1.0 - svf)
        refl += r
        out_month[m, p] = max(macc[m], 0.0) + sky.iso[m] * svf + sky.band[m] * hb + r
    out_beam[p] = max(beam, 0.0)
    out_refl[p] = refl


@njit(cache=True, nogil=True, inline="always")
def _horizon_losses(p, hor, sky, nx, ny, nz, band_tan, tan_h):
    """Sky-view loss and horizon-band loss of point ``p`` summed over sectors; fills ``tan_h``.

    ``tan_h[k]`` is tan of the terrain horizon in sector k, ``tan_h[sectors]`` repeats sector 0.
    """
    n_sec = hor.shape[0]
    cos_b = nz
    loss_v = 0.0
    loss_band = 0.0
    for k in range(n_sec):
        code = hor[k, p]
        th = -INF if code == OPEN_CODE else sky.tan_lut[code + 9000]  # tan of the terrain horizon
        tan_h[k] = th
        proj = nx * sky.sec_sin[k] + ny * sky.sec_cos[k]  # sin(tilt) cos(phi - azimuth)
        # tan of the elevation where the plane cuts the sky in this direction, floored at horizontal
        if nz > 1e-12:
            free_t = max(-proj / nz, 0.0)
        else:
            free_t = 0.0 if proj > 0 else INF
        if free_t < INF and th > free_t:
            # loss of view factor: integrand cos(b) sin^2 H + proj (H - sin H cos H), H = zenith of the
            # sky limit, with sin^2 H = 1 / (1 + t^2) and sin H cos H = t / (1 + t^2) for t = tan(elev)
            if free_t == 0.0:
                f_free = cos_b + proj * 0.5 * math.pi
            else:
                q = 1.0 / (1.0 + free_t * free_t)
                f_free = cos_b * q + proj * (0.5 * math.pi - math.atan(free_t) - free_t * q)
            q = 1.0 / (1.0 + th * th)
            f_obs = cos_b * q + proj * (0.5 * math.pi - code * (math.pi / 18000.0) - th * q)
            loss_v += f_free - f_obs
        if proj > 0 and th > 0:
            vis = 1.0 - th / band_tan if th < band_tan else 0.0
            loss_band += proj * (1.0 - vis)
    tan_h[n_sec] = tan_h[0]  # wrap-around for the interpolation in _beam_and_months
    return loss_v, loss_band


@njit(cache=True, nogil=True, inline="always")
def _beam_and_months(nx, ny, nz, tan_h, n_sec, sky, macc):
    """Annual beam and circumsolar on the plane, bin by bin; the monthly sums go into ``macc``."""
    n_bins = sky.bin_start.shape[0] - 1
    n_grid = sky.grid.shape[1] - 1
    inv_nz = 1.0 / nz if nz > 1e-12 else 0.0
    beam = 0.0
    macc[:] = 0.0
    sec_width = n_bins / n_sec  # bins per sector
    for b in range(n_bins):
        a0 = sky.bin_start[b]
        a1 = sky.bin_start[b + 1]
        if a1 == a0:
            continue
        f = (b + 0.5) / sec_width
        k0 = int(f)
        w = f - k0
        k0 = k0 % n_sec
        t0 = tan_h[k0]
        t1 = tan_h[k0 + 1]
        if t0 <= -INF or t1 <= -INF:
            th = max(t0, t1)
        else:
            th = (1.0 - w) * t0 + w * t1
        proj = nx * sky.bin_sin[b] + ny * sky.bin_cos[b]
        if nz > 1e-12:
            tp = -proj * inv_nz
        else:
            tp = -INF if proj > 0 else INF
        t = max(th, tp)
        i = _first_lit_step(sky, b, a0, a1, t, n_grid)
        if i >= a1:
            continue
        beam += nx * sky.beam_sum[i, 0] + ny * sky.beam_sum[i, 1] + nz * sky.beam_sum[i, 2]
        k = sky.month_count[b]
        base = sky.month_offset[b] + (i - a0) * k * 3
        for q in range(k):
            j = base + 3 * q
            macc[sky.month_list[b, q]] += (nx * sky.month_compact[j] + ny * sky.month_compact[j + 1]
                                           + nz * sky.month_compact[j + 2])
    return beam


@njit(cache=True, nogil=True, inline="always")
def _first_lit_step(sky, b, a0, a1, t, n_grid):
    """First step of bin ``b`` (steps ``a0``..``a1``) whose sun is above tan-elevation ``t``; ``a1`` if none."""
    if t >= sky.tan_el[a1 - 1]:
        return a1
    if t < sky.tan_el[a0]:
        return a0
    g = int((t - sky.grid_t0[b]) / sky.grid_dt[b])
    if g >= n_grid:
        g = n_grid - 1
    i = sky.grid[b, g]
    while i < a1 and sky.tan_el[i] <= t:
        i += 1
    return i
