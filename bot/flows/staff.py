"""The staff dialogue: task cards and their buttons, on site, resolve, verify, my tasks, patrol, digest."""

from __future__ import annotations

import logging

from backend.domain.errors import DomainError
from backend.domain.tickets import Action
from backend.texts import error_text, matches
from backend.usecases.views import TicketView
from bot.digest import digest_messages
from bot.flows import patrol, staff_contact
from bot.flows.binding import try_bind
from bot.flows.common import category_name, find_number, local_time, place_text, status_label, timeline
from bot.flows.conversation import Conversation
from bot.flows.followup import add_photo
from bot.flows.media import answer_wordless
from bot.messages import InboundKind, Outbound, OutboundKind

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
    "reject": Action.reject_verification,
    "selfclose": Action.self_close,
    "approve": Action.approve_extension,
    "refuse": Action.refuse_extension,
}
NEEDS_REASON = {"return", "escalate", "extend", "refuse", "reject"}
TASK_LIMIT = 10
DESK_GRID_BUTTONS = 8  # a community has 6–8 grids; a street dispatcher types past these on the dashboard
CARD_LABEL_CHARS = 16  # a relabelled card button shows a short line; the full answer follows as a message


def handle(conv: Conversation) -> None:
    """Answer one staff message."""
    inbound, text = conv.inbound, conv.text
    if inbound.kind is InboundKind.follow or text in ("/start", "start"):
        conv.reset()
        conv.say("staff.welcome", name=conv.speaker.name)
        return
    if inbound.kind is InboundKind.unknown:
        conv.say("unsupported")
        return
    if answer_wordless(conv):
        return
    if inbound.kind is InboundKind.edit:
        if not (inbound.lon is not None and inbound.lat is not None):  # a live location moving: nothing to say
            conv.say("edit.not_read")
        return
    if inbound.kind is InboundKind.button and inbound.data == "cmd:mytickets":  # the Official Account menu
        conv.reset()
        my_tasks(conv)
        return
    if inbound.kind is InboundKind.button and inbound.data.startswith("task:"):
        _task_button(conv, inbound.data)
        return
    if inbound.kind is InboundKind.button and inbound.data.startswith("desk:"):
        _desk_button(conv, inbound.data)
        return
    if inbound.kind is InboundKind.button and inbound.data.startswith("patrol:") and conv.state.get("flow") != "patrol":
        conv.say("staff.help")
        return
    if inbound.kind in (InboundKind.text, InboundKind.voice) and text and _command(conv, text):
        return
    flow = conv.state.get("flow")
    if flow == "reason":
        _on_reason(conv)
    elif flow == "onsite":
        _on_site(conv)
    elif flow == "resolve":
        _on_resolve(conv)
    elif flow == "patrol":
        patrol.on_message(conv)
    elif flow == staff_contact.FLOW:
        staff_contact.on_reason(conv)
    elif not text and inbound.kind in (InboundKind.text, InboundKind.voice):
        conv.say("empty")
    else:
        conv.say("staff.help")


def _command(conv: Conversation, text: str) -> bool:
    if matches("cmd.help", text):
        conv.say("staff.help")
    elif matches("cmd.mytasks", text):
        conv.reset()
        my_tasks(conv)
    elif matches("cmd.patrol", text):
        patrol.start(conv)
    elif matches("cmd.digest", text):
        conv.out.extend(digest_messages(conv.casework.digest(), conv.lang))
    elif matches("cmd.stop", text):
        conv.reset()
        conv.say("stopped")
    elif try_bind(conv, text):
        pass
    elif text.startswith("/") and find_number(text) is None:
        conv.say("unknown_command", command=text.split()[0][:30])
    elif (number := find_number(text)) is not None and len(text) <= len(number) + 4:
        conv.reset()
        show_task(conv, number)
    else:
        return False
    return True


