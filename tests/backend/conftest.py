"""Backend test helpers: actors from the demo staff and tickets made through the real intake."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Person, Staff, Ticket
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_actor, resident_for, staff_actor

GRID = "LC010101"  # 丰产路社区第一网格, gridworker GW001, community LC0101, street LC01
GRID_POINT = (113.5895, 34.73925)


@pytest.fixture
def staff(session: Session) -> Callable[[str], ActorContext]:
    """The acting context of a demo staff member by code."""

    def get(code: str) -> ActorContext:
        row = session.scalar(select(Staff).where(Staff.code == code))
        assert row is not None, code
        return staff_actor(row)

    return get


@pytest.fixture
def resident(session: Session) -> Callable[[str], Person]:
    """A resident known by a WeChat openid, created on first use."""

    def get(openid: str = "o_resident_1") -> Person:
        person = resident_for(session, channel="wechat", external_id=openid)
        session.commit()
        return person

    return get


@pytest.fixture
def report(session: Session, runtime: Runtime, resident: Callable[[str], Person]) -> Callable[..., Ticket]:
    """Submit a report through the real intake service."""

    def make(
        text: str = "小区门口的垃圾好几天没人清运了，臭得不行",
        *,
        openid: str = "o_resident_1",
        category: str | None = "garbage_piling",
        lon: float | None = GRID_POINT[0],
        lat: float | None = GRID_POINT[1],
        **kw: object,
    ) -> Ticket:
        person = resident(openid)
        _ticket = create_ticket(
            session,
            runtime,
            ReportIn(
                text=text, channel="wechat", reporter_id=person.id, lon=lon, lat=lat, category_code=category, **kw
            ),
        )  # type: ignore[arg-type]
        session.commit()
        return _ticket

    return make


def resident_ctx(person: Person) -> ActorContext:
    """The resident's acting context."""
    return resident_actor(person)
