"""Urgent means a person now: an urgent report's alarm goes to the dispatchers of its area at once and climbs
community → street → district while nobody acknowledges it."""

from __future__ import annotations

from enum import StrEnum


class AlarmLevel(StrEnum):
    """Whose dispatchers an alarm is with."""

    community = "community"
    street = "street"
    district = "district"

    def next(self) -> AlarmLevel | None:
        """The level an unacknowledged alarm climbs to; None at the district (it stays, and is re-sent)."""
        ladder = list(AlarmLevel)
        at = ladder.index(self)
        return ladder[at + 1] if at + 1 < len(ladder) else None


def first_level(*, community_code: str | None, street_code: str | None) -> AlarmLevel:
    """The lowest level that knows where the report is; the district when the area is unknown."""
    if community_code:
        return AlarmLevel.community
    if street_code:
        return AlarmLevel.street
    return AlarmLevel.district