def my_tasks(conv: Conversation) -> None:
    """The worker's open tasks, red first, then yellow, then green, soonest due first."""
    rows = conv.casework.my_tasks(TASK_LIMIT)
    if not rows:
        conv.say("tasks.none")
        return
    lines = [conv.t("tasks.header", count=len(rows))]
    for t in rows:
        lines.append(
            conv.t(
                "tasks.line",
                light=conv.t(f"light.{t.light}"),
                number=t.number,
                status=status_label(t.status, conv.lang),
                category=category_name(conv.city, t.category_code, conv.lang),
                due=local_time(t.due_at, conv.settings.timezone),
            )
        )
    conv.choose("\n".join(lines), [(t.number, f"task:view:{t.number}") for t in rows])


def show_task(conv: Conversation, number: str) -> None:
    """A task card with the buttons of the moves this staff member may make now."""
    found = conv.casework.task(number)
    if found is None:
        conv.say("ticket.not_found", number=number)
        return
    _send_card(conv, *found)


def _send_card(conv: Conversation, ticket: TicketView, actions: frozenset[Action], *, headline: str = "") -> None:
    verbs = [v for v, a in VERBS.items() if a in actions]
    body = conv.t(
        "card.body",
        category=category_name(conv.city, ticket.category_code, conv.lang),
        place=place_text(conv.city, ticket, conv.lang),
        text=ticket.text[:120],
        status=status_label(ticket.status, conv.lang),
        light=conv.t(f"light.{ticket.light}"),
        due=local_time(ticket.due_at, conv.settings.timezone),
    )
    body += "\n" + timeline(conv, ticket)
    if headline:
        body = headline + "\n" + body
    conv.card(
        conv.t("card.title", number=ticket.number),
        body,
        [(conv.t(f"verb.{v}"), f"task:{v}:{ticket.number}") for v in verbs] + staff_contact.button(conv, ticket.number),
    )


def _card_label(conv: Conversation, key: str, **params: str) -> None:
    """On a card whose pressed button the platform lets us relabel (WeCom), say there what really happened."""
    if not conv.inbound.card_press:
        return
    label = conv.t(key, **params)
    if len(label) > CARD_LABEL_CHARS:
        label = label[: CARD_LABEL_CHARS - 1] + "…"
    conv.out.append(Outbound(OutboundKind.card_label, text=label))


def _task_button(conv: Conversation, data: str) -> None:
    parts = data.split(":", 2)
    if len(parts) != 3:
        conv.say("staff.help")
        return
    _, verb, number = parts
    conv.reset()
    if verb == "view":
        _card_label(conv, "card.label.viewed")
        show_task(conv, number)
        return
    if verb == staff_contact.VERB:
        _card_label(conv, "card.label.waiting")
        staff_contact.begin(conv, number)
        return
    if verb == "desk":
        _desk_button(conv, f"desk:{number}")
        return
    if verb == "ack":
        try:
            conv.casework.acknowledge_alarm(number)
        except DomainError as exc:
            conv.say("action.refused", reason=error_text(exc, conv.lang))
            return
        conv.say("alarm.acked", number=number)
        return
    if verb not in VERBS or conv.casework.ticket(number) is None:
        _card_label(conv, "card.label.refused", reason=conv.t("ticket.not_found", number=number))
        conv.say("ticket.not_found", number=number)
        return
    if verb in NEEDS_REASON or verb in ("onsite", "resolve", "selfclose"):
        _card_label(conv, "card.label.waiting")
    if verb in NEEDS_REASON:
        conv.begin("reason", "wait", verb=verb, number=number)
        conv.say(f"reason.{verb}", number=number)
    elif verb == "onsite":
        conv.begin("onsite", "wait", number=number)
        conv.ask_location(conv.t("onsite.ask", number=number))
    elif verb == "resolve":
        conv.begin("resolve", "photo", number=number)
        conv.say("resolve.ask_photo", number=number)
    elif verb == "selfclose":
        patrol.begin_self_close(conv, number)
    else:
        act(conv, number, VERBS[verb])


