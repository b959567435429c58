"""load_city_config: read and cross-check every file in config/ once, at start-up."""

from __future__ import annotations

import logging
from pathlib import Path

from backend.cityconfig.errors import ConfigError
from backend.cityconfig.geojson import check_basemap, load_areas
from backend.cityconfig.schemas import CityConfig
from backend.cityconfig.staff import check_feature_staff, check_staff_scopes, load_staff
from backend.cityconfig.yamlfiles import load_calendar, load_departments, load_taxonomy

logger = logging.getLogger(__name__)

DEFAULT_CITY_FILE = "demo_city.geojson"
DEFAULT_STAFF_FILE = "staff.csv"
# A city directory (`gridbot import-city DIR`; config/ is the demo city's): its areas, staff, departments and
# responsibility list, and optionally its own taxonomy and calendar (else the shipped ones).
CITY_FILES = ("city.geojson", "staff.csv", "departments.yaml", "responsibilities.yaml")
OPTIONAL_CITY_FILES = ("taxonomy.yaml", "calendar.yaml")
# The city's own map layers: installed when present, never taken from another city.
BASEMAP_FILE = "basemap.geojson"


def city_files(city_dir: Path, *, base_dir: Path) -> dict[str, Path]:
    """The files of a city directory by role; ConfigError naming the first one missing.

    The areas are `city.geojson` (the demo city's is `demo_city.geojson`); taxonomy.yaml and calendar.yaml
    fall back to `base_dir` (the shipped config) when the city has none of its own; basemap.geojson is the
    city's own or none.
    """
    city_dir = Path(city_dir)
    if not city_dir.is_dir():
        raise ConfigError(city_dir, None, "city directory not found")
    files: dict[str, Path] = {}
    for name in CITY_FILES:
        path = city_dir / name
        if name == "city.geojson" and not path.exists() and (city_dir / DEFAULT_CITY_FILE).exists():
            path = city_dir / DEFAULT_CITY_FILE
        if not path.is_file():
            raise ConfigError(path, None, "missing: a city directory needs " + ", ".join(CITY_FILES))
        files[name] = path
    for name in OPTIONAL_CITY_FILES:
        own = city_dir / name
        files[name] = own if own.is_file() else Path(base_dir) / name
    if (city_dir / BASEMAP_FILE).is_file():
        files[BASEMAP_FILE] = city_dir / BASEMAP_FILE
    return files


def load_city_dir(city_dir: Path, *, base_dir: Path) -> CityConfig:
    """Load and validate a city directory (see city_files); ConfigError names the file, entry and field."""
    files = city_files(city_dir, base_dir=base_dir)
    if BASEMAP_FILE in files:
        check_basemap(files[BASEMAP_FILE])
    return _load(files)


def load_city_config(
    config_dir: Path, city_file: str = DEFAULT_CITY_FILE, staff_file: str = DEFAULT_STAFF_FILE
) -> CityConfig:
    """Load and validate config_dir; raise ConfigError naming the file, the entry and the problem."""
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise ConfigError(config_dir, None, "configuration directory not found")
    files = {name: config_dir / name for name in (*CITY_FILES, *OPTIONAL_CITY_FILES)}
    files["city.geojson"], files["staff.csv"] = config_dir / city_file, config_dir / staff_file
    return _load(files)


def _load(files: dict[str, Path]) -> CityConfig:
    departments = load_departments(files["departments.yaml"])
    categories, subcategories = load_taxonomy(files["taxonomy.yaml"], files["responsibilities.yaml"], departments)
    calendar = load_calendar(files["calendar.yaml"])
    staff_path = files["staff.csv"]
    staff = load_staff(staff_path)
    city_path = files["city.geojson"]
    areas = load_areas(city_path, staff_codes=staff.keys())
    check_staff_scopes(staff_path, staff, areas, departments)
    check_feature_staff(city_path, areas, staff)
    logger.info(
        "city config loaded from %s: %d departments, %d subcategories, %d areas, %d staff",
        city_path.parent,
        len(departments),
        len(subcategories),
        len(areas),
        len(staff),
    )
    return CityConfig(
        departments=departments,
        categories=categories,
        subcategories=subcategories,
        calendar=calendar,
        areas=areas,
        staff=staff,
    )
