"""Hypothesis strategies for the chat webhooks: WeChat / WeCom XML documents and Telegram updates.

The documents keep the platform's shape (so most of them reach past parsing into the engine) while every
field value, the structure (missing, duplicated, nested, unknown tags) and the XML itself (prologs, DTDs,
entities) are fuzzed. Signing and sending happen in tests/security/webhook_fuzzing.py, at send time.
"""

from __future__ import annotations

import csv
import json
import string
import time
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from backend.settings import PROJECT_ROOT

# The demo city's first grid (丰产路社区第一网格): a pin here routes to a real grid.
DEMO_LON, DEMO_LAT = 113.5895, 34.73925
WECHAT_MSG_TYPES = (
    "text",
    "image",
    "voice",
    "video",
    "shortvideo",
    "location",
    "link",
    "event",
    "file",
    "miniprogrampage",
    "TEXT",
    "Event",
)
EVENTS = (
    "subscribe",
    "unsubscribe",
    "CLICK",
    "click",
    "VIEW",
    "SCAN",
    "LOCATION",
    "template_card_event",
    "enter_agent",
    "view_miniprogram",
    "scancode_push",
    "TEMPLATESENDJOBFINISH",
    "change_contact",
)
# Prefixes of the button data our flows and cards use (bot/flows), so presses reach their handlers.
BUTTON_PREFIXES = (
    "view:",
    "cancel:",
    "add:",
    "rate:",
    "cmd:mytickets",
    "cmd:help",
    "cmd:",
    "community:",
    "estate:",
    "group:",
    "cat:",
    "task:accept:",
    "task:resolve:",
    "task:",
    "patrol:cat:",
    "patrol:",
    "qrscene_",
    "scanbarcode|",
    "",
)
COMMANDS = (
    "/start",
    "/help",
    "/mytickets",
    "帮助",
    "查询",
    "我的工单",
    "取消",
    "是",
    "否",
    "1",
    "2",
    "5",
    "接单",
    "巡查",
    "help",
    "status",
    "GB2026112300001",
    "不满意",
    "满意",
)
EXTREME_INTS = (
    0,
    -1,
    1,
    2**31 - 1,
    2**31,
    2**32,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    -(2**63) - 1,
    10**30,
    2**70,
    -(10**30),
)
ODD_NUMBERS = (
    "",
    " ",
    "1e9",
    "1e309",
    "-0",
    "0x10",
    "NaN",
    "inf",
    "١٢٣٤",
    "²",
    "１２３",
    "12 34",
    "1_000",
    "99999999999999999999999999999",
    "-1",
    "3.5",
    "+5",
    "\u0663\u0664",
)
UNREACHABLE_URLS = (
    "http://127.0.0.1:1/nothing.jpg",
    "http://127.0.0.1:9/x.png",
    "https://127.0.0.1:1/a.jpg",
    "http://[::1]:1/p.jpg",
    "http://[::1",
    "http://127.0.0.1:99999/x",
    "http://",
    "https://",
    "http:///x",
    "http://user@:80/",
    "http://127.0.0.1:1/" + "a" * 3000,
    "file:///etc/passwd",
    "ftp://127.0.0.1/x",
    "gopher://127.0.0.1:1/_x",
    "http://127.0.0.1:1/\u4e2d\u6587.jpg",
    "http://ex ample.com/",
    "javascript:alert(1)",
    "",
)


