"""Benchmark scenes built from the real data in ../shared/validation (never copied into the repo)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SOLARKATASTER_SHARED", REPO.parent / "shared")) / "validation"
ESSEN = SHARED / "nrw-essen-dom1" / "dom1_32_356_5699_1_nw_2020.tif"


def essen_grid():
    """The real 1 km² Essen DSM at 1 m (1000 x 1000)."""
    from solarkataster.io.raster import read_surface

    if not ESSEN.exists():
        raise SystemExit(f"needs {ESSEN}")
    return read_surface(ESSEN)


def essen_half_metre(size=1000):
    """A ``size`` x ``size`` DSM at 0.5 m: the Essen tile's centre bilinearly upsampled to 0.5 m."""
    from affine import Affine
    from scipy.ndimage import map_coordinates

    from solarkataster.grid import Grid

    g = essen_grid()
    r0 = (g.shape[0] - size / 2) / 2
    c0 = (g.shape[1] - size / 2) / 2
    rr, cc = np.mgrid[0:size, 0:size] * 0.5
    z = map_coordinates(g.z, [rr + r0, cc + c0], order=1)
    t = g.transform * Affine.translation(c0, r0) * Affine.scale(0.5)
    return Grid(z, t, g.crs, source={"path": str(ESSEN), "note": f"centre {size}x{size} upsampled to 0.5 m"})


def town_mosaic(out_dir, rows=1000, cols=1000, ground=250.0):
    """A synthetic town of ``rows`` x ``cols`` px at 0.5 m: the sample town repeated, on flat ground.

    The sample town (sample_data/, 400 x 480 px) is set on flat ground (DSM minus DTM plus ``ground``) so
    that its copies join without steps, repeated over the area and cropped; its footprints are copied with
    it (ids suffixed with the copy). Writes ``dsm.tif``, ``dtm.tif`` and ``footprints.gpkg`` into
    ``out_dir`` and returns their paths.
    """
    import geopandas as gpd
    import pandas as pd
    import rasterio
    from affine import Affine
    from shapely import affinity

    sample = REPO / "sample_data"
    with rasterio.open(sample / "town_dsm.tif") as ds, rasterio.open(sample / "town_dtm.tif") as dt:
        z = ds.read(1).astype(np.float64) - dt.read(1) + ground
        prof, t = ds.profile, ds.transform
    z = np.where(np.isfinite(z), z, ground)  # the sample's nodata corner becomes ground
    h, w = z.shape
    ny, nx = -(-rows // h), -(-cols // w)
    big = np.tile(z, (ny, nx))[:rows, :cols].astype(np.float32)
    fp = gpd.read_file(sample / "town_footprints.gpkg")
    copies = []
    for i in range(ny):
        for j in range(nx):
            c = fp.copy()
            c["geometry"] = c.geometry.apply(lambda g, i=i, j=j: affinity.translate(g, j * w * t.a, i * h * t.e))
            c["building_id"] = c["building_id"].astype(str) + f"_{i}_{j}"
            copies.append(c)
    allfp = gpd.GeoDataFrame(pd.concat(copies, ignore_index=True), crs=fp.crs)
    right, bottom = t.c + cols * t.a, t.f + rows * t.e
    cent = allfp.geometry.centroid
    allfp = allfp[(cent.x < right) & (cent.y > bottom)].reset_index(drop=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prof = dict(prof, width=cols, height=rows, dtype="float32", nodata=np.nan, transform=Affine(*t[:6]),
                tiled=True, blockxsize=256, blockysize=256, compress="deflate", BIGTIFF="IF_SAFER")
    with rasterio.open(out / "dsm.tif", "w", **prof) as dst:
        dst.write(big, 1)
    with rasterio.open(out / "dtm.tif", "w", **prof) as dst:
        dst.write(np.full((rows, cols), ground, np.float32), 1)
    allfp.to_file(out / "footprints.gpkg", driver="GPKG")
    return out / "dsm.tif", out / "dtm.tif", out / "footprints.gpkg"
