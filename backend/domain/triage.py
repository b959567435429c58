"""分流: whether a report is dispatched at once, confirmed with the reporter first, or decided by a person.

The classifier may be unsure and a report may have no usable place; then a person decides at the triage desk
(分拨台), never a silent guess. `gate` is the one rule; `desk_level` says whose desk a report waits on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Route(StrEnum):
    """What happens to a report once it is assessed."""

    dispatch = "dispatch"  # confident, and the place is known: to the grid/department now
    ask = "ask"  # in between: the reporter picks from the top choices, then it is dispatched
    desk = "desk"  # unsure, no category or no place: a dispatcher decides at the triage desk


class DeskReason(StrEnum):
    """Why a report waits at the triage desk (shown to dispatchers, kept in the audit trail)."""

    unsure = "unsure"  # the classifier is not confident and nobody confirmed a category
    no_category = "no_category"  # no category at all (the reporter did not know, or nonsense)
    no_place = "no_place"  # the place could not be matched to a grid
    unowned = "unowned"  # found by the sweep: not dispatched and not on a desk


@dataclass(frozen=True)
class Thresholds:
    """Classifier confidences: at or above `dispatch` a report goes out at once; below `ask` to the desk."""

    dispatch: float
    ask: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.ask <= self.dispatch <= 1.0:
            raise ValueError("thresholds need 0 <= ask <= dispatch <= 1")


@dataclass(frozen=True)
class Verdict:
    """The gate's answer: the route, and for the desk the reason."""

    route: Route
    reason: DeskReason | None = None


def gate(
    *,
    category_known: bool,
    confidence: float,
    confirmed: bool,
    place_known: bool,
    thresholds: Thresholds,
    can_ask: bool,
) -> Verdict:
    """Route one assessed report.

    A category a person picked (the reporter or staff) counts as certain. A report that cannot be asked
    about (Open311, a staff intake, a dialogue that already asked) goes to the desk instead of asking.
    """
    if not category_known:
        return Verdict(Route.desk, DeskReason.no_category)
    certain = confirmed or confidence >= thresholds.dispatch
    if not certain:
        if can_ask and confidence >= thresholds.ask:
            return Verdict(Route.ask)
        return Verdict(Route.desk, DeskReason.unsure)
    if not place_known:
        return Verdict(Route.desk, DeskReason.no_place)
    return Verdict(Route.dispatch)


def desk_level(*, community_code: str | None, street_code: str | None) -> str:
    """The lowest desk that can see the report: its community's, else its street's, else the district's."""
    if community_code:
        return "community"
    if street_code:
        return "street"
    return "district"
