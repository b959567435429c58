"""Report a problem: classify, ask only for what is missing, summarise, number it, offer a merge."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from backend.db.models import Ticket
from backend.domain.errors import DomainError
from backend.domain.tickets import Action
from backend.services.attachments import ALLOWED_TYPES, check_photo, store_photo
from backend.services.intake import ReportIn, create_ticket, locate, open_duplicates, triage
from backend.services.placement import place_ticket
from backend.services.workflow import apply_action, load_ticket
from bot.catalogue import catalogue
from bot.flows.common import area_name, category_name
from bot.flows.context import Turn
from bot.flows.followup import add_photo
from bot.messages import InboundKind

logger = logging.getLogger(__name__)

FLOW = "report"
MAX_AREA_BUTTONS = 8


def start(turn: Turn, text: str) -> None:
    """Begin a report from a text (or a voice message's text) and take it as far as it can go."""
    d = turn.data if turn.state.get("flow") == FLOW else {}
    photos, pin = d.get("photos", []), {k: d[k] for k in ("lon", "lat", "label") if k in d}
    turn.begin(FLOW, "triage")
    turn.data.update(photos=photos, text=text[:4000], **pin)
    rt = turn.rt
    tri = triage(rt, text, lon=turn.data.get("lon"), lat=turn.data.get("lat"), home_area=turn.person.home_area_code)
    turn.data.update(
        category=tri.category_code,
        confidence=tri.confidence,
        top3=[c for c, _ in tri.top3],
        urgent=tri.urgent,
        hotlines=list(tri.hotlines),
    )
    if tri.urgent:
        _create(turn, urgent=True)
        return
    advance(turn)


def stash_photo(turn: Turn) -> bool:
    """Keep a photo sent before the report exists; False (and a reply) if it is not acceptable."""
    data = turn.inbound.image
    if not data:
        turn.say("photo.unavailable")
        return False
    try:
        mime = check_photo(data, max_bytes=turn.rt.settings.upload_max_bytes)
    except DomainError as exc:
        turn.say_text(str(exc))
        return False
    name = f"{hashlib.sha256(data).hexdigest()}.{ALLOWED_TYPES[mime]}"
    folder = turn.rt.settings.upload_dir
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / name).exists():
        (folder / name).write_bytes(data)
    turn.data.setdefault("photos", []).append(name)
    return True


def on_message(turn: Turn) -> None:
    """The next message of a report in progress."""
    step, inbound = turn.state.get("step"), turn.inbound
    if inbound.kind is InboundKind.image and step == "urgent_place":
        number = turn.data.get("number", "")
        if add_photo(turn, number):
            turn.say("details.photo_added", number=number)
        return
    if inbound.kind is InboundKind.image:
        if stash_photo(turn):
            turn.say("report.photo_kept")
            if step == "triage":
                turn.say("report.describe")
        return
    if inbound.kind is InboundKind.location and step != "urgent_place":
        turn.data.update(lon=inbound.lon, lat=inbound.lat, label=inbound.label)
        turn.data.pop("area_code", None)
        if step == "triage":
            turn.say("report.describe")
            return
        advance(turn)
        return
    if step == "triage":
        if turn.text:
            start(turn, turn.text)
        else:
            turn.say("report.describe")
        return
    if step == "urgent_place":
        _on_urgent_place(turn)
    elif step == "place":
        _on_place(turn)
    elif step == "category":
        _on_category(turn)
    elif step == "merge":
        _on_merge(turn)
    else:
        turn.reset()
        turn.say("help.short")


def _on_place(turn: Turn) -> None:
    inbound = turn.inbound
    if inbound.kind is InboundKind.button and inbound.data.startswith("community:"):
        _ask_estate(turn, inbound.data.split(":", 1)[1])
        return
    if inbound.kind is InboundKind.button and inbound.data.startswith("estate:"):
        _, grid, idx = inbound.data.split(":", 2)
        area = turn.rt.city.areas.get(grid)
        estates = _estates(turn, grid)
        if area is None or not idx.isdigit() or int(idx) >= len(estates):
            turn.say("report.place_unknown")
            return
        turn.data.update(area_code=grid, location_text=estates[int(idx)])
        advance(turn)
        return
    if inbound.kind is InboundKind.button and inbound.data == "place:type":
        turn.say("report.type_place")
        return
    if turn.text:
        turn.data["location_text"] = turn.text[:300]
        advance(turn)
        return
    _ask_place(turn)


