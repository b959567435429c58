"""Everything a request or a job needs besides the database: config, indexes, models, the clock."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from backend.cityconfig import CityConfig, city_files, load_city_config, load_city_dir
from backend.domain.routing import GridIndex
from backend.domain.sla import WorkingCalendar
from backend.ports import Classifier, Clock, PlaceExtractor, SystemClock
from backend.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The composed, read-only collaborators of the services."""

    settings: Settings
    city: CityConfig
    grids: GridIndex
    calendar: WorkingCalendar
    clock: Clock = field(default_factory=SystemClock)
    classifier: Classifier | None = None
    places: PlaceExtractor | None = None
    city_stamp: str | None = None  # the imported city's manifest hash; None: the shipped config/ city
    _city_checked: float = field(default=0.0, init=False, repr=False, compare=False)

    def refresh_city(self) -> bool:
        """Load the city `gridbot import-city` installed, if it changed since this runtime loaded one.

        Checks at most once per GRIDBOT_CITY_CHECK_SECONDS (a stat and a small read); True when it reloaded.
        Routing, the map, staff scoping and the place words then use the new city without a restart.
        """
        now = time.monotonic()
        if now - self._city_checked < self.settings.city_check_seconds:
            return False
        self._city_checked = now
        stamp = city_stamp(self.settings)
        if stamp is None or stamp == self.city_stamp:
            return False
        city, places_path = load_active_city(self.settings)
        grids = GridIndex.build(city.areas.values())
        calendar = WorkingCalendar.from_config(city.calendar)
        places = _load_places(places_path)
        self.city, self.grids, self.calendar, self.places, self.city_stamp = city, grids, calendar, places, stamp
        logger.info("city reloaded: %d areas, %d staff (stamp %s)", len(city.areas), len(city.staff), stamp[:12])
        return True

    @cached_property
    def duplicates(self):  # type: ignore[no-untyped-def]
        from nlp.duplicates import DuplicateDetector

        return DuplicateDetector(window_hours=self.settings.duplicate_window_hours)

    def grid_of(self, area_code: str | None) -> str | None:
        """The responsible grid of an area: a micro-grid's parent grid, else the grid or special grid itself."""
        return self.city.grid_of(area_code) if area_code else None

    def ancestor_at(self, area_code: str | None, level: str) -> str | None:
        """The area or its ancestor at a level (community, street, district)."""
        return self.city.ancestor_at(area_code, level) if area_code in self.city.areas else None


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    classifier: Classifier | None = None,
    load_classifier: bool = True,
) -> Runtime:
    """Load config and models once for a process."""
    city, places_path = load_active_city(settings)
    grids = GridIndex.build(city.areas.values())
    calendar = WorkingCalendar.from_config(city.calendar)
    if city.calendar.timezone != settings.timezone:
        logger.warning(
            "calendar.yaml's time zone %s (SLA hours) differs from GRIDBOT_TIMEZONE %s (shown times, local days)",
            city.calendar.timezone,
            settings.timezone,
        )
    places = _load_places(places_path)
    if classifier is None and load_classifier:
        classifier = load_default_classifier(settings)
    return Runtime(
        settings=settings,
        city=city,
        grids=grids,
        calendar=calendar,
        clock=clock or SystemClock(),
        classifier=classifier,
        places=places,
        city_stamp=city_stamp(settings),
    )


ACTIVE_CITY = "city"  # under the data directory: the city `gridbot import-city` installed
CITY_MANIFEST = "city.json"


def active_city_dir(settings: Settings) -> Path | None:
    """The directory of the imported city, or None when the shipped config/ city is in use."""
    path = settings.data_dir / ACTIVE_CITY
    return path if (path / CITY_MANIFEST).is_file() else None


def city_stamp(settings: Settings) -> str | None:
    """A hash of the imported city's manifest (changes with every import), or None."""
    path = active_city_dir(settings)
    if path is None:
        return None
    try:
        return hashlib.sha256((path / CITY_MANIFEST).read_bytes()).hexdigest()
    except OSError:
        return None


def load_active_city(settings: Settings) -> tuple[CityConfig, Path]:
    """The city in use (the imported one, else config/) and its GeoJSON (for the place words)."""
    imported = active_city_dir(settings)
    if imported is not None:
        return load_city_dir(imported, base_dir=settings.config_dir), city_files(
            imported, base_dir=settings.config_dir
        )["city.geojson"]
    return load_city_config(settings.config_dir), settings.config_dir / "demo_city.geojson"


def load_default_classifier(settings: Settings) -> Classifier:
    """The shipped (or configured) model from the model directory, building it if missing."""
    from nlp.cli import ensure_default_model
    from nlp.modelfile import load_model

    model_dir = ensure_default_model(settings.config_dir, settings.model_dir)
    return load_model(model_dir, allowed_root=settings.model_dir)


def _load_places(path: Path) -> PlaceExtractor | None:
    from nlp.places import Gazetteer

    return Gazetteer.from_geojson(path) if path.exists() else None
