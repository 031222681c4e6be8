"""Numba kernels of roof segmentation and face partition. Private: plain arrays in, no validation.

Coordinates: ``x = col * cellsize`` east and ``y = -row * cellsize`` north of a reference (per building in
:func:`grow_regions` and :func:`reassign`, the raster's upper-left corner in :func:`assign_subpixels`).
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

#: Planes of faces for :func:`reassign`: per building ``row0``, ``col0`` [px] and ``zref`` [m] (local origin),
#: per face ``a``, ``b`` [m/m], ``c`` [m] (``z - zref = a x + b y + c``) and ``norm`` (``sqrt(a² + b² + 1)``).
Planes = namedtuple("Planes", "row0 col0 zref a b c norm")


@njit(cache=True, nogil=True)
def solve_plane(sxx, sxy, syy, sx, sy, n, sxz, syz, sz):
    """Least-squares plane z = a x + b y + c from moment sums; ok=False when degenerate."""
    det = sxx * (syy * n - sy * sy) - sxy * (sxy * n - sy * sx) + sx * (sxy * sy - syy * sx)
    scale = max(sxx, syy, 1.0) * max(sxx, syy, 1.0) * n
    if abs(det) <= 1e-9 * scale:
        return 0.0, 0.0, 0.0, False
    a = (sxz * (syy * n - sy * sy) - sxy * (syz * n - sy * sz) + sx * (syz * sy - syy * sz)) / det
    b = (sxx * (syz * n - sz * sy) - sxz * (sxy * n - sy * sx) + sx * (sxy * sz - syz * sx)) / det
    c = (sxx * (syy * sz - sy * syz) - sxy * (sxy * sz - sy * sxz) + sx * (sxy * syz - syy * sxz)) / det
    return a, b, c, True


@njit(cache=True, nogil=True)
def grow_regions(z, ne, nn, nu, building, seeds, cellsize, cos_tol, dist_tol, min_pixels):
    """Region growing on normal similarity and distance to the region's least-squares plane."""
    rows, cols = z.shape
    face = np.zeros((rows, cols), np.int32)
    tried = np.zeros((rows, cols), np.bool_)
    queue = np.empty(rows * cols, np.int64)
    nreg = 0
    for s in seeds:
        r0 = s // cols
        c0 = s % cols
        if face[r0, c0] != 0 or tried[r0, c0]:
            continue
        b = building[r0, c0]
        z0 = z[r0, c0]
        pa = -ne[r0, c0] / nu[r0, c0]
        pb = -nn[r0, c0] / nu[r0, c0]
        pc = 0.0
        nreg += 1
        face[r0, c0] = nreg
        head = 0
        tail = 1
        queue[0] = s
        sxx = 0.0
        sxy = 0.0
        syy = 0.0
        sx = 0.0
        sy = 0.0
        sxz = 0.0
        syz = 0.0
        sz = 0.0
        n = 1.0
        next_refit = 6.0
        while head < tail:
            p = queue[head]
            head += 1
            r = p // cols
            c = p % cols
            for dr in range(-1, 2):
                rr = r + dr
                if rr < 0 or rr >= rows:
                    continue
                for dc in range(-1, 2):
                    cc = c + dc
                    if cc < 0 or cc >= cols or (dr == 0 and dc == 0):
                        continue
                    if face[rr, cc] != 0 or building[rr, cc] != b:
                        continue
                    zz = z[rr, cc]
                    if not np.isfinite(zz) or not np.isfinite(nu[rr, cc]):
                        continue
                    norm = np.sqrt(pa * pa + pb * pb + 1.0)
                    dot = (-pa * ne[rr, cc] - pb * nn[rr, cc] + nu[rr, cc]) / norm
                    if dot < cos_tol:
                        continue
                    x = (cc - c0) * cellsize
                    y = (r0 - rr) * cellsize
                    dz = zz - z0 - (pa * x + pb * y + pc)
                    if abs(dz) / norm > dist_tol:
                        continue
                    face[rr, cc] = nreg
                    queue[tail] = rr * cols + cc
                    tail += 1
                    zl = zz - z0
                    sxx += x * x
                    sxy += x * y
                    syy += y * y
                    sx += x
                    sy += y
                    sxz += x * zl
                    syz += y * zl
                    sz += zl
                    n += 1.0
                    if n >= next_refit:
                        a2, b2, c2, ok = solve_plane(sxx, sxy, syy, sx, sy, n, sxz, syz, sz)
                        if ok:
                            pa = a2
                            pb = b2
                            pc = c2
                        next_refit = n * 1.3 + 1.0
        if tail < min_pixels:
            # too small to be a face: release the pixels so that a later region may take them
            for i in range(tail):
                p = queue[i]
                face[p // cols, p % cols] = 0
                tried[p // cols, p % cols] = True
            nreg -= 1
    return face, nreg


@njit(cache=True, nogil=True)
def _reassign_pass(face, z, bidx, planes, cellsize, dist_tol, radius, todo, out):
    """One pass of :func:`reassign` over the pixels flagged in ``todo``, written to ``out``."""
    rows, cols = face.shape
    row0, col0, zref = planes.row0, planes.col0, planes.zref
    pa, pb, pc, pnorm = planes.a, planes.b, planes.c, planes.norm
    cand = np.empty((2 * radius + 1) ** 2, np.int32)
    for r in range(rows):
        for c in range(cols):
            if not todo[r, c]:
                continue
            out[r, c] = 0
            bi = bidx[r, c]
            if bi < 0 or not np.isfinite(z[r, c]):
                continue
            k = 0
            for rr in range(max(r - radius, 0), min(r + radius + 1, rows)):
                for cc in range(max(c - radius, 0), min(c + radius + 1, cols)):
                    f = face[rr, cc]
                    if f > 0 and bidx[rr, cc] == bi:
                        k = _add_candidate(cand, k, f)
            if k == 0:
                continue
            x = (c - col0[bi]) * cellsize
            y = (row0[bi] - r) * cellsize
            zl = z[r, c] - zref[bi]
            best = 0
            best_d = dist_tol
            for j in range(k):
                f = cand[j]
                d = abs(zl - (pa[f] * x + pb[f] * y + pc[f])) / pnorm[f]
                if d < best_d or (d == best_d and best != 0 and f < best):
                    best_d = d
                    best = f
            out[r, c] = best


@njit(cache=True, nogil=True)
def reassign(face, z, bidx, planes, cellsize, dist_tol, radius, times):
    """Each building pixel takes the nearest plane among faces within ``radius`` px (0 if none fits), ``times`` times.

    Each pass reads the labels of the pass before. After the first, only pixels within ``radius`` of a pixel
    the last pass changed are recomputed: the others see the same labels around them as before.
    """
    rows, cols = face.shape
    cur = np.zeros_like(face)
    _reassign_pass(face, z, bidx, planes, cellsize, dist_tol, radius, np.ones(face.shape, np.bool_), cur)
    prev = face
    for _ in range(times - 1):
        near_change = np.zeros(face.shape, np.bool_)
        changed = False
        for r in range(rows):
            for c in range(cols):
                if cur[r, c] != prev[r, c]:
                    changed = True
                    near_change[max(r - radius, 0):r + radius + 1, max(c - radius, 0):c + radius + 1] = True
        if not changed:
            break
        nxt = cur.copy()
        _reassign_pass(cur, z, bidx, planes, cellsize, dist_tol, radius, near_change, nxt)
        prev = cur
        cur = nxt
    return cur


@njit(cache=True, nogil=True)
def assign_subpixels(fine_building, filled, face_building, rule_keys, rules, extents, factor, radius, cellsize,
                     touch):
    """Face of every sub-pixel: the pixel's own face unless a pairwise boundary rule hands it to a neighbour.

    ``fine_building`` is the building index of each sub-pixel (-1 none), ``filled`` the face of each pixel
    (-1 excluded, 0 none), ``face_building`` the building index of each face. ``rule_keys`` (sorted,
    ``lo * (m + 1) + hi``) and ``rules`` (k, 3) give, for adjacent faces lo < hi, the linear function
    ``g(x, y) = rules[k, 0] x + rules[k, 1] y + rules[k, 2]``: lo owns the points where it is positive.
    Candidates are the faces of the same building within ``radius`` pixels (a pixel without a face of
    its building takes the nearest); a sub-pixel of a face's pixel may pass to a candidate farther than
    ``touch`` pixels (Chebyshev) only within the extent of the two faces' shared boundary along the rule's
    line, ``extents[k] = (s0, s1)`` with ``s = (-rules[k, 1] x + rules[k, 0] y) / |rules[k, :2]|``: a
    plane intersection line runs on past the end of the shared boundary, and beyond it the line would
    hand a face's sub-pixels to a neighbour that does not touch them (a dormer's valley carried on into
    the main plane), while along it a pixel boundary a pixel or two off the line still gives way to the
    line. The owner is iterated until no rule moves it (a cycle near a junction of three faces keeps the
    last winner).
    """
    fr_n, fc_n = fine_building.shape
    rows, cols = filled.shape
    m1 = face_building.shape[0]
    out = np.zeros((fr_n, fc_n), np.int32)
    n_max = (2 * radius + 1) ** 2
    cand = np.empty(n_max, np.int32)
    near = np.empty(n_max, np.int64)
    # rule index of each pair of candidates (-1: no rule), for the candidates of one pixel and building
    pair_rule = np.empty((n_max, n_max), np.int64)
    sub = cellsize / factor
    # the candidates depend on the pixel and the sub-pixel's building only: found once per pixel
    for r in range(min(rows, fr_n // factor)):
        for c in range(min(cols, fc_n // factor)):
            own = filled[r, c]
            scanned = -1
            k = 0
            best = 0
            for i in range(factor):
                fr = r * factor + i
                for j in range(factor):
                    fc = c * factor + j
                    b = fine_building[fr, fc]
                    if b < 0:
                        continue
                    if own == -1:
                        out[fr, fc] = -1
                        continue
                    if b != scanned:
                        scanned = b
                        k, best = _candidates(filled, face_building, r, c, b, radius, cand, near)
                        _pair_rules(cand, k, m1, rule_keys, pair_rule)
                    if k == 0:
                        continue
                    has_own = own > 0 and face_building[own] == b
                    cur = own if has_own else best
                    ci = 0
                    while cand[ci] != cur:
                        ci += 1
                    x = (fc + 0.5) * sub
                    y = -(fr + 0.5) * sub
                    for _ in range(k + 1):
                        changed = False
                        for q in range(k):
                            if q == ci:
                                continue
                            ri = pair_rule[q, ci]
                            if ri < 0 or (has_own and near[q] > touch and not _along(rules, extents, ri, x, y)):
                                continue
                            f = cand[q]
                            g = rules[ri, 0] * x + rules[ri, 1] * y + rules[ri, 2]
                            win = min(f, cur) if g > 0 else max(f, cur)
                            if win != cur:
                                cur = win
                                ci = q
                                changed = True
                        if not changed:
                            break
                    out[fr, fc] = cur
    return out


@njit(cache=True, nogil=True, inline="always")
def _along(rules, extents, k, x, y):
    """Whether (x, y) lies within the extent of boundary rule k along its line (see assign_subpixels)."""
    s = (-rules[k, 1] * x + rules[k, 0] * y) / max(math.hypot(rules[k, 0], rules[k, 1]), 1e-12)
    return extents[k, 0] <= s <= extents[k, 1]


@njit(cache=True, nogil=True)
def _candidates(filled, face_building, r, c, b, radius, cand, near):
    """Faces of building ``b`` within ``radius`` pixels of (r, c), in scan order, and the nearest of them.

    ``near`` receives each candidate's Chebyshev distance [px] from (r, c).
    """
    rows, cols = filled.shape
    k = 0
    best = 0
    best_d = 1 << 30
    for rr in range(max(r - radius, 0), min(r + radius + 1, rows)):
        for cc in range(max(c - radius, 0), min(c + radius + 1, cols)):
            f = filled[rr, cc]
            if f <= 0 or face_building[f] != b:
                continue
            d = (rr - r) * (rr - r) + (cc - c) * (cc - c)
            if d < best_d:
                best_d = d
                best = f
            j = _add_candidate(cand, k, f)
            cheb = max(abs(rr - r), abs(cc - c))
            if j > k:
                near[k] = cheb
            else:
                for i in range(k):
                    if cand[i] == f:
                        near[i] = min(near[i], cheb)
            k = j
    return k, best


@njit(cache=True, nogil=True)
def _add_candidate(cand, k, f):
    """Append face ``f`` to the first ``k`` entries of ``cand`` unless it is there; return the new count."""
    for j in range(k):
        if cand[j] == f:
            return k
    cand[k] = f
    return k + 1


@njit(cache=True, nogil=True)
def _pair_rules(cand, k, m1, rule_keys, pair_rule):
    """Index into ``rule_keys`` of the rule of each pair of the ``k`` candidates (-1 where none)."""
    for p in range(k):
        for q in range(k):
            pair_rule[p, q] = -1
            if p == q:
                continue
            lo = min(cand[p], cand[q])
            hi = max(cand[p], cand[q])
            key = lo * m1 + hi
            i = np.searchsorted(rule_keys, key)
            if i < rule_keys.shape[0] and rule_keys[i] == key:
                pair_rule[p, q] = i


@njit(cache=True, nogil=True)
def _find(parent, a):
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@njit(cache=True, nogil=True)
def _run_parts(labels):
    """Return the runs of equal positive labels along the rows and the size of each run's part.

    A run is a row, first and last column; its part is the 4-connected part of equal label [cells]. Each
    run is joined with the overlapping runs of equal label in the row above (union-find over runs, not cells).
    """
    rows, cols = labels.shape
    # runs: row, first and last column, label; at most one per cell
    run_row = np.empty(rows * cols, np.int32)
    run_c0 = np.empty(rows * cols, np.int32)
    run_c1 = np.empty(rows * cols, np.int32)
    row_start = np.zeros(rows + 1, np.int64)
    n = 0
    for r in range(rows):
        row_start[r] = n
        c = 0
        while c < cols:
            v = labels[r, c]
            if v <= 0:
                c += 1
                continue
            c0 = c
            while c + 1 < cols and labels[r, c + 1] == v:
                c += 1
            run_row[n] = r
            run_c0[n] = c0
            run_c1[n] = c
            n += 1
            c += 1
    row_start[rows] = n
    parent = np.arange(n).astype(np.int32)
    for r in range(1, rows):
        # runs of this row against the runs of the row above, both sorted by column
        j = row_start[r - 1]
        for i in range(row_start[r], row_start[r + 1]):
            v = labels[r, run_c0[i]]
            while j < row_start[r] and run_c1[j] < run_c0[i]:
                j += 1
            k = j
            while k < row_start[r] and run_c0[k] <= run_c1[i]:
                if labels[r - 1, run_c0[k]] == v:
                    a = _find(parent, i)
                    b = _find(parent, k)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
                k += 1
    size = np.zeros(n, np.int64)
    for i in range(n):
        size[_find(parent, i)] += run_c1[i] - run_c0[i] + 1
    run_size = np.empty(n, np.int64)
    for i in range(n):
        run_size[i] = size[_find(parent, i)]
    return run_row[:n], run_c0[:n], run_c1[:n], run_size


@njit(cache=True, nogil=True)
def part_sizes(labels):
    """Size in cells of the 4-connected part of equal positive label that each cell belongs to (0 elsewhere)."""
    run_row, run_c0, run_c1, run_size = _run_parts(labels)
    out = np.zeros(labels.shape, np.int64)
    for i in range(run_row.shape[0]):
        for c in range(run_c0[i], run_c1[i] + 1):
            out[run_row[i], c] = run_size[i]
    return out


@njit(cache=True, nogil=True)
def small_parts(labels, min_cells):
    """Whether each cell lies in a 4-connected part of equal positive label under ``min_cells`` cells.

    Equals ``(labels > 0) & (part_sizes(labels) < min_cells)`` without the array of sizes.
    """
    run_row, run_c0, run_c1, run_size = _run_parts(labels)
    out = np.zeros(labels.shape, np.bool_)
    for i in range(run_row.shape[0]):
        if run_size[i] < min_cells:
            for c in range(run_c0[i], run_c1[i] + 1):
                out[run_row[i], c] = True
    return out


@njit(cache=True, nogil=True)
def absorb(labels, small, building, passes):
    """Cells flagged ``small`` take a 4-neighbour's label of the same building that is not small, repeatedly.

    Cells that find none within ``passes`` rounds get 0.
    """
    rows, cols = labels.shape
    out = labels.copy()
    todo = small.copy()
    for _ in range(passes):
        changed = False
        for r in range(rows):
            for c in range(cols):
                if not todo[r, c]:
                    continue
                for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                    rr = r + dr
                    cc = c + dc
                    if rr < 0 or rr >= rows or cc < 0 or cc >= cols or todo[rr, cc]:
                        continue
                    if out[rr, cc] > 0 and building[rr, cc] == building[r, c]:
                        out[r, c] = out[rr, cc]
                        todo[r, c] = False
                        changed = True
                        break
        if not changed:
            break
    for r in range(rows):
        for c in range(cols):
            if todo[r, c]:
                out[r, c] = 0
    return out


@njit(cache=True, nogil=True)
def _select(buf, n, k):
    """Return the ``k``-th smallest of ``buf[:n]`` (no NaN), by quickselect in place (median-of-three pivots)."""
    lo = 0
    hi = n - 1
    while hi > lo:
        mid = (lo + hi) // 2
        # median of three to buf[mid], then Hoare partition around it
        if buf[mid] < buf[lo]:
            buf[mid], buf[lo] = buf[lo], buf[mid]
        if buf[hi] < buf[lo]:
            buf[hi], buf[lo] = buf[lo], buf[hi]
        if buf[hi] < buf[mid]:
            buf[hi], buf[mid] = buf[mid], buf[hi]
        pivot = buf[mid]
        i = lo
        j = hi
        while i <= j:
            while buf[i] < pivot:
                i += 1
            while buf[j] > pivot:
                j -= 1
            if i <= j:
                buf[i], buf[j] = buf[j], buf[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return buf[k]
    return buf[k]


@njit(cache=True, nogil=True)
def lower_medians(values, order, starts, counts):
    """Lower median of ``values`` per label: the ``(count - 1) // 2``-th smallest of each label's values.

    ``order`` lists the value indices grouped by label (a stable argsort of the labels), label ``k``'s
    ``counts[k]`` indices starting at ``starts[k]``; labels without values get 0. NaN counts as the largest
    value (as in a sort).
    """
    out = np.zeros(len(counts))
    buf = np.empty(max(counts.max(), 1) if len(counts) else 1)
    for k in range(len(counts)):
        c = counts[k]
        if c == 0:
            continue
        # the values without NaN first: the k-th smallest is NaN only beyond them
        m = 0
        for i in range(c):
            v = values[order[starts[k] + i]]
            if v == v:
                buf[m] = v
                m += 1
        kth = (c - 1) // 2
        out[k] = _select(buf, m, kth) if kth < m else np.nan
    return out


@njit(cache=True, nogil=True)
def moment_sums(lab, x, y, zl, w, n_labels):
    """Weighted moment sums per label, shape (10, n_labels + 1), one pass over the values.

    Rows: ``sxx, sxy, syy, sx, sy, n, sxz, syz, sz, szz`` (each product taken left to right and summed in
    the order of the values, as ``np.bincount`` does).
    """
    out = np.zeros((10, n_labels + 1))
    for i in range(lab.shape[0]):
        k = lab[i]
        wi = w[i]
        xi = x[i]
        yi = y[i]
        zi = zl[i]
        out[0, k] += wi * xi * xi
        out[1, k] += wi * xi * yi
        out[2, k] += wi * yi * yi
        out[3, k] += wi * xi
        out[4, k] += wi * yi
        out[5, k] += wi
        out[6, k] += wi * xi * zi
        out[7, k] += wi * yi * zi
        out[8, k] += wi * zi
        out[9, k] += wi * zi * zi
    return out


@njit(cache=True, nogil=True)
def group_minima(rows, cols, values, group, n_groups):
    """Smallest row, column and value of each group 0..n_groups-1 (one pass)."""
    row0 = np.full(n_groups, np.iinfo(np.int64).max, np.int64)
    col0 = np.full(n_groups, np.iinfo(np.int64).max, np.int64)
    vmin = np.full(n_groups, np.inf)
    for i in range(len(group)):
        g = group[i]
        row0[g] = min(row0[g], rows[i])
        col0[g] = min(col0[g], cols[i])
        vmin[g] = min(vmin[g], values[i])
    return row0, col0, vmin


@njit(cache=True, nogil=True)
def pair_keys(label, pairs_i, pairs_j, m1):
    """Keys ``lo * m1 + hi`` of the pairs (``label[pairs_i]``, ``label[pairs_j]``) of two different labels > 0."""
    out = np.empty(len(pairs_i), np.int64)
    k = 0
    for p in range(len(pairs_i)):
        a = label[pairs_i[p]]
        b = label[pairs_j[p]]
        if a != b and a > 0 and b > 0:
            out[k] = min(a, b) * m1 + max(a, b)
            k += 1
    return out[:k]


@njit(cache=True, nogil=True)
def fill_from_window_max(labels, radius):
    """Cells at -1 take the largest label in the (2 radius + 1)² window around them (clipped at the edges).

    ``labels`` are -1 or >= 0; the others keep theirs. Equals ``np.where(labels >= 0, labels,
    maximum_filter(labels, 2 radius + 1))`` (the reflected border of ``maximum_filter`` adds no values
    beyond the clipped window). Each labelled cell raises the -1 cells around it.
    """
    rows, cols = labels.shape
    out = labels.copy()
    for r in range(rows):
        for c in range(cols):
            v = labels[r, c]
            if v < 0:
                continue
            for rr in range(max(r - radius, 0), min(r + radius + 1, rows)):
                for cc in range(max(c - radius, 0), min(c + radius + 1, cols)):
                    if labels[rr, cc] < 0 and out[rr, cc] < v:
                        out[rr, cc] = v
    return out


@njit(cache=True, nogil=True)
def neighbour_pairs(pix, group, shifts):
    """Pairs of cells (``pix`` >= 0: their index) at each offset (dr >= 0, dc) whose ``group`` is the same.

    Offset by offset, each in raster order of the first cell; returns the two index arrays.
    """
    rows, cols = pix.shape
    n = 0
    for r in range(rows):
        for c in range(cols):
            if pix[r, c] >= 0:
                n += 1
    pi = np.empty(n * len(shifts), np.int64)
    pj = np.empty(n * len(shifts), np.int64)
    k = 0
    for s in range(len(shifts)):
        dr = shifts[s, 0]
        dc = shifts[s, 1]
        for r in range(rows - dr):
            for c in range(max(0, -dc), cols - max(0, dc)):
                a = pix[r, c]
                if a < 0:
                    continue
                b = pix[r + dr, c + dc]
                if b >= 0 and group[a] == group[b]:
                    pi[k] = a
                    pj[k] = b
                    k += 1
    return pi[:k], pj[:k]


@njit(cache=True, nogil=True)
def uniform_3x3(labels):
    """Whether all cells of the 3 x 3 window (clipped at the edges) hold the cell's label.

    Equals ``grey_erosion(labels, 3) == grey_dilation(labels, 3)`` (their reflected border adds no values
    beyond the clipped window).
    """
    rows, cols = labels.shape
    out = np.zeros((rows, cols), np.bool_)
    for r in range(rows):
        for c in range(cols):
            v = labels[r, c]
            same = True
            for rr in range(max(r - 1, 0), min(r + 2, rows)):
                for cc in range(max(c - 1, 0), min(c + 2, cols)):
                    if labels[rr, cc] != v:
                        same = False
            out[r, c] = same
    return out


@njit(cache=True, nogil=True)
def strip_neighbours(labels, building, cand, steep):
    """Pairs (f, g) of 8-adjacent cells of different faces of one building with ``cand[f]`` and ``steep[g]``."""
    rows, cols = labels.shape
    fs = []
    gs = []
    for r in range(rows):
        for c in range(cols):
            a = labels[r, c]
            if a <= 0:
                continue
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                rr = r + dr
                cc = c + dc
                if rr >= rows or cc < 0 or cc >= cols:
                    continue
                b = labels[rr, cc]
                if b <= 0 or b == a or building[a] != building[b]:
                    continue
                if cand[a] and steep[b]:
                    fs.append(a)
                    gs.append(b)
                if cand[b] and steep[a]:
                    fs.append(b)
                    gs.append(a)
    return np.array(fs, np.int64), np.array(gs, np.int64)


@njit(cache=True, nogil=True)
def grow_rings(grown, cand, rings):
    """Grow a mask by up to ``rings`` rings of 8-neighbours, over ``cand`` cells only.

    Each ring is ``binary_dilation(grown, 3 x 3) & cand & ~grown`` of the mask before it; stops early when a
    ring is empty. Returns the grown mask (a copy).
    """
    rows, cols = grown.shape
    out = grown.copy()
    new_r = np.empty(rows * cols, np.int64)
    new_c = np.empty(rows * cols, np.int64)
    for _ in range(rings):
        n = 0
        for r in range(rows):
            for c in range(cols):
                if not cand[r, c] or out[r, c]:
                    continue
                hit = False
                for rr in range(max(r - 1, 0), min(r + 2, rows)):
                    for cc in range(max(c - 1, 0), min(c + 2, cols)):
                        if out[rr, cc]:
                            hit = True
                if hit:
                    new_r[n] = r
                    new_c[n] = c
                    n += 1
        if n == 0:
            break
        for i in range(n):
            out[new_r[i], new_c[i]] = True
    return out


@njit(cache=True, nogil=True)
def boundary_pairs(filled, face_building):
    """Pairs of 4-adjacent cells of different faces > 0 of one building: (lo, hi, r_lo, c_lo, r_hi, c_hi).

    East neighbours first, then south neighbours, each in raster order of the first cell; lo < hi are the
    faces and (r_lo, c_lo), (r_hi, c_hi) their cells.
    """
    rows, cols = filled.shape
    n = 0
    for dr, dc in ((0, 1), (1, 0)):
        for r in range(rows - dr):
            for c in range(cols - dc):
                a = filled[r, c]
                b = filled[r + dr, c + dc]
                if a > 0 and b > 0 and a != b and face_building[a] == face_building[b]:
                    n += 1
    lo = np.empty(n, filled.dtype)
    hi = np.empty(n, filled.dtype)
    r_lo = np.empty(n, np.int64)
    c_lo = np.empty(n, np.int64)
    r_hi = np.empty(n, np.int64)
    c_hi = np.empty(n, np.int64)
    k = 0
    for dr, dc in ((0, 1), (1, 0)):
        for r in range(rows - dr):
            for c in range(cols - dc):
                a = filled[r, c]
                b = filled[r + dr, c + dc]
                if a > 0 and b > 0 and a != b and face_building[a] == face_building[b]:
                    if a > b:
                        lo[k], hi[k] = b, a
                        r_lo[k], c_lo[k], r_hi[k], c_hi[k] = r + dr, c + dc, r, c
                    else:
                        lo[k], hi[k] = a, b
                        r_lo[k], c_lo[k], r_hi[k], c_hi[k] = r, c, r + dr, c + dc
                    k += 1
    return lo, hi, r_lo, c_lo, r_hi, c_hi


@njit(cache=True, nogil=True)
def grow_on_planes(labels, z, owner, face_building, coef, cellsize, dist_tol, passes):
    """Grow faces over unlabelled cells that continue their planes, one ring of 8-neighbours per pass.

    A cell with ``labels == 0`` and ``owner > 0`` joins the face of an 8-neighbour (labelled before this
    pass) of the same building (``face_building[f] == owner``) whose plane ``z = a x + b y + c`` (``coef``,
    ``x = (col + 0.5) * cellsize``, ``y = -(row + 0.5) * cellsize``) passes within ``dist_tol``
    (perpendicular) of it; of several, the nearest plane (the lower face id on a tie). Stops early when a
    pass adds nothing. Returns the grown labels (a copy).
    """
    rows, cols = labels.shape
    out = labels.copy()
    new_r = np.empty(rows * cols, np.int64)
    new_c = np.empty(rows * cols, np.int64)
    new_f = np.empty(rows * cols, labels.dtype)
    for _ in range(passes):
        n = 0
        for r in range(rows):
            for c in range(cols):
                b = owner[r, c]
                if b <= 0 or out[r, c] != 0 or not np.isfinite(z[r, c]):
                    continue
                x = (c + 0.5) * cellsize
                y = -(r + 0.5) * cellsize
                best = 0
                best_d = dist_tol
                for rr in range(max(r - 1, 0), min(r + 2, rows)):
                    for cc in range(max(c - 1, 0), min(c + 2, cols)):
                        f = out[rr, cc]
                        if f <= 0 or face_building[f] != b:
                            continue
                        d = abs(z[r, c] - (coef[f, 0] * x + coef[f, 1] * y + coef[f, 2]))
                        d /= np.sqrt(coef[f, 0] ** 2 + coef[f, 1] ** 2 + 1.0)
                        if d < best_d or (d == best_d and (best == 0 or f < best)):
                            best_d = d
                            best = f
                if best > 0:
                    new_r[n] = r
                    new_c[n] = c
                    new_f[n] = best
                    n += 1
        if n == 0:
            break
        for i in range(n):
            out[new_r[i], new_c[i]] = new_f[i]
    return out
