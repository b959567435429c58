"""Load the city's reference data (departments, categories, areas, staff) from config into the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cityconfig import CityConfig
from backend.db.models import Area, Category, ChannelIdentity, Department, Person, Staff
from backend.services.security import hash_password

logger = logging.getLogger(__name__)


@dataclass
class LoadSummary:
    """How many rows of each kind the load wrote."""

    departments: int = 0
    categories: int = 0
    areas: int = 0
    staff: int = 0


def sync_reference(session: Session, city: CityConfig) -> LoadSummary:
    """Upsert departments, categories and areas from config (the config is the source of truth)."""
    summary = LoadSummary()
    for dep in city.departments.values():
        session.merge(Department(code=dep.code, name=dep.name, short=dep.short))
        summary.departments += 1
    for cat in city.categories.values():
        session.merge(Category(code=cat.code, name=cat.name, parent_code=None))
        summary.categories += 1
    session.flush()
    for sub in city.subcategories.values():
        session.merge(
            Category(
                code=sub.code,
                name=sub.name,
                parent_code=sub.category,
                department_code=sub.department,
                tier=sub.tier,
                hours_normal=sub.hours_normal,
                hours_urgent=sub.hours_urgent,
                self_close=sub.self_close,
            )
        )
        summary.categories += 1
    # Parents before children, so the self-referencing foreign key holds.
    order = {"district": 0, "street": 1, "community": 2, "grid": 3, "special": 3, "microgrid": 4}
    for area in sorted(city.areas.values(), key=lambda a: (order.get(a.level, 9), a.code)):
        session.merge(
            Area(
                code=area.code,
                name=area.name,
                level=area.level,
                parent_code=area.parent,
                households=area.households,
                special_kind=area.special_kind,
                aliases=[{"name": a.name, "kind": a.kind} for a in area.aliases],
                geometry_wkt=area.geometry.wkt,
            )
        )
        summary.areas += 1
        if summary.areas % 50 == 0:
            session.flush()
    session.flush()
    return summary


def sync_staff(session: Session, city: CityConfig, *, demo_password: str | None) -> int:
    """Create or update staff from config/staff.csv, with their WeCom and Telegram identities."""
    count = 0
    # One hash for the shared demo password: argon2 is slow on purpose, and the hash is salted anyway.
    demo_hash = hash_password(demo_password) if demo_password else None
    for rec in city.staff.values():
        staff = session.scalar(select(Staff).where(Staff.code == rec.code))
        if staff is None:
            person = Person(kind="staff", name=rec.name, phone=rec.phone or None)
            session.add(person)
            session.flush()
            staff = Staff(
                person_id=person.id, code=rec.code, role=rec.role, scope_code=rec.scope or None, password_hash=demo_hash
            )
            session.add(staff)
        else:
            staff.role, staff.scope_code = rec.role, rec.scope or None
            staff.person.name = rec.name
        session.flush()
        for channel, ext in (("wecom", rec.wecom_userid), ("telegram", rec.telegram_user_id)):
            if ext in (None, ""):
                continue
            exists = session.scalar(
                select(ChannelIdentity).where(
                    ChannelIdentity.channel == channel, ChannelIdentity.external_id == str(ext)
                )
            )
            if exists is None:
                session.add(ChannelIdentity(person_id=staff.person_id, channel=channel, external_id=str(ext)))
        count += 1
    session.flush()
    return count


def deactivate_staff_except(session: Session, codes: set[str]) -> int:
    """Deactivate active staff whose code is not in `codes` (a city's staff list replaced), admins kept."""
    count = 0
    for staff in session.scalars(select(Staff).where(Staff.active.is_(True), Staff.role != "admin")):
        if staff.code not in codes:
            staff.active = False
            count += 1
    session.flush()
    return count
