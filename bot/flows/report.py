"""Report a problem: assess it once, ask only for what is missing, number it, offer a merge."""

from __future__ import annotations

import logging

from backend.domain.errors import DomainError
from backend.domain.triage import Route, gate
from backend.services.intake import Assessment, Placement
from backend.texts import catalogue, matches
from backend.usecases.abandoned import AWAITING
from bot.flows.common import area_name, category_name
from bot.flows.conversation import Conversation
from bot.flows.followup import add_photo
from bot.messages import InboundKind

logger = logging.getLogger(__name__)

FLOW = "report"
# The report just made in this conversation: a photo sent next is attached to it (state; gone when it expires).
RECENT = "recent_report"
# The chat message whose words made that report (Telegram message_id): an edit of it names it.
RECENT_REF = "recent_ref"
MAX_AREA_BUTTONS = 8
MAX_TEXT = 4000


def start(conv: Conversation, text: str) -> None:
    """Begin a report from a text (or a voice message's text) and take it as far as it can go."""
    earlier = conv.data if conv.state.get("flow") == FLOW else {}
    photos, pin = earlier.get("photos", []), {k: earlier[k] for k in ("lon", "lat", "label") if k in earlier}
    inbound = conv.inbound
    conv.begin(FLOW, "triage")
    conv.data.update(photos=photos, **pin)
    # Which chat message the words came from, so that an edit of it can find this report.
    conv.data["ref"] = inbound.data if inbound.kind is InboundKind.edit else inbound.ref
    assessment = conv.casework.assess(text[:MAX_TEXT], lon=pin.get("lon"), lat=pin.get("lat"))
    _keep(conv, assessment)
    if assessment.urgent:
        _create(conv, urgent=True)
        return
    advance(conv)


def stash_photo(conv: Conversation) -> bool:
    """Keep a photo sent before the report exists; False (and a reply) if it is not acceptable."""
    data = conv.inbound.image
    if not data:
        conv.say("photo.unavailable")
        return False
    try:
        photo = conv.casework.stash_photo(data)
    except DomainError as exc:
        conv.refuse(exc)
        return False
    conv.data.setdefault("photos", []).append(photo.name)
    if photo.lon is not None and conv.data.get("lon") is None and not conv.data.get("assessment"):
        conv.data.update(lon=photo.lon, lat=photo.lat)  # where the photo was taken, unless a pin said
    return True


def on_message(conv: Conversation) -> None:
    """The next message of a report in progress."""
    step, inbound = conv.state.get("step"), conv.inbound
    if inbound.kind is InboundKind.image and step == "urgent_place":
        number = conv.data.get("number", "")
        if add_photo(conv, number):
            conv.say("details.photo_added", number=number)
        return
    if inbound.kind is InboundKind.image:
        kept = stash_photo(conv)
        if step == "triage" and conv.text:  # a photo with a caption: the caption describes it
            start(conv, conv.text)
            return
        if kept:
            conv.say("report.photo_kept")
            if step == "triage":
                conv.say("report.describe")
        return
    if inbound.kind is InboundKind.location and step != "urgent_place":
        conv.data.update(lon=inbound.lon, lat=inbound.lat, label=inbound.label)
        if step == "triage":
            conv.say("report.describe")
            return
        _place_at(conv, conv.casework.locate(lon=inbound.lon, lat=inbound.lat))
        advance(conv)
        return
    if step == "triage":
        if conv.text and conv.intent is None:
            start(conv, conv.text)
        else:
            conv.say("report.describe")  # nothing said yet, or only 好的 / 你好
        return
    if step == "urgent_place":
        _on_urgent_place(conv)
    elif step == "home":
        _on_home(conv)
    elif step == "place":
        _on_place(conv)
    elif step == "category":
        _on_category(conv)
    elif step == "merge":
        _on_merge(conv)
    else:
        conv.reset()
        conv.say("help.short")


def _assessment(conv: Conversation) -> Assessment:
    return Assessment.from_json(conv.data["assessment"])


def _keep(conv: Conversation, assessment: Assessment) -> None:
    conv.data["assessment"] = assessment.to_json()


def _place_at(conv: Conversation, place: Placement) -> None:
    """A place the resident gave after the report: it replaces the one read from the text, if it is in the city."""
    if place.grid_code is not None:
        _keep(conv, _assessment(conv).with_place(place))


def _on_place(conv: Conversation) -> None:
    inbound = conv.inbound
    if inbound.kind is InboundKind.button and inbound.data.startswith("community:"):
        _ask_estate(conv, inbound.data.split(":", 1)[1])
        return
    if inbound.kind is InboundKind.button and inbound.data.startswith("estate:"):
        _, grid, idx = inbound.data.split(":", 2)
        estates = _estates(conv, grid)
        if grid not in conv.city.areas or not idx.isdigit() or int(idx) >= len(estates):
            conv.say("report.place_unknown")
            return
        conv.data["location_text"] = estates[int(idx)]
        _place_at(conv, conv.casework.locate(area_code=grid))
        advance(conv)
        return
    if inbound.kind is InboundKind.button and inbound.data == "place:type":
        conv.say("report.type_place")
        return
    if conv.text and conv.intent is None:  # 好的 or 谢谢 names no place
        conv.data["location_text"] = conv.text[:300]
        if conv.data.get("lon") is None:
            _place_at(conv, conv.casework.locate(text=conv.text[:300]))
        advance(conv)
        return
    _ask_place(conv)


