"""Roof-face segmentation against analytic roofs and rasterised LoD2 models (true planes known)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import shared_file
from lod2 import RoofPolygon, match_planes, rasterise_roofs, read_citygml_roofs, read_cityjson_roofs

from solarkataster.errors import ParameterError
from solarkataster.roofs import FACE_COLUMNS, RoofOptions, face_polygons, roof_faces, segment_roofs


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



# ------------------------------------------------------------------------- publishable faces (roof_faces)
def _plane_normal(ring):
    """Upward unit normal of a planar 3-D ring (Newell's method)."""
    p = ring - ring.mean(0)
    q = np.roll(p, -1, axis=0)
    n = np.array([np.sum((p[:, 1] - q[:, 1]) * (p[:, 2] + q[:, 2])),
                  np.sum((p[:, 2] - q[:, 2]) * (p[:, 0] + q[:, 0])),
                  np.sum((p[:, 0] - q[:, 0]) * (p[:, 1] + q[:, 1]))])
    n = n / np.linalg.norm(n)
    return -n if n[2] < 0 else n


def true_planes(roofs):
    """Analytic truth: (building, unit normal, plan polygon) per plane, adjacent coplanar polygons merged."""
    out = []
    for r in roofs:
        n = _plane_normal(r.exterior)
        poly = shapely.Polygon(r.exterior[:, :2], [h[:, :2] for h in r.interiors])
        for o in out:
            if o[0] == r.building and np.dot(o[1], n) > 0.9995 and o[2].distance(poly) < 0.1:
                o[2] = o[2].union(poly)
                break
        else:
            out.append([r.building, n, poly])
    return out


def score_faces(truth, buildings, rf):
    """Each true plane against the face that overlaps it most: angles, sloped area and IoU in plan."""
    import pandas as pd

    rows = []
    for b, n, poly in truth:
        tilt = np.degrees(np.arccos(n[2]))
        az = np.degrees(np.arctan2(n[0], n[1])) % 360
        cand = rf.faces[rf.faces["building"] == buildings.index(b) + 1]
        inter = np.array([g.intersection(poly).area for g in cand.geometry])
        row = dict(building=b, tilt=tilt, azimuth=az, area=poly.area / n[2], face=0, iou=0.0, ok=False)
        if len(inter) and inter.max() > 0:
            f = cand.iloc[int(np.argmax(inter))]
            g = f.geometry
            d_az = abs((f["azimuth"] - az + 180) % 360 - 180)
            row.update(face=f["face"], face_tilt=f["tilt"], face_area=f["area"], d_azimuth=d_az,
                       iou=g.intersection(poly).area / g.union(poly).area)
            row["ok"] = (abs(f["tilt"] - tilt) <= 3 and (tilt < 5 or d_az <= 10)
                         and abs(f["area"] / row["area"] - 1) <= 0.10)
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module", params=[0.5, 1.0])
def synthetic_faces(request):
    roofs, base = synthetic_roofs()
    sc = rasterise_roofs(roofs, base, request.param, noise=0.03, rng=np.random.default_rng(7))
    return roofs, sc, roof_faces(sc.z, sc.transform, sc.building_labels)


def test_roof_faces_without_excluded_parts_are_the_same_faces(synthetic_faces):
    """``excluded=False`` (the cadastre's) skips only the excluded parts: the same faces, outlines and areas."""
    _, sc, rf = synthetic_faces
    lean = roof_faces(sc.z, sc.transform, sc.building_labels, excluded=False)
    assert lean.faces.geometry.to_wkb().equals(rf.faces.geometry.to_wkb())
    pd.testing.assert_frame_equal(pd.DataFrame(lean.faces.drop(columns="geometry")),
                                  pd.DataFrame(rf.faces.drop(columns="geometry")))
    np.testing.assert_array_equal(lean.face_labels, rf.face_labels)
    kept = ["building", "footprint_area", "roof_area", "n_faces"]
    pd.testing.assert_frame_equal(pd.DataFrame(lean.buildings[kept]), pd.DataFrame(rf.buildings[kept]))
    assert lean.buildings.geometry.to_wkb().equals(rf.buildings.geometry.to_wkb())
    assert lean.buildings["excluded_area"].isna().all() and lean.buildings["excluded"].isna().all()
    assert rf.buildings["excluded_area"].notna().all()


def test_roof_faces_recover_true_planes(synthetic_faces):
    """Issue 11: >= 95 % of true planes of 10 m² or more with tilt ±3°, azimuth ±10°, area ±10 %; IoU >= 0.9."""
    roofs, sc, rf = synthetic_faces
    res = score_faces(true_planes(roofs), sc.buildings, rf)
    big = res[res["area"] >= 10]
    assert len(big) == 19
    assert big["ok"].mean() >= 0.95, big.round(3).to_string()
    assert big["iou"].median() >= 0.9, big.round(3).to_string()
    assert big["iou"].min() >= 0.85, big.round(3).to_string()
    assert big["face"].is_unique


def test_roof_faces_tile_the_roof(synthetic_faces):
    """Faces never overlap, cover >= 95 % of the true roof, tile the outline with the excluded parts."""
    roofs, sc, rf = synthetic_faces
    truth = true_planes(roofs)
    parts = shapely.get_parts(np.array(list(rf.faces.geometry), dtype=object))
    assert shapely.area(parts).min() >= 1.0
    assert (rf.faces.geom_type == "Polygon").all()
    assert rf.faces.geometry.is_valid.all()
    for _, b in rf.buildings.iterrows():
        faces = list(rf.faces.loc[rf.faces["building"] == b["building"]].geometry)
        union = shapely.union_all(faces)
        overlap = sum(g.area for g in faces) - union.area
        assert overlap < 0.005 * b["roof_area"]
        true_outline = shapely.union_all([p for name, _, p in truth if name == sc.buildings[b["building"] - 1]])
        assert union.intersection(true_outline).area >= 0.95 * true_outline.area, b["building"]
        # faces and excluded parts tile the outline
        assert union.union(b["excluded"]).symmetric_difference(b["geometry"]).area < 1e-6 * b["roof_area"] + 1e-6
        assert abs(union.area + b["excluded_area"] - b["roof_area"]) < 1e-3
    f = rf.faces
    assert (f["source"] == "lidar").all()
    assert (f["plane_rmse"] < 0.03).all() and (f["plane_share"] > 0.9).all()
    np.testing.assert_allclose(f["area"], f["area_horizontal"] / f["normal_u"])
    # the label raster is the polygons' pixel-centre rasterisation
    assert set(np.unique(rf.face_labels[rf.face_labels > 0])) <= set(f["face"])
    # the plane in map coordinates reproduces the DSM at the face's pixels
    rr, cc = np.nonzero(rf.face_labels)
    x, y = sc.transform @ (cc + 0.5, rr + 0.5)
    k = f.set_index("face").loc[rf.face_labels[rr, cc]]
    zp = (k["offset"].to_numpy() - k["normal_e"].to_numpy() * x - k["normal_n"].to_numpy() * y) / k["normal_u"]
    assert np.median(np.abs(zp - sc.z[rr, cc])) < 0.03


@pytest.mark.parametrize("cellsize", [0.5, 1.0])
def test_rectangular_gable_faces_have_four_corners(cellsize):
    roofs = _rotate(_gable("g", 0, 0, 16, 10, 6, 40), 20, np.array([8.0, 5.0]))
    sc = rasterise_roofs(roofs, {"g": 0.0}, cellsize, noise=0.03, rng=np.random.default_rng(2))
    rf = roof_faces(sc.z, sc.transform, sc.building_labels)
    assert len(rf.faces) == 2
    for g in rf.faces.geometry:
        assert g.geom_type == "Polygon"
        assert len(g.simplify(0.1).exterior.coords) - 1 == 4, g.wkt
    # the ridge is the planes' intersection: the shared edge runs along the true ridge (20° from east)
    shared = rf.faces.geometry.iloc[0].intersection(rf.faces.geometry.iloc[1])
    xy = np.asarray(shapely.get_coordinates(shared))
    d = xy.max(0) - xy.min(0)
    assert np.degrees(np.arctan2(d[1], d[0])) == pytest.approx(20.0, abs=1.0)
    # the outline of the detected building is regular: its edges at 20° and 110°, not on the pixel grid
    ring = np.asarray(rf.buildings.geometry.iloc[0].simplify(0.1).exterior.coords)
    e = np.diff(ring, axis=0)
    ang = np.degrees(np.arctan2(e[:, 1], e[:, 0])) % 90
    assert len(ring) - 1 == 4 and np.allclose(ang, 20.0, atol=1.5), ang


def test_overhang_beyond_footprint():
    """The eaves reach 0.8 m past the walls: the roof outline includes them, the footprint area stays."""
    cs = 0.5
    roofs = _gable("g", 0, 0, 16, 10, 6, 35)
    sc = rasterise_roofs(roofs, {"g": 0.0}, cs, noise=0.02, rng=np.random.default_rng(4))
    from rasterio.features import rasterize

    footprint = shapely.box(0.8, 0.8, 15.2, 9.2)
    labels = rasterize([(footprint, 1)], out_shape=sc.z.shape, transform=sc.transform, dtype="int32")
    rf = roof_faces(sc.z, sc.transform, labels, footprints={1: footprint})
    b = rf.buildings.iloc[0]
    assert b["footprint_area"] == pytest.approx(footprint.area)
    assert b["roof_area"] == pytest.approx(160.0, rel=0.03)
    union = shapely.union_all(list(rf.faces.geometry))
    assert union.intersection(shapely.box(0, 0, 16, 10)).area >= 0.95 * 160
    assert len(rf.faces) == 2
    np.testing.assert_allclose(rf.faces["area"], 80 / np.cos(np.radians(35)), rtol=0.05)
    # without an overhang in the DSM the outline stays the footprint
    rf0 = roof_faces(np.where(labels > 0, sc.z, 0.0), sc.transform, labels, footprints={1: footprint})
    assert rf0.buildings["roof_area"].iloc[0] == pytest.approx(footprint.area, rel=1e-6)


def test_overhang_outline_has_no_spike_at_an_almost_straight_vertex():
    """A footprint edge with a vertex 0.5° off straight, overhang on one side of it only: the moved edges'
    corner lay tens of metres out (a spike); the outline stays within the overhang of the footprint."""
    from shapely.geometry import Polygon

    from solarkataster.roofs._outline import _offset_outline

    footprint = Polygon([(0, 0), (14, 0), (14, 8), (7, 8.06), (0, 8)])
    xs, ys = np.meshgrid(np.arange(0.25, 7.0, 0.5), [8.35, 8.85])  # 1 m of eave over the left half
    outline = _offset_outline(footprint, np.column_stack([xs.ravel(), ys.ravel()]), 0.5, 1.5)
    assert outline.geom_type == "Polygon"
    assert outline.within(footprint.buffer(1.5 + 1e-6))
    assert outline.area == pytest.approx(footprint.area + 7.0, rel=0.05)


def test_flat_roof_projecting_past_its_footprint():
    """An upper storey's flat roof projects 2.2 m past the ground floor: the roof reaches it (up to
    max_flat_overhang, 2.5 m); a 30° shed projecting as far keeps max_overhang (1.5 m)."""
    from rasterio.features import rasterize

    cs = 0.5
    footprint = shapely.box(0, 2.2, 12, 10)  # the roof is 12 m x 10 m, the ground floor 12 m x 7.8 m
    labels = None
    for roofs, plan in ((_flat("f", [(0, 0), (12, 0), (12, 10), (0, 10)], 8.0), 120.0),
                        (_shed("s", 0, 0, 12, 10, 6.0, 30.0), 12 * (7.8 + 1.5))):
        sc = rasterise_roofs(roofs, {roofs[0].building: 0.0}, cs, noise=0.02, rng=np.random.default_rng(6))
        labels = rasterize([(footprint, 1)], out_shape=sc.z.shape, transform=sc.transform, dtype="int32")
        rf = roof_faces(sc.z, sc.transform, labels, footprints={1: footprint})
        assert len(rf.faces) == 1
        assert rf.faces["area_horizontal"].iloc[0] == pytest.approx(plan, rel=0.04), roofs[0].building
        assert rf.buildings["footprint_area"].iloc[0] == pytest.approx(footprint.area)


def test_superstructure_is_excluded_part():
    """A 1.5 m x 1.5 m chimney is an excluded part of the roof; the faces and it tile the outline."""
    cs = 0.5
    sc = rasterise_roofs(_gable("g", 0, 0, 16, 10, 6, 35), {"g": 0.0}, cs, noise=0.02,
                         rng=np.random.default_rng(1))
    z = sc.z.copy()
    col, row = ~sc.transform @ (5.0, 7.0)
    r0, c0 = int(row), int(col)
    z[r0:r0 + 3, c0:c0 + 3] += 2.0
    rf = roof_faces(z, sc.transform, sc.building_labels)
    assert len(rf.faces) == 2
    b = rf.buildings.iloc[0]
    chimney = shapely.box(*(sc.transform @ (c0, r0 + 3)), *(sc.transform @ (c0 + 3, r0)))
    assert b["excluded"].intersection(chimney).area >= 0.7 * chimney.area
    assert b["excluded_area"] < 2 * chimney.area
    assert (rf.face_labels[r0 + 1, c0 + 1]) == 0


def test_superstructure_at_the_eave_is_excluded_with_footprints():
    """A 1 m x 1 m box 0.6 m above the plane straddles the wall line at the eave (half of it over the 0.8 m
    overhang): with the footprint given it is excluded, not part of the slope's face (issue 11: Zürich LoD2
    faces swallowed such small dormers at the eave)."""
    from rasterio.features import rasterize

    cs = 0.5
    sc = rasterise_roofs(_gable("g", 0, 0, 16, 10, 6, 35), {"g": 0.0}, cs, noise=0.02,
                         rng=np.random.default_rng(4))
    footprint = shapely.box(0.8, 0.8, 15.2, 9.2)
    labels = rasterize([(footprint, 1)], out_shape=sc.z.shape, transform=sc.transform, dtype="int32")
    z = sc.z.copy()
    col, row = ~sc.transform @ (6.0, 1.5)
    r0, c0 = int(round(row)), int(round(col))
    assert labels[r0, c0] == 1 and labels[r0 + 1, c0] == 0  # one row inside the wall line, one beyond
    z[r0:r0 + 2, c0:c0 + 2] += 0.6
    rf = roof_faces(z, sc.transform, labels, footprints={1: footprint})
    box = shapely.box(*(sc.transform @ (c0, r0 + 2)), *(sc.transform @ (c0 + 2, r0)))
    assert rf.buildings["excluded"].iloc[0].intersection(box).area >= 0.5 * box.area
    assert (rf.face_labels[r0:r0 + 2, c0:c0 + 2] == 0).sum() >= 3
    assert len(rf.faces) == 2


def test_plane_split_by_a_superstructure_is_one_face():
    """A 2 m wide box across the whole south slope splits it; both pieces are one plane, so one face."""
    cs = 0.5
    sc = rasterise_roofs(_gable("g", 0, 0, 16, 10, 6, 35), {"g": 0.0}, cs, noise=0.02,
                         rng=np.random.default_rng(3))
    z = sc.z.copy()
    c0, r_ridge = (int(v) for v in ~sc.transform @ (7.0, 5.0))
    _, r_eave = (int(v) for v in ~sc.transform @ (7.0, 0.0))
    z[r_ridge:r_eave, c0:c0 + 4] = z.max() + 1.0
    rf = roof_faces(z, sc.transform, sc.building_labels)
    f = rf.faces
    south = f[(np.abs(f["tilt"] - 35) <= 3) & (np.abs(f["azimuth"] - 180) <= 10)]
    assert len(south) == 1, f[["face", "tilt", "azimuth", "area"]].to_string()
    # true: 16 m x 5 m in plan minus the 2 m box, sloped at 35°
    assert south["area"].iloc[0] == pytest.approx(14 * 5 / np.cos(np.radians(35)), rel=0.08)


def test_mansard_sides_are_recovered():
    """A mansard roof: 70° lower sides 1.5 m wide in plan (3 px at 0.5 m) under 30° upper planes."""
    cs, x0, length, width, eave = 0.5, 0.0, 16.0, 11.0, 6.0
    low_top = eave + 1.5 * np.tan(np.radians(70))
    ridge = low_top + (width / 2 - 1.5) * np.tan(np.radians(30))
    ym = width / 2
    rings = [[[x0, 0, eave], [x0 + length, 0, eave], [x0 + length, 1.5, low_top], [x0, 1.5, low_top]],
             [[x0, 1.5, low_top], [x0 + length, 1.5, low_top], [x0 + length, ym, ridge], [x0, ym, ridge]],
             [[x0, ym, ridge], [x0 + length, ym, ridge], [x0 + length, width - 1.5, low_top],
              [x0, width - 1.5, low_top]],
             [[x0, width - 1.5, low_top], [x0 + length, width - 1.5, low_top], [x0 + length, width, eave],
              [x0, width, eave]]]
    roofs = [RoofPolygon("m", np.array(r, float), []) for r in rings]
    sc = rasterise_roofs(roofs, {"m": 0.0}, cs, noise=0.02, rng=np.random.default_rng(5))
    rf = roof_faces(sc.z, sc.transform, sc.building_labels)
    f = rf.faces
    for tilt in (70.0, 30.0):
        for azimuth in (0.0, 180.0):
            hit = f[(np.abs(f["tilt"] - tilt) <= 3)
                    & (np.abs((f["azimuth"] - azimuth + 180) % 360 - 180) <= 10)]
            assert len(hit) == 1, (tilt, azimuth, f[["face", "tilt", "azimuth", "area"]].to_string())


def _ring_roof_faces(pitch=30.0, eave=6.0):
    """roof_faces of a ring roof around a 8 m courtyard (20 m square, ridge 3 m in from both eaves)."""
    ridge = eave + 3 * np.tan(np.radians(pitch))
    o, r, i = [(0, 0), (20, 0), (20, 20), (0, 20)], [(3, 3), (17, 3), (17, 17), (3, 17)], [(6, 6), (14, 6),
                                                                                          (14, 14), (6, 14)]
    polys = []
    for k in range(4):
        a, b = k, (k + 1) % 4
        polys.append(RoofPolygon("ring", np.array([[*o[a], eave], [*o[b], eave], [*r[b], ridge], [*r[a], ridge]],
                                                  float), []))
        polys.append(RoofPolygon("ring", np.array([[*r[a], ridge], [*r[b], ridge], [*i[b], eave], [*i[a], eave]],
                                                  float), []))
    sc = rasterise_roofs(polys, {"ring": 0.0}, 0.5, noise=0.02, rng=np.random.default_rng(9))
    return roof_faces(sc.z, sc.transform, sc.building_labels).faces


def test_courtyard_ring_roof_ridge_strip_is_no_face():
    """The pixels straddling a ring roof's ridge are flatter than both slopes; as one strip they follow
    four ridge lines, and must not survive as a (flat) face: the ring is 8 faces of 30°."""
    f = _ring_roof_faces()
    assert len(f) == 8 and (np.abs(f["tilt"] - 30.0) <= 3).all(), f[["tilt", "azimuth", "area"]].to_string()


@pytest.mark.xfail(strict=True, reason="goal: every trapezoid of a ring roof has 4 corners; measured 6-10 (up to "
                   "41 before the polygon step's boundary rules; the valleys at the courtyard's corners keep a few "
                   "pixel steps where they end)")
def test_courtyard_ring_roof_faces_have_four_corners():
    f = _ring_roof_faces()
    corners = [len(shapely.get_coordinates(shapely.simplify(g, 0.05).exterior)) - 1 for g in f.geometry]
    assert max(corners) <= 5, corners


def test_roof_faces_options_and_errors():
    roofs, base = synthetic_roofs()
    sc = rasterise_roofs(roofs, base, 1.0, noise=0.03, rng=np.random.default_rng(7))
    from affine import Affine

    with pytest.raises(ParameterError):
        roof_faces(sc.z, Affine(1, 0, 0, 0, -2, 0), sc.building_labels)
    with pytest.raises(ParameterError):
        roof_faces(sc.z, sc.transform, sc.building_labels[:5])
    empty = roof_faces(sc.z, sc.transform, np.zeros_like(sc.building_labels))
    assert len(empty.faces) == 0 and len(empty.buildings) == 0 and empty.face_labels.max() == 0
    coarse = roof_faces(sc.z, sc.transform, sc.building_labels, options=RoofOptions(min_face_area=40.0))
    assert len(coarse.faces) < len(roof_faces(sc.z, sc.transform, sc.building_labels).faces)


# ---------------------------------------------------------------- real LoD2 with footprints from ground surfaces
def _ground_footprints_cityjson(path):
    import json

    with open(path) as f:
        cj = json.load(f)
    scale = np.array(cj.get("transform", {}).get("scale", [1, 1, 1]), float)
    translate = np.array(cj.get("transform", {}).get("translate", [0, 0, 0]), float)
    verts = np.asarray(cj["vertices"], float) * scale + translate
    polys = {}
    for oid, obj in cj["CityObjects"].items():
        top = oid
        while cj["CityObjects"][top].get("parents"):
            top = cj["CityObjects"][top]["parents"][0]
        for g in obj.get("geometry", []):
            sem = g.get("semantics")
            if not sem or not str(g.get("lod", "")).startswith("2"):
                continue
            shells = [g["boundaries"]] if g["type"] in ("MultiSurface", "CompositeSurface") else g["boundaries"]
            values = [sem["values"]] if g["type"] in ("MultiSurface", "CompositeSurface") else sem["values"]
            for shell, vals in zip(shells, values):
                for surface, v in zip(shell, vals):
                    if v is not None and sem["surfaces"][v]["type"] == "GroundSurface":
                        rings = [verts[np.asarray(r, int)][:, :2] for r in surface]
                        polys.setdefault(top, []).append(shapely.make_valid(shapely.Polygon(rings[0], rings[1:])))
    return {b: shapely.union_all(p) for b, p in polys.items()}


def _ground_footprints_citygml(path):
    import xml.etree.ElementTree as ET

    gml, bldg = "{http://www.opengis.net/gml}", "{http://www.opengis.net/citygml/building/1.0}"
    polys = {}
    for b in ET.parse(path).getroot().iter(f"{bldg}Building"):
        for gs in b.iter(f"{bldg}GroundSurface"):
            for ring in gs.iter(f"{gml}LinearRing"):
                pl = ring.find(f"{gml}posList")
                xyz = np.asarray(pl.text.split(), float).reshape(-1, 3) if pl is not None else np.asarray(
                    [p.text.split() for p in ring.findall(f"{gml}pos")], float)
                polys.setdefault(b.get(f"{gml}id"), []).append(shapely.make_valid(shapely.Polygon(xyz[:, :2])))
    return {b: shapely.union_all(p) for b, p in polys.items()}


def _faces_on_footprints(sc, ground):
    """roof_faces with the scene's ground-surface footprints (label = the scene's building number)."""
    from rasterio.features import rasterize

    fps = {k + 1: ground[b] for k, b in enumerate(sc.buildings) if b in ground}
    labels = rasterize([(g, k) for k, g in fps.items()], out_shape=sc.z.shape, transform=sc.transform,
                       dtype="int32")
    return roof_faces(sc.z, sc.transform, labels, footprints=fps)


def _lod2_recovery(scenes, ground):
    import pandas as pd

    res = []
    for sc in scenes:
        rf = _faces_on_footprints(sc, ground)
        res.append(match_planes(sc.planes, sc.plane_labels, rf.face_labels, rf.faces))
    return pd.concat(res, ignore_index=True)


def test_karlsruhe_lod2_faces_on_ground_footprints():
    """Issue 11: >= 90 % of visible planes >= 10 m² with tilt ±3°, azimuth ±10°, area ±15 % incl. overhangs."""
    path = shared_file("karlsruhe-lod2", "lindenallee_kranichweg_v1.gml")
    roofs, base = read_citygml_roofs(path)
    sc = rasterise_roofs(roofs, base, 0.5, noise=0.03, rng=np.random.default_rng(11))
    res = _lod2_recovery([sc], _ground_footprints_citygml(path))
    assert len(res) >= 100
    assert res["ok"].mean() >= 0.90, res[~res["ok"]].to_string()


# measured 162/180 = 90.0 %, the goal with no margin (other noise seeds of
# benchmarks/diagnose_lod2_recovery.py: 162, 159, 160); the 18 misses: 11 planes under 2 px wide in plan, and
# corners where several planes meet (benchmarks/diagnose_lod2_recovery.py --list)
def test_zurich_lod2_faces_on_ground_footprints():
    path = shared_file("zurich-lod2-cityjson", "zurich_subset_lod2.city.json")
    roofs, base = read_cityjson_roofs(path)
    ground = _ground_footprints_cityjson(path)
    buildings = sorted({r.building for r in roofs})
    scenes = [rasterise_roofs([r for r in roofs if r.building == b], base, 0.5, noise=0.03,
                              rng=np.random.default_rng(i)) for i, b in enumerate(buildings)]
    res = _lod2_recovery(scenes, ground)
    assert len(res) >= 140
    assert res["ok"].mean() >= 0.90, res[~res["ok"]].to_string()


def test_essen_faces_without_footprints():
    """Issue 11 on real LiDAR (Essen DOM1, 1 m, detected buildings): faces that do not overlap, cover the
    roofs, have no sliver parts, and are single polygons unless truly multipart."""
    import rasterio

    from solarkataster.detection import detect_buildings, ground_from_dsm

    with rasterio.open(shared_file("nrw-essen-dom1", "dom1_32_356_5699_1_nw_2020.tif")) as ds:
        z = ds.read(1).astype(float)
        transform = ds.transform
    ground = ground_from_dsm(z, 1.0)
    rf = roof_faces(z, transform, detect_buildings(z, 1.0, ground), ground=ground)
    f = rf.faces
    assert len(f) > 1000 and f.geometry.is_valid.all()
    parts = shapely.get_parts(np.array(list(f.geometry), dtype=object))
    assert shapely.area(parts).min() >= 1.0
    # before: 56 % MultiPolygons (mostly 0.5 m² slivers), 1408 m² overlap, median coverage 73 %
    assert (f.geom_type == "MultiPolygon").mean() < 0.2
    overlap = 0.0
    coverage = []
    for _, b in rf.buildings.iterrows():
        faces = list(f.loc[f["building"] == b["building"]].geometry)
        if not faces:
            continue
        union = shapely.union_all(faces)
        overlap += sum(g.area for g in faces) - union.area
        coverage.append(union.intersection(b["geometry"]).area / b["roof_area"])
    assert overlap < 0.005 * rf.buildings["roof_area"].sum()
    assert np.median(coverage) >= 0.95
    assert (f["source"] == "lidar").all()
    # NaN only for faces without a pixel centre inside (thin faces of under a pixel)
    assert (f["plane_share"].between(0, 1) | (f["n_pixels"] == 0)).all()
    assert (f["n_pixels"] == 0).mean() < 0.01


def test_plane_kernels_match_numpy_references():
    """The numba kernels behind the plane fits equal plain numpy/scipy computations bit for bit."""
    from scipy import ndimage

    from solarkataster._kernels.roofs import lower_medians, part_sizes, small_parts
    from solarkataster.roofs._planes import moment_sums

    rng = np.random.default_rng(3)
    lab = rng.integers(0, 40, 5000)
    x, y, zl, w = (rng.normal(size=5000) * 30 for _ in range(4))
    zl[::11] = np.nan
    got = moment_sums(lab, x, y, zl, w, 45)
    products = dict(sxx=w * x * x, sxy=w * x * y, syy=w * y * y, sx=w * x, sy=w * y, n=w, sxz=w * x * zl,
                    syz=w * y * zl, sz=w * zl, szz=w * zl * zl)
    for key, v in products.items():
        assert np.array_equal(got[key], np.bincount(lab, weights=v, minlength=46), equal_nan=True), key
    vals = np.abs(rng.normal(size=5000))
    vals[::13] = np.nan
    order = np.argsort(lab, kind="stable")
    counts = np.bincount(lab, minlength=42)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ref = [np.sort(vals[lab == k])[(c - 1) // 2] if c else 0.0 for k, c in enumerate(counts)]
    assert np.array_equal(lower_medians(vals, order, starts, counts), ref, equal_nan=True)
    grid = rng.integers(-1, 4, (60, 70)).astype(np.int32)
    expect = np.zeros(grid.shape, np.int64)
    for v in range(1, 4):
        parts, _ = ndimage.label(grid == v)
        expect[parts > 0] = np.bincount(parts.ravel())[parts[parts > 0]]
    assert np.array_equal(part_sizes(grid), expect)
    for min_cells in (3, 4.5):
        assert np.array_equal(small_parts(grid, min_cells), (grid > 0) & (expect < min_cells))


def test_second_plane_split_from_a_face():
    """A face that the fill gave a 2 px wide 70° strip along its eave (under 40°) splits into both planes,
    and a plane on two sides of a flat strip is found in one group of unexplained pixels (analytic planes)."""
    from types import SimpleNamespace

    from solarkataster.roofs._frame import building_frame, face_table
    from solarkataster.roofs._planes import raster_planes
    from solarkataster.roofs._split import sequential_group_planes, split_two_plane_faces
    from solarkataster.roofs.segmentation import RoofSegmentation

    cs, rows, cols = 0.5, 24, 30
    rng = np.random.default_rng(4)
    y = -(np.arange(rows) + 0.5)[:, None] * cs + np.zeros((1, cols))  # north up: y falls with the row
    yb = -(rows - 2) * cs  # the strip: the last two rows, 70° down to the south
    z = 10.0 + (y - yb) * np.tan(np.radians(40))
    strip = y < yb
    z[strip] = 10.0 + (y[strip] - yb) * np.tan(np.radians(70))
    z += rng.normal(0, 0.02, z.shape)
    filled = np.ones((rows, cols), np.int32)
    fr = building_frame(z, cs, np.where(~strip, 1, 0))
    faces = face_table(fr, np.ones(len(fr.rr), np.int64), 1, cs, 0.05)
    # the face table's offsets are in the raster's frame (x = (col + 0.5) cs, y = -(row + 0.5) cs)
    seg = RoofSegmentation(np.where(strip, 0, 1).astype(np.int32), faces)
    opts = RoofOptions()
    coef = raster_planes(faces, 1)
    filled2, seg2, _, fb = split_two_plane_faces(z, cs, filled, seg, coef, np.array([-1, 1]), opts)
    assert len(seg2.faces) == 2 and list(fb) == [-1, 1, 1]
    new = seg2.faces.set_index("face").loc[2]
    assert new["tilt"] == pytest.approx(70.0, abs=3.0) and new["azimuth"] == pytest.approx(180.0, abs=10.0)
    assert ((filled2 == 2) == strip).mean() > 0.97
    assert seg2.faces.set_index("face").loc[1, "tilt"] == pytest.approx(40.0, abs=1.0)
    # one face's pixels without a second plane stay one face
    z1 = 10.0 + (y - yb) * np.tan(np.radians(40)) + rng.normal(0, 0.02, z.shape)
    fr1 = building_frame(z1, cs, filled)
    seg1 = RoofSegmentation(filled.copy(), face_table(fr1, np.ones(len(fr1.rr), np.int64), 1, cs, 0.05))
    out = split_two_plane_faces(z1, cs, filled, seg1, raster_planes(seg1.faces, 1), np.array([-1, 1]), opts)
    assert len(out[1].faces) == 1 and (out[0] == 1).all()
    # a group of a 65° strip 2 px wide (south) and a flat strip beside it: one trimmed fit matches neither
    zz = np.where(y < -6.0, 8.0 + (y + 6.0) * np.tan(np.radians(65)), 8.0) + rng.normal(0, 0.02, z.shape)
    sel = (y < -4.0) & (y > -7.0)
    g = building_frame(zz, cs, sel.astype(int))
    planes = sequential_group_planes(g, np.ones(len(g.rr), np.int64), 1, np.zeros(2, bool), cs, opts)
    got = SimpleNamespace(steep=planes[g.y < g.y.max() - 2.0 - 1e-9], flat=planes[g.y > g.y.max() - 1.5])
    assert len(np.unique(planes[planes > 0])) == 2
    assert len(np.unique(got.steep)) == 1 and len(np.unique(got.flat)) == 1 and got.steep[0] != got.flat[0]


def _kinked_pitch(rows, cols, kink_row, upper_tilt, lower_tilt, cs, seed):
    """Heights [m] of a roof side down to the south, ``upper_tilt`` [°] above pixel row ``kink_row`` and
    ``lower_tilt`` below it, with 2 cm noise; also the pixel centres' y [m] and the kink's y."""
    y = -(np.arange(rows) + 0.5)[:, None] * cs + np.zeros((1, cols))
    yk = -kink_row * cs
    z = np.where(y > yk, 10.0 + (y - yk) * np.tan(np.radians(upper_tilt)),
                 10.0 + (y - yk) * np.tan(np.radians(lower_tilt)))
    return y, yk, z + np.random.default_rng(seed).normal(0, 0.02, z.shape)


def test_kink_piece_joins_the_face_of_its_plane():
    """A face that growing carried over a 5° kink (a 35° pitch above a 40° one) gives the lower pitch's
    piece to the face of that plane below it, instead of keeping it or making a second face of one plane."""
    from solarkataster.roofs._frame import building_frame, face_table
    from solarkataster.roofs._planes import raster_planes
    from solarkataster.roofs._split import split_two_plane_faces
    from solarkataster.roofs.segmentation import RoofSegmentation

    cs, rows, cols = 0.5, 28, 30
    y, yk, z = _kinked_pitch(rows, cols, 12, 35, 40, cs, 6)
    upper = (np.arange(rows) < 18)[:, None] & np.ones((1, cols), bool)  # face 1: 35° and 6 rows of 40°
    labels = np.where(upper, 1, 2).astype(np.int32)
    fr = building_frame(z, cs, np.ones((rows, cols), int))
    faces = face_table(fr, labels[fr.rr, fr.cc].astype(np.int64), 2, cs, 0.05)
    faces["face"] = [1, 2]
    seg = RoofSegmentation(labels, faces)
    opts = RoofOptions()
    filled, seg2, _, fb = split_two_plane_faces(z, cs, labels, seg, raster_planes(faces, 2), np.array([-1, 1, 1]),
                                                opts)
    assert len(seg2.faces) == 2 and list(fb) == [-1, 1, 1]
    # the pixel rows next to the kink lie within the noise of both planes (0.25 m x (tan 40° - tan 35°));
    # away from them at most a stray pixel in a hundred differs
    away = np.abs(np.arange(rows) - 11.5)[:, None] + np.zeros((1, cols)) > 1.5
    lower = y < yk
    assert (filled[away] != np.where(lower, 2, 1)[away]).mean() <= 0.01
    tilt = seg2.faces.set_index("face")["tilt"]
    assert tilt[1] == pytest.approx(35.0, abs=1.0) and tilt[2] == pytest.approx(40.0, abs=1.0)
    # one face over the whole kink: the lower pitch becomes a face of its own, although the two planes
    # are closer than the segmentation's angle_tolerance (10°)
    one = np.ones((rows, cols), np.int32)
    seg1 = RoofSegmentation(one, face_table(fr, np.ones(len(fr.rr), np.int64), 1, cs, 0.05))
    filled, seg2, _, fb = split_two_plane_faces(z, cs, one, seg1, raster_planes(seg1.faces, 1), np.array([-1, 1]),
                                                opts)
    assert len(seg2.faces) == 2 and list(fb) == [-1, 1, 1]
    upper_id = filled[0, 0]
    assert (filled[away] != np.where(lower, 3 - upper_id, upper_id)[away]).mean() <= 0.01
    assert sorted(seg2.faces["tilt"]) == [pytest.approx(35.0, abs=1.0), pytest.approx(40.0, abs=1.0)]



def test_touching_pieces_of_one_plane_join():
    """Two touching faces on one 40° plane become one face (join_coplanar_pieces); a face on a 45° plane
    below them, touching both, stays apart."""
    from solarkataster.roofs._frame import building_frame, face_table
    from solarkataster.roofs._planes import raster_planes
    from solarkataster.roofs._split import join_coplanar_pieces
    from solarkataster.roofs.segmentation import RoofSegmentation

    cs, rows, cols = 0.5, 24, 30
    _, _, z = _kinked_pitch(rows, cols, 16, 40, 45, cs, 7)
    labels = np.full((rows, cols), 3, np.int32)
    labels[:16, :12] = 1
    labels[:16, 12:] = 2
    fr = building_frame(z, cs, np.ones((rows, cols), int))
    faces = face_table(fr, labels[fr.rr, fr.cc].astype(np.int64), 3, cs, 0.05)
    faces["face"] = [1, 2, 3]
    seg = RoofSegmentation(labels, faces)
    filled, seg2, _ = join_coplanar_pieces(z, cs, labels, seg, raster_planes(faces, 3), np.array([-1, 1, 1, 1]),
                                           RoofOptions())
    assert (filled[:16] == 2).all() and (filled[16:] == 3).all()
    tilt = seg2.faces.set_index("face")["tilt"]
    assert tilt[2] == pytest.approx(40.0, abs=0.5) and tilt[3] == pytest.approx(45.0, abs=0.5)
