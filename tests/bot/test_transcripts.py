"""Golden transcripts (tests/transcripts/*.yaml): whole conversations through a driver, then the ticket's
final state and audit trail.

A step names a participant (`resident: alice` or `staff: GW001`) and one of: `send` (text), `voice`,
`location` [lon, lat, label], `photo` (true, or {caption: …}), `group` ({text, to: mention | reply |
command | none}: a Telegram supergroup message, answered in the group), `follow`, `press` (a button label
from the last messages the participant saw), `inbox` (read pushed notifications); or `advance` (move the
frozen clock), or `api` (a staff member's call to the REST API, as the dashboard or an API client makes it:
`api: {as: CD01, post: /api/tickets/{t1}/category, json: {...}}`, answering 200 unless `status` says). `expect`
lists substrings the replies must contain, `expect_buttons` button labels, `expect_kind` a message kind,
`expect_no_reply` that nothing was answered, `capture` names the first ticket number in the replies.
A `job` step runs one of the worker's periodic jobs by name (JOBS), at the frozen clock's time.
`{name}` in texts is replaced by captured numbers. `final` checks a captured ticket's fields and audit trail
(`ticket: t1`), or how many tickets the conversation made in all (`tickets: 2`).
A step may also be written in a platform's own shape: `wechat: {MsgType: video, MediaId: …}` (the XML
fields of an Official Account or WeCom message or event) or `telegram: {voice: {…}}` (the fields of a
Telegram message; `name: m1` remembers its message_id, `edit_of: m1` sends it as an edited_message of that
message), posted by the drivers of that platform only.
A top-level `language: en` (or a step's `language`) sets the participant's platform language, and
`only_channels` limits a transcript to drivers of those channels. Transcripts stay channel-neutral: a
location request or a long button list may look different on WeChat, so they assert words and labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.api.app import create_app
from backend.db.models import Attachment, Ticket, TicketFollower
from backend.ports import FrozenClock
from backend.runtime import Runtime
from backend.usecases import Backend
from backend.usecases.abandoned import desk_unanswered
from backend.usecases.operations import escalate_alarms, sweep_unowned
from bot.messages import Inbound, InboundKind, Outbound
from tests.bot.drivers import Driver, Who, driver  # noqa: F401  (the fixture)
from tests.conftest import DEMO_PASSWORD

TRANSCRIPTS = sorted((Path(__file__).parent.parent / "transcripts").glob("*.yaml"))
NUMBER = re.compile(r"[A-Z]{1,8}\d{8}-\d{3,6}")
# A minimal PNG: the signature and an IHDR chunk are what type sniffing looks at.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


# The periodic jobs a transcript may run (`job: <name>`), as the worker runs them.
JOBS: dict[str, Callable[[Backend], int]] = {
    "desk_unanswered": desk_unanswered,
    "sweep_unowned": sweep_unowned,
    "escalate_alarms": escalate_alarms,
}

StaffApi = Callable[[dict[str, Any], dict[str, str]], None]


@pytest.fixture
def staff_api(runtime: Runtime, session_factory: sessionmaker[Session]) -> Iterator[StaffApi]:
    """Make a staff REST API call of a transcript step (the client starts on first use)."""
    stack = ExitStack()
    clients: list[TestClient] = []
    tokens: dict[str, str] = {}

    def call(spec: dict[str, Any], numbers: dict[str, str]) -> None:
        if not clients:
            clients.append(stack.enter_context(TestClient(create_app(runtime, session_factory))))
        client, code = clients[0], str(spec["as"])
        if code not in tokens:
            login = client.post("/api/auth/token", data={"username": code, "password": DEMO_PASSWORD})
            assert login.status_code == 200, login.text
            tokens[code] = login.json()["access_token"]
        resp = client.post(
            _fill(str(spec["post"]), numbers),
            json=spec.get("json", {}),
            headers={"Authorization": f"Bearer {tokens[code]}"},
        )
        assert resp.status_code == spec.get("status", 200), resp.text

    with stack:
        yield call


def _who(step: dict[str, Any]) -> Who:
    if "resident" in step:
        return ("resident", str(step["resident"]))
    return ("staff", str(step["staff"]))


def _fill(text: str, numbers: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: numbers.get(m.group(1), m.group(0)), text)


def _message(step: dict[str, Any], seen: list[Outbound], numbers: dict[str, str]) -> Inbound:
    if "send" in step:
        return Inbound("", "", InboundKind.text, text=_fill(str(step["send"]), numbers))
    if "voice" in step:
        return Inbound("", "", InboundKind.voice, text=_fill(str(step["voice"]), numbers))
    if "location" in step:
        lon, lat, *label = step["location"]
        return Inbound("", "", InboundKind.location, lon=float(lon), lat=float(lat), label=label[0] if label else "")
    if "photo" in step:
        caption = step["photo"].get("caption", "") if isinstance(step["photo"], dict) else ""
        return Inbound("", "", InboundKind.image, image=PNG, image_ref="photo-1", text=_fill(caption, numbers))
    if "group" in step:
        # A message in a community group (Telegram): {text, to: mention | reply | command | none}
        group = step["group"]
        return Inbound("", "", InboundKind.group, text=_fill(str(group["text"]), numbers), data=str(group["to"]))
    if "follow" in step:
        return Inbound("", "", InboundKind.follow)
    if "unknown" in step:
        return Inbound("", "", InboundKind.unknown)
    if "press" in step:
        label = _fill(str(step["press"]), numbers)
        for message in reversed(seen):
            for button in message.buttons:
                if button.label == label:
                    return Inbound("", "", InboundKind.button, data=button.data, text=label)
        pytest.fail(f"no button {label!r} in {[b.label for m in seen for b in m.buttons]}")
    raise AssertionError(f"a step needs something to send: {step}")


# Steps written as a platform's own payload, and the drivers that can post it.
RAW = {"wechat": ("wechat", "wecom"), "telegram": ("telegram",)}


def _send_raw(through: Driver, who: Who, step: dict[str, Any], where: str) -> list[Outbound]:
    """Post a step given in the platform's own shape (`wechat:` XML fields, `telegram:` a message object)."""
    for key, channels in RAW.items():
        if key in step and through.channel in channels:
            replies: list[Outbound] = through.send_raw(who, step[key])  # type: ignore[attr-defined]
            return replies
    pytest.fail(f"{where}: no payload for the {through.channel} driver (limit the transcript with only_channels)")


