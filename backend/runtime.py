"""Everything a request or a job needs besides the database: config, indexes, models, the clock."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from backend.cityconfig import CityConfig, load_city_config
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
    city = load_city_config(settings.config_dir)
    grids = GridIndex.build(city.areas.values())
    calendar = WorkingCalendar.from_config(city.calendar)
    if city.calendar.timezone != settings.timezone:
        logger.warning(
            "calendar.yaml's time zone %s (SLA hours) differs from GRIDBOT_TIMEZONE %s (shown times, local days)",
            city.calendar.timezone,
            settings.timezone,
        )
    places = _load_places(settings)
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
    )


def load_default_classifier(settings: Settings) -> Classifier:
    """The shipped (or configured) model from the model directory, building it if missing."""
    from nlp.cli import ensure_default_model
    from nlp.modelfile import load_model

    model_dir = ensure_default_model(settings.config_dir, settings.model_dir)
    return load_model(model_dir, allowed_root=settings.model_dir)


def _load_places(settings: Settings) -> PlaceExtractor | None:
    from nlp.places import Gazetteer

    path = settings.config_dir / "demo_city.geojson"
    return Gazetteer.from_geojson(path) if path.exists() else None
