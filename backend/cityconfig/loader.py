"""load_city_config: read and cross-check every file in config/ once, at start-up."""

from __future__ import annotations

import logging
from pathlib import Path

from backend.cityconfig.errors import ConfigError
from backend.cityconfig.geojson import load_areas
from backend.cityconfig.schemas import CityConfig
from backend.cityconfig.staff import check_feature_staff, check_staff_scopes, load_staff
from backend.cityconfig.yamlfiles import load_calendar, load_departments, load_taxonomy

logger = logging.getLogger(__name__)

DEFAULT_CITY_FILE = "demo_city.geojson"
DEFAULT_STAFF_FILE = "staff.csv"


def load_city_config(
    config_dir: Path, city_file: str = DEFAULT_CITY_FILE, staff_file: str = DEFAULT_STAFF_FILE
) -> CityConfig:
    """Load and validate config_dir; raise ConfigError naming the file, the entry and the problem."""
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise ConfigError(config_dir, None, "configuration directory not found")
    departments = load_departments(config_dir / "departments.yaml")
    categories, subcategories = load_taxonomy(
        config_dir / "taxonomy.yaml", config_dir / "responsibilities.yaml", departments
    )
    calendar = load_calendar(config_dir / "calendar.yaml")
    staff_path = config_dir / staff_file
    staff = load_staff(staff_path)
    city_path = config_dir / city_file
    areas = load_areas(city_path, staff_codes=staff.keys())
    check_staff_scopes(staff_path, staff, areas, departments)
    check_feature_staff(city_path, areas, staff)
    logger.info(
        "city config loaded from %s: %d departments, %d subcategories, %d areas, %d staff",
        config_dir,
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
