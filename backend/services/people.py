"""Residents and staff as the services see them: find or create by channel identity."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from backend.db.models import ChannelIdentity, Person, Staff
from backend.db.types import utcnow
from backend.domain.errors import NotFound
from backend.domain.roles import Role
from backend.services.actors import ActorContext


def identity_of(session: Session, *, channel: str, external_id: str) -> ChannelIdentity | None:
    """The identity for (channel, external id), if known."""
    return session.scalar(
        select(ChannelIdentity)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
        .options(joinedload(ChannelIdentity.person).joinedload(Person.staff))  # what every caller reads next
    )


def resident_for(session: Session, *, channel: str, external_id: str, name: str = "", language: str = "zh") -> Person:
    """The person behind a chat identity, created as a resident on first contact."""
    ident = identity_of(session, channel=channel, external_id=external_id)
    if ident is not None:
        ident.last_inbound_at = utcnow()
        if language and ident.language != language:
            ident.language = language
        return ident.person
    return new_resident(session, channel=channel, external_id=external_id, name=name, language=language)


def new_resident(session: Session, *, channel: str, external_id: str, name: str = "", language: str = "zh") -> Person:
    """A resident created for a chat identity the caller has just looked up and not found."""
    person = Person(kind="resident", name=name, staff=None)  # known to hold no staff record: no query for it
    person.identities.append(
        ChannelIdentity(channel=channel, external_id=external_id, language=language, last_inbound_at=utcnow())
    )
    session.add(person)
    session.flush()  # one flush writes both rows (the person first, for its id)
    return person


def staff_actor(staff: Staff) -> ActorContext:
    """The acting context of a staff member."""
    return ActorContext(
        role=Role(staff.role),
        person_id=staff.person_id,
        staff_id=staff.id,
        scope_code=staff.scope_code,
        name=staff.person.name,
    )


def resident_actor(person: Person) -> ActorContext:
    """The acting context of a resident."""
    return ActorContext(role=Role.resident, person_id=person.id, name=person.name)


def staff_by_code(session: Session, code: str) -> Staff:
    """A staff record by its code, or NotFound."""
    staff = session.scalar(select(Staff).where(Staff.code == code))
    if staff is None:
        raise NotFound("error.staff_not_found", staff=code)
    return staff


def preferred_identity(person: Person, channel: str | None = None) -> ChannelIdentity | None:
    """The identity to reach a person on: the given channel if they have it, else staff apps first."""
    idents = list(person.identities)
    if channel:
        for ident in idents:
            if ident.channel == channel:
                return ident
    order = {"wecom": 0, "telegram": 1, "wechat": 2, "console": 3}
    idents.sort(key=lambda i: order.get(i.channel, 9))
    return idents[0] if idents else None
