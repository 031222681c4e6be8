"""Routers: the JSON API, health, and the map page. Every route is GET-only (the service is read-only)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import orjson
import pandas as pd
from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse

from .. import layers
from ..errors import NotFoundError
from .errors import public_paths
from .params import BBox, BuildingId, EconomicsParams, PointParams, Settings, Store
from .store import FeatureSelection

STATIC_DIR = Path(__file__).resolve().parent / "static"
GEOJSON = "application/geo+json"
#: Where the API documentation's scripts and styles are served from: Swagger UI and ReDoc as the
#: ``fastapi-offline`` package ships them (no CDN, so /docs works without internet).
DOCS_ASSETS = "/docs-assets"
DOCS_PACKAGE = ("fastapi_offline", "static")

api = APIRouter(prefix="/api", tags=["results"])
health = APIRouter(tags=["service"])
pages = APIRouter(tags=["map"], include_in_schema=False)
docs = APIRouter(tags=["docs"], include_in_schema=False)
tiles = APIRouter(tags=["tiles"])

# Building totals copied from buildings.geojson into /api/buildings/{id}
#: Building properties shown as totals: every column of the buildings layer but its id, geometry-like
#: and monthly series (the layer contract, :mod:`solarkataster.layers`).
TOTAL_FIELDS = tuple(c for c in layers.columns("buildings") if c not in ("building_id", "monthly_yield"))


def _geojson_response(selection: FeatureSelection, limit: int) -> Response:
    return Response(selection.to_geojson(limit=limit), media_type=GEOJSON)


@api.get("/roofs", summary="Roof faces intersecting a lon/lat box",
         response_description="GeoJSON FeatureCollection; `truncated` is true when more faces matched than "
                              "`limit` (see `numberMatched`)")
def roofs(store: Store, query: BBox):
    """Roof faces whose polygon intersects the box, as stored in roofs.geojson."""
    return _geojson_response(store.features_in_bbox("roofs", query.bbox, query.limit), query.limit)


@api.get("/walls", summary="Facade segments (lines) intersecting a lon/lat box",
         response_description="GeoJSON FeatureCollection of LineStrings; `truncated` as for /api/roofs")
def walls(store: Store, query: BBox):
    """Facade segments whose line intersects the box, as stored in walls.geojson."""
    return _geojson_response(store.features_in_bbox("walls", query.bbox, query.limit), query.limit)


def _json(obj) -> Response:
    """Serialise to a JSON response with orjson (NaN becomes null)."""
    return Response(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


def _collection(features_json: list[str]) -> dict:
    return {"type": "FeatureCollection", "features": [orjson.loads(f) for f in features_json]}


@api.get("/buildings/{building_id}", summary="One building: faces, walls, totals and monthly values")
def building(store: Store, building_id: BuildingId):
    """Return the building's feature, totals, monthly yield and irradiation, its roof faces and its walls."""
    faces = store.building_features("roofs", building_id)
    walls_ = store.building_features("walls", building_id)
    try:
        feature = store.feature("buildings", building_id)
    except NotFoundError:
        if not faces:
            raise
        feature = None
    props = feature["properties"] if feature else {}
    face_props = [orjson.loads(f)["properties"] for f in faces]
    if feature:
        totals = {k: props[k] for k in TOTAL_FIELDS if k in props}
        monthly_yield = props.get("monthly_yield")
    else:  # a building only in the roofs layer: sum its faces
        totals = {"faces": len(face_props),
                  **{k: sum((p.get(k) or 0) for p in face_props) for k in ("usable_area", "kwp", "yield_kwh",
                                                                             "co2_savings_kg")}}
        monthly_yield = None
    # area-weighted mean monthly irradiation over the building's roof faces [kWh/m²/month]
    weighted = [(p.get("area") or 0, p.get("monthly_irradiation")) for p in face_props
                if isinstance(p.get("monthly_irradiation"), list) and len(p["monthly_irradiation"]) == 12]
    total_area = sum(a for a, _ in weighted)
    monthly_irradiation = ([sum(a * (m[k] or 0) for a, m in weighted) / total_area for k in range(12)]
                           if total_area > 0 else None)
    return _json({"building_id": building_id, "building": feature, "totals": totals,
                  "monthly": {"yield_kwh": monthly_yield, "roof_irradiation_kwh_m2": monthly_irradiation},
                  "faces": _collection(faces), "walls": _collection(walls_)})