def weighted(*choices: tuple[int, SearchStrategy[Any]]) -> SearchStrategy[Any]:
    """One of the strategies, picked with the given integer weights."""
    table = [s for w, s in choices for _ in range(w)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


@lru_cache(maxsize=1)
def realistic_reports() -> tuple[str, ...]:
    """A few real-looking resident reports from the seed corpus (they classify, route and make tickets)."""
    texts: list[str] = []
    for path in sorted((PROJECT_ROOT / "config" / "seed_corpus").glob("*.csv")):
        with path.open(encoding="utf-8") as f:
            rows = [row["text"] for row in csv.DictReader(f)][:3]
        texts += rows
    return tuple(texts) + (
        "建设路路灯不亮",
        "怡和花园3号楼楼道里燃气泄漏，闻到很浓的煤气味，很危险",
        "丰产路社区菜市场旁边的垃圾桶满了没人收",
    )


# Characters XML 1.0 allows (no C0 controls, surrogates or noncharacters); arbitrary text breaks a document
# at the parser, so it is a minority branch of each value.
xml_chars = st.characters(exclude_categories=("Cs", "Cc", "Cn"))
short_text = weighted((6, st.text(xml_chars, max_size=40)), (1, st.text(max_size=40)))
control_text = st.text(st.characters(max_codepoint=0x1F), max_size=20)
# Some copies of a short unit: sizes from a few KB to past the 256 KB XML limit.
huge_text = st.builds(lambda unit, n: unit * n, st.text(min_size=1, max_size=6), st.integers(500, 70_000))
free_text = weighted(
    (4, st.sampled_from(realistic_reports())),
    (2, st.sampled_from(COMMANDS)),
    (3, st.text(xml_chars, max_size=300)),
    (1, st.text(max_size=300)),
    (1, control_text),
    (1, huge_text),
    (1, st.just("")),
    (1, st.builds(lambda a, b: a + b, st.sampled_from(realistic_reports()), st.text(max_size=50))),
    (1, st.text(st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=30)),  # emoji
)
int_text = weighted(
    (3, st.sampled_from(EXTREME_INTS).map(str)),
    (2, st.integers().map(str)),
    (2, st.sampled_from(ODD_NUMBERS)),
    (1, short_text),
)
now_ish = st.integers(1_700_000_000, 1_900_000_000).map(str)
float_text = weighted(
    (3, st.floats(34.70, 34.78).map(repr)),  # latitude of the demo city
    (3, st.floats(113.55, 113.62).map(repr)),  # longitude
    (3, st.floats(allow_nan=True, allow_infinity=True).map(repr)),
    (2, st.sampled_from(ODD_NUMBERS)),
    (1, short_text),
)
button_data = weighted(
    (
        5,
        st.builds(
            lambda p, rest: p + rest,
            st.sampled_from(BUTTON_PREFIXES),
            st.sampled_from(
                (
                    "",
                    "GB2026112300001",
                    "street_lights",
                    "garbage_piling",
                    "municipal",
                    "GB2026112300001:5",
                    "GB2026112300001:1",
                    "accept",
                    "0",
                    "x:y:z",
                )
            ),
        ),
    ),
    (3, st.builds(lambda p, rest: p + rest, st.sampled_from(BUTTON_PREFIXES), short_text)),
    (1, huge_text),
)
wechat_senders = weighted(
    (8, st.integers(0, 10**7).map(lambda n: f"oFuzz{n:08d}")),
    (1, short_text),
    (1, st.just("")),
    (1, st.text(min_size=65, max_size=400)),
)
wecom_senders = weighted(
    (4, st.sampled_from(("GW001", "CD01", "ADM01"))),
    (4, st.integers(0, 10**7).map(lambda n: f"fuzzer{n}")),
    (1, short_text),
    (1, st.text(min_size=65, max_size=400)),
)
tag_names = st.text(string.ascii_letters + "_", min_size=1, max_size=12)


def _values() -> dict[str, SearchStrategy[str]]:
    values: dict[str, SearchStrategy[str]] = {
        "Content": free_text,
        "MsgId": weighted((4, st.integers(1, 2**62).map(str)), (2, int_text)),
        "CreateTime": weighted((4, now_ish), (3, int_text)),
        "PicUrl": weighted((4, st.sampled_from(UNREACHABLE_URLS)), (1, short_text)),
        "MediaId": short_text,
        "Format": st.sampled_from(("amr", "speex", "")) | short_text,
        "Recognition": free_text,
        "Location_X": float_text,
        "Location_Y": float_text,
        "Scale": int_text,
        "Label": free_text,
        "Title": short_text,
        "Description": short_text,
        "Url": st.sampled_from(UNREACHABLE_URLS),
        "Event": st.sampled_from(EVENTS) | short_text,
        "EventKey": button_data,
        "Latitude": float_text,
        "Longitude": float_text,
        "Precision": float_text,
        "Ticket": short_text,
        "TaskId": weighted(
            (3, st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda h: h + "_0")),
            (2, short_text),
            (1, huge_text),
        ),
        "CardType": st.sampled_from(("button_interaction", "vote_interaction", "")) | short_text,
        "ResponseCode": short_text,
        "AgentID": weighted((3, st.just("1000002")), (2, int_text)),
        "bizmsgmenuid": button_data,
        "ThumbMediaId": short_text,
        "FileKey": short_text,
    }
    return values


