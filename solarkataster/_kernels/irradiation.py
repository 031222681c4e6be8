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


CHUNK = 128  # points per block: a bin's table rows are reused by all of them while in cache


@njit(cache=True, nogil=True, parallel=True)
def evaluate(hor, nrm, sky, albedo, band_width, out_beam, out_month, out_refl, out_svf):
    """Annual beam, monthly global, annual reflected and sky view factor for each point.

    hor: (N, P) int16 horizon codes (hundredths of a degree, see solarkataster.horizon); nrm: (3, P) unit
    normals (east, north, up); sky: :data:`SkyArrays`, where ``month_compact`` holds, per bin from
    ``month_offset[b]``, one row of ``month_count[b] * 3`` suffix sums per step. Points go in blocks of
    :data:`CHUNK`, bin by bin within a block (:func:`_beam_and_months_block`), so each bin's suffix rows
    are read from cache by the whole block; every point's sums keep the bin order of a point-by-point loop.
    """
    n_sec = hor.shape[0]
    n_pts = hor.shape[1]
    band_tan = math.tan(math.radians(band_width))
    n_chunks = (n_pts + CHUNK - 1) // CHUNK
    for ch in prange(n_chunks):
        p0 = ch * CHUNK
        m = min(n_pts, p0 + CHUNK) - p0
        tan_h = np.empty((m, n_sec + 1))
        macc = np.empty((m, 12))
        beam = np.empty(m)
        svf = np.empty(m)
        hb = np.empty(m)
        valid = np.empty(m, np.bool_)
        for q in range(m):
            p = p0 + q
            nz = nrm[2, p]
            valid[q] = np.isfinite(nrm[0, p]) and hor[0, p] != MISSING_CODE
            if not valid[q]:
                continue
            loss_v, loss_band = _horizon_losses(p, hor, sky, nrm[0, p], nrm[1, p], nz, band_tan, tan_h[q])
            svf[q] = 0.5 * (1.0 + nz) - loss_v / n_sec
            hb[q] = math.sqrt(max(0.0, 1.0 - nz * nz)) - loss_band * math.pi / n_sec
        _beam_and_months_block(nrm, p0, m, valid, tan_h, n_sec, sky, beam, macc)
        for q in range(m):
            p = p0 + q
            if not valid[q]:  # missing data
                out_beam[p] = np.nan
                out_refl[p] = np.nan
                out_svf[p] = np.nan
                for mo in range(12):
                    out_month[mo, p] = np.nan
                continue
            refl = 0.0
            for mo in range(12):
                r = albedo * sky.ghi[mo] * (1.0 - svf[q])
                refl += r
                out_month[mo, p] = max(macc[q, mo], 0.0) + sky.iso[mo] * svf[q] + sky.band[mo] * hb[q] + r
            out_svf[p] = svf[q]
            out_beam[p] = max(beam[q], 0.0)
            out_refl[p] = refl


@njit(cache=True, nogil=True)
def _beam_and_months_block(nrm, p0, m, valid, tan_h, n_sec, sky, beam, macc):
    """:func:`_beam_and_months` of points ``p0 .. p0 + m`` (rows of ``tan_h``), bin by bin.

    The step search and the suffix-sum reads are written out in the loop over points (no helper call
    per point and bin).
    """
    n_bins = sky.bin_start.shape[0] - 1
    n_grid = sky.grid.shape[1] - 1
    sec_width = n_bins / n_sec  # bins per sector
    beam[:] = 0.0
    macc[:, :] = 0.0
    tan_el = sky.tan_el
    for b in range(n_bins):
        a0 = sky.bin_start[b]
        a1 = sky.bin_start[b + 1]
        if a1 == a0:
            continue
        f = (b + 0.5) / sec_width
        k0 = int(f)
        w = f - k0
        k0 = k0 % n_sec
        bs = sky.bin_sin[b]
        bc = sky.bin_cos[b]
        t_first = tan_el[a0]
        t_last = tan_el[a1 - 1]
        g0 = sky.grid_t0[b]
        gdt = sky.grid_dt[b]
        k = sky.month_count[b]
        off = sky.month_offset[b]
        for q in range(m):
            if not valid[q]:
                continue
            p = p0 + q
            nx = nrm[0, p]
            ny = nrm[1, p]
            nz = nrm[2, p]
            t0 = tan_h[q, k0]
            t1 = tan_h[q, k0 + 1]
            if t0 <= -INF or t1 <= -INF:
                th = max(t0, t1)
            else:
                th = (1.0 - w) * t0 + w * t1
            proj = nx * bs + ny * bc
            if nz > 1e-12:
                tp = -proj * (1.0 / nz)
            else:
                tp = -INF if proj > 0 else INF
            t = max(th, tp)
            # first step whose sun is above t (as _first_lit_step)
            if t >= t_last:
                continue
            if t < t_first:
                i = a0
            else:
                g = int((t - g0) / gdt)
                if g >= n_grid:
                    g = n_grid - 1
                i = sky.grid[b, g]
                while i < a1 and tan_el[i] <= t:
                    i += 1
                if i >= a1:
                    continue
            beam[q] += nx * sky.beam_sum[i, 0] + ny * sky.beam_sum[i, 1] + nz * sky.beam_sum[i, 2]
            base = off + (i - a0) * k * 3
            for j in range(k):
                c = base + 3 * j
                macc[q, sky.month_list[b, j]] += (nx * sky.month_compact[c] + ny * sky.month_compact[c + 1]
                                                  + nz * sky.month_compact[c + 2])


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


