"""Category and department names in the page language (the config's Chinese names, or their translations)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.dashboard import labels
from backend.db.models import Category, Department


def category_names(session: Session, lang: str) -> dict[str, str]:
    """Category code → its name in a language."""
    rows = session.execute(select(Category.code, Category.name)).all()
    return {c: labels.config_name("category", c, n, lang) for c, n in rows}


def department_names(session: Session, lang: str, *, short: bool = False) -> dict[str, str]:
    """Department code → its (short) name in a language."""
    rows = session.execute(select(Department.code, Department.short if short else Department.name)).all()
    return {c: labels.config_name("department", c, n, lang) for c, n in rows}