FIELD_VALUES = _values()
TYPE_FIELDS = {
    "text": ("Content",),
    "image": ("PicUrl", "MediaId"),
    "voice": ("MediaId", "Format", "Recognition"),
    "video": ("MediaId", "ThumbMediaId"),
    "shortvideo": ("MediaId", "ThumbMediaId"),
    "location": ("Location_X", "Location_Y", "Scale", "Label"),
    "link": ("Title", "Description", "Url"),
    "file": ("Title", "FileKey"),
}
EVENT_FIELDS = {
    "click": ("EventKey",),
    "view": ("EventKey",),
    "scan": ("EventKey", "Ticket"),
    "subscribe": ("EventKey", "Ticket"),
    "location": ("Latitude", "Longitude", "Precision"),
    "template_card_event": ("EventKey", "TaskId", "CardType", "ResponseCode"),
}


def cdata(value: str) -> str:
    """A CDATA section holding value (a "]]>" inside is split across two sections, as the platforms do)."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@st.composite
def _element(draw: st.DrawFn, tag: str, value: str) -> str:
    how = draw(
        weighted(
            (6, st.just("cdata")),
            (3, st.just("escaped")),
            (1, st.just("raw")),
            (1, st.just("nested")),
            (1, st.just("empty")),
            (1, st.just("attrs")),
        )
    )
    if how == "cdata":
        return f"<{tag}>{cdata(value)}</{tag}>"
    if how == "escaped":
        return f"<{tag}>{escape(value)}</{tag}>"
    if how == "raw":  # unescaped: may or may not still be XML
        return f"<{tag}>{value}</{tag}>"
    if how == "nested":
        inner = draw(tag_names)
        return f"<{tag}><{inner}>{escape(value)}</{inner}>{draw(st.sampled_from(('', 'tail', '<b/>')))}</{tag}>"
    if how == "empty":
        return f"<{tag}/>"
    attr = draw(tag_names)
    return f'<{tag} {attr}="{escape(draw(short_text), {chr(34): "&quot;"})}">{cdata(value)}</{tag}>'


PROLOGS = (
    '<?xml version="1.0" encoding="utf-8"?>',
    '<?xml version="1.0" encoding="gbk"?>',
    '<?xml version="1.0" encoding="utf-16"?>',
    '<?xml version="1.1"?>',
    "\ufeff",
    "<!-- c -->",
    "<?pi x?>",
    "  \n",
    '<?xml version="1.0" standalone="yes"?>',
)
EPILOGS = ("<!-- t -->", "junk", "<xml/>", "\n", "\x00")


@st.composite
def platform_document(draw: st.DrawFn, *, wecom: bool) -> str:
    """A WeChat (or WeCom) message or event: the real shape with fuzzed values and structure."""
    msg_type = draw(weighted((9, st.sampled_from(WECHAT_MSG_TYPES)), (1, short_text)))
    kind = msg_type.lower()
    names = list(TYPE_FIELDS.get(kind, ()))
    fields: list[tuple[str, str]] = []
    if kind == "event":
        event = draw(
            weighted((3, st.just("template_card_event")), (6, st.sampled_from(EVENTS)))
            if wecom
            else st.sampled_from(EVENTS)
        )
        fields.append(("Event", event))
        names += EVENT_FIELDS.get(event.lower(), ())
    sender = draw(wecom_senders if wecom else wechat_senders)
    head = [
        ("ToUserName", draw(st.just("ww1234567890abcdef" if wecom else "gh_gridbot") | short_text)),
        ("FromUserName", sender),
        ("CreateTime", draw(FIELD_VALUES["CreateTime"])),
        ("MsgType", msg_type),
    ]
    fields = head + fields + [(name, draw(FIELD_VALUES[name])) for name in names]
    if kind != "event" and draw(weighted((4, st.just(True)), (1, st.just(False)))):
        fields.append(("MsgId", draw(FIELD_VALUES["MsgId"])))
    if wecom:
        fields.append(("AgentID", draw(FIELD_VALUES["AgentID"])))
    if draw(weighted((1, st.just(True)), (2, st.just(False)))):
        fields = draw(_mutated(fields))
    body = "".join([draw(_element(tag, value)) for tag, value in fields])
    prolog = draw(weighted((6, st.just("")), (1, st.sampled_from(PROLOGS))))
    return prolog + f"<xml>{body}</xml>" + draw(weighted((10, st.just("")), (1, st.sampled_from(EPILOGS))))


@st.composite
def _mutated(draw: st.DrawFn, fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Missing, duplicated, unknown and shuffled tags."""
    out = list(fields)
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(("drop", "duplicate", "unknown", "foreign", "shuffle")))
        if what == "drop" and out:
            out.pop(draw(st.integers(0, len(out) - 1)))
        elif what == "duplicate" and out:
            tag, _ = out[draw(st.integers(0, len(out) - 1))]
            out.append((tag, draw(FIELD_VALUES.get(tag, short_text))))
        elif what == "unknown":
            out.append((draw(tag_names), draw(short_text)))
        elif what == "foreign":  # a field of another message type
            tag = draw(st.sampled_from(sorted(FIELD_VALUES)))
            out.append((tag, draw(FIELD_VALUES[tag])))
        elif what == "shuffle":
            out = draw(st.permutations(out))
    return out


