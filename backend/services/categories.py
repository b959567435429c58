"""A subcategory's responsibility-list entry (权责清单): department, tier and time limits."""

from __future__ import annotations

from typing import cast

from sqlalchemy.orm import Session

from backend.cityconfig import Subcategory
from backend.cityconfig.schemas import Tier
from backend.db.models import Category
from backend.runtime import Runtime


def subcategory(session: Session, runtime: Runtime, code: str | None) -> Subcategory | None:
    """The subcategory `code`; None for an unknown or a top-level code.

    The city's config is the source of truth (the categories table is loaded from it) and the runtime holds the
    city in use, so routing a ticket reads no row. Only a code the city no longer lists (an older ticket's, after
    an import) is read from the row it left behind.
    """
    if not code:
        return None
    entry = runtime.city.subcategories.get(code)
    if entry is not None:
        return entry
    row = session.get(Category, code)
    if row is None or row.parent_code is None or row.department_code is None or row.hours_normal is None:
        return None
    return Subcategory(
        code=row.code,
        name=row.name,
        description="",
        category=row.parent_code,
        department=row.department_code,
        tier=cast(Tier, row.tier or "grid"),
        hours_normal=row.hours_normal,
        hours_urgent=row.hours_urgent or row.hours_normal,
        self_close=row.self_close,
    )