def _desk_button(conv: Conversation, data: str) -> None:
    """分拨 in chat: "desk:<number>" offers categories, then grids unless the place is known, then dispatches."""
    number, *picked = data.split(":")[1:]
    found = conv.casework.desk_choices(number)
    if found is None:
        conv.say("desk.not_yours", number=number)
        return
    ticket, categories, grids = found
    if not picked or picked[0] not in conv.city.subcategories:
        buttons = [(category_name(conv.city, c, conv.lang), f"desk:{number}:{c}") for c in categories[:3]]
        conv.choose(conv.t("desk.pick_category", number=number, text=ticket.text[:80]), buttons)
        return
    category = picked[0]
    grid = picked[1] if len(picked) > 1 else (ticket.grid_code if ticket.grid_code in grids else None)
    if grid is None:
        buttons = [(conv.city.areas[g].name, f"desk:{number}:{category}:{g}") for g in grids[:DESK_GRID_BUTTONS]]
        conv.choose(conv.t("desk.pick_grid", number=number), buttons)
        return
    try:
        done = conv.casework.desk_decide(number, category, grid)
    except DomainError as exc:
        conv.say("action.refused", reason=error_text(exc, conv.lang))
        return
    conv.say("desk.decided", number=number, category=category_name(conv.city, done.category_code, conv.lang))


def act(conv: Conversation, number: str, action: Action, *, reason: str | None = None) -> None:
    """Make one move and reply with the updated card, or with the refusal."""
    try:
        ticket, actions = conv.casework.act(number, action, reason=reason)
    except DomainError as exc:
        _card_label(conv, "card.label.refused", reason=error_text(exc, conv.lang))
        conv.say("action.refused", reason=error_text(exc, conv.lang))
        return
    verb = next((v for v, a in VERBS.items() if a is action), "")
    _card_label(conv, "card.label.done", verb=conv.t(f"verb.{verb}") if verb else conv.t("card.pressed"))
    _send_card(conv, ticket, actions, headline=conv.t(f"done.{action.value}", number=number))


def _on_reason(conv: Conversation) -> None:
    verb, number = conv.data.get("verb", ""), conv.data.get("number", "")
    if verb == "reject" and conv.inbound.kind is InboundKind.image:
        # 核查不通过 may show what is still wrong: the photo joins the ticket, the reason is still needed.
        if add_photo(conv, number, stage="verify"):
            conv.say("reject.photo_kept")
        return
    if not conv.text:
        conv.say(f"reason.{verb}", number=number)
        return
    reason = conv.text
    conv.reset()
    act(conv, number, VERBS[verb], reason=reason)


def _on_site(conv: Conversation) -> None:
    number = conv.data.get("number", "")
    inbound = conv.inbound
    if inbound.kind is not InboundKind.location or inbound.lon is None or inbound.lat is None:
        conv.ask_location(conv.t("onsite.ask", number=number))
        return
    ticket = conv.casework.ticket(number)
    if ticket is None:
        conv.reset()
        conv.say("ticket.not_found", number=number)
        return
    here = conv.casework.locate(lon=inbound.lon, lat=inbound.lat)
    if ticket.grid_code is not None and here.grid_code != ticket.grid_code:
        conv.ask_location(conv.t("onsite.wrong_place", number=number))
        return
    conv.reset()
    act(conv, number, Action.start, reason=None)


def _on_resolve(conv: Conversation) -> None:
    number, step = conv.data.get("number", ""), conv.state.get("step")
    if step == "photo":
        if conv.inbound.kind is not InboundKind.image:
            conv.say("resolve.ask_photo", number=number)
            return
        if add_photo(conv, number, stage="resolved"):
            conv.state["step"] = "note"
            conv.say("resolve.ask_note")
        return
    if not conv.text:
        conv.say("resolve.ask_note")
        return
    note = conv.text
    conv.reset()
    act(conv, number, Action.resolve, reason=note)