def _check(step: dict[str, Any], replies: list[Outbound], where: str, numbers: dict[str, str]) -> None:
    text = "\n".join(f"{m.title}\n{m.text}" for m in replies)
    step = {k: [_fill(str(x), numbers) for x in v] if isinstance(v, list) else v for k, v in step.items()}
    for part in step.get("expect", []):
        assert part in text, f"{where}: {part!r} not in replies:\n{text}"
    for part in step.get("expect_not", []):
        assert part not in text, f"{where}: {part!r} unexpectedly in replies:\n{text}"
    labels = [b.label for m in replies for b in m.buttons]
    for label in step.get("expect_buttons", []):
        assert label in labels, f"{where}: button {label!r} not in {labels}"
    if "expect_no_reply" in step:
        assert not replies, f"{where}: expected no answer, got {[m.text for m in replies]}"
    if "expect_kind" in step:
        kinds = [m.kind.value for m in replies]
        assert step["expect_kind"] in kinds, f"{where}: no {step['expect_kind']} message in {kinds}"


def _check_ticket(session: Session, spec: dict[str, Any], numbers: dict[str, str]) -> None:
    if "tickets" in spec:  # how many tickets the whole conversation made
        made = session.scalar(select(func.count(Ticket.id)))
        assert made == spec["tickets"], f"{made} tickets, not {spec['tickets']}"
        return
    number = numbers[spec["ticket"]]
    ticket = session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None, number
    session.refresh(ticket)
    if "status" in spec:
        assert ticket.status == spec["status"], f"{number}: status {ticket.status}"
    if "actions" in spec:
        actions = [e.action for e in ticket.events if e.action not in ("light", "supervise")]
        assert actions == spec["actions"], f"{number}: audit trail {actions}"
    for field in (
        "priority",
        "source",
        "category_code",
        "department_code",
        "grid_code",
        "tier",
        "reopen_count",
        "rework_count",
        "location_text",
    ):
        if field in spec:
            assert getattr(ticket, field) == spec[field], f"{number}: {field} {getattr(ticket, field)}"
    if "merged_into" in spec:
        into = session.scalar(select(Ticket).where(Ticket.number == numbers[spec["merged_into"]]))
        assert into is not None and ticket.merged_into_id == into.id
    if "attachments" in spec:
        stages = sorted(session.scalars(select(Attachment.stage).where(Attachment.ticket_id == ticket.id)))
        assert stages == sorted(spec["attachments"]), f"{number}: attachments {stages}"
    if "followers" in spec:
        n = len(session.scalars(select(TicketFollower).where(TicketFollower.ticket_id == ticket.id)).all())
        assert n == spec["followers"], f"{number}: {n} followers"
    if "ratings" in spec:
        assert [r.score for r in ticket.ratings] == spec["ratings"]
    if "comments" in spec:
        notes = [e.note for e in ticket.events if e.action == "comment"]
        assert notes == spec["comments"], f"{number}: comments {notes}"


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_transcript(
    path: Path,
    driver: Driver,  # noqa: F811
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    runtime: Runtime,
    staff_api: StaffApi,
) -> None:
    """The conversation goes as written and leaves the tickets as written."""
    script = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "only_channels" in script and driver.channel not in script["only_channels"]:
        pytest.skip(f"{path.stem} runs only on {script['only_channels']}")
    language = str(script.get("language", "zh"))
    numbers: dict[str, str] = {}
    seen: dict[Who, list[Outbound]] = {}
    for i, step in enumerate(script["steps"], 1):
        where = f"{path.stem} step {i}"
        if "advance" in step:
            clock.advance(**step["advance"])
            continue
        if "api" in step:
            staff_api(step["api"], numbers)
            continue
        if "job" in step:
            JOBS[step["job"]](Backend(runtime, session_factory))
            continue
        who = _who(step)
        if "inbox" in step:
            replies = driver.inbox(who)
        elif RAW.keys() & step.keys():
            replies = _send_raw(driver, who, step, where)
        else:
            sent = replace(_message(step, seen.get(who, []), numbers), language=str(step.get("language", language)))
            replies = driver.send(who, sent)
        seen[who] = seen.get(who, [])[-5:] + replies
        _check(step, replies, where, numbers)
        if "capture" in step:
            found = NUMBER.search("\n".join(m.text for m in replies))
            assert found, f"{where}: no ticket number to capture in {[m.text for m in replies]}"
            numbers[step["capture"]] = found.group()
    with session_factory() as session:
        for spec in script["final"]:
            _check_ticket(session, spec, numbers)
