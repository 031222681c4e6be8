"""Roof-face segmentation against analytic roofs and rasterised LoD2 models (true planes known)."""
from __future__ import annotations

import numpy as np
import pytest
import shapely
from conftest import shared_file
from lod2 import RoofPolygon, match_planes, rasterise_roofs, read_citygml_roofs, read_cityjson_roofs

from solarkataster.errors import ParameterError
from solarkataster.roofs import FACE_COLUMNS, face_polygons, segment_roofs


# ------------------------------------------------------------------------------------ synthetic scenes
def _gable(bid, x0, y0, length, width, eave, pitch, along_x=True):
    hr = eave + width / 2 * np.tan(np.radians(pitch))
    if along_x:
        ym = y0 + width / 2
        return [RoofPolygon(bid, np.array([[x0, y0, eave], [x0 + length, y0, eave], [x0 + length, ym, hr],
                                           [x0, ym, hr]]), []),
                RoofPolygon(bid, np.array([[x0, ym, hr], [x0 + length, ym, hr], [x0 + length, y0 + width, eave],
                                           [x0, y0 + width, eave]]), [])]
    xm = x0 + width / 2
    return [RoofPolygon(bid, np.array([[x0, y0, eave], [xm, y0, hr], [xm, y0 + length, hr],
                                       [x0, y0 + length, eave]]), []),
            RoofPolygon(bid, np.array([[xm, y0, hr], [x0 + width, y0, eave], [x0 + width, y0 + length, eave],
                                       [xm, y0 + length, hr]]), [])]


def _hip(bid, x0, y0, length, width, eave, pitch):
    d = width / 2
    hr = eave + d * np.tan(np.radians(pitch))
    ym = y0 + d
    a, b = x0 + d, x0 + length - d
    c = [[x0, y0, eave], [x0 + length, y0, eave], [x0 + length, y0 + width, eave], [x0, y0 + width, eave]]
    return [RoofPolygon(bid, np.array([c[0], c[1], [b, ym, hr], [a, ym, hr]]), []),
            RoofPolygon(bid, np.array([c[1], c[2], [b, ym, hr]]), []),
            RoofPolygon(bid, np.array([c[2], c[3], [a, ym, hr], [b, ym, hr]]), []),
            RoofPolygon(bid, np.array([c[3], c[0], [a, ym, hr]]), [])]


def _shed(bid, x0, y0, length, width, low, pitch):
    high = low + width * np.tan(np.radians(pitch))
    return [RoofPolygon(bid, np.array([[x0, y0, high], [x0 + length, y0, high], [x0 + length, y0 + width, low],
                                       [x0, y0 + width, low]]), [])]


def _flat(bid, ring_xy, height):
    ring = np.column_stack([np.asarray(ring_xy, float), np.full(len(ring_xy), height)])
    return [RoofPolygon(bid, ring, [])]