def _on_urgent_place(turn: Turn) -> None:
    """Route an urgent ticket as soon as the resident says where it is."""
    inbound, number = turn.inbound, turn.data.get("number", "")
    lon: float | None = None
    lat: float | None = None
    if inbound.kind is InboundKind.location and inbound.lon is not None and inbound.lat is not None:
        lon, lat, label = inbound.lon, inbound.lat, inbound.label or None
    elif turn.text:
        label = turn.text[:300]
    else:
        turn.ask_location(turn.t("report.urgent_no_place"))
        return
    try:
        with turn.session.begin_nested():  # a refused step is taken back alone
            ticket = load_ticket(turn.session, number, lock=True)
            placed = place_ticket(turn.session, turn.rt, ticket, turn.actor, lon=lon, lat=lat, location_text=label)
    except DomainError as exc:
        turn.reset()
        turn.say_text(str(exc))
        return
    if not placed:
        turn.ask_location(turn.t("report.urgent_place_unknown"))
        return
    turn.reset()
    turn.state["last_ticket"] = number
    turn.say("report.urgent_placed", number=number, place=ticket.location_text or area_name(turn.rt, ticket.area_code))


def _on_category(turn: Turn) -> None:
    data = turn.inbound.data if turn.inbound.kind is InboundKind.button else ""
    city = turn.rt.city
    if data == "cat:none":
        turn.choose(
            turn.t("report.pick_group"),
            [
                (c.name if turn.lang == "zh" else c.code.replace("_", " "), f"group:{c.code}")
                for c in city.categories.values()
            ]
            + [(turn.t("button.category_unsure"), "cat:unsure")],
        )
        return
    if data.startswith("group:") and data[6:] in city.categories:
        subs = city.categories[data[6:]].subcategories
        turn.choose(
            turn.t("report.pick_subcategory"), [(category_name(turn.rt, c, turn.lang), f"cat:{c}") for c in subs]
        )
        return
    if data.startswith("cat:"):
        code = data.split(":", 1)[1]
        if code != "unsure" and code not in city.subcategories:
            _ask_category(turn)
            return
        turn.data["category"] = None if code == "unsure" else code
        turn.data["confirmed"] = True
        advance(turn)
        return
    _ask_category(turn)


def _on_merge(turn: Turn) -> None:
    data = turn.inbound.data if turn.inbound.kind is InboundKind.button else turn.text
    if data in ("merge:yes", "是", "合并", "yes"):
        _create(turn, merge_into=turn.data.get("duplicate"))
    elif data in ("merge:no", "否", "不合并", "no"):
        _create(turn)
    else:
        _ask_merge(turn)


def placement(turn: Turn) -> Any:
    """Where the report is, from a pin, a picked area, the text, a typed place or the home address."""
    d, rt = turn.data, turn.rt
    if d.get("location_text") and not d.get("area_code") and d.get("lon") is None:
        typed = locate(rt, text=d["location_text"])
        if typed.grid_code:
            return typed
    return locate(
        rt,
        text=d.get("text"),
        lon=d.get("lon"),
        lat=d.get("lat"),
        area_code=d.get("area_code"),
        home_area=turn.person.home_area_code,
    )


def advance(turn: Turn) -> None:
    """Ask the next missing thing, or create the ticket."""
    d = turn.data
    place = placement(turn)
    if place.grid_code is None and not d.get("location_text"):
        _ask_place(turn)
        return
    low = d.get("confidence", 0.0) < turn.rt.settings.low_confidence_threshold or not d.get("category")
    if low and not d.get("confirmed"):
        _ask_category(turn)
        return
    if not d.get("dup_checked"):
        d["dup_checked"] = True
        dup = _duplicate(turn, place.grid_code)
        if dup is not None:
            d["duplicate"] = dup.number
            d["duplicate_text"] = dup.text[:60]
            _ask_merge(turn)
            return
    _create(turn)


def _ask_place(turn: Turn) -> None:
    turn.state["step"] = "place"
    communities = sorted((a for a in turn.rt.city.areas.values() if a.level == "community"), key=lambda a: a.code)
    buttons = [(a.name, f"community:{a.code}") for a in communities[:MAX_AREA_BUTTONS]]
    buttons.append((turn.t("button.type_place"), "place:type"))
    turn.ask_location(turn.t("report.ask_place"), buttons)


def _estates(turn: Turn, grid: str) -> list[str]:
    area = turn.rt.city.areas.get(grid)
    return [a.name for a in area.aliases if a.kind in ("estate", "compound")] if area else []


def _ask_estate(turn: Turn, community: str) -> None:
    if community not in turn.rt.city.areas:
        _ask_place(turn)
        return
    buttons = []
    for grid in turn.rt.city.children(community):
        for i, name in enumerate(_estates(turn, grid)):
            buttons.append((name, f"estate:{grid}:{i}"))
    buttons.append((turn.t("button.type_place"), "place:type"))
    turn.choose(turn.t("report.pick_estate", community=area_name(turn.rt, community)), buttons)