@api.get("/point", summary="The roof face, building and nearby facades at a clicked location")
def point(store: Store, query: PointParams):
    """Find the roof face under the point, its building, and facades within ``tolerance`` metres."""
    roofs_layer = store.layer("roofs")
    face_hits = store.features_at_point("roofs", query.lon, query.lat)
    face = orjson.loads(roofs_layer.features_json[face_hits[0]]) if face_hits else None
    building_feature = None
    if face is not None:
        try:
            building_feature = store.feature("buildings", str(face["properties"].get("building_id")))
        except NotFoundError:
            building_feature = None
    if building_feature is None:
        hits = store.features_at_point("buildings", query.lon, query.lat)
        if hits:
            building_feature = orjson.loads(store.layer("buildings").features_json[hits[0]])
    wall_hits = store.features_at_point("walls", query.lon, query.lat, query.tolerance) if query.tolerance else []
    walls_layer = store.layer("walls")
    return _json({"lon": query.lon, "lat": query.lat, "face": face, "building": building_feature,
                  "walls": [orjson.loads(walls_layer.features_json[i]) for i in wall_hits[:20]]})


@api.get("/meta", summary="Provenance, units, legend, suitability thresholds, extent and limits")
def meta(store: Store, settings: Settings):
    """Describe what the results rest on, with input files named without server paths."""
    info = public_paths(store.meta(), store.results_dir)  # input paths are the server's business
    info["limits"] = {"default_features": settings.default_limit, "max_features": settings.max_features}
    info["basemap"] = ({"url": settings.basemap_url, "attribution": settings.basemap_attribution or ""}
                       if settings.basemap_url else None)
    info["tiles"] = tile_catalogue(store.results_dir)
    return _json(info)


def tile_catalogue(folder, prefix="tiles/") -> dict:
    """Return the archives the map page draws: ``vector`` (URL or None) and ``raster`` (context layers)."""
    from ..io.raster_tiles import context_catalogue
    from ..io.vector_tiles import PMTILES_NAME

    vector = prefix + PMTILES_NAME if (Path(folder) / PMTILES_NAME).is_file() else None
    return {"vector": vector, "raster": context_catalogue(folder, prefix)}


@api.get("/search", summary="Buildings by id, address or another attribute")
def search(store: Store,
           q: Annotated[str, Query(min_length=1, max_length=200, description="Text: a building id (or its start), "
                                   "an address or another attribute value; case-insensitive")],
           limit: Annotated[int, Query(ge=1, le=100, description="Most hits")] = 10):
    """Find buildings; each hit names the matching field and gives the building's box and centre [°]."""
    hits = store.search(q, limit)
    return Response(orjson.dumps({"query": q, "hits": hits}), media_type="application/json")


#: Vector tile archives served under /tiles (fixed names, files in the results folder).
TILE_NAME = r"^[A-Za-z0-9_-]{1,64}$"
PMTILES_MEDIA_TYPE = "application/vnd.pmtiles"


@tiles.get("/tiles/{name}.pmtiles", summary="A PMTiles archive of the results, with HTTP range requests")
def pmtiles(store: Store, name: Annotated[str, PathParam(pattern=TILE_NAME)]):
    """Serve ``NAME.pmtiles`` from the results folder; ``Range: bytes=a-b`` answers 206, a range past the end 416."""
    path = store.results_dir / f"{name}.pmtiles"
    if not path.is_file():
        raise NotFoundError(f"no {name}.pmtiles in {store.results_dir.name}; build it with "
                            f"'solarkataster tiles {store.results_dir.name}'")
    return FileResponse(path, media_type=PMTILES_MEDIA_TYPE, headers={"Cache-Control": "public, max-age=60"})


@health.get("/health", summary="Liveness: the results folder is there and readable")
def healthcheck(store: Store):
    """Report ``ok`` while the results folder is readable."""
    store.check()
    return {"status": "ok", "results": store.results_dir.name,
            "layers_loaded": sorted(store.loaded_layers())}