def _rotate(polys, angle, centre):
    t = np.radians(angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    out = []
    for p in polys:
        e = p.exterior.copy()
        e[:, :2] = (e[:, :2] - centre) @ rot.T + centre
        out.append(RoofPolygon(p.building, e, []))
    return out


def synthetic_roofs():
    """Gable, hip, shed, flat, L-shaped (two gables), rotated gable and hip, flat with courtyard."""
    roofs = []
    roofs += _gable("gable", 0, 0, 16, 10, 6, 40)
    roofs += _hip("hip", 25, 0, 18, 11, 7, 30)
    roofs += _shed("shed", 50, 0, 12, 8, 5, 15)
    roofs += _flat("flat", [(65, 0), (80, 0), (80, 12), (65, 12)], 9)
    roofs += _gable("ell", 0, 20, 18, 9, 6, 35) + _gable("ell", 0, 29, 12, 9, 5, 35, along_x=False)
    roofs += _rotate(_gable("rot_gable", 25, 20, 15, 9, 6, 45), 30, np.array([32.5, 24.5]))
    roofs += _rotate(_hip("rot_hip", 50, 22, 16, 10, 6, 35), -25, np.array([58, 27]))
    roofs += [RoofPolygon("court", np.array([[68, 20, 10], [84, 20, 10], [84, 36, 10], [68, 36, 10]]),
                          [np.array([[73, 25, 10], [79, 25, 10], [79, 31, 10], [73, 31, 10]])])]
    base = {r.building: 0.0 for r in roofs}
    return roofs, base


@pytest.fixture(scope="module", params=[0.5, 1.0])
def synthetic_scene(request):
    roofs, base = synthetic_roofs()
    return rasterise_roofs(roofs, base, request.param, noise=0.03, rng=np.random.default_rng(7))


def test_synthetic_roofs_recovered(synthetic_scene):
    sc = synthetic_scene
    seg = segment_roofs(sc.z, sc.cellsize, sc.building_labels)
    res = match_planes(sc.planes, sc.plane_labels, seg.face_labels, seg.faces)
    # gable 2, hip 4, shed 1, flat 1, ell 4, rotated gable 2, rotated hip 4, courtyard 1 (true planes of the
    # geometry above; the ell's wings are separate planes as their ridges differ in direction)
    assert len(res) >= 17
    if sc.cellsize == 0.5:
        assert res["ok"].all(), res[~res["ok"]].to_string()
    else:
        # at 1 m a 29 m² hip triangle has 25 pixels, a third of them on its edges, whose owner is a coin
        # toss: the 15 % area bound only holds from about 60 pixels up, 25 % below
        angles_ok = (res["d_tilt"] <= 3) & ((res["tilt"] < 5) | (res["d_azimuth"] <= 10))
        assert angles_ok.all(), res[~angles_ok].to_string()
        assert (res["d_area"] <= np.where(res["n_pixels"] >= 60, 0.15, 0.25)).all(), res.to_string()
    # the analytic tilts, e.g. the gable's 40°, come out within 1° under 3 cm noise
    gable = res[res["building"] == sc.buildings.index("gable") + 1]
    np.testing.assert_allclose(gable["face_tilt"], 40.0, atol=1.0)
    assert set(np.round(gable["face_azimuth"] / 90) % 4) == {0, 2}  # faces north and south
    # each true plane maps to its own face
    assert res["face"].is_unique


def test_faces_table_consistent(synthetic_scene):
    sc = synthetic_scene
    seg = segment_roofs(sc.z, sc.cellsize, sc.building_labels)
    f = seg.faces
    assert list(f.columns) == FACE_COLUMNS
    assert seg.face_labels.dtype == np.int32
    assert f["face"].tolist() == list(range(1, len(f) + 1))
    np.testing.assert_array_equal(np.bincount(seg.face_labels.ravel())[1:], f["n_pixels"])
    np.testing.assert_allclose(f["area_horizontal"], f["n_pixels"] * sc.cellsize ** 2)
    np.testing.assert_allclose(f["area"], f["area_horizontal"] / np.cos(np.radians(f["tilt"])), rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(f[["normal_e", "normal_n", "normal_u"]], axis=1), 1.0)
    assert (seg.face_labels[sc.building_labels == 0] == 0).all()
    # faces never straddle buildings
    for _, row in f.iterrows():
        assert (sc.building_labels[seg.face_labels == row["face"]] == row["building"]).all()
    # the plane (normal, offset) reproduces the heights: x = (col+0.5) cs, y = -(row+0.5) cs
    rr, cc = np.nonzero(seg.face_labels)
    k = seg.face_labels[rr, cc] - 1
    x, y = (cc + 0.5) * sc.cellsize, -(rr + 0.5) * sc.cellsize
    zp = (f["offset"].to_numpy()[k] - f["normal_e"].to_numpy()[k] * x - f["normal_n"].to_numpy()[k] * y) \
        / f["normal_u"].to_numpy()[k]
    assert np.abs(zp - sc.z[rr, cc]).max() < 0.15
    assert (f["rmse"] < 0.03).all()  # uniform noise of +-3 cm has an RMS of 1.7 cm
    # deterministic
    again = segment_roofs(sc.z, sc.cellsize, sc.building_labels)
    np.testing.assert_array_equal(again.face_labels, seg.face_labels)


def test_rotating_scene_rotates_azimuths():
    roofs, base = synthetic_roofs()
    sc = rasterise_roofs(roofs, base, 0.5, noise=0.03, rng=np.random.default_rng(3))
    seg = segment_roofs(sc.z, 0.5, sc.building_labels)
    # np.rot90 turns the map 90° counter-clockwise: a face looking east (90°) then looks north (0°)
    seg_r = segment_roofs(np.rot90(sc.z), 0.5, np.rot90(sc.building_labels))
    big = seg.faces[seg.faces["n_pixels"] >= 80]
    for _, row in big.iterrows():
        f_rot = np.bincount(np.rot90(seg.face_labels == row["face"]).ravel() * seg_r.face_labels.ravel())
        other = seg_r.faces.iloc[int(np.argmax(f_rot[1:]))]
        assert abs(other["tilt"] - row["tilt"]) < 0.5
        if row["tilt"] > 5:
            assert abs((other["azimuth"] - (row["azimuth"] - 90) + 180) % 360 - 180) < 1.0


def test_chimney_is_excluded():
    """A 1 m x 1 m chimney (below min_face_area) gets label 0, the roof around it stays one face."""
    cs = 0.5
    roofs = _gable("g", 0, 0, 16, 10, 6, 35)
    sc = rasterise_roofs(roofs, {"g": 0.0}, cs, noise=0.02, rng=np.random.default_rng(1))
    rows, cols = np.nonzero(sc.building_labels)
    r0, c0 = rows.min() + 4, cols.min() + 10
    z = sc.z.copy()
    z[r0:r0 + 2, c0:c0 + 2] += 1.5
    seg = segment_roofs(z, cs, sc.building_labels)
    assert len(seg.faces) == 2
    assert (seg.face_labels[r0:r0 + 2, c0:c0 + 2] == 0).all()


def test_empty_and_nan_inputs():
    z = np.full((20, 20), np.nan)
    labels = np.zeros((20, 20), int)
    labels[5:15, 5:15] = 1
    seg = segment_roofs(z, 1.0, labels)
    assert seg.face_labels.shape == (20, 20) and seg.face_labels.max() == 0
    assert list(seg.faces.columns) == FACE_COLUMNS and len(seg.faces) == 0
    seg = segment_roofs(np.ones((20, 20)), 1.0, np.zeros((20, 20), int))
    assert len(seg.faces) == 0
    assert face_polygons(seg.face_labels, _transform(1.0)) == {}
    # one valid building next to an all-NaN one
    z = np.zeros((30, 30))
    z[2:12, 2:12] = 5.0
    z[15:25, 15:25] = np.nan
    labels = np.zeros((30, 30), int)
    labels[2:12, 2:12] = 1
    labels[15:25, 15:25] = 2
    seg = segment_roofs(z, 1.0, labels)
    assert seg.faces["building"].tolist() == [1]
    assert seg.faces["n_pixels"].iloc[0] == 100 and abs(seg.faces["tilt"].iloc[0]) < 1e-6
    with pytest.raises(ParameterError):
        segment_roofs(z, 1.0, labels[:5])
    with pytest.raises(ParameterError):
        segment_roofs(z, -1.0, labels)


def _transform(cs, x0=1000.0, y0=5000.0):
    from affine import Affine

    return Affine(cs, 0, x0, 0, -cs, y0)


def test_face_polygons(synthetic_scene):
    sc = synthetic_scene
    seg = segment_roofs(sc.z, sc.cellsize, sc.building_labels)
    polys = face_polygons(seg.face_labels, sc.transform)
    assert set(polys) == set(seg.faces["face"])
    for _, row in seg.faces.iterrows():
        p = polys[row["face"]]
        assert p.is_valid and not p.is_empty and p.geom_type in ("Polygon", "MultiPolygon")
        # simplification moves edges by at most about a pixel: area within perimeter * cellsize
        assert abs(p.area - row["area_horizontal"]) <= p.length * sc.cellsize + 1e-9
    raw = face_polygons(seg.face_labels, sc.transform, simplify=0)
    for f, p in raw.items():
        assert p.area == pytest.approx(seg.faces.set_index("face").at[f, "area_horizontal"])
    # clipping to a box keeps only the parts inside it
    box = shapely.box(*list(polys.values())[0].bounds)
    first = next(iter(polys))
    clipped = face_polygons(seg.face_labels, sc.transform, clip={first: box.buffer(-1.0)})
    assert clipped[first].within(box) and clipped[first].area < polys[first].area
    # the courtyard's hole survives
    court = sc.buildings.index("court") + 1
    fcourt = seg.faces.loc[seg.faces["building"] == court, "face"].iloc[0]
    assert len(polys[fcourt].interiors) == 1


# ---------------------------------------------------------------------------------- real LoD2 models
def _recovery(scenes):
    import pandas as pd

    res = []
    for sc in scenes:
        seg = segment_roofs(sc.z, sc.cellsize, sc.building_labels)
        res.append(match_planes(sc.planes, sc.plane_labels, seg.face_labels, seg.faces))
    return pd.concat(res, ignore_index=True)


def test_karlsruhe_lod2_planes_recovered():
    roofs, base = read_citygml_roofs(shared_file("karlsruhe-lod2", "lindenallee_kranichweg_v1.gml"))
    assert len({r.building for r in roofs}) == 95 and len(roofs) == 146  # SOURCE.md
    sc = rasterise_roofs(roofs, base, 0.5, noise=0.03, rng=np.random.default_rng(11))
    res = _recovery([sc])
    assert len(res) >= 100
    # measured: 100 % of 146 planes >= 10 m²
    assert res["ok"].mean() >= 0.95, res[~res["ok"]].to_string()


@pytest.mark.xfail(strict=True, reason="goal (issue 11): >= 90 % of visible planes >= 10 m² recovered; measured 85 % "
                   "(tilt <= 60°: 92 %) against the corrected truth (rings were cut by a vertex before): misses "
                   "are mostly mansard planes steeper than 60° that are 1-2 pixels wide in plan")
def test_zurich_lod2_planes_recovered():
    roofs, base = read_cityjson_roofs(shared_file("zurich-lod2-cityjson", "zurich_subset_lod2.city.json"))
    buildings = sorted({r.building for r in roofs})
    assert len(buildings) == 49  # SOURCE.md: 49 Buildings
    scenes = [rasterise_roofs([r for r in roofs if r.building == b], base, 0.5, noise=0.03,
                              rng=np.random.default_rng(i)) for i, b in enumerate(buildings)]
    res = _recovery(scenes)
    assert len(res) >= 140
    assert res["ok"].mean() >= 0.90, res[~res["ok"]].to_string()


def test_building_covering_whole_raster():
    z = np.add.outer(np.zeros(30), np.arange(30) * 0.5)  # shed facing west, tilt atan(0.5)
    seg = segment_roofs(z, 1.0, np.ones((30, 30), int))
    assert len(seg.faces) == 1 and seg.faces["n_pixels"].iloc[0] == 900
    assert seg.faces["tilt"].iloc[0] == pytest.approx(np.degrees(np.arctan(0.5)), abs=1e-6)
    assert seg.faces["azimuth"].iloc[0] == pytest.approx(270.0, abs=1e-6)