def _ask_category(turn: Turn) -> None:
    turn.state["step"] = "category"
    d = turn.data
    codes = [c for c in ([d.get("category")] + list(d.get("top3", []))) if c]
    codes = list(dict.fromkeys(codes))[:3]
    buttons = [(category_name(turn.rt, c, turn.lang), f"cat:{c}") for c in codes]
    buttons.append((turn.t("button.category_other"), "cat:none"))
    guess = category_name(turn.rt, codes[0], turn.lang) if codes else turn.t("category.unknown")
    turn.choose(turn.t("report.confirm_category", category=guess), buttons)


def _ask_merge(turn: Turn) -> None:
    turn.state["step"] = "merge"
    turn.choose(
        turn.t("report.duplicate", number=turn.data["duplicate"], text=turn.data.get("duplicate_text", "")),
        [(turn.t("button.merge_yes"), "merge:yes"), (turn.t("button.merge_no"), "merge:no")],
    )


def _duplicate(turn: Turn, grid_code: str | None) -> Ticket | None:
    d = turn.data
    if not grid_code or not d.get("category"):
        return None
    probe = Ticket(
        id=-1, text=d["text"], grid_code=grid_code, category_code=d["category"], created_at=turn.rt.clock.now()
    )
    found = open_duplicates(turn.session, turn.rt, probe)
    return found[0][0] if found else None


def _report_in(turn: Turn, *, urgent: bool | None) -> ReportIn:
    d = turn.data
    location_text = d.get("location_text") or d.get("label") or None
    if location_text is None and d.get("lon") is None and turn.rt.places is not None:
        match = turn.rt.places.best(d["text"])
        location_text = match.matched if match is not None and match.confidence >= 0.5 else None
    return ReportIn(
        text=d["text"],
        channel=turn.inbound.channel,
        reporter_id=turn.person.id,
        lon=d.get("lon"),
        lat=d.get("lat"),
        location_text=location_text,
        area_code=d.get("area_code"),
        category_code=d.get("category"),
        category_confidence=None if d.get("confirmed") else d.get("confidence"),
        urgent=True if urgent else None,
    )


def _create(turn: Turn, *, urgent: bool = False, merge_into: str | None = None) -> None:
    session, rt = turn.session, turn.rt
    try:
        with session.begin_nested():  # a refused step is taken back alone
            ticket = create_ticket(
                session, rt, _report_in(turn, urgent=urgent), actor=turn.actor, dispatch=not merge_into
            )
            attach_photos(turn, ticket, turn.data.get("photos", []), stage="report")
            if merge_into:
                old = load_ticket(session, merge_into)
                apply_action(session, rt, ticket, Action.merge, turn.actor, merge_into=old, reason="反映人同意合并跟进")
    except DomainError as exc:
        turn.reset()
        turn.say_text(str(exc))
        return
    hotlines = turn.data.get("hotlines", [])
    turn.reset()
    turn.state["last_ticket"] = ticket.number
    category = category_name(rt, ticket.category_code, turn.lang)
    place = ticket.location_text or area_name(rt, ticket.area_code) or turn.t("place.unknown")
    if merge_into:
        turn.say("report.merged", number=ticket.number, into=merge_into)
        return
    if urgent:
        # Placeholders such as "gas_company" name a local line the catalogue spells out.
        lines = "、".join(turn.t(f"hotline.{h}") if f"hotline.{h}" in catalogue() else h for h in hotlines) or "110"
        turn.say("report.urgent", hotlines=lines, number=ticket.number, category=category)
        if ticket.grid_code is None:
            turn.begin(FLOW, "urgent_place", number=ticket.number)
            turn.ask_location(turn.t("report.urgent_no_place"))
        return
    turn.choose(
        turn.t("report.created", number=ticket.number, category=category, place=place),
        [
            (turn.t("button.add_details"), f"add:{ticket.number}"),
            (turn.t("button.view_ticket"), f"view:{ticket.number}"),
        ],
    )


def attach_photos(turn: Turn, ticket: Ticket, names: list[str], *, stage: str) -> None:
    """Attach stashed photos (files already in the upload directory) to a ticket."""
    folder: Path = turn.rt.settings.upload_dir
    for name in names:
        path = folder / name
        if path.exists():
            store_photo(
                turn.session,
                upload_dir=folder,
                ticket=ticket,
                data=path.read_bytes(),
                stage=stage,
                uploaded_by=turn.person.id,
                max_bytes=turn.rt.settings.upload_max_bytes,
            )
