"""The small interfaces the backend needs from the outside world (nlp models, clocks, channels)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable


class Prediction(Protocol):
    """What a classifier says about one text (read-only, so frozen dataclasses satisfy it)."""

    @property
    def subcategory(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def top3(self) -> Sequence[tuple[str, float]]: ...


class Classifier(Protocol):
    """Categorises a complaint text."""

    def predict(self, text: str) -> Prediction: ...


@runtime_checkable
class SwappableClassifier(Protocol):
    """A wrapper around a classifier (e.g. one that times it) that can wrap a newly activated model instead."""

    def predict(self, text: str) -> Prediction: ...
    def swapped(self, inner: Classifier) -> Classifier: ...


class PlaceMatch(Protocol):
    """A place found in a text (read-only, so frozen dataclasses satisfy it)."""

    @property
    def area_code(self) -> str: ...
    @property
    def grid_code(self) -> str | None: ...
    @property
    def confidence(self) -> float: ...
    @property
    def span(self) -> tuple[int, int]: ...
    @property
    def matched(self) -> str: ...


class PlaceExtractor(Protocol):
    """Finds the best-matching area for a text."""

    def best(self, text: str) -> PlaceMatch | None: ...


class Clock(Protocol):
    """Tells the time (a frozen clock in tests)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: Any) -> None:
        from datetime import timedelta

        self.at = self.at + timedelta(**delta)
