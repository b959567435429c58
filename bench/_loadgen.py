"""The people of the load test (bench/load.py) and what they talk to.

Fake platform servers (the test suite's, from tests/fakes) that also file every message the outbox workers
deliver in a per-user inbox; residents reporting on WeChat (plain mode) and Telegram, who follow the bot's
dialogue until a ticket exists; gridworkers in WeCom (AES mode) who list their tasks and press accept and
on-site; API and dashboard readers. Every request is timed into its stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import importlib.util
import itertools
import json
import random
import re
import sys
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from backend.texts import catalogue

if importlib.util.find_spec("sniffio") is None:
    # httpcore tries `import sniffio` on every request; without the package each try searches sys.path
    # (about 0.7 ms of the load generator's CPU per request). A None entry fails the import at once.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

from tests.fakes.server import Answer, Call
from tests.fakes.telegram import FakeTelegramAPI, callback_update, location_update, text_update
from tests.fakes.wechat import FakeWeChatAPI, WeChatPlatform, message_xml, read_menu_links

TICKET_NUMBER = re.compile(r"[A-Z]{1,8}\d{8}-\d{3,}")
# What residents say: a spot near them and a problem, mostly ones a gridworker handles (garbage, ads, shared
# facilities, bikes, e-bike charging, neighbours), some that go to a department (manhole, paving).
SPOTS = ["", "", "门口", "3号楼前面", "东门", "南门口", "停车场旁边", "2单元", "中心花园", "5号楼后面", "菜市场边上"]
PROBLEMS = [
    "的垃圾好几天没人清运了，臭得不行",
    "单元门上贴满了小广告，撕了又贴",
    "电线杆上贴满了小广告",
    "小区健身器材坏了，螺丝都松了",
    "楼道的灯坏了一个星期了，晚上上楼看不见",
    "共享单车乱停乱放，把路堵死了",
    "有人在楼道里给电动车充电，电线从窗户拉下来",
    "楼上邻居天天半夜拖椅子，沟通了也不听",
    "小区的休息座椅坏了好久没人修",
    "路边的井盖丢了，晚上很危险",
    "人行道砖松动了好几块，容易绊倒",
]


def _lead(key: str) -> str:
    """The fixed opening of a catalogue text (up to its first placeholder): how a reply is recognised."""
    return catalogue()[key]["zh"].split("{", 1)[0].strip()[:12]


CREATED = tuple(_lead(k) for k in ("report.created", "report.merged", "report.urgent"))
DUPLICATE, CATEGORY, LOCATED = (
    _lead("report.duplicate"),
    _lead("report.confirm_category"),
    _lead("report.location_first"),
)
NO_TASKS = _lead("tasks.none")

_NONCES = itertools.count(random.SystemRandom().randrange(10**8, 10**9))
_MSG_IDS = itertools.count(random.SystemRandom().randrange(10**15, 10**16))
_UPDATE_IDS = itertools.count(random.SystemRandom().randrange(10**8, 10**9))


# ---------------------------------------------------------------- what the platforms delivered


@dataclass(frozen=True)
class Delivered:
    """One message the service sent a user through a platform API."""

    at: float  # time.monotonic() when the fake received it
    text: str
    buttons: tuple[tuple[str, str], ...] = ()  # (label, data)
    task_id: str = ""  # WeCom template cards


class Inbox:
    """The messages delivered to each user, in order (filled by the fake servers' threads)."""

    def __init__(self) -> None:
        self._by_user: dict[str, list[Delivered]] = defaultdict(list)
        self._lock = threading.Lock()
        self.total = 0

    def add(self, user: str, item: Delivered) -> None:
        with self._lock:
            self._by_user[user].append(item)
            self.total += 1

    def mark(self, user: str) -> int:
        """Where the user's inbox ends now."""
        with self._lock:
            return len(self._by_user.get(user, ()))

    def since(self, user: str, mark: int) -> list[Delivered]:
        """What arrived for the user after `mark`."""
        with self._lock:
            return list(self._by_user.get(user, [])[mark:])


class InboxWeChatAPI(FakeWeChatAPI):
    """The WeChat / WeCom API fake; customer-service messages and WeCom app messages also go to the inbox."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox

    def route(self, call: Call) -> Answer:
        if call.method == "POST" and call.path.endswith("/send"):
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                self._file(call.json())
        return super().route(call)

    def _file(self, body: dict[str, Any]) -> None:
        now, kind = time.monotonic(), body.get("msgtype")
        if kind == "text":
            item = Delivered(now, body["text"]["content"])
        elif kind == "msgmenu":
            menu = body["msgmenu"]
            item = Delivered(now, menu.get("head_content", ""), tuple((i["content"], i["id"]) for i in menu["list"]))
        elif kind == "template_card":
            card = body["template_card"]
            text = "\n".join(
                p for p in (card.get("main_title", {}).get("title", ""), card.get("sub_title_text", "")) if p
            )
            item = Delivered(
                now, text, tuple((b["text"], b["key"]) for b in card.get("button_list", [])), card.get("task_id", "")
            )
        else:
            item = Delivered(now, json.dumps(body, ensure_ascii=False)[:200])
        for user in str(body.get("touser", "")).split("|"):
            self.inbox.add(user, item)


class InboxTelegramAPI(FakeTelegramAPI):
    """The Bot API fake; sendMessage / sendPhoto also go to the chat's inbox."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox

    def route(self, call: Call) -> Answer:
        if call.method == "POST" and self.method_of(call) in ("sendMessage", "sendPhoto"):
            try:
                params = self.params(call)
                markup = params.get("reply_markup") or {}
                buttons = tuple(
                    (b.get("text", ""), b["callback_data"])
                    for row in markup.get("inline_keyboard", [])
                    for b in row
                    if b.get("callback_data")
                )
                text = re.sub(r"</?b>", "", html.unescape(str(params.get("text") or params.get("caption") or "")))
                self.inbox.add(str(params.get("chat_id")), Delivered(time.monotonic(), text, buttons))
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
        return super().route(call)


class Platform(WeChatPlatform):
    """The test suite's WeChat / WeCom server side, with nonces unique across the run: the webhooks refuse a
    (timestamp, nonce) pair seen before with another body."""

    def _stamp(self) -> tuple[str, str]:
        return str(int(time.time())), str(next(_NONCES))


# ---------------------------------------------------------------- measurements


@dataclass
class Stream:
    """The requests of one kind of user: latency of every attempt, and the failures by kind."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    messages: int = 0  # chat messages the platform posted (each may take several attempts)
    acknowledged: int = 0  # … and got a 2xx for in the end

    def add(self, seconds: float, error: str | None = None) -> None:
        self.latencies.append(seconds)
        if error:
            self.errors[error] += 1

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


@dataclass
class World:
    """What every simulated person shares: the service, the platforms, the clock and the figures."""

    clients: list[httpx.AsyncClient]  # people are spread over several: httpcore's pool scans all its connections
    inbox: Inbox
    wechat: Platform
    wecom: Platform
    wecom_corp_id: str
    wecom_agent_id: int
    telegram_secret: str
    points: dict[str, list[tuple[float, float]]]  # grid code → (lon, lat) inside it
    staff_grids: list[str]
    deadline: float
    interval: float  # seconds between one person's messages, on average
    read_interval: float
    reply_wait: float  # how long a person waits for a message through the outbox
    retries: int  # how many times a platform posts a message again after a failed attempt
    rng: random.Random
    streams: dict[str, Stream] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    outbox_latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    lag: list[float] = field(default_factory=list)  # how late the load generator's own timers fire

    def stream(self, name: str) -> Stream:
        return self.streams.setdefault(name, Stream(name))

    def client_for(self, who: str) -> httpx.AsyncClient:
        """The HTTP client one person always uses."""
        return self.clients[zlib.crc32(who.encode()) % len(self.clients)]

    async def watch_lag(self, every: float = 0.05) -> None:
        """Record how late a short sleep wakes up until the run is over: when the load generator itself is
        short of CPU, its latencies include that lag."""
        while time.monotonic() < self.deadline:
            started = time.monotonic()
            await asyncio.sleep(every)
            self.lag.append(time.monotonic() - started - every)

    async def pace(self, last: float, interval: float | None = None) -> float | None:
        """Wait until about `interval` after `last`; the time then, or None once the run is over."""
        gap = (self.interval if interval is None else interval) * self.rng.uniform(0.8, 1.2)
        wait = last + gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        now = time.monotonic()
        return None if now >= self.deadline else now

    async def timed(
        self, stream: str, call: Callable[[], Awaitable[httpx.Response]], ok: tuple[int, ...] = (200,)
    ) -> httpx.Response | None:
        """Run one request into a stream; the response, or None on failure."""
        return (await self._attempt(stream, call, ok))[0]

    async def _attempt(
        self, stream: str, call: Callable[[], Awaitable[httpx.Response]], ok: tuple[int, ...]
    ) -> tuple[httpx.Response | None, bool]:
        """One timed request: the response (None on failure) and whether a platform would try again."""
        started = time.perf_counter()
        try:
            response = await call()
        except httpx.TimeoutException:
            self.stream(stream).add(time.perf_counter() - started, "timeout")
            return None, True
        except httpx.HTTPError as exc:
            self.stream(stream).add(time.perf_counter() - started, type(exc).__name__)
            return None, True
        elapsed = time.perf_counter() - started
        if response.status_code not in ok:
            self.stream(stream).add(elapsed, f"HTTP {response.status_code}")
            return None, response.status_code >= 500
        self.stream(stream).add(elapsed)
        return response, False

    async def push(self, stream: str, call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response | None:
        """Deliver one chat message as the platforms do: post it, and after a timeout, a connection error or a
        5xx post it again (the same message; `call` signs each attempt afresh), up to `retries` more times."""
        s = self.stream(stream)
        s.messages += 1
        for attempt in range(1 + self.retries):
            if attempt:
                self.counts["platform redeliveries (after a timeout or 5xx)"] += 1
            response, again = await self._attempt(stream, call, (200,))
            if response is not None:
                s.acknowledged += 1
                return response
            if not again:
                break
        self.counts["messages never acknowledged"] += 1
        return None

    async def wait_inbox(
        self, user: str, mark: int, done: Callable[[list[Delivered]], bool], since: float, what: str
    ) -> list[Delivered]:
        """Wait (up to reply_wait) until what arrived for `user` after `mark` satisfies `done`."""
        end = time.monotonic() + self.reply_wait
        while True:
            items = self.inbox.since(user, mark)
            if done(items):
                self.outbox_latency[what].append(items[-1].at - since if items else 0.0)
                return items
            if time.monotonic() >= end:
                self.counts[f"{what}: not delivered within the wait"] += 1
                return items
            await asyncio.sleep(0.2)


def outcome(items: list[Delivered]) -> str:
    """What the bot's replies to a resident amount to: created, duplicate, category, located or other."""
    text = "\n".join(i.text for i in items)
    if any(lead in text for lead in CREATED) and TICKET_NUMBER.search(text):
        return "created"
    for name, lead in (("duplicate", DUPLICATE), ("category", CATEGORY), ("located", LOCATED)):
        if lead in text:
            return name
    return "other"


def recognised(items: list[Delivered]) -> bool:
    """Whether the replies so far include one the resident's dialogue knows what to do with."""
    return outcome(items) != "other"


# ---------------------------------------------------------------- residents


class Resident:
    """A resident reporting problems: a location pin, a description, then whatever the bot asks."""

    channel = ""
    stream = ""

    def __init__(self, world: World, user: str, grid: str) -> None:
        self.world = world
        self.user = user
        self.grid = grid
        self.last = time.monotonic() - world.rng.uniform(0, world.interval)  # residents start spread out
        self.unfinished = False
        self.mark = 0  # the end of the inbox before the last message sent
        self.sent_at = 0.0  # when the last message was posted
        self.expect: Callable[[list[Delivered]], bool] = bool  # when replies to it through the outbox are complete

    async def run(self) -> None:
        """Report one problem after another until the run is over."""
        while await self.report():
            pass

    async def report(self) -> bool:
        """One report from start to finish (or until it goes astray); False once the run is over."""
        w = self.world
        if self.unfinished:
            if await self.say(text="取消", expect=bool) is None:  # end whatever dialogue went astray
                return False
            self.unfinished = False
        lon, lat = w.rng.choice(w.points[self.grid])
        replies = await self.say(location=(lon, lat))
        if replies is None:
            return False
        if outcome(replies) != "located":
            return self.astray("no location acknowledgement")
        replies = await self.say(text=w.rng.choice(SPOTS) + w.rng.choice(PROBLEMS))
        for _ in range(3):
            if replies is None:
                return False
            kind = outcome(replies)
            if kind == "created":
                w.counts["dialogues completed (ticket created)"] += 1
                return True
            if kind == "duplicate":
                answer = w.rng.choice(("是", "否"))
                w.counts[f"duplicate offered, answered {answer}"] += 1
                replies = await self.say(text=answer)
            elif kind == "category":
                data = await self.button("cat:")
                if data is None:
                    return self.astray("category buttons not delivered")
                w.counts["category asked"] += 1
                replies = await self.say(button=data)
            else:
                break
        return self.astray("unexpected reply")

    def astray(self, why: str) -> bool:
        self.world.counts[f"dialogues abandoned: {why}"] += 1
        self.unfinished = True
        return True

    async def say(
        self,
        *,
        text: str | None = None,
        location: tuple[float, float] | None = None,
        button: str | None = None,
        expect: Callable[[list[Delivered]], bool] | None = None,
    ) -> list[Delivered] | None:
        """Send one message when it is time; the bot's replies ([] after a failed request), None when over.
        Replies through the outbox are awaited until `expect(replies)` (default: a reply the dialogue knows)."""
        at = await self.world.pace(self.last)
        if at is None:
            return None
        self.last = at
        self.mark = self.world.inbox.mark(self.user)
        self.sent_at = time.monotonic()
        self.expect = expect or recognised
        return await self.post(text, location, button)

    async def post(self, text: str | None, location: tuple[float, float] | None, button: str | None) -> list[Delivered]:
        raise NotImplementedError

    async def button(self, prefix: str) -> str | None:
        """The data of the first button starting with `prefix` among the replies to the last message."""

        def has(items: list[Delivered]) -> bool:
            return any(d.startswith(prefix) for i in items for _, d in i.buttons)

        items = await self.world.wait_inbox(self.user, self.mark, has, self.sent_at, f"{self.channel} buttons")
        return next((d for i in items for _, d in i.buttons if d.startswith(prefix)), None)


class WeChatResident(Resident):
    """A resident on the Official Account (plain mode): passive replies, menus through the outbox."""

    channel, stream = "wechat", "WeChat residents (webhook)"
    passive: tuple[Delivered, ...] = ()  # the passive answer to the last message

    async def button(self, prefix: str) -> str | None:
        """From the passive answer's links, else from the menus pushed since the last message."""
        found = next((d for i in self.passive for _, d in i.buttons if d.startswith(prefix)), None)
        return found or await super().button(prefix)

    async def post(self, text: str | None, location: tuple[float, float] | None, button: str | None) -> list[Delivered]:
        w = self.world
        msg_id = str(next(_MSG_IDS))
        if location is not None:
            xml = message_xml(
                "location",
                {"Location_X": location[1], "Location_Y": location[0], "Scale": 15, "Label": ""},
                from_user=self.user,
                msg_id=msg_id,
            )
        elif button is not None:
            xml = message_xml("text", {"Content": button, "bizmsgmenuid": button}, from_user=self.user, msg_id=msg_id)
        else:
            xml = message_xml("text", {"Content": text or ""}, from_user=self.user, msg_id=msg_id)
        client = w.client_for(self.user)

        def attempt() -> Awaitable[httpx.Response]:
            signed = w.wechat.sign(xml)  # WeChat signs every attempt with a fresh timestamp and nonce
            return client.post("/wechat", params={**signed.params, "openid": self.user}, content=signed.body)

        response = await w.push(self.stream, attempt)
        if response is None:
            return []
        reply = w.wechat.open_reply(response.text)
        if reply.get("Content"):
            text, links = read_menu_links(reply["Content"])  # a question's buttons come as links in it
            self.passive = (Delivered(time.monotonic(), text, tuple(links)),)
            return list(self.passive)
        self.passive = ()
        # Answered "success": the engine missed the passive-reply budget and the reply comes through the outbox.
        w.counts["WeChat replies too late for the passive answer"] += 1
        return await w.wait_inbox(self.user, self.mark, self.expect, self.sent_at, "WeChat late reply")


class TelegramResident(Resident):
    """A resident on Telegram: every reply comes through the outbox (sendMessage to the fake Bot API)."""

    channel, stream = "telegram", "Telegram residents (webhook)"

    async def post(self, text: str | None, location: tuple[float, float] | None, button: str | None) -> list[Delivered]:
        w, uid, update_id = self.world, int(self.user), next(_UPDATE_IDS)
        if location is not None:
            update = location_update(update_id, location[1], location[0], uid=uid)
        elif button is not None:
            update = callback_update(update_id, button, uid=uid, message_id=update_id % 10**6)
        else:
            update = text_update(update_id, text or "", uid=uid)
        headers = {"X-Telegram-Bot-Api-Secret-Token": w.telegram_secret}
        client = w.client_for(self.user)
        response = await w.push(self.stream, lambda: client.post("/telegram/webhook", json=update, headers=headers))
        if response is None:
            return []
        return await w.wait_inbox(self.user, self.mark, self.expect, self.sent_at, "Telegram reply")


# ---------------------------------------------------------------- staff


class GridWorker:
    """A gridworker in WeCom: lists their tasks, opens each, accepts it or checks in on site."""

    stream = "WeCom staff (webhook)"

    def __init__(self, world: World, userid: str, grid: str) -> None:
        self.world = world
        self.userid = userid
        self.grid = grid
        self.last = time.monotonic() - world.rng.uniform(0, world.interval)

    async def run(self) -> None:
        """Work through the task list until the run is over."""
        w = self.world
        while True:
            items = await self.send(
                message_xml("text", {"Content": "我的任务"}, msg_id=str(next(_MSG_IDS)), **self._to()),
                wait_for="task:view:",
            )
            if items is None:
                return
            listing = next((i for i in reversed(items) if any(d.startswith("task:view:") for _, d in i.buttons)), None)
            if listing is None:
                w.counts[
                    "staff: task list empty"
                    if any(NO_TASKS in i.text for i in items)
                    else "staff: task list not delivered"
                ] += 1
                continue
            for _, data in listing.buttons[:3]:
                if not await self.work_on(listing, data.rsplit(":", 1)[1]):
                    return

    async def work_on(self, listing: Delivered, number: str) -> bool:
        """Open one task's card and press its next step; False once the run is over."""
        w = self.world
        items = await self.press(listing, f"task:view:{number}", wait_for=f":{number}")
        if items is None:
            return False
        card = next((i for i in reversed(items) if any(d.endswith(f":{number}") for _, d in i.buttons)), None)
        keys = {d for _, d in card.buttons} if card is not None else set()
        if card is not None and f"task:accept:{number}" in keys:
            done = await self.press(card, f"task:accept:{number}", wait_for=None)
            w.counts["staff: accepted"] += done is not None
            return done is not None
        if card is not None and f"task:onsite:{number}" in keys:
            if await self.press(card, f"task:onsite:{number}", wait_for=None) is None:
                return False
            lon, lat = w.rng.choice(w.points[self.grid])
            xml = message_xml(
                "location",
                {"Location_X": lat, "Location_Y": lon, "Scale": 15, "Label": ""},
                msg_id=str(next(_MSG_IDS)),
                **self._to(),
            )
            done = await self.send(xml, wait_for=None)
            w.counts["staff: checked in on site"] += done is not None
            return done is not None
        w.counts["staff: card without accept/on-site"] += 1
        return True

    def _to(self) -> dict[str, Any]:
        return {"from_user": self.userid, "to_user": self.world.wecom_corp_id, "agent_id": self.world.wecom_agent_id}

    async def press(self, card: Delivered, key: str, *, wait_for: str | None) -> list[Delivered] | None:
        """Press a button of a delivered template card."""
        xml = message_xml(
            "event",
            {
                "Event": "template_card_event",
                "EventKey": key,
                "TaskId": card.task_id,
                "CardType": "button_interaction",
                "ResponseCode": f"rc{next(_NONCES)}",
            },
            **self._to(),
        )
        return await self.send(xml, wait_for=wait_for)

    async def send(self, xml: str, *, wait_for: str | None) -> list[Delivered] | None:
        """Post one encrypted callback when it is time; the replies (waiting for a button containing
        `wait_for`), or None once the run is over."""
        w = self.world
        at = await w.pace(self.last)
        if at is None:
            return None
        self.last = at
        mark, sent = w.inbox.mark(self.userid), time.monotonic()
        client = w.client_for(self.userid)

        def attempt() -> Awaitable[httpx.Response]:
            signed = w.wecom.sign(xml)
            return client.post("/wecom", params=signed.params, content=signed.body)

        response = await w.push(self.stream, attempt)
        if response is None:
            return []
        reply = w.wecom.open_reply(response.text)
        passive = [Delivered(time.monotonic(), reply["Content"])] if reply.get("Content") else []
        if wait_for is None or any(NO_TASKS in i.text for i in passive):
            return passive
        items = await w.wait_inbox(
            self.userid, mark, lambda got: any(wait_for in d for i in got for _, d in i.buttons), sent, "WeCom card"
        )
        return passive + items


# ---------------------------------------------------------------- readers


async def api_reader(world: World, base_url: str, code: str, password: str) -> None:
    """A staff member's client on the API: log in once, then list tickets, open one, read the counts."""
    w, stream = world, "API reads"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await w.timed(
            "staff logins", lambda: client.post("/api/auth/token", data={"username": code, "password": password})
        )
        if response is None:
            return
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        last = time.monotonic() - w.rng.uniform(0, w.read_interval)
        while (at := await w.pace(last, w.read_interval)) is not None:
            last = at
            page = await w.timed(stream, lambda: client.get("/api/tickets", params={"limit": 50}))
            numbers = [t["number"] for t in page.json()["items"]] if page is not None else []
            if numbers:
                path = f"/api/tickets/{w.rng.choice(numbers)}"
                await w.timed(stream, lambda: client.get(path))  # noqa: B023 (awaited at once)
            await w.timed(stream, lambda: client.get("/api/stats/counts"))


async def dashboard_reader(world: World, base_url: str, code: str, password: str) -> None:
    """An operator on the dashboard (own cookie jar): the open queue, a ticket page, statistics, the map."""
    w, stream = world, "Dashboard reads"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await w.timed(
            "staff logins",
            lambda: client.post("/dashboard/login", data={"username": code, "password": password}),
            ok=(303,),
        )
        if response is None:
            return
        last, rounds = time.monotonic() - w.rng.uniform(0, w.read_interval), 0
        while (at := await w.pace(last, w.read_interval)) is not None:
            last, rounds = at, rounds + 1
            page = await w.timed(stream, lambda: client.get("/dashboard/", params={"open": "1"}))
            numbers = sorted(set(TICKET_NUMBER.findall(page.text))) if page is not None else []
            if numbers:
                path = f"/dashboard/tickets/{w.rng.choice(numbers)}"
                await w.timed(stream, lambda: client.get(path))  # noqa: B023 (awaited at once)
            await w.timed(stream, lambda: client.get("/dashboard/stats"))
            if rounds % 4 == 0:
                await w.timed(stream, lambda: client.get("/dashboard/map"))
