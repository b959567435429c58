"""Residents and staff as the services see them: find or create by channel identity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from backend.db.models import ChannelIdentity, Person, Staff
from backend.db.types import utcnow
from backend.domain.errors import NotFound
from backend.domain.roles import Role
from backend.services.actors import ActorContext

# Staff as a push to them needs them: their person and chat identities, joined in the staff query (not two lazy
# loads per person). A query with it returns each staff member once per identity: call `.unique()` on its result.
REACHABLE = joinedload(Staff.person).joinedload(Person.identities)


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


@dataclass(frozen=True)
class Newcomer:
    """A chat identity seen for the first time, with what its message told of the person."""

    channel: str
    external_id: str
    name: str = ""
    language: str = "zh"


def new_resident(session: Session, *, channel: str, external_id: str, name: str = "", language: str = "zh") -> Person:
    """A resident created for a chat identity the caller has just looked up and not found."""
    (identity,) = new_residents(session, [Newcomer(channel, external_id, name, language)])
    return identity.person


def new_residents(session: Session, newcomers: Sequence[Newcomer]) -> list[ChannelIdentity]:
    """Residents created for chat identities the caller has just looked up and not found: two INSERTs for
    all of them. Each identity comes with its person loaded, who is known to hold no staff record."""
    if not newcomers:
        return []
    people = session.scalars(
        insert(Person).returning(Person, sort_by_parameter_order=True),
        [{"kind": "resident", "name": n.name} for n in newcomers],
    ).all()
    now = utcnow()
    identities = session.scalars(
        insert(ChannelIdentity).returning(ChannelIdentity, sort_by_parameter_order=True),
        [
            {
                "person_id": person.id,
                "channel": n.channel,
                "external_id": n.external_id,
                "language": n.language,
                "last_inbound_at": now,
            }
            for person, n in zip(people, newcomers, strict=True)
        ],
    ).all()
    for person, identity in zip(people, identities, strict=True):
        # What a caller reads next, set as loaded so that reading it costs no query.
        set_committed_value(person, "staff", None)
        set_committed_value(person, "identities", [identity])
        set_committed_value(identity, "person", person)
    return list(identities)


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
