"""Staff bind their chat account by sending the one-time code an admin issued: 绑定 ABCD2345."""

from __future__ import annotations

import re

from backend.domain.errors import DomainError
from bot.flows.conversation import Conversation

_BIND = re.compile(r"^(?:/bind|绑定|bind)\s*([A-Za-z0-9]{4,16})$", re.IGNORECASE)


def try_bind(conv: Conversation, text: str) -> bool:
    """Redeem a bind code if the text is a bind command; True when it was one."""
    m = _BIND.match(text.strip())
    if m is None:
        return False
    try:
        staff = conv.casework.bind_staff(m.group(1))
    except DomainError as exc:
        conv.refuse(exc)
        return True
    conv.reset()
    conv.say("bind.done", name=staff.name, role=conv.t(f"role.{staff.role}"))
    return True
