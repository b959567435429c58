"""The map's data as GeoJSON: areas coloured by open tickets and lights, ticket pins, the city's base layer.

The browser draws them with the vendored Leaflet (static/map/); nothing here knows about tiles or a CDN.
A ticket without a reported point is pinned at its area's representative point and marked `approx`.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cityconfig import BASEMAP_FILE, CityConfig
from backend.dashboard import labels
from backend.dashboard.mapsvg import FILL, grid_state
from backend.db.models import Category, Ticket
from backend.services.actors import ActorContext
from backend.services.queries import TicketFilter, filtered
from backend.settings import Settings
from backend.texts import t

logger = logging.getLogger(__name__)

MAX_PINS = 5000
LIGHT_COLOURS = {"green": "#16a34a", "yellow": "#f59e0b", "red": "#dc2626"}
MAP_LEVELS = ("grid", "microgrid", "special")


def area_features(city: CityConfig, counts: dict[str, tuple[int, int, int]]) -> dict[str, Any]:
    """Grids, micro-grids and special grids with their (open, yellow, red) counts and colour class."""
    features = []
    drawn = [a for a in city.areas.values() if a.level in MAP_LEVELS]
    for area in sorted(drawn, key=lambda a: (MAP_LEVELS.index(a.level), a.code)):
        n, yellow, red = counts.get(area.code, (0, 0, 0))
        state = grid_state(n, yellow, red) if area.level != "microgrid" else "none"
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": area.code,
                    "name": area.name,
                    "level": area.level,
                    "open": n,
                    "yellow": yellow,
                    "red": red,
                    "state": state,
                    "fill": FILL[state],
                },
                "geometry": mapping(area.geometry),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def ticket_pins(
    session: Session,
    city: CityConfig,
    actor: ActorContext,
    flt: TicketFilter,
    *,
    lang: str = "zh",
    categories: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The newest tickets matching the filter within scope, as points coloured by their light."""
    base = filtered(actor, flt).order_by(Ticket.created_at.desc()).limit(MAX_PINS).subquery()
    rows = session.execute(
        select(
            base.c.number,
            base.c.lon,
            base.c.lat,
            base.c.area_code,
            base.c.grid_code,
            base.c.light,
            base.c.status,
            base.c.priority,
            base.c.category_code,
            Category.name,
        ).outerjoin(Category, Category.code == base.c.category_code)
    )
    features = []
    for number, lon, lat, area_code, grid_code, light, status, priority, category_code, category in rows:
        approx = lon is None or lat is None
        if approx:
            area = city.areas.get(area_code or "") or city.areas.get(grid_code or "")
            if area is None:
                continue
            point = area.geometry.representative_point()
            lon, lat = point.x, point.y
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "number": number,
                    "light": light,
                    "colour": LIGHT_COLOURS.get(light, LIGHT_COLOURS["green"]),
                    "status": labels.label("status", status, lang),
                    "category": (categories or {}).get(category_code or "", category) or t("dash.uncategorised", lang),
                    "urgent": priority == "urgent",
                    "approx": approx,
                    "url": f"/dashboard/tickets/{number}",
                },
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def basemap_path(settings: Settings) -> Path:
    """The city's own base layer: the imported city's basemap.geojson, else the shipped demo city's."""
    from backend.runtime import active_city_dir

    imported = active_city_dir(settings)
    return (imported if imported is not None else settings.config_dir) / BASEMAP_FILE


@lru_cache(maxsize=4)
def _read_basemap(path: Path, mtime: float) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("type") != "FeatureCollection":
        raise ValueError(f"{path}: not a GeoJSON FeatureCollection")
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def basemap_json(settings: Settings) -> str:
    """The base layer as GeoJSON text (an empty collection when the city ships none)."""
    path = basemap_path(settings)
    try:
        return _read_basemap(path, path.stat().st_mtime)
    except FileNotFoundError:
        return '{"type":"FeatureCollection","features":[]}'
