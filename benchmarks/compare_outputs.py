"""Compare two results folders (``solarkataster run`` / ``irradiance`` / a batch tile) layer by layer.

    python benchmarks/compare_outputs.py OLD_DIR NEW_DIR [--rtol 1e-6] [--atol 0]

For every GeoJSON layer in either folder: feature counts, ids only in one of them (by the layer's id
column from :mod:`solarkataster.layers`), columns only in one of them, and for the common columns the
number of features whose values differ beyond the tolerance, with the largest absolute difference.
Numbers compare with ``|a - b| <= atol + rtol |b|``, where ``atol`` is at least one unit of the column's
last decimal in the contract (so a value written unrounded before and rounded now still matches); lists
and dicts compare element by element. Geometry: the smallest polygon intersection over union (IoU) and the
largest Hausdorff distance [m] (lon/lat degrees times 111.32 km; the same when under 5 cm). For every
GeoTIFF: shape, and the largest absolute difference per file over the cells valid in both, plus the number
of cells valid in only one.

Prints one table and exits with 1 when anything differs beyond the tolerance (0 otherwise).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

METRES_PER_DEGREE = 111_320.0
#: Geometries whose vertices moved less than this [m] are the same (1e-7° rounding moves them ~1 cm).
GEOMETRY_TOLERANCE_M = 0.05


def _decimals(layer, column):
    try:
        from solarkataster import layers
    except ImportError:  # comparing folders without the package
        return None
    spec = layers.LAYERS.get(layer)
    col = spec.by_name.get(column) if spec else None
    return col.decimals if col else None


def _diff(a, b, rtol, atol):
    """(equal, largest absolute numeric difference) of two property values."""
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return a == b, 0.0
    if a is None or b is None:
        return a is None and b is None, 0.0
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if not (math.isfinite(a) and math.isfinite(b)):
            return (a == b) or (math.isnan(a) and math.isnan(b)), 0.0
        d = abs(a - b)
        return d <= atol + rtol * abs(b), d
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False, math.inf
        parts = [_diff(x, y, rtol, atol) for x, y in zip(a, b)]
        return all(p[0] for p in parts), max((p[1] for p in parts), default=0.0)
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return False, math.inf
        parts = [_diff(a[k], b[k], rtol, atol) for k in a]
        return all(p[0] for p in parts), max((p[1] for p in parts), default=0.0)
    return a == b, 0.0


def _geometry_agreement(old, new):
    """(smallest polygon IoU or None, largest Hausdorff distance [m]) over matched features."""
    import shapely
    from shapely.geometry import shape

    ious, dists = [], [0.0]
    for go, gn in zip(old, new):
        if go is None or gn is None:
            if (go is None) != (gn is None):
                dists.append(math.inf)
            continue
        a, b = shape(go), shape(gn)
        if a.geom_type.endswith("Polygon"):
            union = shapely.union(a, b).area
            ious.append(shapely.intersection(a, b).area / union if union > 0 else 1.0)
        dists.append(shapely.hausdorff_distance(a, b) * METRES_PER_DEGREE)
    return (min(ious) if ious else None), max(dists)


def compare_layer(old_path, new_path, layer, rtol, atol):
    """Rows of the table for one GeoJSON layer."""
    old = json.loads(Path(old_path).read_text(encoding="utf-8"))["features"]
    new = json.loads(Path(new_path).read_text(encoding="utf-8"))["features"]
    try:
        from solarkataster.layers import LAYERS
        key = LAYERS[layer].id_field if layer in LAYERS else None
    except ImportError:
        key = None

    def ident(i, f):
        return str(f["properties"].get(key)) if key else str(i)

    old_by = {ident(i, f): f for i, f in enumerate(old)}
    new_by = {ident(i, f): f for i, f in enumerate(new)}
    common = [k for k in old_by if k in new_by]
    rows = [(layer, "features", f"{len(old)} -> {len(new)}",
             "same" if len(old) == len(new) and len(common) == len(old) else "DIFF")]
    only_old, only_new = sorted(set(old_by) - set(new_by)), sorted(set(new_by) - set(old_by))
    if only_old or only_new:
        rows.append((layer, "ids", f"only old {only_old[:5]}, only new {only_new[:5]}", "DIFF"))
    cols_old = list(old[0]["properties"]) if old else []
    cols_new = list(new[0]["properties"]) if new else []
    added, dropped = [c for c in cols_new if c not in cols_old], [c for c in cols_old if c not in cols_new]
    if added:
        rows.append((layer, "columns added", ", ".join(added), "note"))
    if dropped:
        rows.append((layer, "columns dropped", ", ".join(dropped), "DIFF"))
    for column in [c for c in cols_old if c in cols_new]:
        decimals = _decimals(layer, column)
        tol = max(atol, 10.0 ** -decimals if decimals is not None else 0.0)
        bad, worst = 0, 0.0
        for k in common:
            ok, d = _diff(new_by[k]["properties"].get(column), old_by[k]["properties"].get(column), rtol, tol)
            bad += not ok
            worst = max(worst, d)
        rows.append((layer, column, f"max |diff| {worst:.3g}" + (f", {bad} differ" if bad else ""),
                     "same" if bad == 0 else "DIFF"))
    iou, hausdorff = _geometry_agreement([old_by[k]["geometry"] for k in common],
                                         [new_by[k]["geometry"] for k in common])
    # coordinates rounded to 1e-7° move vertices by up to ~1 cm: small polygons lose a little IoU
    rows.append((layer, "geometry", (f"min IoU {iou:.6f}, " if iou is not None else "")
                 + f"max Hausdorff {hausdorff:.3f} m",
                 "same" if hausdorff <= GEOMETRY_TOLERANCE_M or (iou is not None and iou > 0.999) else "DIFF"))
    return rows


def compare_raster(old_path, new_path, atol):
    """Rows of the table for one GeoTIFF."""
    import rasterio

    with rasterio.open(old_path) as a, rasterio.open(new_path) as b:
        if (a.count, a.height, a.width) != (b.count, b.height, b.width) or a.transform != b.transform:
            return [(Path(old_path).name, "grid", f"{a.count}x{a.height}x{a.width} -> "
                     f"{b.count}x{b.height}x{b.width}", "DIFF")]
        x, y = a.read().astype(np.float64), b.read().astype(np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    one = int((np.isfinite(x) != np.isfinite(y)).sum())
    worst = float(np.abs(x[both] - y[both]).max()) if both.any() else 0.0
    return [(Path(old_path).name, "values", f"max |diff| {worst:.3g}, {one} cells valid in one only",
             "same" if worst <= atol and one == 0 else "DIFF")]


def compare(old_dir, new_dir, rtol=1e-6, atol=0.0):
    """All rows for two folders."""
    old_dir, new_dir = Path(old_dir), Path(new_dir)
    rows = []
    for suffix in ("geojson", "tif"):
        names = sorted({p.name for p in old_dir.glob(f"*.{suffix}")} | {p.name for p in new_dir.glob(f"*.{suffix}")})
        for name in names:
            a, b = old_dir / name, new_dir / name
            if not (a.exists() and b.exists()):
                rows.append((name, "file", "only in " + ("old" if a.exists() else "new"),
                             "note" if b.exists() else "DIFF"))
            elif suffix == "geojson":
                rows.extend(compare_layer(a, b, name[:-len(".geojson")], rtol, atol))
            else:
                rows.extend(compare_raster(a, b, atol))
    return rows


def main(argv=None):
    """Command line: print the table, return 1 when anything differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_dir")
    parser.add_argument("new_dir")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--atol", type=float, default=0.0)
    args = parser.parse_args(argv)
    rows = compare(args.old_dir, args.new_dir, args.rtol, args.atol)
    widths = [max(len(str(r[i])) for r in rows + [("item", "check", "result", "status")]) for i in range(4)]
    for r in [("item", "check", "result", "status")] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))
    differs = [r for r in rows if r[3] == "DIFF"]
    print(f"\n{len(differs)} difference(s) beyond tolerance" if differs else "\nno differences beyond tolerance")
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
