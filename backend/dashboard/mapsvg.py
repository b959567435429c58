"""The district drawn as SVG from the city GeoJSON (no tile server): grids coloured by open tickets and lights.

Coordinates are projected equirectangularly (x scaled by cos(latitude)), which is exact enough for a
district a few kilometres across. Each grid is a link to the queue filtered to it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from shapely.geometry import Polygon

from backend.cityconfig import Area, CityConfig
from backend.texts import DEFAULT_LANG, t

WIDTH = 900
PADDING = 10

FILL = {
    "none": "#eef2f7",
    "few": "#bbf7d0",
    "some": "#4ade80",
    "many": "#16a34a",
    "yellow": "#f59e0b",
    "red": "#dc2626",
}
# The colour classes, lightest first; their words are the catalogue's `dash.state.<class>`.
STATES = tuple(FILL)


def grid_state(open_: int, yellow: int, red: int) -> str:
    """The colour class of a grid: red or yellow lights win, otherwise by the number of open tickets."""
    if red:
        return "red"
    if yellow:
        return "yellow"
    if open_ >= 10:
        return "many"
    if open_ >= 3:
        return "some"
    return "few" if open_ else "none"


@dataclass(frozen=True)
class Projection:
    """lon/lat → SVG x/y for a bounding box."""

    min_lon: float
    max_lat: float
    scale: float
    kx: float
    height: float

    @classmethod
    def fit(cls, bounds: tuple[float, float, float, float], width: int = WIDTH) -> Projection:
        """A projection that fits the bounds (minx, miny, maxx, maxy) into the width."""
        min_lon, min_lat, max_lon, max_lat = bounds
        kx = math.cos(math.radians((min_lat + max_lat) / 2))
        span_x = max((max_lon - min_lon) * kx, 1e-9)
        scale = (width - 2 * PADDING) / span_x
        height = (max_lat - min_lat) * scale + 2 * PADDING
        return cls(min_lon, max_lat, scale, kx, height)

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        """SVG coordinates of a point."""
        return (PADDING + (lon - self.min_lon) * self.kx * self.scale, PADDING + (self.max_lat - lat) * self.scale)


def _path(poly: Polygon, proj: Projection) -> str:
    rings = [poly.exterior, *poly.interiors]
    parts = []
    for ring in rings:
        pts = [proj.xy(x, y) for x, y in ring.coords]
        parts.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + " Z")
    return " ".join(parts)


def _bounds(areas: Iterable[Area]) -> tuple[float, float, float, float]:
    boxes = [a.geometry.bounds for a in areas]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def district_svg(
    city: CityConfig,
    counts: dict[str, tuple[int, int, int]],
    *,
    link: str = "/dashboard/?grid={code}",
    selected: str | None = None,
    lang: str = DEFAULT_LANG,
) -> str:
    """The whole district: grids and special grids coloured by (open, yellow, red) counts, streets outlined."""
    grids = [a for a in city.areas.values() if a.level == "grid"]
    specials = [a for a in city.areas.values() if a.level == "special"]
    streets = [a for a in city.areas.values() if a.level == "street"]
    frame = [a for a in city.areas.values() if a.level == "district"] or grids
    proj = Projection.fit(_bounds(frame))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {proj.height:.0f}" '
        f'class="district-map" role="img" aria-label="{escape(t("dash.map.region", lang))}">'
    ]
    for layer, areas in (("grid", grids), ("special", specials)):
        for area in sorted(areas, key=lambda a: a.code):
            n, yellow, red = counts.get(area.code, (0, 0, 0))
            state = grid_state(n, yellow, red)
            css = f"cell {layer} state-{state}" + (" selected" if area.code == selected else "")
            opacity = ' fill-opacity="0.75" stroke-dasharray="4 2"' if layer == "special" else ""
            title = escape(
                t("dash.map.grid_title", lang, name=area.name, code=area.code, open=n, yellow=yellow, red=red)
            )
            out.append(
                f'<a href="{escape(link.format(code=area.code))}" data-grid="{area.code}">'
                f'<path d="{_path(area.geometry, proj)}" fill="{FILL[state]}"{opacity} class="{css}" '
                f'data-grid="{area.code}" data-state="{state}" data-open="{n}">'
                f"<title>{title}</title></path></a>"
            )
    for area in streets:
        out.append(
            f'<path d="{_path(area.geometry, proj)}" class="street-outline" fill="none" '
            f'stroke="#1e3a8a" stroke-width="2.5" pointer-events="none"/>'
        )
        cx, cy = proj.xy(area.geometry.centroid.x, area.geometry.centroid.y)
        out.append(
            f'<text x="{cx:.0f}" y="{cy:.0f}" class="street-label" text-anchor="middle" '
            f'pointer-events="none">{escape(area.name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def pin_svg(
    city: CityConfig,
    area_code: str | None,
    lon: float | None,
    lat: float | None,
    width: int = 360,
    lang: str = DEFAULT_LANG,
) -> str | None:
    """A small map of a ticket's grid and its neighbours with a pin at the reported point."""
    area = city.areas.get(area_code or "")
    if area is None and (lon is None or lat is None):
        return None
    focus = area.geometry if area is not None else None
    if focus is None:
        minx, miny, maxx, maxy = lon - 0.002, lat - 0.002, lon + 0.002, lat + 0.002  # type: ignore[operator]
    else:
        minx, miny, maxx, maxy = focus.buffer(0.0015).bounds
    box = Polygon([(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy)])
    proj = Projection.fit((minx, miny, maxx, maxy), width)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {proj.height:.0f}" class="pin-map" '
        f'role="img" aria-label="{escape(t("dash.map.pin_label", lang))}">'
    ]
    for other in city.areas.values():
        if other.level in ("grid", "special") and other.geometry.intersects(box):
            clipped = other.geometry.intersection(box)
            polys = list(getattr(clipped, "geoms", [clipped]))
            mine = area is not None and other.code == city.grid_of(area.code)
            for poly in polys:
                if isinstance(poly, Polygon) and not poly.is_empty:
                    out.append(
                        f'<path d="{_path(poly, proj)}" fill="{"#dbeafe" if mine else "#f8fafc"}" '
                        f'stroke="#64748b" stroke-width="1"><title>{escape(other.name)}</title></path>'
                    )
    if lon is not None and lat is not None:
        x, y = proj.xy(lon, lat)
        out.append(
            f'<g class="pin"><circle cx="{x:.1f}" cy="{y - 14:.1f}" r="7" fill="#dc2626"/>'
            f'<path d="M{x - 6:.1f},{y - 11:.1f} L{x:.1f},{y:.1f} L{x + 6:.1f},{y - 11:.1f} Z" '
            f'fill="#dc2626"/></g>'
        )
    out.append("</svg>")
    return "".join(out)
