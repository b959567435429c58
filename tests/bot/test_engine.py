"""The conversation engine: state in the database, idle expiry, catalogue, languages, odd input, binding."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import BindCode, ChannelIdentity, ConversationState, Person, Ticket
from backend.ports import FrozenClock
from backend.runtime import Runtime
from backend.services.binding import issue_bind_code
from backend.texts import LANGUAGES, catalogue, t
from bot.chatbot import Chatbot
from bot.messages import Button, Inbound, InboundKind, Outbound, OutboundKind, outbound_from_json, outbound_to_json

BOT_DIR = Path(__file__).resolve().parents[2] / "bot"


def _text(user: str, text: str, *, channel: str = "console", language: str = "zh") -> Inbound:
    return Inbound(channel, user, InboundKind.text, text=text, language=language)


def _press(user: str, data: str) -> Inbound:
    return Inbound("console", user, InboundKind.button, data=data)


def _all_text(out: list[Outbound]) -> str:
    return "\n".join(m.title + "\n" + m.text for m in out)


def _tickets(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Ticket)) or 0)


def test_a_new_engine_instance_continues_the_dialogue(runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
    first = Chatbot(runtime, session_factory)
    out = first.handle(_text("u-restart", "小区门口的路灯坏了好几天，晚上很黑"))
    assert any(m.kind is OutboundKind.location_request for m in out)
    with session_factory() as session:
        row = session.get(ConversationState, ("console", "u-restart"))
        assert row is not None and row.state["step"] == "place"

    second = Chatbot(runtime, session_factory)  # as after a restart, or in another process
    out = second.handle(_press("u-restart", "community:LC0101"))
    out = second.handle(_press("u-restart", "estate:LC010102:1"))
    assert "已受理" in _all_text(out)
    with session_factory() as session:
        ticket = session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
        assert ticket is not None and ticket.grid_code == "LC010102"
        assert ticket.text == "小区门口的路灯坏了好几天，晚上很黑"


def test_an_idle_dialogue_expires_with_a_polite_message(
    runtime: Runtime, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    engine = Chatbot(runtime, session_factory)
    engine.handle(_text("u-idle", "小区门口的路灯坏了好几天，晚上很黑"))
    clock.advance(minutes=runtime.settings.session_idle_minutes + 1)
    out = engine.handle(_press("u-idle", "community:LC0101"))
    assert out[0].text == t("session.expired")
    assert _tickets(session_factory) == 0
    with session_factory() as session:
        row = session.get(ConversationState, ("console", "u-idle"))
        assert row is not None and "flow" not in row.state


def test_a_dialogue_within_the_idle_time_does_not_expire(
    runtime: Runtime, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    engine = Chatbot(runtime, session_factory)
    engine.handle(_text("u-busy", "小区门口的路灯坏了好几天，晚上很黑"))
    clock.advance(minutes=runtime.settings.session_idle_minutes - 1)
    out = engine.handle(_press("u-busy", "community:LC0101"))
    assert t("session.expired") not in _all_text(out)
    assert any(b.data.startswith("estate:") for m in out for b in m.buttons)


def test_the_same_message_id_twice_answers_once_with_the_stored_reply(
    runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    engine = Chatbot(runtime, session_factory)
    msg = Inbound(
        "wechat",
        "o-dup",
        InboundKind.text,
        text="怡和花园门口的垃圾桶满了好几天没人清运，臭得不行",
        message_id="6800000000000000001",
    )
    first = engine.handle_once(msg)
    again = engine.handle_once(msg)
    assert again == first and "已受理" in _all_text(first)
    assert _tickets(session_factory) == 1


def test_every_catalogue_key_has_every_language() -> None:
    for key, texts in catalogue().items():
        for lang in LANGUAGES:
            assert texts.get(lang, "").strip(), f"{key} has no {lang} text"
        params = {lang: set(re.findall(r"\{(\w+)\}", texts[lang])) for lang in LANGUAGES}
        assert params["zh"] == params["en"], f"{key}: placeholders differ between languages"


def test_every_key_the_code_uses_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for path in BOT_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in ("t", "say", "matches") and re.fullmatch(
                    r"[a-z_]+(\.[a-z_]+)+|welcome|help|empty|"
                    r"unsupported|stopped",
                    node.args[0].value,
                ):
                    used.add(node.args[0].value)
    assert used, "found no catalogue keys in bot/"
    assert used <= set(catalogue()), sorted(used - set(catalogue()))


def test_telegram_user_with_english_gets_english(runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
    engine = Chatbot(runtime, session_factory)
    out = engine.handle(Inbound("telegram", "4242", InboundKind.follow, language="en-GB"))
    assert out[0].text == t("welcome", "en")
    out = engine.handle(
        _text("4242", "The rubbish at 怡和花园 gate has not been collected for days", channel="telegram", language="en")
    )
    text = _all_text(out)
    assert "Received!" in text or "I understand this is about" in text, text


def test_unknown_message_type_and_empty_text_get_polite_replies(
    runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    engine = Chatbot(runtime, session_factory)
    assert engine.handle(Inbound("console", "u-odd", InboundKind.unknown))[0].text == t("unsupported")
    assert engine.handle(_text("u-odd", "   "))[0].text == t("empty")
    assert engine.handle(Inbound("console", "u-odd", InboundKind.voice, text=""))[0].text == t("voice.empty")
    assert engine.handle(_text("u-odd", "/frobnicate now"))[0].text == t("unknown_command", command="/frobnicate")
    assert _tickets(session_factory) == 0


def test_unfollow_says_nothing_and_clears_the_dialogue(
    runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    engine = Chatbot(runtime, session_factory)
    engine.handle(_text("u-bye", "小区门口的路灯坏了好几天，晚上很黑"))
    assert engine.handle(Inbound("console", "u-bye", InboundKind.unfollow)) == []
    with session_factory() as session:
        row = session.get(ConversationState, ("console", "u-bye"))
        assert row is not None and row.state == {}


def test_home_address_is_used_when_a_report_names_no_place_and_the_resident_confirms_it(
    runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    engine = Chatbot(runtime, session_factory)
    engine.handle(_text("u-home", "绑定住址"))
    out = engine.handle(_text("u-home", "天伦小区"))
    assert "住址已绑定" in _all_text(out)
    out = engine.handle(_text("u-home", "小区门口的路灯坏了好几天，晚上很黑"))
    assert "您绑定的住址" in _all_text(out) and "已受理" not in _all_text(out)
    out = engine.handle(_text("u-home", "是的"))
    assert "已受理" in _all_text(out)
    with session_factory() as session:
        ticket = session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
        assert ticket is not None and ticket.grid_code == "LC010102"
        assert ticket.events[0].data["place_source"] == "home"


def test_a_resident_who_says_it_is_not_at_home_is_asked_where(
    runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    engine = Chatbot(runtime, session_factory)
    engine.handle(_text("u-away", "绑定住址"))
    engine.handle(_text("u-away", "天伦小区"))
    engine.handle(_text("u-away", "小区门口的路灯坏了好几天，晚上很黑"))
    out = engine.handle(_text("u-away", "不是"))
    assert "问题发生在哪里" in _all_text(out) and "已受理" not in _all_text(out)


def test_staff_bind_with_a_one_time_code_then_act_as_staff(
    runtime: Runtime, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    with session_factory() as session:
        code = issue_bind_code(session, "GW003", clock.now(), timedelta(hours=1)).code
        session.commit()
    engine = Chatbot(runtime, session_factory)
    engine.handle(_text("tg-new", "你好", channel="telegram"))  # first contact: treated as a resident
    out = engine.handle(_text("tg-new", f"绑定 {code}", channel="telegram"))
    assert "绑定成功" in _all_text(out) and "蒋杰" in _all_text(out)
    out = engine.handle(_text("tg-new", "我的任务", channel="telegram"))
    assert _all_text(out).strip() == t("tasks.none")
    out = engine.handle(_text("tg-other", f"绑定 {code}", channel="telegram"))
    assert "已被使用" in _all_text(out)
    with session_factory() as session:
        ident = session.scalar(select(ChannelIdentity).where(ChannelIdentity.external_id == "tg-new"))
        assert ident is not None and session.get(Person, ident.person_id).kind == "staff"  # type: ignore[union-attr]
        assert session.get(BindCode, code).used_at is not None  # type: ignore[union-attr]


def test_an_expired_bind_code_is_refused(
    runtime: Runtime, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    with session_factory() as session:
        code = issue_bind_code(session, "GW003", clock.now(), timedelta(minutes=5)).code
        session.commit()
    clock.advance(minutes=6)
    out = Chatbot(runtime, session_factory).handle(_text("tg-late", f"/bind {code}", channel="telegram"))
    assert "已过期" in _all_text(out)


def test_a_reply_survives_the_json_round_trip() -> None:
    card = Outbound(OutboundKind.card, title="T", text="b", buttons=(Button("接单", "task:accept:X"),))
    out = [Outbound.say("a"), card]
    assert outbound_from_json(outbound_to_json(out)) == out


def test_catalogue_covers_every_status_action_role_verb_and_notice() -> None:
    from backend.domain.notifications import RESIDENT_KINDS
    from backend.domain.roles import Role
    from backend.domain.tickets import Action, TicketStatus
    from bot.flows.staff import VERBS
    from bot.render import CARD_VERBS

    keys = set(catalogue())
    wanted = {f"status.{s.value}" for s in TicketStatus} | {f"action.{a.value}" for a in Action}
    wanted |= {f"role.{r.value}" for r in Role if r not in (Role.resident, Role.system)}
    wanted |= {f"verb.{v}" for v in VERBS} | {f"verb.{v}" for verbs in CARD_VERBS.values() for v in verbs}
    wanted |= {f"done.{a.value}" for a in VERBS.values()}
    wanted |= {f"notice.{k}" for k in RESIDENT_KINDS} | {f"notice.title.{k}" for k in CARD_VERBS}
    wanted |= {f"light.{c}" for c in ("red", "yellow", "green")}
    wanted |= {f"rating.{s}" for s in ("satisfied", "basically_satisfied", "dissatisfied")}
    assert wanted <= keys, sorted(wanted - keys)
