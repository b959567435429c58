"""Staff bind their chat account by sending the one-time code an admin issued: 绑定 ABCD2345."""

from __future__ import annotations

import re

from backend.domain.errors import DomainError
from backend.services.binding import redeem
from bot.flows.context import Turn

_BIND = re.compile(r"^(?:/bind|绑定|bind)\s*([A-Za-z0-9]{4,16})$", re.IGNORECASE)


def try_bind(turn: Turn, text: str) -> bool:
    """Redeem a bind code if the text is a bind command; True when it was one."""
    m = _BIND.match(text.strip())
    if m is None:
        return False
    try:
        with turn.session.begin_nested():  # a refused step is taken back alone
            staff = redeem(turn.session, turn.inbound.channel, turn.inbound.user_id, m.group(1), turn.rt.clock.now())
    except DomainError as exc:
        turn.say_text(str(exc))
        return True
    turn.reset()
    turn.say("bind.done", name=staff.person.name, role=turn.t(f"role.{staff.role}"))
    return True