# Documents defusedxml must refuse: DTDs, external and parameter entities, entity bombs, bad references.
HOSTILE_DOCUMENTS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><FromUserName>oFuzzXXE</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
    "<Content>&xxe;</Content><MsgId>1</MsgId></xml>",
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    "<xml><FromUserName>oFuzzLol</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
    "<Content>&d;</Content><MsgId>2</MsgId></xml>",
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/x.dtd"> %ext;]>'
    "<xml><MsgType>text</MsgType></xml>",
    '<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml><MsgType>text</MsgType></xml>',
    '<!DOCTYPE xml [<!ENTITY big "'
    + "x" * 5000
    + '">]><xml><MsgType>text</MsgType><Content>'
    + "&big;" * 200
    + "</Content></xml>",
    "<!DOCTYPE xml [<!ELEMENT xml ANY>]><xml><MsgType>text</MsgType></xml>",
    "<xml><MsgType>text</MsgType><Content>&undefined;</Content></xml>",
    "<xml><MsgType>text</MsgType><Content>&#0;&#xD800;</Content></xml>",
)
# Odd but DTD-free documents: anything but a 5xx will do.
ODD_DOCUMENTS = (
    '<xml xmlns:xi="http://www.w3.org/2001/XInclude"><MsgType>text</MsgType>'
    '<Content><xi:include href="file:///etc/passwd" parse="text"/></Content></xml>',
    "<xml><FromUserName>oFuzzDeep</FromUserName><MsgType>text</MsgType><Content>"
    + "<a>" * 3000
    + "</a>" * 3000
    + "</Content></xml>",
    "<xml><FromUserName>oFuzzMany</FromUserName><MsgType>text</MsgType>" + "<Content>x</Content>" * 10000 + "</xml>",
    "<xml/>",
    "<xml></xml>",
    "<xml><MsgType/></xml>",
    "<xml><MsgType>text</MsgType></xml>",
)


