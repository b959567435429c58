"""Everything a request or a job needs besides the database: config, indexes, models, the clock."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from backend.cityconfig import CityConfig, city_files, load_city_config, load_city_dir
from backend.domain.routing import GridIndex
from backend.domain.sla import WorkingCalendar
from backend.ports import Classifier, Clock, PlaceExtractor, SwappableClassifier, SystemClock
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
    # The model directory's ACTIVE pointer as last seen (nlp/modelstore.py); None: no pointer (v1, the shipped model).
    model_stamp: tuple[int, int, int] | None = None
    _city_checked: float = field(default=0.0, init=False, repr=False, compare=False)
    _model_checked: float = field(default=0.0, init=False, repr=False, compare=False)
    _model_loading: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def current_classifier(self) -> Classifier | None:
        """The classifier to use now: the active model version, swapped in if it changed (see refresh_model)."""
        self.refresh_model()
        return self.classifier

    def refresh_model(self) -> bool:
        """Load the model version `gridbot retrain`/`model activate`/`model rollback` made active, if it changed.

        Checks at most once per GRIDBOT_MODEL_CHECK_SECONDS (one stat of the pointer file). The new model is
        loaded completely before the reference is replaced, so a prediction in flight finishes on the old one;
        while one thread loads, the others go on with the old model. A version that fails to load is logged
        and the old model stays. True when it swapped.
        """
        now = time.monotonic()
        if self.classifier is None or now - self._model_checked < self.settings.model_check_seconds:
            return False
        self._model_checked = now
        from nlp.modelstore import pointer_stamp

        stamp = pointer_stamp(self.settings.model_dir)
        if stamp == self.model_stamp or not self._model_loading.acquire(blocking=False):
            return False
        try:
            fresh = load_default_classifier(self.settings)
        except Exception:
            logger.exception("the newly activated model could not be loaded; keeping the current one")
            self.model_stamp = stamp  # not retried until the pointer changes again
            return False
        finally:
            self._model_loading.release()
        current = self.classifier
        self.classifier = current.swapped(fresh) if isinstance(current, SwappableClassifier) else fresh
        self.model_stamp = stamp
        logger.info("model %s now in use", getattr(fresh, "version", "?"))
        return True

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
    from nlp.modelstore import pointer_stamp

    model_stamp = pointer_stamp(settings.model_dir)  # read before loading: a change during the load is seen later
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
        model_stamp=model_stamp,
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
    """The active model version from the model directory (v1, the shipped model, is built if missing)."""
    from nlp.cli import ensure_default_model
    from nlp.modelstore import SHIPPED_VERSION, active_version, load_version

    name = active_version(settings.model_dir)
    if name == SHIPPED_VERSION:
        ensure_default_model(settings.config_dir, settings.model_dir)
    return load_version(settings.model_dir, name)


def _load_places(path: Path) -> PlaceExtractor | None:
    from nlp.places import Gazetteer

    return Gazetteer.from_geojson(path) if path.exists() else None
