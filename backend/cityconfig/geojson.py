"""Areas from the city GeoJSON: parsing, geometry checks and hierarchy checks.

The file is a FeatureCollection of Polygon features in lon/lat (WGS 84), one per area. Properties:
- code, name: required.
- level: district | street | community | grid | microgrid | special.
- parent: a code, or null for the district.
  - street → district;
  - community → street;
  - grid → community;
  - microgrid → grid;
  - special → community or street.
- households: an integer, default 0.
- staff: staff codes from staff.csv, scoped to this area.
- aliases: [{name, kind}], with kind estate (小区) | compound (楼院) | road | landmark | other.
  Every name except a road belongs to one area only.
- special_kind: for special grids only: school | hospital | market | station | industrial_park.
- address_ranges: [{road, start, end}], inclusive door numbers of a road inside this area.
- buildings: [{estate, numbers}], micro-grids only; the building numbers (号楼) of one of the
  parent grid's estates.

Areas of one level must not overlap, beyond RELATIVE_AREA_TOLERANCE of the smaller one:
touching borders are fine. Every area lies inside its parent. Special grids may overlap
ordinary grids, but not each other.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import shapely.errors
import shapely.geometry
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from backend.cityconfig.errors import ConfigError, describe_validation_error
from backend.cityconfig.schemas import (
    PARENT_LEVELS,
    AddressRange,
    Alias,
    AliasKind,
    Area,
    BuildingSet,
    Level,
    SpecialKind,
)

# Overlap and containment are judged on areas, relative to the smaller polygon, so that
# borders shared up to floating-point noise count as touching, not overlapping.
RELATIVE_AREA_TOLERANCE = 1e-6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _AliasIn(_Strict):
    name: str = Field(min_length=1)
    kind: AliasKind


class _RangeIn(_Strict):
    road: str = Field(min_length=1)
    start: int = Field(ge=1)
    end: int = Field(ge=1)


class _BuildingsIn(_Strict):
    estate: str = Field(min_length=1)
    numbers: list[int] = Field(min_length=1)


class _AreaProps(_Strict):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    level: Level
    parent: str | None = None
    households: int = Field(default=0, ge=0)
    aliases: list[_AliasIn] = Field(default_factory=list)
    staff: list[str] = Field(default_factory=list)
    special_kind: SpecialKind | None = None
    address_ranges: list[_RangeIn] = Field(default_factory=list)
    buildings: list[_BuildingsIn] = Field(default_factory=list)


def load_areas(path: Path, staff_codes: Iterable[str] | None = None) -> dict[str, Area]:
    """Parse and validate the city GeoJSON; staff codes, when given, must cover every feature's staff."""
    features = _read_features(path)
    areas: dict[str, Area] = {}
    for i, feature in enumerate(features):
        area = _parse_feature(path, feature, i)
        if area.code in areas:
            raise ConfigError(path, area.code, "duplicate area code")
        areas[area.code] = area
    _check_hierarchy(path, areas)
    _check_aliases(path, areas)
    _check_buildings(path, areas)
    _check_overlaps(path, areas)
    _check_containment(path, areas)
    if staff_codes is not None:
        known = set(staff_codes)
        for area in areas.values():
            for code in area.staff:
                if code not in known:
                    raise ConfigError(path, area.code, f"staff code '{code}' is not in staff.csv")
    return areas


