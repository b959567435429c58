"""Notification kinds are one enum: no enqueue call in backend/ passes a bare string as the kind."""

from __future__ import annotations

import ast
from pathlib import Path

from backend.domain.notifications import PUBLIC_KINDS, RESIDENT_KINDS, STAFF_KINDS, NoticeKind

BACKEND_DIR = Path(__file__).resolve().parents[2] / "backend"
ENQUEUERS = {"notify_person", "notify_reporters", "notify_staff", "Notification"}


def _called_name(call: ast.Call) -> str:
    return getattr(call.func, "attr", getattr(call.func, "id", ""))


def test_every_kind_enqueued_in_backend_is_a_notice_kind_not_a_literal() -> None:
    found = 0
    for path in BACKEND_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _called_name(node) in ENQUEUERS:
                for kw in node.keywords:
                    if kw.arg == "kind":
                        found += 1
                        where = f"{path.relative_to(BACKEND_DIR.parent)}:{node.lineno}"
                        assert not isinstance(kw.value, ast.Constant), f"{where}: kind is a literal, use NoticeKind"
    assert found >= 8, "found too few enqueue calls in backend/"


def test_the_resident_and_staff_kinds_with_chat_replies_are_every_kind() -> None:
    assert set(RESIDENT_KINDS) | set(STAFF_KINDS) | set(PUBLIC_KINDS) | {NoticeKind.chat_reply} == set(NoticeKind)
    assert not set(RESIDENT_KINDS) & set(STAFF_KINDS)
    assert not (set(RESIDENT_KINDS) | set(STAFF_KINDS)) & set(PUBLIC_KINDS)
