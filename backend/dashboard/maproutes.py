"""The operations-centre map: Leaflet page, its GeoJSON layers (areas, ticket pins, the city's base layer)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from backend.api.deps import RuntimeDep, SessionDep
from backend.dashboard import geo, labels, mapsvg
from backend.dashboard.lang import request_lang
from backend.dashboard.names import category_names
from backend.dashboard.routes import _choices
from backend.dashboard.stats import open_by_grid
from backend.dashboard.web import DashboardUser, filter_query, login_required, parse_filter, templates
from backend.texts import t

MAP_WORDS = (
    "layer_tiles",
    "layer_base",
    "layer_areas",
    "layer_pins",
    "layer_heat",
    "popup_open",
    "popup_yellow",
    "popup_red",
    "popup_queue",
    "popup_approx",
)
router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
GEOJSON = "application/geo+json"


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser) -> HTMLResponse:
    """The district map: base layer, grids coloured by lights, clustered ticket pins, heat, filters."""
    params = request.query_params
    lang = request_lang(request)
    _, echo = parse_filter(params, runtime)
    if not [key for key in params if key != "lang"]:  # by default the pins are the open tickets
        echo["open"] = True
    counts = open_by_grid(session, actor)
    names = {a.code: a.name for a in runtime.city.areas.values()}
    busy = sorted(
        ((code, n, y, r) for code, (n, y, r) in counts.items() if code in names),
        key=lambda row: (-row[3], -row[2], -row[1], row[0]),
    )
    return templates.TemplateResponse(
        request,
        "map.html",
        {
            "actor": actor,
            "f": echo,
            "query": filter_query(echo),
            **_choices(session, runtime, lang),
            "fills": mapsvg.FILL,
            "states": labels.names("state", mapsvg.STATES, lang),
            "light_colours": geo.LIGHT_COLOURS,
            "busy": [(code, names[code], n, y, r, mapsvg.grid_state(n, y, r)) for code, n, y, r in busy],
            "open_total": sum(n for n, _, _ in counts.values()),
            "red_total": sum(r for _, _, r in counts.values()),
            "tile_url": runtime.settings.map_tile_url,
            "tile_attribution": runtime.settings.map_tile_attribution,
            "light_names": labels.names("light", labels.LIGHTS, lang),
            "words": {key: t(f"dash.map.{key}", lang) for key in MAP_WORDS},
        },
    )


@router.get("/map/areas.geojson")
def map_areas(session: SessionDep, runtime: RuntimeDep, actor: DashboardUser) -> Response:
    """Grids, micro-grids and special grids with open tickets and lights in your scope."""
    return _geojson(geo.area_features(runtime.city, open_by_grid(session, actor)))


@router.get("/map/tickets.geojson")
def map_tickets(request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser) -> Response:
    """Ticket pins for the map's filter (the queue's filter fields) within your scope."""
    flt, _ = parse_filter(request.query_params, runtime)
    lang = request_lang(request)
    pins = geo.ticket_pins(session, runtime.city, actor, flt, lang=lang, categories=category_names(session, lang))
    return _geojson(pins)


@router.get("/map/basemap.geojson", dependencies=[Depends(login_required)])
def map_basemap(runtime: RuntimeDep) -> Response:
    """The city's own base layer: roads, water and landmarks (works with no tile server)."""
    return Response(
        geo.basemap_json(runtime.settings), media_type=GEOJSON, headers={"Cache-Control": "private, max-age=300"}
    )


def _geojson(data: object) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), media_type=GEOJSON)