def wechat_documents(*, wecom: bool = False) -> SearchStrategy[tuple[str, bool]]:
    """(document, hostile): mostly platform-shaped documents; some that must be refused (hostile), some odd
    ones and some junk text."""
    return weighted(
        (16, platform_document(wecom=wecom).map(lambda d: (d, False))),
        (2, st.sampled_from(HOSTILE_DOCUMENTS).map(lambda d: (d, True))),
        (1, st.sampled_from(ODD_DOCUMENTS).map(lambda d: (d, False))),
        (1, st.text(max_size=200).map(lambda d: (d, False))),
    )


# Telegram ---------------------------------------------------------------------------------------------

tg_ids = weighted((8, st.integers(1, 10**10)), (1, st.sampled_from(EXTREME_INTS)), (1, st.integers()))
tg_dates = weighted(
    (6, st.integers(1_700_000_000, 1_900_000_000)),
    (1, st.sampled_from(EXTREME_INTS)),
    (1, st.floats(allow_nan=False) | st.text(max_size=10)),
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(EXTREME_INTS)
    | st.floats(allow_nan=True, allow_infinity=True)
    | short_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(short_text, inner, max_size=4),
    max_leaves=12,
)
TG_FILES = ("fz-jpeg", "fz-junk", "fz-empty")  # registered on the fake Bot API by the runner
tg_coords = weighted(
    (3, st.floats(34.70, 34.78)),
    (3, st.floats(113.55, 113.62)),
    (2, st.floats(allow_nan=True, allow_infinity=True)),
    (1, json_scalars),
)