def _on_urgent_place(conv: Conversation) -> None:
    """Route an urgent ticket as soon as the resident says where it is."""
    inbound, number = conv.inbound, conv.data.get("number", "")
    lon: float | None = None
    lat: float | None = None
    if inbound.kind is InboundKind.location and inbound.lon is not None and inbound.lat is not None:
        lon, lat, label = inbound.lon, inbound.lat, inbound.label or None
    elif conv.text and conv.intent is None:
        label = conv.text[:300]
    else:
        conv.ask_location(conv.t("report.urgent_no_place"))
        return
    try:
        ticket = conv.casework.place_urgent(number, lon=lon, lat=lat, label=label)
    except DomainError as exc:
        conv.reset()
        conv.refuse(exc)
        return
    if ticket is None:
        conv.ask_location(conv.t("report.urgent_place_unknown"))
        return
    conv.reset()
    conv.state["last_ticket"] = number
    place = ticket.location_text or area_name(conv.city, ticket.area_code)
    conv.say("report.urgent_placed", number=number, place=place)


def _on_category(conv: Conversation) -> None:
    data = conv.inbound.data if conv.inbound.kind is InboundKind.button else _typed_category(conv)
    city = conv.city
    if data == "cat:none":
        groups = [
            (c.name if conv.lang == "zh" else c.code.replace("_", " "), f"group:{c.code}")
            for c in city.categories.values()
        ]
        conv.choose(conv.t("report.pick_group"), [*groups, (conv.t("button.category_unsure"), "cat:unsure")])
        return
    if data.startswith("group:") and data[6:] in city.categories:
        subs = city.categories[data[6:]].subcategories
        conv.choose(conv.t("report.pick_subcategory"), [(category_name(city, c, conv.lang), f"cat:{c}") for c in subs])
        return
    if data.startswith("cat:"):
        code = data.split(":", 1)[1]
        if code != "unsure" and code not in city.subcategories:
            _ask_category(conv)
            return
        _keep(conv, _assessment(conv).with_category(None if code == "unsure" else code))
        advance(conv)
        return
    _ask_category(conv)


def _typed_category(conv: Conversation) -> str:
    """The button a worded answer to "【道路破损】, right?" stands for: 对 takes the guess, 不对 the full list,
    不知道 the desk, a category's name that category; "" for anything else (the question is asked again)."""
    text, offered = conv.text, _offered_categories(conv)
    if not text:
        return ""
    if matches("cmd.unsure", text):
        return "cat:unsure"  # a person at the desk decides
    if matches("cmd.yes", text) and offered:
        return f"cat:{offered[0]}"
    if matches("cmd.no", text):
        return "cat:none"
    named = [code for code in offered if category_name(conv.city, code, conv.lang).lower() == text.lower()]
    return f"cat:{named[0]}" if named else ""


def _on_merge(conv: Conversation) -> None:
    inbound, text = conv.inbound, conv.text
    data = inbound.data if inbound.kind is InboundKind.button else ""
    if data == "merge:yes" or (not data and (text == "合并" or matches("cmd.yes", text))):
        _create(conv, merge_into=conv.data.get("duplicate"))
    elif data == "merge:no" or (not data and (text == "不合并" or matches("cmd.no", text))):
        _create(conv)
    else:
        _ask_merge(conv)


def advance(conv: Conversation) -> None:
    """Ask the next missing thing, or create the ticket."""
    data, assessment = conv.data, _assessment(conv)
    if assessment.place.source == "home" and not data.get("home_asked"):
        _ask_home(conv, assessment)  # the bound home is a guess: used only when the resident says so
        return
    if assessment.place.grid_code is None and not data.get("location_text"):
        _ask_place(conv)
        return
    verdict = gate(
        category_known=assessment.category_code is not None,
        confidence=assessment.confidence,
        confirmed=assessment.category_confirmed,
        place_known=True,  # asked above; a place that matches no grid sends the ticket to the desk
        thresholds=conv.settings.triage_thresholds,
        can_ask=True,
    )
    if verdict.route is Route.ask:
        _ask_category(conv)
        return
    if not data.get("dup_checked"):
        data["dup_checked"] = True
        duplicate = conv.casework.duplicate_of(assessment)
        if duplicate is not None:
            data["duplicate"] = duplicate.number
            data["duplicate_text"] = duplicate.text[:60]
            _ask_merge(conv)
            return
    _create(conv)


def _ask_home(conv: Conversation, assessment: Assessment) -> None:
    conv.data["home_asked"] = True
    conv.state["step"] = "home"
    conv.state[AWAITING] = "home"  # no answer in time: the report goes to the desk (backend/usecases/abandoned.py)
    home = area_name(conv.city, assessment.place.area_code)
    conv.choose(
        conv.t("report.ask_home", home=home),
        [(conv.t("button.home_yes"), "home:yes"), (conv.t("button.home_no"), "home:no")],
    )