#: Canopy parts of the sky table (see :func:`evaluate_canopy`). ``att`` is what one canopy crossing removes from
#: the suffix sums, ``A = (1 - tau_on) S_leaf_on + (1 - tau_off) S_leaf_off``, stored beside the sums S
#: themselves so that one cache line serves both: ``beam2`` (steps, 6) holds beam S and A; ``month2`` holds per
#: step first the ``k * 3`` monthly (beam + circumsolar) S then the ``k * 3`` A of the bin's k months, from
#: ``2 * month_offset[b]``. Monthly leaf-on ``iso_on``, ``band_on``, ``ghi_on``; the transmissivities ``tau_on``,
#: ``tau_off`` and the diffuse-weighted annual one ``tau_svf``.
CanopyArrays = namedtuple("CanopyArrays", ["beam2", "month2", "iso_on", "band_on", "ghi_on", "tau_on", "tau_off",
                                           "tau_svf"])

NO_CANOPY_CODE = 9000  # canopy-bottom code: no canopy along the azimuth


@njit(cache=True, nogil=True, parallel=True)
def evaluate_canopy(hor, top, low, nrm, sky, can, albedo, band_width, out_beam, out_month, out_refl, out_svf,
                    out_loss):
    """:func:`evaluate` with a canopy: rays between the canopy bottom and top are attenuated once.

    ``top``, ``low``: (N, P) int16 codes of the canopy-top and canopy-bottom horizons (see
    :func:`solarkataster.horizon.canopy_horizon_codes`); ``can``: :data:`CanopyArrays`. A ray at tan
    elevation e in a direction is blocked below the opaque horizon ``o`` (and the plane), attenuated by the
    day's transmissivity in ``[max(o, low), max(o, top))`` and free above. ``out_loss`` gets the annual
    irradiation the canopy removes (the global with transmissivity 1 minus the global).
    """
    n_sec = hor.shape[0]
    n_pts = hor.shape[1]
    band_tan = math.tan(math.radians(band_width))
    chunk = 256
    n_chunks = (n_pts + chunk - 1) // chunk
    for ch in prange(n_chunks):
        macc = np.empty((2, 12))
        tan_h = np.empty(n_sec + 1)
        band_t = np.empty((2, n_sec + 1))
        flags = np.empty(n_sec + 1, np.bool_)
        for p in range(ch * chunk, min(n_pts, (ch + 1) * chunk)):
            _one_canopy(p, hor, top, low, nrm, sky, can, albedo, band_tan, macc, tan_h, band_t, flags, out_beam,
                        out_month, out_refl, out_svf, out_loss)