@st.composite
def telegram_update(draw: st.DrawFn) -> dict[str, Any]:
    """An Update of a real shape (message, command, pin, venue, photo, button press …) with fuzzed fields."""
    uid = draw(tg_ids)
    user: dict[str, Any] = {
        "id": uid,
        "is_bot": draw(weighted((9, st.just(False)), (1, st.just(True)))),
        "first_name": draw(short_text),
    }
    if draw(st.booleans()):
        user["language_code"] = draw(st.sampled_from(("zh-hans", "zh", "en", "ru", "", "xx-YY")) | short_text)
    chat = {
        "id": draw(weighted((8, st.just(uid)), (2, tg_ids))),
        "type": draw(
            weighted((8, st.just("private")), (1, st.sampled_from(("group", "supergroup", "channel"))), (1, short_text))
        ),
    }
    message: dict[str, Any] = {"message_id": draw(tg_ids), "date": draw(tg_dates), "chat": chat, "from": user}
    kind = draw(
        st.sampled_from(
            (
                "text",
                "text",
                "text",
                "command",
                "location",
                "venue",
                "photo",
                "sticker",
                "contact",
                "callback",
                "edited",
                "channel_post",
                "member",
                "bare",
            )
        )
    )
    update: dict[str, Any] = {
        "update_id": draw(weighted((8, st.integers(1, 2**31)), (1, tg_ids), (1, st.sampled_from((True, 0, -1)))))
    }
    if kind in ("text", "command"):
        text = (
            draw(free_text)
            if kind == "text"
            else draw(st.sampled_from(("/start", "/help", "/mytickets", "/start@gridbot_test_bot x", "/")))
        )
        message["text"] = text
        if kind == "command" or draw(weighted((1, st.just(True)), (4, st.just(False)))):
            message["entities"] = [
                {
                    "type": draw(st.sampled_from(("bot_command", "mention", "url")) | short_text),
                    "offset": draw(tg_ids),
                    "length": draw(tg_ids),
                }
            ]
    elif kind in ("location", "venue"):
        message["location"] = {"latitude": draw(tg_coords), "longitude": draw(tg_coords)}
        if kind == "venue":
            message["venue"] = {"location": message["location"], "title": draw(free_text), "address": draw(free_text)}
    elif kind == "photo":
        sizes = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "file_id": st.sampled_from(TG_FILES) | short_text,
                        "file_unique_id": short_text,
                        "width": weighted((4, st.integers(1, 4000)), (1, tg_ids)),
                        "height": weighted((4, st.integers(1, 4000)), (1, tg_ids)),
                    },
                    optional={"file_size": tg_ids},
                ),
                max_size=3,
            )
        )
        message["photo"] = sizes
        if draw(st.booleans()):
            message["caption"] = draw(free_text)
    elif kind == "sticker":
        message["sticker"] = {
            "file_id": "stk",
            "file_unique_id": "stk",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
    elif kind == "contact":
        message["contact"] = {"phone_number": draw(short_text), "first_name": draw(short_text), "user_id": uid}
    if kind == "callback":
        update["callback_query"] = {
            "id": draw(short_text),
            "from": user,
            "chat_instance": "-42",
            "data": draw(button_data),
            "message": {**message, "text": "…"},
        }
    elif kind == "edited":
        message["text"] = draw(free_text)
        update["edited_message"] = message
    elif kind == "channel_post":
        message["text"] = draw(free_text)
        update["channel_post"] = message
    elif kind == "member":
        status = draw(st.sampled_from(("kicked", "left")) | short_text)
        update["my_chat_member"] = {
            "chat": chat,
            "from": user,
            "date": draw(tg_dates),
            "old_chat_member": {"status": "member", "user": user},
            "new_chat_member": {"status": status, "user": user},
        }
    elif kind != "bare":
        update["message"] = message
    if draw(weighted((1, st.just(True)), (2, st.just(False)))):
        update = draw(_json_mutated(update))
    return update


@st.composite
def _json_mutated(draw: st.DrawFn, obj: dict[str, Any]) -> dict[str, Any]:
    """The object with a few nested values replaced by arbitrary JSON or removed."""
    out = json.loads(json.dumps(obj))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(out))
        if not paths:
            break
        parent, key = paths[draw(st.integers(0, len(paths) - 1))]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[key]
        else:
            parent[key] = draw(json_values)
    return out  # type: ignore[no-any-return]


def _paths(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            yield node, key
            yield from _paths(value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield node, i
            yield from _paths(value)


def _encode(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


telegram_bodies = weighted(
    (14, st.builds(_encode, telegram_update(), st.booleans())),
    (2, st.builds(_encode, json_values, st.booleans())),
    (
        1,
        st.builds(
            _encode,
            st.fixed_dictionaries(
                {"update_id": st.integers()},
                optional={"message": json_values, "callback_query": json_values, "edited_message": json_values},
            ),
            st.booleans(),
        ),
    ),
    (1, st.binary(max_size=200)),
    (1, st.builds(lambda v, tail: _encode(v, False) + tail, telegram_update(), st.binary(min_size=1, max_size=8))),
)


# Unsigned query strings for the raw fuzz of the webhooks: mostly every parameter the routes require, with
# junk values (and a current timestamp, so that the signature check itself is reached).
_now = st.builds(lambda: str(int(time.time())))
_hex40 = weighted((2, st.text("0123456789abcdef", min_size=40, max_size=40)), (1, short_text))
raw_webhook_queries = weighted(
    (
        3,
        st.fixed_dictionaries(
            {
                "signature": _hex40,
                "msg_signature": _hex40,
                "timestamp": weighted((2, _now), (1, int_text)),
                "nonce": short_text,
                "echostr": short_text,
            },
            optional={"openid": short_text, "encrypt_type": st.sampled_from(("aes", "raw", "AES", "")) | short_text},
        ),
    ),
    (1, st.dictionaries(short_text, short_text, max_size=4)),
)
