"""LAS/LAZ rasterisation: known heights, noise and withheld points ignored, ground to DTM, CRS checks."""
from __future__ import annotations

import laspy
import numpy as np
import pytest
from pyproj import CRS

from solarkataster.errors import CRSError
from solarkataster.io.pointcloud import rasterize_las

X0, Y0 = 356000.0, 5699000.0  # lower-left corner [m], EPSG:25832


def make_points():
    """10 m x 10 m of ground at 100 m (class 2, one point per 0.5 m cell centre) with a 3 m x 2 m roof at 110 m
    (class 6) over x 2-5 m, y 4-6 m, plus noise (classes 7 and 18) and one withheld point that must be ignored,
    a one-cell hole (filled) and a 2 m x 2 m hole (left NaN) in the ground."""
    cx, cy = np.meshgrid(np.arange(0.25, 10, 0.5), np.arange(0.25, 10, 0.5))
    cx, cy = cx.ravel(), cy.ravel()
    z = np.full(cx.shape, 100.0)
    cls = np.full(cx.shape, 2, np.uint8)
    roof = (cx > 2) & (cx < 5) & (cy > 4) & (cy < 6)
    z[roof], cls[roof] = 110.0, 6
    # small hole: the cell centred at (8.25, 1.25); big hole: x 6-8, y 7-9 (4 x 4 cells)
    hole = ((cx == 8.25) & (cy == 1.25)) | ((cx > 6) & (cx < 8) & (cy > 7) & (cy < 9))
    cx, cy, z, cls = cx[~hole], cy[~hole], z[~hole], cls[~hole]
    withheld = np.zeros(cx.shape, bool)
    # extras: low noise under the ground, high noise above it, a withheld point above the roof
    ex = np.array([1.25, 3.25, 3.75])
    ey = np.array([1.25, 8.25, 4.75])
    ez = np.array([50.0, 300.0, 250.0])
    ecls = np.array([7, 18, 6], np.uint8)
    ew = np.array([False, False, True])
    return (np.concatenate([cx, ex]) + X0, np.concatenate([cy, ey]) + Y0, np.concatenate([z, ez]),
            np.concatenate([cls, ecls]), np.concatenate([withheld, ew]))


def write_las(path, x, y, z, cls, withheld, crs="EPSG:25832"):
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.array([X0, Y0, 0.0])
    if crs:
        header.add_crs(CRS.from_user_input(crs))
    las = laspy.LasData(header)
    las.x, las.y, las.z = x, y, z
    las.classification = cls
    las.withheld = withheld
    las.write(path)
    return path


@pytest.mark.parametrize("suffix", [".las", ".laz"])
def test_rasterize_known_heights_and_classes(tmp_path, suffix):
    path = write_las(tmp_path / f"scene{suffix}", *make_points())
    dsm, dtm = rasterize_las(path, resolution=0.5, bounds=(X0, Y0, X0 + 10, Y0 + 10))
    assert dsm.shape == (20, 20) and dsm.cellsize == 0.5
    assert CRS.from_user_input(dsm.crs).to_epsg() == 25832
    row = lambda y: int((10 - y) / 0.5)  # noqa: E731 - row of a y offset [m]
    col = lambda x: int(x / 0.5)  # noqa: E731
    # roof cells carry 110 m (the withheld point at 250 m over the roof is ignored)
    assert dsm.z[row(4.75), col(3.75)] == pytest.approx(110.0, abs=1e-3)
    assert dsm.z[row(5.25), col(2.25)] == pytest.approx(110.0, abs=1e-3)
    # noise ignored: class 7 at 50 m under the ground and class 18 at 300 m
    assert dsm.z[row(1.25), col(1.25)] == pytest.approx(100.0, abs=1e-3)
    assert dsm.z[row(8.25), col(3.25)] == pytest.approx(100.0, abs=1e-3)
    assert np.nanmax(dsm.z) == pytest.approx(110.0, abs=1e-3)
    # one-cell hole filled from the neighbours (all 100 m); the 16-cell (4 m²) hole stays NaN
    assert dsm.z[row(1.25), col(8.25)] == pytest.approx(100.0, abs=1e-3)
    assert np.isnan(dsm.z[row(8.25), col(7.25)])
    assert np.isnan(dsm.z).sum() == 16
    # DTM: ground only (the roof is not ground), interpolated under the roof and in the holes: flat 100 m
    assert np.isfinite(dtm.z).all()
    np.testing.assert_allclose(dtm.z, 100.0, atol=1e-3)


