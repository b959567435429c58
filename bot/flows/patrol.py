"""巡查上报: a worker reports what they found on patrol; 自办自结 closes it with an after-photo."""

from __future__ import annotations

from backend.domain.errors import DomainError
from backend.domain.roles import Role
from backend.domain.tickets import Action
from backend.services.intake import ReportIn, create_ticket, triage
from backend.services.workflow import apply_action, load_ticket
from bot.flows import report
from bot.flows.common import category_name
from bot.flows.context import Turn
from bot.flows.followup import add_photo
from bot.messages import InboundKind

FLOW = "patrol"


def start(turn: Turn) -> None:
    """Ask what the worker found."""
    turn.begin(FLOW, "describe")
    turn.say("patrol.describe")


def on_message(turn: Turn) -> None:
    """The next message of a patrol report or a self-close."""
    step, inbound = turn.state.get("step"), turn.inbound
    if step == "describe":
        if inbound.kind is InboundKind.location:
            turn.data.update(lon=inbound.lon, lat=inbound.lat, label=inbound.label)
            turn.say("patrol.describe")
        elif inbound.kind is InboundKind.image:
            if report.stash_photo(turn):
                turn.say("report.photo_kept")
        elif turn.text:
            _triaged(turn, turn.text)
        else:
            turn.say("patrol.describe")
    elif step == "category":
        data = inbound.data if inbound.kind is InboundKind.button else ""
        if data.startswith("patrol:cat:"):
            _create(turn, data.split(":", 2)[2])
        else:
            _ask_category(turn)
    elif step == "close":
        data = inbound.data if inbound.kind is InboundKind.button else ""
        number = turn.data.get("number", "")
        if data == "patrol:selfclose":
            begin_self_close(turn, number)
        else:
            turn.reset()
            turn.say("patrol.dispatched", number=number)
    elif step == "after_photo":
        _on_after_photo(turn)


def _triaged(turn: Turn, text: str) -> None:
    tri = triage(turn.rt, text)
    turn.data.update(text=text[:4000], top3=[c for c, _ in tri.top3], category=tri.category_code)
    if tri.category_code and tri.confidence >= turn.rt.settings.low_confidence_threshold:
        _create(turn, tri.category_code)
    else:
        _ask_category(turn)


def _ask_category(turn: Turn) -> None:
    turn.state["step"] = "category"
    codes = list(dict.fromkeys(c for c in [turn.data.get("category"), *turn.data.get("top3", [])] if c))[:3]
    turn.choose(
        turn.t("patrol.pick_category"), [(category_name(turn.rt, c, turn.lang), f"patrol:cat:{c}") for c in codes]
    )


def _create(turn: Turn, category: str) -> None:
    assert turn.staff is not None
    d, staff = turn.data, turn.staff
    area = staff.scope_code if staff.role == Role.gridworker.value and d.get("lon") is None else None
    try:
        with turn.session.begin_nested():  # a refused step is taken back alone
            ticket = create_ticket(
                turn.session,
                turn.rt,
                ReportIn(
                    text=d["text"],
                    channel=turn.inbound.channel,
                    reporter_id=turn.person.id,
                    lon=d.get("lon"),
                    lat=d.get("lat"),
                    location_text=d.get("label") or None,
                    area_code=area,
                    category_code=category,
                    source="patrol",
                ),
                actor=turn.actor,
            )
            report.attach_photos(turn, ticket, d.get("photos", []), stage="report")
    except DomainError as exc:
        turn.reset()
        turn.say_text(str(exc))
        return
    cat = turn.rt.city.subcategories.get(category)
    name = category_name(turn.rt, category, turn.lang)
    if cat is not None and cat.self_close and staff.role == Role.gridworker.value and ticket.assignee_id == staff.id:
        turn.begin(FLOW, "close", number=ticket.number)
        turn.choose(
            turn.t("patrol.created_self_close", number=ticket.number, category=name),
            [(turn.t("button.self_close"), "patrol:selfclose"), (turn.t("button.hand_over"), "patrol:handover")],
        )
        return
    turn.reset()
    turn.say("patrol.created", number=ticket.number, category=name)


def begin_self_close(turn: Turn, number: str) -> None:
    """Ask for the after-photo that 自办自结 needs."""
    turn.begin(FLOW, "after_photo", number=number)
    turn.say("patrol.ask_after_photo", number=number)


def _on_after_photo(turn: Turn) -> None:
    number = turn.data.get("number", "")
    if turn.inbound.kind is not InboundKind.image:
        turn.say("patrol.ask_after_photo", number=number)
        return
    if not add_photo(turn, number, stage="after"):
        return
    try:
        with turn.session.begin_nested():  # a refused step is taken back alone
            ticket = load_ticket(turn.session, number, lock=True)
            apply_action(turn.session, turn.rt, ticket, Action.self_close, turn.actor, reason="自办自结")
    except DomainError as exc:
        turn.reset()
        turn.say("action.refused", reason=str(exc))
        return
    turn.reset()
    turn.say("patrol.closed", number=number)
