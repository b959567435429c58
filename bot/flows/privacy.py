"""The resident's own data: "我的数据" (/mydata) shows what is stored, "删除我的信息" (/deletemydata) erases it.

Erasure asks once for confirmation: only "确认删除" (or its button) goes ahead, any other reply keeps the data.
"""

from __future__ import annotations

from backend.domain.errors import DomainError
from backend.texts import matches
from bot.flows.common import local_time, status_label
from bot.flows.conversation import Conversation

FLOW = "privacy"
ERASE = "privacy:erase"
KEEP = "privacy:keep"


def try_command(conv: Conversation, text: str) -> bool:
    """Handle the export and erasure commands; True when the text was one."""
    if matches("cmd.mydata", text):
        conv.reset()
        export(conv)
    elif matches("cmd.confirm_erase", text) and conv.state.get("flow") == FLOW:
        _erase(conv)
    elif matches("cmd.deletemydata", text) or matches("cmd.confirm_erase", text):
        conv.reset()
        conv.begin(FLOW, "confirm")
        buttons = [(conv.t("button.confirm_erase"), ERASE), (conv.t("button.keep_data"), KEEP)]
        conv.choose(conv.t("privacy.confirm"), buttons)
    else:
        return False
    return True


def on_button(conv: Conversation, data: str) -> bool:
    """The confirmation buttons; True when the button was one of them."""
    if data not in (ERASE, KEEP):
        return False
    if data == ERASE and conv.state.get("flow") == FLOW:
        _erase(conv)
    else:
        conv.reset()
        conv.say("privacy.kept")
    return True


def on_message(conv: Conversation) -> None:
    """Any answer to the confirmation question but the confirm words (see try_command) keeps the data."""
    conv.reset()
    conv.say("privacy.kept")


def export(conv: Conversation) -> None:
    """Reply with everything stored about the speaker."""
    data = conv.casework.my_data()
    none = conv.t("privacy.none")
    tickets = "".join(
        conv.t(
            "privacy.export_ticket",
            number=line.number,
            created=local_time(line.created_at, conv.settings.timezone),
            status=status_label(line.status, conv.lang),
            text=line.text[:60],
        )
        for line in data.tickets
    )
    settings = conv.settings
    conv.say(
        "privacy.export",
        name=data.name or none,
        phone=data.phone or none,
        home=data.home_text or none,
        accounts="、".join(data.accounts) or none,
        since=local_time(data.since, settings.timezone),
        count=data.ticket_count,
        tickets=tickets or none,
        ticket_days=settings.retention_ticket_days,
        photo_days=settings.retention_photo_days,
        transcript_days=settings.retention_transcript_days,
    )


def _erase(conv: Conversation) -> None:
    try:
        done = conv.casework.erase_me()
    except DomainError as exc:
        conv.reset()
        conv.refuse(exc)
        return
    conv.state.clear()
    conv.say("privacy.erased", open=done.open_tickets, finished=done.finished_tickets)