def test_dtm_interpolates_linearly_under_building(tmp_path):
    # sloping ground z = 100 + 0.1 x [m]; a building with no ground returns over x 3-7 m: the DTM there
    # must be the plane (linear interpolation is exact on a plane)
    cx, cy = np.meshgrid(np.arange(0.25, 10, 0.5), np.arange(0.25, 10, 0.5))
    cx, cy = cx.ravel(), cy.ravel()
    z = 100 + 0.1 * cx
    cls = np.full(cx.shape, 2, np.uint8)
    bld = (cx > 3) & (cx < 7) & (cy > 3) & (cy < 7)
    z[bld], cls[bld] = 115.0, 6
    path = write_las(tmp_path / "slope.laz", cx + X0, cy + Y0, z, cls, np.zeros(cx.shape, bool))
    dsm, dtm = rasterize_las([path], resolution=0.5, bounds=(X0, Y0, X0 + 10, Y0 + 10))
    expect = 100 + 0.1 * (np.arange(20) * 0.5 + 0.25)
    np.testing.assert_allclose(dtm.z, np.broadcast_to(expect, (20, 20)), atol=2e-3)
    assert np.nanmax(dsm.z) == pytest.approx(115.0, abs=1e-3)


def test_two_files_and_default_bounds(tmp_path):
    x, y, z, cls, w = make_points()
    west = x < X0 + 5
    a = write_las(tmp_path / "a.las", x[west], y[west], z[west], cls[west], w[west])
    b = write_las(tmp_path / "b.las", x[~west], y[~west], z[~west], cls[~west], w[~west])
    one, _ = rasterize_las(write_las(tmp_path / "all.las", x, y, z, cls, w), 0.5, (X0, Y0, X0 + 10, Y0 + 10))
    both, _ = rasterize_las([a, b], 0.5, (X0, Y0, X0 + 10, Y0 + 10))
    np.testing.assert_array_equal(np.isnan(one.z), np.isnan(both.z))
    np.testing.assert_allclose(one.z, both.z, equal_nan=True)
    auto, _ = rasterize_las([a, b], 0.5)  # header extent snapped outward to 0.5 m
    assert auto.transform.c == X0 and auto.transform.f == Y0 + 10.0


def test_missing_crs_is_a_clear_error(tmp_path):
    path = write_las(tmp_path / "nocrs.las", *make_points(), crs=None)
    with pytest.raises(CRSError, match="nocrs.las.*no CRS"):
        rasterize_las(path)


def test_geographic_crs_is_rejected(tmp_path):
    x, y, z, cls, w = make_points()
    header_crs = "EPSG:4326"
    path = write_las(tmp_path / "geo.las", x, y, z, cls, w, crs=header_crs)
    with pytest.raises(CRSError, match="geo.las"):
        rasterize_las(path)


def test_assigned_crs_fills_a_missing_one(tmp_path):
    """Many national LAS/LAZ tiles carry no CRS: an assigned one is used, with the same heights."""
    bare = write_las(tmp_path / "nocrs.las", *make_points(), crs=None)
    tagged = write_las(tmp_path / "tagged.las", *make_points())
    dsm, dtm = rasterize_las(bare, resolution=0.5, bounds=(X0, Y0, X0 + 10, Y0 + 10), crs="EPSG:25832")
    ref, _ = rasterize_las(tagged, resolution=0.5, bounds=(X0, Y0, X0 + 10, Y0 + 10))
    assert CRS.from_user_input(dsm.crs).to_epsg() == 25832
    np.testing.assert_array_equal(dsm.z, ref.z)
    # a declared CRS equal to the assigned one is fine; a different one is never overridden
    same, _ = rasterize_las(tagged, resolution=0.5, bounds=(X0, Y0, X0 + 10, Y0 + 10), crs="EPSG:25832")
    assert CRS.from_user_input(same.crs).to_epsg() == 25832
    with pytest.raises(CRSError, match=r"tagged.las: declares CRS ETRS89 / UTM zone 32N.*differs.*UTM zone 33N"):
        rasterize_las(tagged, resolution=0.5, crs="EPSG:25833")


def test_distorting_crs_is_rejected(tmp_path):
    """A point cloud in Web Mercator: lengths 1.6 times too long at 51.4° N; the error names the factor."""
    x, y, z, cls, w = make_points()
    from pyproj import Transformer

    to_merc = Transformer.from_crs("EPSG:25832", "EPSG:3857", always_xy=True)
    mx, my = to_merc.transform(x, y)
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.array([mx.min(), my.min(), 0.0])
    header.add_crs(CRS.from_user_input("EPSG:3857"))
    las = laspy.LasData(header)
    las.x, las.y, las.z, las.classification = mx, my, z, cls
    las.write(tmp_path / "merc.las")
    with pytest.raises(CRSError, match=r"merc.las: CRS WGS 84 / Pseudo-Mercator has a scale factor of 1\.60\d.*"
                                       r"EPSG:25832"):
        rasterize_las(tmp_path / "merc.las", resolution=0.5)
