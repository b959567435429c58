"""The staff dialogue: task cards and their buttons, on site, resolve, verify, my tasks, patrol, digest."""

from __future__ import annotations

import logging

from sqlalchemy import case, select

from backend.db.models import Ticket
from backend.domain.errors import DomainError
from backend.domain.tickets import OPEN_STATUSES, Action, allowed_actions
from backend.services.workflow import apply_action, load_ticket, snapshot
from bot.catalogue import matches
from bot.flows import patrol
from bot.flows.binding import try_bind
from bot.flows.common import category_name, find_number, local_time, place_text, status_label, timeline, visible_ticket
from bot.flows.context import Turn
from bot.flows.followup import add_photo
from bot.messages import InboundKind

logger = logging.getLogger(__name__)

# Button data "task:<verb>:<number>" → the action it takes (None: a dialogue step comes first).
VERBS: dict[str, Action] = {
    "accept": Action.accept,
    "return": Action.return_,
    "escalate": Action.escalate,
    "extend": Action.request_extension,
    "onsite": Action.start,
    "resolve": Action.resolve,
    "verify": Action.verify,
    "selfclose": Action.self_close,
    "approve": Action.approve_extension,
    "refuse": Action.refuse_extension,
}
NEEDS_REASON = {"return", "escalate", "extend", "refuse"}
LIGHT_ORDER = {"red": 0, "yellow": 1, "green": 2}
TASK_LIMIT = 10


def handle(turn: Turn) -> None:
    """Answer one staff message."""
    inbound, text = turn.inbound, turn.text
    if inbound.kind is InboundKind.follow or text in ("/start", "start"):
        turn.reset()
        turn.say("staff.welcome", name=turn.person.name)
        return
    if inbound.kind is InboundKind.unknown:
        turn.say("unsupported")
        return
    if inbound.kind is InboundKind.button and inbound.data.startswith("task:"):
        _task_button(turn, inbound.data)
        return
    if inbound.kind is InboundKind.button and inbound.data.startswith("patrol:") and turn.state.get("flow") != "patrol":
        turn.say("staff.help")
        return
    if inbound.kind in (InboundKind.text, InboundKind.voice) and text and _command(turn, text):
        return
    flow = turn.state.get("flow")
    if flow == "reason":
        _on_reason(turn)
    elif flow == "onsite":
        _on_site(turn)
    elif flow == "resolve":
        _on_resolve(turn)
    elif flow == "patrol":
        patrol.on_message(turn)
    elif not text and inbound.kind in (InboundKind.text, InboundKind.voice):
        turn.say("empty")
    else:
        turn.say("staff.help")


def _command(turn: Turn, text: str) -> bool:
    if matches("cmd.help", text):
        turn.say("staff.help")
    elif matches("cmd.mytasks", text):
        turn.reset()
        my_tasks(turn)
    elif matches("cmd.patrol", text):
        patrol.start(turn)
    elif matches("cmd.digest", text):
        from bot.digest import build_digest

        assert turn.staff is not None
        turn.out.extend(build_digest(turn.session, turn.staff, rt=turn.rt, lang=turn.lang))
    elif matches("cmd.stop", text):
        turn.reset()
        turn.say("stopped")
    elif try_bind(turn, text):
        pass
    elif text.startswith("/") and find_number(text) is None:
        turn.say("unknown_command", command=text.split()[0][:30])
    elif (number := find_number(text)) is not None and len(text) <= len(number) + 4:
        turn.reset()
        show_task(turn, number)
    else:
        return False
    return True