@njit(cache=True, nogil=True)
def _one_canopy(p, hor, top, low, nrm, sky, can, albedo, band_tan, macc, tan_h, band_t, flags, out_beam, out_month,
                out_refl, out_svf, out_loss):
    """Evaluate point ``p`` with a canopy; ``macc`` (2, 12): free and removed by the canopy, monthly sums."""
    n_sec = hor.shape[0]
    nx = nrm[0, p]
    ny = nrm[1, p]
    nz = nrm[2, p]
    if not np.isfinite(nx) or hor[0, p] == MISSING_CODE:
        out_beam[p] = np.nan
        out_refl[p] = np.nan
        out_svf[p] = np.nan
        out_loss[p] = np.nan
        for m in range(12):
            out_month[m, p] = np.nan
        return
    cos_b = nz
    sin_b = math.sqrt(max(0.0, 1.0 - nz * nz))
    loss_v, loss_band = _horizon_losses(p, hor, sky, nx, ny, nz, band_tan, tan_h)
    band_v, band_b, any_band = _canopy_losses(p, hor, top, low, sky, nx, ny, nz, band_tan, tan_h, band_t, flags)
    svf_o = 0.5 * (1.0 + cos_b) - loss_v / n_sec
    hb_o = sin_b - loss_band * math.pi / n_sec
    svf_band = band_v / n_sec
    hb_band = band_b * math.pi / n_sec
    if any_band:
        beam = _beam_and_months_canopy(nx, ny, nz, tan_h, band_t, flags, n_sec, sky, can, macc)
    else:  # no canopy above the opaque horizon: the plain evaluation
        beam = _beam_and_months(nx, ny, nz, tan_h, n_sec, sky, macc[0])
        macc[1, :] = 0.0
    refl = 0.0
    loss = 0.0
    for m in range(12):
        iso_on = can.iso_on[m]
        band_on = can.band_on[m]
        ghi_on = can.ghi_on[m]
        svf_on = svf_o - (1.0 - can.tau_on) * svf_band
        svf_off = svf_o - (1.0 - can.tau_off) * svf_band
        hb_on = hb_o - (1.0 - can.tau_on) * hb_band
        hb_off = hb_o - (1.0 - can.tau_off) * hb_band
        r = albedo * (ghi_on * (1.0 - svf_on) + (sky.ghi[m] - ghi_on) * (1.0 - svf_off))
        refl += r
        direct = macc[0, m] - macc[1, m]
        g = (max(direct, 0.0) + iso_on * svf_on + (sky.iso[m] - iso_on) * svf_off + band_on * hb_on
             + (sky.band[m] - band_on) * hb_off + r)
        free = (max(macc[0, m], 0.0) + sky.iso[m] * svf_o + sky.band[m] * hb_o
                + albedo * sky.ghi[m] * (1.0 - svf_o))
        out_month[m, p] = g
        loss += free - g
    out_svf[p] = svf_o - (1.0 - can.tau_svf) * svf_band
    out_beam[p] = max(beam, 0.0)
    out_refl[p] = refl
    out_loss[p] = loss


@njit(cache=True, nogil=True, inline="always")
def _view_loss(code, th, proj, nz, cos_b):
    """Loss of sky view factor (times the sector count) of a sector whose sky starts at code/tan ``th``."""
    if nz > 1e-12:
        free_t = max(-proj / nz, 0.0)
    else:
        free_t = 0.0 if proj > 0 else INF
    if free_t >= INF or th <= free_t:
        return 0.0
    if free_t == 0.0:
        f_free = cos_b + proj * 0.5 * math.pi
    else:
        q = 1.0 / (1.0 + free_t * free_t)
        f_free = cos_b * q + proj * (0.5 * math.pi - math.atan(free_t) - free_t * q)
    q = 1.0 / (1.0 + th * th)
    f_obs = cos_b * q + proj * (0.5 * math.pi - code * (math.pi / 18000.0) - th * q)
    return f_free - f_obs


@njit(cache=True, nogil=True, inline="always")
def _band_hidden(th, proj, band_tan):
    """Hidden share of the horizon band (times the projection) of a sector whose sky starts at tan ``th``."""
    if proj > 0 and th > 0:
        vis = 1.0 - th / band_tan if th < band_tan else 0.0
        return proj * (1.0 - vis)
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def _code_tan(code, sky):
    return -INF if code == OPEN_CODE else sky.tan_lut[code + 9000]


@njit(cache=True, nogil=True)
def _canopy_losses(p, hor, top, low, sky, nx, ny, nz, band_tan, tan_h, band_t, flags):
    """View-factor and horizon-band share of the canopy band, summed over sectors; fills ``band_t``, ``flags``.

    ``flags[k]``: the sector has a canopy band above its opaque horizon ``tan_h[k]``; ``band_t[0, k]``,
    ``band_t[1, k]``: tan of the band's top and bottom, both the opaque horizon where there is no band (so
    the band narrows to nothing between a sector with one and a sector without). Index ``sectors``
    repeats sector 0. Returns the two sums and whether any sector has a band.
    """
    n_sec = hor.shape[0]
    band_v = 0.0
    band_b = 0.0
    any_band = False
    for k in range(n_sec):
        o = hor[k, p]
        t = top[k, p]
        lo = low[k, p]
        hi = max(t, o)
        lo = max(lo, o)
        flags[k] = lo < hi
        if lo >= hi:
            band_t[0, k] = tan_h[k]
            band_t[1, k] = tan_h[k]
            continue
        any_band = True
        proj = nx * sky.sec_sin[k] + ny * sky.sec_cos[k]
        t_hi = _code_tan(hi, sky)
        t_lo = _code_tan(lo, sky)
        band_t[0, k] = t_hi
        band_t[1, k] = t_lo
        band_v += _view_loss(hi, t_hi, proj, nz, nz) - _view_loss(lo, t_lo, proj, nz, nz)
        band_b += _band_hidden(t_hi, proj, band_tan) - _band_hidden(t_lo, proj, band_tan)
    flags[n_sec] = flags[0]
    band_t[0, n_sec] = band_t[0, 0]
    band_t[1, n_sec] = band_t[1, 0]
    return band_v, band_b, any_band