@pages.get("/", summary="The map page")
def index():
    """Serve the map page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@docs.get("/docs")
def swagger_ui(request: Request):
    """Swagger UI over /openapi.json, from local assets."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} API",
                               swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                               swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                               swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png")


@docs.get("/redoc")
def redoc(request: Request):
    """ReDoc over /openapi.json, from local assets."""
    root = request.scope.get("root_path", "")
    return get_redoc_html(openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} API",
                          redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
                          redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png", with_google_fonts=False)


# ------------------------------------------------------------------------- hourly profile and economics

def _profile_store(store):
    from ..io.profiles import store_for

    return store_for(store.results_dir)


@api.get("/buildings/{building_id}/profile", summary="Hourly AC yield of a building (roof, walls or one face)")
def building_profile(store: Store, building_id: BuildingId,
                     format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
                     walls: Annotated[bool, Query(description="The walls instead of the roof")] = False,
                     face_id: Annotated[str | None, Query(max_length=256, description="One roof face")] = None):
    """Return ``time`` (UTC interval start) and ``yield_kwh`` [kWh per record] as JSON or CSV."""
    import orjson

    frame = _profile_store(store).frame(building_id, face_id=face_id, walls=walls)
    if format == "csv":
        return Response(frame.to_csv(index=False, lineterminator="\n"), media_type="text/csv")
    values = frame["yield_kwh"].to_numpy()
    body = {"building_id": building_id, "face_id": face_id, "walls": walls, "unit": "kWh",
            "time": frame["time"].tolist(), "yield_kwh": values.tolist(), "total_kwh": round(float(values.sum()), 1)}
    return Response(orjson.dumps(body), media_type="application/json")


def _typical_days(times, pv, load):
    """Mean PV and load per local hour of day [kWh] in summer (Jun–Aug) and winter (Dec–Feb)."""
    local = times.tz_convert("Europe/Berlin")
    out = {}
    for name, months in (("summer", (6, 7, 8)), ("winter", (12, 1, 2))):
        sel = np.isin(local.month, months)
        hours = local.hour[sel]
        out[name] = {key: [round(float(v), 3) for v in pd.Series(values[sel]).groupby(hours).mean()
                           .reindex(range(24)).fillna(0.0)] for key, values in (("pv_kwh", pv), ("load_kwh", load))}
    return out


@api.get("/buildings/{building_id}/economics",
         summary="Self-consumption, autarky, savings, investment, payback and NPV of the roof PV")
def building_economics(store: Store, building_id: BuildingId, query: EconomicsParams):
    """Evaluate the building's hourly roof profile against a BDEW load (:mod:`solarkataster.economics`)."""
    from .. import economics as E

    props = store.feature("buildings", building_id)["properties"]
    profiles = _profile_store(store)
    pv_kwh = profiles.profile(building_id).astype(float)
    consumption = query.consumption_kwh or props.get("consumption_kwh") or E.default_consumption(
        props.get("footprint_area") or 0.0, props.get("height") or np.nan).item()
    kind = props.get("load_profile") or "H25"
    load = E.load_profile(profiles.times, consumption, kind)
    kwp = float(props.get("kwp") or 0.0)
    price = E.PRICE_EUR_KWH if query.price_eur_kwh is None else query.price_eur_kwh
    result = E.evaluate(pv_kwh, load, kwp, battery_kwh=query.battery_kwh, price_eur_kwh=price,
                        feed_in_eur_kwh=query.feed_in_eur_kwh, cost_eur_per_kwp=query.cost_eur_per_kwp)
    return {"building_id": building_id, "load_profile": kind, **result.as_dict(),
            "price_eur_kwh": price,
            "feed_in_eur_kwh": E.feed_in_tariff(kwp) if query.feed_in_eur_kwh is None else query.feed_in_eur_kwh,
            "cost_eur_per_kwp": E.cost_per_kwp(kwp) if query.cost_eur_per_kwp is None else query.cost_eur_per_kwp,
            "typical_days": _typical_days(profiles.times, pv_kwh, load)}
