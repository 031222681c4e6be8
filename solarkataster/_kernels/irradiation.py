"""Numba kernel evaluating the sky table against each point's horizon profile. Private, no validation."""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

INF = 1.0e30
OPEN_CODE = -32768  # horizon code: no terrain along the azimuth
MISSING_CODE = 32767  # horizon code: no data


@njit(cache=True, nogil=True, parallel=True)
def evaluate(hor, tan_lut, nrm, sec_sin, sec_cos, bin_sin, bin_cos, bin_start, tan_el, grid, grid_t0, grid_dt,
             month_list, month_count, month_offset, beam_sum, month_compact, iso, band, ghi, albedo, band_width,
             out_beam, out_month, out_refl, out_svf):
    """Annual beam, monthly global, annual reflected and sky view factor for each point.

    hor: (N, P) int16 horizon codes (hundredths of a degree, see solarkataster.horizon); tan_lut[c + 9000]
    is tan of code c; nrm: (3, P) unit normals (east, north, up).
    Sky table arrays as built by :func:`solarkataster.irradiation._table_arrays`; ``month_compact`` holds,
    per bin from ``month_offset[b]``, one row of ``month_count[b] * 3`` suffix sums per step.
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
            _one(p, hor, tan_lut, nrm, sec_sin, sec_cos, bin_sin, bin_cos, bin_start, tan_el, grid, grid_t0,
                 grid_dt, month_list, month_count, month_offset, beam_sum, month_compact, iso, band, ghi, albedo,
                 band_tan, macc, tan_h, out_beam, out_month, out_refl, out_svf)


@njit(cache=True, nogil=True)
def _one(p, hor, tan_lut, nrm, sec_sin, sec_cos, bin_sin, bin_cos, bin_start, tan_el, grid, grid_t0, grid_dt,
         month_list, month_count, month_offset, beam_sum, month_compact, iso, band, ghi, albedo, band_tan, macc,
         tan_h, out_beam, out_month, out_refl, out_svf):
    """Evaluate point ``p`` (see :func:`evaluate`); ``macc`` (12) and ``tan_h`` (sectors + 1) are scratch."""
    n_sec = hor.shape[0]
    n_bins = bin_start.shape[0] - 1
    n_grid = grid.shape[1] - 1
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
    loss_v = 0.0
    loss_band = 0.0
    for k in range(n_sec):
        code = hor[k, p]
        th = -INF if code == OPEN_CODE else tan_lut[code + 9000]  # tan of the terrain horizon
        tan_h[k] = th
        proj = nx * sec_sin[k] + ny * sec_cos[k]  # sin(tilt) cos(phi - azimuth)
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
    tan_h[n_sec] = tan_h[0]  # wrap-around for the interpolation below
    inv_nz = 1.0 / nz if nz > 1e-12 else 0.0
    svf = 0.5 * (1.0 + cos_b) - loss_v / n_sec
    hb = sin_b - loss_band * math.pi / n_sec
    out_svf[p] = svf
    # beam and circumsolar, bin by bin
    beam = 0.0
    macc[:] = 0.0
    sec_width = n_bins / n_sec  # bins per sector
    for b in range(n_bins):
        a0 = bin_start[b]
        a1 = bin_start[b + 1]
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
        proj = nx * bin_sin[b] + ny * bin_cos[b]
        if nz > 1e-12:
            tp = -proj * inv_nz
        else:
            tp = -INF if proj > 0 else INF
        t = max(th, tp)
        if t >= tan_el[a1 - 1]:
            continue
        if t < tan_el[a0]:
            i = a0
        else:
            g = int((t - grid_t0[b]) / grid_dt[b])
            if g >= n_grid:
                g = n_grid - 1
            i = grid[b, g]
            while i < a1 and tan_el[i] <= t:
                i += 1
            if i >= a1:
                continue
        beam += nx * beam_sum[i, 0] + ny * beam_sum[i, 1] + nz * beam_sum[i, 2]
        k = month_count[b]
        base = month_offset[b] + (i - a0) * k * 3
        for q in range(k):
            j = base + 3 * q
            macc[month_list[b, q]] += (nx * month_compact[j] + ny * month_compact[j + 1]
                                       + nz * month_compact[j + 2])
    refl = 0.0
    for m in range(12):
        r = albedo * ghi[m] * (1.0 - svf)
        refl += r
        out_month[m, p] = max(macc[m], 0.0) + iso[m] * svf + band[m] * hb + r
    out_beam[p] = max(beam, 0.0)
    out_refl[p] = refl