def my_tasks(turn: Turn) -> None:
    """The worker's open tasks, red first, then yellow, then green, soonest due first."""
    assert turn.staff is not None
    order = case(LIGHT_ORDER, value=Ticket.light, else_=3)
    rows = turn.session.scalars(
        select(Ticket)
        .where(Ticket.assignee_id == turn.staff.id, Ticket.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(order, Ticket.due_at.is_(None), Ticket.due_at, Ticket.id)
        .limit(TASK_LIMIT)
    ).all()
    if not rows:
        turn.say("tasks.none")
        return
    lines = [turn.t("tasks.header", count=len(rows))]
    for t in rows:
        lines.append(
            turn.t(
                "tasks.line",
                light=turn.t(f"light.{t.light}"),
                number=t.number,
                status=status_label(t.status, turn.lang),
                category=category_name(turn.rt, t.category_code, turn.lang),
                due=local_time(turn.rt, t.due_at),
            )
        )
    turn.choose("\n".join(lines), [(t.number, f"task:view:{t.number}") for t in rows])


def show_task(turn: Turn, number: str) -> None:
    """A task card with the buttons of the moves this staff member may make now."""
    ticket = visible_ticket(turn, number)
    if ticket is None:
        turn.say("ticket.not_found", number=number)
        return
    send_card(turn, ticket)


def send_card(turn: Turn, ticket: Ticket, *, headline: str = "") -> None:
    """Reply with the ticket as a card whose buttons are the staff member's allowed moves."""
    assert turn.staff is not None
    rt = turn.rt
    actions = allowed_actions(snapshot(turn.session, rt, ticket), turn.actor.role, actor_id=turn.staff.id)
    verbs = [v for v, a in VERBS.items() if a in actions]
    if ticket.source != "patrol":
        verbs = [v for v in verbs if v != "selfclose"]  # residents' tickets go round the loop (check, rating)
    if ticket.assignee_id not in (None, turn.staff.id):
        verbs = [v for v in verbs if v in ("verify",)]
    body = turn.t(
        "card.body",
        category=category_name(rt, ticket.category_code, turn.lang),
        place=place_text(rt, ticket, turn.lang),
        text=ticket.text[:120],
        status=status_label(ticket.status, turn.lang),
        light=turn.t(f"light.{ticket.light}"),
        due=local_time(rt, ticket.due_at),
    )
    body += "\n" + timeline(turn, ticket)
    if headline:
        body = headline + "\n" + body
    turn.card(
        turn.t("card.title", number=ticket.number),
        body,
        [(turn.t(f"verb.{v}"), f"task:{v}:{ticket.number}") for v in verbs],
    )


def _task_button(turn: Turn, data: str) -> None:
    parts = data.split(":", 2)
    if len(parts) != 3:
        turn.say("staff.help")
        return
    _, verb, number = parts
    turn.reset()
    if verb == "view":
        show_task(turn, number)
        return
    if verb not in VERBS or visible_ticket(turn, number) is None:
        turn.say("ticket.not_found", number=number)
        return
    if verb in NEEDS_REASON:
        turn.begin("reason", "wait", verb=verb, number=number)
        turn.say(f"reason.{verb}", number=number)
    elif verb == "onsite":
        turn.begin("onsite", "wait", number=number)
        turn.ask_location(turn.t("onsite.ask", number=number))
    elif verb == "resolve":
        turn.begin("resolve", "photo", number=number)
        turn.say("resolve.ask_photo", number=number)
    elif verb == "selfclose":
        patrol.begin_self_close(turn, number)
    else:
        act(turn, number, VERBS[verb])


def act(turn: Turn, number: str, action: Action, *, reason: str | None = None) -> Ticket | None:
    """Make one move and reply with the updated card, or with the refusal."""
    try:
        with turn.session.begin_nested():  # a refused step is taken back alone
            ticket = load_ticket(turn.session, number, lock=True)
            apply_action(turn.session, turn.rt, ticket, action, turn.actor, reason=reason)
    except DomainError as exc:
        turn.say("action.refused", reason=str(exc))
        return None
    send_card(turn, ticket, headline=turn.t(f"done.{action.value}", number=number))
    return ticket


def _on_reason(turn: Turn) -> None:
    verb, number = turn.data.get("verb", ""), turn.data.get("number", "")
    if not turn.text:
        turn.say(f"reason.{verb}", number=number)
        return
    reason = turn.text
    turn.reset()
    act(turn, number, VERBS[verb], reason=reason)


def _on_site(turn: Turn) -> None:
    number = turn.data.get("number", "")
    inbound = turn.inbound
    if inbound.kind is not InboundKind.location or inbound.lon is None or inbound.lat is None:
        turn.ask_location(turn.t("onsite.ask", number=number))
        return
    ticket = visible_ticket(turn, number)
    if ticket is None:
        turn.reset()
        turn.say("ticket.not_found", number=number)
        return
    here = turn.rt.grid_of(turn.rt.grids.locate(inbound.lon, inbound.lat))
    if ticket.grid_code is not None and here != ticket.grid_code:
        turn.ask_location(turn.t("onsite.wrong_place", number=number))
        return
    turn.reset()
    act(turn, number, Action.start, reason=None)


def _on_resolve(turn: Turn) -> None:
    number, step = turn.data.get("number", ""), turn.state.get("step")
    if step == "photo":
        if turn.inbound.kind is not InboundKind.image:
            turn.say("resolve.ask_photo", number=number)
            return
        if add_photo(turn, number, stage="resolved"):
            turn.state["step"] = "note"
            turn.say("resolve.ask_note")
        return
    if not turn.text:
        turn.say("resolve.ask_note")
        return
    note = turn.text
    turn.reset()
    act(turn, number, Action.resolve, reason=note)
