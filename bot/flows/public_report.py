"""向群众汇报 in chat: "订阅汇报" (/subscribe) asks for the weekly public report of the resident's area,
"退订汇报" (/unsubscribe) stops it. The report itself comes through the outbox (bot/public_report.py)."""

from __future__ import annotations

from backend.texts import matches
from bot.flows.conversation import Conversation


def try_command(conv: Conversation, text: str) -> bool:
    """Handle the subscribe and unsubscribe commands; True when the text was one."""
    if matches("cmd.subscribe_report", text):
        conv.reset()
        area, url = conv.casework.subscribe_report()
        conv.say("report.subscribed", area=area, url=url)
    elif matches("cmd.unsubscribe_report", text):
        conv.reset()
        conv.say("report.unsubscribed" if conv.casework.unsubscribe_report() else "report.not_subscribed")
    else:
        return False
    return True
