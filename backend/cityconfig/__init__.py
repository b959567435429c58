"""The city configuration (config/): departments, taxonomy, responsibility list, calendar, areas, staff."""

from backend.cityconfig.errors import ConfigError
from backend.cityconfig.geojson import load_areas
from backend.cityconfig.loader import BASEMAP_FILE, CITY_FILES, city_files, load_city_config, load_city_dir
from backend.cityconfig.schemas import (
    LEVELS,
    STAFF_ROLES,
    TIERS,
    AddressRange,
    Alias,
    Area,
    BuildingSet,
    CalendarConfig,
    Category,
    CityConfig,
    Department,
    StaffRecord,
    Subcategory,
)

__all__ = [
    "BASEMAP_FILE",
    "CITY_FILES",
    "LEVELS",
    "STAFF_ROLES",
    "TIERS",
    "AddressRange",
    "Alias",
    "Area",
    "BuildingSet",
    "CalendarConfig",
    "Category",
    "CityConfig",
    "ConfigError",
    "Department",
    "StaffRecord",
    "Subcategory",
    "load_areas",
    "city_files",
    "load_city_config",
    "load_city_dir",
]