def _on_home(conv: Conversation) -> None:
    inbound = conv.inbound
    answer = inbound.data if inbound.kind is InboundKind.button else ""
    if answer == "home:yes" or (not answer and matches("cmd.yes", conv.text)):
        advance(conv)
        return
    _keep(conv, _assessment(conv).with_place(Placement()))
    if answer == "home:no" or not conv.text or matches("cmd.no", conv.text):
        _ask_place(conv)
        return
    _on_place(conv)  # they typed where it is instead


def _ask_place(conv: Conversation) -> None:
    conv.state["step"] = "place"
    conv.state[AWAITING] = "place"
    communities = sorted((a for a in conv.city.areas.values() if a.level == "community"), key=lambda a: a.code)
    buttons = [(a.name, f"community:{a.code}") for a in communities[:MAX_AREA_BUTTONS]]
    buttons.append((conv.t("button.type_place"), "place:type"))
    conv.ask_location(conv.t("report.ask_place"), buttons)


def _estates(conv: Conversation, grid: str) -> list[str]:
    area = conv.city.areas.get(grid)
    return [a.name for a in area.aliases if a.kind in ("estate", "compound")] if area else []


def _ask_estate(conv: Conversation, community: str) -> None:
    if community not in conv.city.areas:
        _ask_place(conv)
        return
    buttons = []
    for grid in conv.city.children(community):
        for i, name in enumerate(_estates(conv, grid)):
            buttons.append((name, f"estate:{grid}:{i}"))
    buttons.append((conv.t("button.type_place"), "place:type"))
    conv.choose(conv.t("report.pick_estate", community=area_name(conv.city, community)), buttons)


def _ask_category(conv: Conversation) -> None:
    conv.state["step"] = "category"
    conv.state[AWAITING] = "category"
    codes = _offered_categories(conv)
    buttons = [(category_name(conv.city, c, conv.lang), f"cat:{c}") for c in codes]
    buttons.append((conv.t("button.category_other"), "cat:none"))
    buttons.append((conv.t("button.category_unsure"), "cat:unsure"))
    guess = category_name(conv.city, codes[0], conv.lang) if codes else conv.t("category.unknown")
    conv.choose(conv.t("report.confirm_category", category=guess), buttons)


def _offered_categories(conv: Conversation) -> list[str]:
    """The categories the confirmation offers: the guess first, then the model's next best, three at most."""
    assessment = _assessment(conv)
    codes = [c for c in [assessment.category_code, *(c for c, _ in assessment.top3)] if c]
    return list(dict.fromkeys(codes))[:3]


def _ask_merge(conv: Conversation) -> None:
    conv.state["step"] = "merge"
    conv.state[AWAITING] = "merge"
    conv.choose(
        conv.t("report.duplicate", number=conv.data["duplicate"], text=conv.data.get("duplicate_text", "")),
        [(conv.t("button.merge_yes"), "merge:yes"), (conv.t("button.merge_no"), "merge:no")],
    )


def _create(conv: Conversation, *, urgent: bool = False, merge_into: str | None = None) -> None:
    data, assessment = conv.data, _assessment(conv)
    pinned = data.get("lon") is not None
    location_text = data.get("location_text") or data.get("label") or (None if pinned else assessment.place_words)
    try:
        ticket = conv.casework.report(
            assessment,
            lon=data.get("lon"),
            lat=data.get("lat"),
            location_text=location_text,
            photos=data.get("photos", []),
            merge_into=merge_into,
            urgent=True if urgent else None,
        )
    except DomainError as exc:
        conv.reset()
        conv.refuse(exc)
        return
    ref = data.get("ref", "")
    conv.reset()
    conv.state["last_ticket"] = conv.state[RECENT] = ticket.number
    conv.state[RECENT_REF] = ref
    category = category_name(conv.city, ticket.category_code, conv.lang)
    place = ticket.location_text or area_name(conv.city, ticket.area_code) or conv.t("place.unknown")
    if merge_into:
        conv.say("report.merged", number=ticket.number, into=merge_into)
        return
    if urgent:
        # Placeholders such as "gas_company" name a local line the catalogue spells out.
        lines = (
            "、".join(conv.t(f"hotline.{h}") if f"hotline.{h}" in catalogue() else h for h in assessment.hotlines)
            or "110"
        )
        conv.say("report.urgent", hotlines=lines, number=ticket.number, category=category)
        if ticket.grid_code is None:
            conv.begin(FLOW, "urgent_place", number=ticket.number)
            conv.ask_location(conv.t("report.urgent_no_place"))
        return
    created = (
        conv.t("report.on_desk", number=ticket.number)
        if ticket.on_desk
        else conv.t("report.created", number=ticket.number, category=category, place=place)
    )
    conv.choose(
        created,
        [
            (conv.t("button.add_details"), f"add:{ticket.number}"),
            (conv.t("button.view_ticket"), f"view:{ticket.number}"),
        ],
    )
    if not data.get("photos") and ticket.category_code in conv.settings.photo_evidence_categories:
        conv.say("report.photo_wanted", number=ticket.number)
