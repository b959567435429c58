"""巡查上报: a worker reports what they found on patrol; 自办自结 closes it with an after-photo."""

from __future__ import annotations

from backend.domain.errors import DomainError
from backend.domain.tickets import Action
from backend.services.intake import Assessment
from backend.texts import error_text
from bot.flows import report
from bot.flows.common import category_name
from bot.flows.conversation import Conversation
from bot.flows.followup import add_photo
from bot.messages import InboundKind

FLOW = "patrol"


def start(conv: Conversation) -> None:
    """Ask what the worker found."""
    conv.begin(FLOW, "describe")
    conv.say("patrol.describe")


def on_message(conv: Conversation) -> None:
    """The next message of a patrol report or a self-close."""
    step, inbound = conv.state.get("step"), conv.inbound
    if step == "describe":
        if inbound.kind is InboundKind.location:
            conv.data.update(lon=inbound.lon, lat=inbound.lat, label=inbound.label)
            conv.say("patrol.describe")
        elif inbound.kind is InboundKind.image:
            if report.stash_photo(conv):
                conv.say("report.photo_kept")
        elif conv.text:
            _assessed(conv, conv.text)
        else:
            conv.say("patrol.describe")
    elif step == "category":
        data = inbound.data if inbound.kind is InboundKind.button else ""
        if data.startswith("patrol:cat:"):
            _create(conv, data.split(":", 2)[2])
        else:
            _ask_category(conv)
    elif step == "close":
        data = inbound.data if inbound.kind is InboundKind.button else ""
        number = conv.data.get("number", "")
        if data == "patrol:selfclose":
            begin_self_close(conv, number)
        else:
            conv.reset()
            conv.say("patrol.dispatched", number=number)
    elif step == "after_photo":
        _on_after_photo(conv)


def _assessed(conv: Conversation, text: str) -> None:
    assessment = conv.casework.assess(text[: report.MAX_TEXT], lon=conv.data.get("lon"), lat=conv.data.get("lat"))
    conv.data["assessment"] = assessment.to_json()
    if assessment.category_code and assessment.confidence >= conv.settings.low_confidence_threshold:
        _create(conv, assessment.category_code)
    else:
        _ask_category(conv)


def _ask_category(conv: Conversation) -> None:
    conv.state["step"] = "category"
    assessment = Assessment.from_json(conv.data["assessment"])
    codes = [c for c in [assessment.category_code, *(c for c, _ in assessment.top3)] if c]
    conv.choose(
        conv.t("patrol.pick_category"),
        [(category_name(conv.city, c, conv.lang), f"patrol:cat:{c}") for c in list(dict.fromkeys(codes))[:3]],
    )


def _create(conv: Conversation, category: str) -> None:
    data = conv.data
    try:
        ticket = conv.casework.patrol_report(
            Assessment.from_json(data["assessment"]),
            category,
            lon=data.get("lon"),
            lat=data.get("lat"),
            label=data.get("label") or None,
            photos=data.get("photos", []),
        )
    except DomainError as exc:
        conv.reset()
        conv.refuse(exc)
        return
    name = category_name(conv.city, category, conv.lang)
    if ticket.assigned_to_speaker and conv.casework.may_self_close(ticket.number):
        conv.begin(FLOW, "close", number=ticket.number)
        conv.choose(
            conv.t("patrol.created_self_close", number=ticket.number, category=name),
            [(conv.t("button.self_close"), "patrol:selfclose"), (conv.t("button.hand_over"), "patrol:handover")],
        )
        return
    conv.reset()
    conv.say("patrol.created", number=ticket.number, category=name)


def begin_self_close(conv: Conversation, number: str) -> None:
    """Ask for the after-photo that 自办自结 needs."""
    conv.begin(FLOW, "after_photo", number=number)
    conv.say("patrol.ask_after_photo", number=number)


def _on_after_photo(conv: Conversation) -> None:
    number = conv.data.get("number", "")
    if conv.inbound.kind is not InboundKind.image:
        conv.say("patrol.ask_after_photo", number=number)
        return
    if not add_photo(conv, number, stage="after"):
        return
    try:
        conv.casework.act(number, Action.self_close, reason="自办自结")
    except DomainError as exc:
        conv.reset()
        conv.say("action.refused", reason=error_text(exc, conv.lang))
        return
    conv.reset()
    conv.say("patrol.closed", number=number)