def check_basemap(path: Path) -> None:
    """A city's base map layers (roads, water, landmarks): features with valid GeoJSON geometries."""
    for i, feature in enumerate(_read_features(path)):
        entry = f"feature #{i + 1}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise ConfigError(path, entry, "not a GeoJSON Feature")
        try:
            geometry = shapely.geometry.shape(feature.get("geometry") or {})
        except (AttributeError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
            raise ConfigError(path, entry, f"invalid geometry: {exc}") from exc
        if geometry.is_empty:
            raise ConfigError(path, entry, "empty geometry")


def _read_features(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read file: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(path, None, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ConfigError(path, None, "not a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise ConfigError(path, None, "'features' must be a non-empty list")
    return features


def _parse_feature(path: Path, feature: Any, index: int) -> Area:
    entry = f"feature #{index + 1}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ConfigError(path, entry, "not a GeoJSON Feature")
    raw_props = feature.get("properties")
    if isinstance(raw_props, dict) and raw_props.get("code"):
        entry = str(raw_props["code"])
    if not isinstance(raw_props, dict):
        raise ConfigError(path, entry, "missing 'properties'")
    try:
        props = _AreaProps.model_validate(raw_props)
    except ValidationError as exc:
        raise ConfigError(path, entry, describe_validation_error(exc)) from exc
    polygon = _parse_polygon(path, entry, feature.get("geometry"))
    for rng in props.address_ranges:
        if rng.start > rng.end:
            raise ConfigError(path, entry, f"address range {rng.road} {rng.start}-{rng.end} runs backwards")
    if (props.level == "special") != (props.special_kind is not None):
        problem = (
            "special grid needs a special_kind"
            if props.level == "special"
            else "special_kind is only for special grids"
        )
        raise ConfigError(path, entry, problem)
    if props.buildings and props.level != "microgrid":
        raise ConfigError(path, entry, "buildings are only for micro-grids")
    return Area(
        code=props.code,
        name=props.name,
        level=props.level,
        parent=props.parent,
        geometry=polygon,
        households=props.households,
        aliases=tuple(Alias(a.name, a.kind) for a in props.aliases),
        staff=tuple(props.staff),
        special_kind=props.special_kind,
        address_ranges=tuple(AddressRange(r.road, r.start, r.end) for r in props.address_ranges),
        buildings=tuple(BuildingSet(b.estate, tuple(sorted(set(b.numbers)))) for b in props.buildings),
    )


def _parse_polygon(path: Path, entry: str, geometry: Any) -> Polygon:
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        found = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise ConfigError(path, entry, f"geometry must be a Polygon, got {found}")
    rings = geometry.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise ConfigError(path, entry, "polygon has no rings")
    parsed: list[list[tuple[float, float]]] = []
    for r, ring in enumerate(rings):
        label = "exterior ring" if r == 0 else f"hole #{r}"
        if not isinstance(ring, list) or len(ring) < 4:
            raise ConfigError(path, entry, f"{label} needs at least 4 positions")
        points: list[tuple[float, float]] = []
        for pos in ring:
            if (
                not isinstance(pos, list)
                or len(pos) not in (2, 3)
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos)
            ):
                raise ConfigError(path, entry, f"{label} has a bad position {pos!r}")
            lon, lat = float(pos[0]), float(pos[1])
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ConfigError(path, entry, f"{label} position {pos!r} is not lon/lat")
            points.append((lon, lat))
        if points[0] != points[-1]:
            raise ConfigError(path, entry, f"unclosed ring: {label} must end where it starts")
        parsed.append(points)
    polygon = Polygon(parsed[0], parsed[1:])
    if not polygon.is_valid:
        raise ConfigError(path, entry, f"invalid polygon: {explain_validity(polygon)}")
    if polygon.area <= 0:
        raise ConfigError(path, entry, "invalid polygon: zero area")
    return polygon


def _check_hierarchy(path: Path, areas: dict[str, Area]) -> None:
    districts = [a.code for a in areas.values() if a.level == "district"]
    if len(districts) != 1:
        raise ConfigError(path, None, f"expected exactly one district, found {len(districts)}")
    for area in areas.values():
        allowed = PARENT_LEVELS[area.level]
        if not allowed:
            if area.parent is not None:
                raise ConfigError(path, area.code, "a district has no parent")
            continue
        if area.parent is None:
            raise ConfigError(path, area.code, f"missing parent ({' or '.join(allowed)})")
        parent = areas.get(area.parent)
        if parent is None:
            raise ConfigError(path, area.code, f"unknown parent '{area.parent}'")
        if parent.level not in allowed:
            raise ConfigError(
                path,
                area.code,
                f"a {area.level} needs a {' or '.join(allowed)} parent, but '{parent.code}' is a {parent.level}",
            )


def _check_aliases(path: Path, areas: dict[str, Area]) -> None:
    owner: dict[str, str] = {}
    ranges: dict[str, list[tuple[AddressRange, str]]] = defaultdict(list)
    for area in sorted(areas.values(), key=lambda a: a.code):
        for alias in area.aliases:
            if alias.kind == "road":
                continue  # one road runs through many grids; door numbers tell them apart
            if alias.name in owner and owner[alias.name] != area.code:
                raise ConfigError(path, area.code, f"alias '{alias.name}' already belongs to '{owner[alias.name]}'")
            owner[alias.name] = area.code
        for rng in area.address_ranges:
            for other, other_code in ranges[rng.road]:
                if rng.start <= other.end and other.start <= rng.end:
                    raise ConfigError(
                        path,
                        area.code,
                        f"address range {rng.road}{rng.start}-{rng.end}号 overlaps "
                        f"{other.start}-{other.end}号 of '{other_code}'",
                    )
            ranges[rng.road].append((rng, area.code))


def _check_buildings(path: Path, areas: dict[str, Area]) -> None:
    taken: dict[tuple[str, int], str] = {}
    for area in sorted(areas.values(), key=lambda a: a.code):
        if not area.buildings or area.parent is None:
            continue
        parent = areas[area.parent]
        estates = {a.name for a in parent.aliases if a.kind in ("estate", "compound")}
        for bset in area.buildings:
            if bset.estate not in estates:
                raise ConfigError(
                    path,
                    area.code,
                    f"buildings of '{bset.estate}', which is not an estate of grid '{parent.code}'",
                )
            for number in bset.numbers:
                key = (bset.estate, number)
                if key in taken:
                    raise ConfigError(
                        path,
                        area.code,
                        f"building {bset.estate}{number}号楼 already belongs to '{taken[key]}'",
                    )
                taken[key] = area.code


def _check_overlaps(path: Path, areas: dict[str, Area]) -> None:
    by_level: dict[str, list[Area]] = defaultdict(list)
    for area in areas.values():
        by_level[area.level].append(area)
    for level, members in by_level.items():
        members.sort(key=lambda a: a.code)
        geoms = np.array([a.geometry for a in members], dtype=object)
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        if not len(left):
            continue
        shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
        smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
        bad = np.nonzero(shared > RELATIVE_AREA_TOLERANCE * smaller)[0]
        if len(bad):
            i, j = int(left[bad[0]]), int(right[bad[0]])
            share = float(shared[bad[0]] / smaller[bad[0]])
            raise ConfigError(
                path,
                members[j].code,
                f"{level} overlaps {level} '{members[i].code}' ({share:.1%} of the smaller one)",
            )


def _check_containment(path: Path, areas: dict[str, Area]) -> None:
    for area in sorted(areas.values(), key=lambda a: a.code):
        if area.parent is None:
            continue
        parent = areas[area.parent]
        outside = area.geometry.difference(parent.geometry).area
        if outside > RELATIVE_AREA_TOLERANCE * area.geometry.area:
            share = outside / area.geometry.area
            raise ConfigError(
                path,
                area.code,
                f"{area.level} is not inside its parent {parent.level} '{parent.code}' ({share:.1%} lies outside)",
            )
