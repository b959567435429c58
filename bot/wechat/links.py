"""Buttons as WeChat text links (`weixin://bizmsgmenu`): a tap sends the label as the resident's message and
comes back carrying the link's id (`bizmsgmenuid`), as a tap on a customer-service menu does (parse.py).

A passive reply is one text message. With a question's buttons as links in it, the question needs no
customer-service message: no API call, no wait for the outbox, and none of the few such messages WeChat
allows after each of the user's (5 in 48 hours) spent on it. The buttons of a message that cannot be written
as links (a label or id with characters a link would garble; more than the text's bytes allow) go as a menu,
as before (its first 10).
"""

from __future__ import annotations

import re

from bot.messages import Outbound

LINK = "weixin://bizmsgmenu"
MAX_TEXT_BYTES = 2048  # WeChat's limit for one text message
# An id WeChat hands back unchanged, and a label that reads the same in the link, the message and the chat.
_SAFE_ID = re.compile(r"[A-Za-z0-9_:.\-]{1,64}")
_SAFE_LABEL = re.compile(r"[^\s\"'&#%+<>=?]{1,32}")


def with_links(message: Outbound) -> str | None:
    """The message's text followed by its buttons as links, one a line; None if they cannot all be links."""
    buttons = message.buttons
    if not buttons:
        return None
    if not all(_SAFE_ID.fullmatch(b.data) and _SAFE_LABEL.fullmatch(b.label) for b in buttons):
        return None
    links = [f'<a href="{LINK}?msgmenucontent={b.label}&msgmenuid={b.data}">{b.label}</a>' for b in buttons]
    head = "\n".join(part for part in (message.title, message.text) if part)
    return "\n".join([head, *links] if head else links)