@njit(cache=True, nogil=True, inline="always")
def _interp_tan(t0, t1, w):
    """Tan horizon at weight ``w`` between two sectors; an open side defers to the other."""
    if t0 <= -INF or t1 <= -INF:
        return max(t0, t1)
    return (1.0 - w) * t0 + w * t1


@njit(cache=True, nogil=True, inline="always")
def _dot_at(s, i, a1, nx, ny, nz):
    if i >= a1:
        return 0.0
    return nx * s[i, 0] + ny * s[i, 1] + nz * s[i, 2]


@njit(cache=True, nogil=True, inline="always")
def _att_at(s, i, a1, nx, ny, nz):
    if i >= a1:
        return 0.0
    return nx * s[i, 3] + ny * s[i, 4] + nz * s[i, 5]


@njit(cache=True, nogil=True, inline="always")
def _month_att_at(mc, base, i, a0, a1, k, q, nx, ny, nz):
    if i >= a1:
        return 0.0
    j = base + (i - a0) * k * 6 + k * 3 + 3 * q
    return nx * mc[j] + ny * mc[j + 1] + nz * mc[j + 2]


@njit(cache=True, nogil=True)
def _beam_and_months_canopy(nx, ny, nz, tan_h, band_t, flags, n_sec, sky, can, macc):
    """Annual beam with the canopy's attenuation; monthly beam + circumsolar into ``macc``.

    ``macc[0]``: free of canopy (above the opaque horizon and the plane); ``macc[1]``: what the canopy
    removes from it (the attenuation-weighted sums over the canopy band), in bins beside a sector with a
    canopy band (``flags``), between the band's top and bottom (``band_t``) interpolated between sectors.
    """
    n_bins = sky.bin_start.shape[0] - 1
    n_grid = sky.grid.shape[1] - 1
    inv_nz = 1.0 / nz if nz > 1e-12 else 0.0
    beam = 0.0
    macc[:, :] = 0.0
    sec_width = n_bins / n_sec
    for b in range(n_bins):
        a0 = sky.bin_start[b]
        a1 = sky.bin_start[b + 1]
        if a1 == a0:
            continue
        f = (b + 0.5) / sec_width
        k0 = int(f)
        w = f - k0
        k0 = k0 % n_sec
        th = _interp_tan(tan_h[k0], tan_h[k0 + 1], w)
        proj = nx * sky.bin_sin[b] + ny * sky.bin_cos[b]
        if nz > 1e-12:
            tp = -proj * inv_nz
        else:
            tp = -INF if proj > 0 else INF
        t = max(th, tp)
        i = _first_lit_step(sky, b, a0, a1, t, n_grid)
        if i >= a1:
            continue
        i_lo = a1
        i_hi = a1
        if flags[k0] or flags[k0 + 1]:
            hi = max(_interp_tan(band_t[0, k0], band_t[0, k0 + 1], w), t)
            lo = max(_interp_tan(band_t[1, k0], band_t[1, k0 + 1], w), t)
            if lo < hi:
                # a band starting at the horizon starts at the first lit step: no second search
                i_lo = i if lo <= t else _first_lit_step(sky, b, a0, a1, lo, n_grid)
                i_hi = _first_lit_step(sky, b, a0, a1, hi, n_grid)
        beam += _dot_at(can.beam2, i, a1, nx, ny, nz)
        k = sky.month_count[b]
        base = 2 * sky.month_offset[b]
        row = base + (i - a0) * k * 6
        for q in range(k):
            j = row + 3 * q
            macc[0, sky.month_list[b, q]] += nx * can.month2[j] + ny * can.month2[j + 1] + nz * can.month2[j + 2]
        if i_lo >= i_hi:
            continue
        # the steps [i_lo, i_hi) pass the canopy once
        beam -= _att_at(can.beam2, i_lo, a1, nx, ny, nz) - _att_at(can.beam2, i_hi, a1, nx, ny, nz)
        for q in range(k):
            macc[1, sky.month_list[b, q]] += (_month_att_at(can.month2, base, i_lo, a0, a1, k, q, nx, ny, nz)
                                              - _month_att_at(can.month2, base, i_hi, a0, a1, k, q, nx, ny, nz))
    return beam
