"""Simulated residents for the fault run (bench/faults.py) and their bookkeeping.

Each resident reports one problem over WeChat (signed plain-mode XML) or Telegram and answers the bot's
questions until told a ticket number. The clients behave like the platforms: WeChat redelivers a message
that failed (connection error, 5xx, 5 s timeout) up to 3 times with the same MsgId; Telegram redelivers an
update until it gets a 200, for up to 2 minutes. A resident whose message the platform gave up on sends it
again later as a new message; one told "please try again" does so too.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from backend.texts import t
from bench._fault_env import FaultyTelegram, FaultyWeChat, Said
from bench.webhook import REPORTS, TG_SECRET, TOKEN
from tests.fakes.telegram import callback_update, text_update
from tests.fakes.wechat import message_xml, read_menu_links, sha1_sign, xml_fields

WECHAT_RETRIES = 3
WECHAT_TIMEOUT = 5.0
WECHAT_RETRY_GAP = 2.0
TELEGRAM_RETRY_FOR = 120.0
TELEGRAM_TIMEOUT = 30.0
RESEND_AFTER = 15.0  # a resident whose message never got through tries again after this long

# (report, the place to type when the bot asks where): some name the place, some make the bot ask.
SCRIPTS: list[tuple[str, str]] = [(text, "天伦小区") for text in REPORTS] + [
    ("小区门口的路灯坏了好几天，晚上很黑", "天伦小区"),
    ("楼下的垃圾好几天没人收了", "怡和花园3号楼"),
    ("路边有个井盖松了，踩上去晃", "和谐家园"),
    ("我家楼下有人半夜装修，吵得睡不着", "金水湾公寓"),
]
NUMBER = re.compile(r"[A-Z]{1,8}\d{8}-\d{4,}")


def _template(key: str) -> re.Pattern[str]:
    """A catalogue text (zh) as a regex: literal parts escaped, {number} captured, other fields anything."""
    parts = re.split(r"(\{\w+\})", t(key, "zh"))
    body = "".join(
        "(" + NUMBER.pattern + ")" if p == "{number}" else ".*?" if re.fullmatch(r"\{\w+\}", p) else re.escape(p)
        for p in parts
    )
    return re.compile(body, re.S)


# Messages that tell the resident their own ticket number (group 1), and the prompts the resident answers.
TOLD = [_template(k) for k in ("report.created", "report.merged", "report.urgent", "report.urgent_placed")]
PROMPTS = {
    k: _template(k)
    for k in (
        "error.internal",
        "report.duplicate",
        "report.ask_place",
        "report.type_place",
        "report.place_unknown",
        "report.pick_estate",
        "report.confirm_category",
        "report.pick_group",
        "report.pick_subcategory",
        "report.describe",
    )
}
WANT = {
    "report.pick_estate": "estate:",
    "report.confirm_category": "cat:",
    "report.pick_group": "group:",
    "report.pick_subcategory": "cat:",
}


@dataclass
class Sent:
    """One message a resident sent: a platform delivery, perhaps attempted several times."""

    channel: str
    key: str  # WeChat MsgId or Telegram update_id: the service's dedupe key
    resident: int
    attempts: int = 0
    acked: bool = False  # some attempt got a 200
    error_reply: bool = False  # the bot answered it with "please try again"
    at: float = field(default_factory=time.monotonic)
    answered_in: float | None = None  # seconds from sending to the first bot message after it


@dataclass
class Resident:
    """One simulated resident and what happened in their dialogue."""

    n: int
    channel: str
    user: str  # WeChat openid or Telegram user id
    script: tuple[str, str]
    inbox: asyncio.Queue[Said] = field(default_factory=asyncio.Queue)
    sent: list[Sent] = field(default_factory=list)
    told: set[str] = field(default_factory=set)
    own: str | None = None
    outcome: str = "running"  # told | unanswered | cut off
    last: tuple[str, str, str] = ("text", "", "")  # (kind, text or label, button data): for resending
    want: str | None = None  # the button prefix the resident is waiting to press
    last_at: float = 0.0
    resends: int = 0  # messages written again after the platform gave up or the bot said "try again"


@dataclass
class Book:
    """Everything the load saw, for the checks after the run."""

    residents: list[Resident] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    given_up: Counter[str] = field(default_factory=Counter)
    acked: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    told: dict[str, set[int]] = field(default_factory=dict)  # ticket number → residents told it
    error_replies: int = 0
    resends: int = 0

    @property
    def sent(self) -> list[Sent]:
        """Every message of every resident."""
        return [s for r in self.residents for s in r.sent]


class Load:
    """Keeps `concurrency` residents talking to the API until stopped; routes the fakes' messages to them."""

    def __init__(
        self,
        base: str,
        wechat: FaultyWeChat,
        telegram: FaultyTelegram,
        *,
        concurrency: int,
        telegram_share: float,
        reply_wait: float,
        think: tuple[float, float],
        seed: int,
    ) -> None:
        self.base = base
        self.wechat, self.telegram = wechat, telegram
        self.concurrency = concurrency
        self.telegram_share = telegram_share
        self.reply_wait = reply_wait
        self.think = think
        self.rng = random.Random(seed)
        self.book = Book()
        self._by_user: dict[tuple[str, str], Resident] = {}
        self._ids = itertools.count(1)
        self._nonce = itertools.count(1)
        self._run_tag = f"{os.getpid() % 10000:04d}{int(time.time()) % 100000:05d}"
        self.client: httpx.AsyncClient | None = None
        self._seen: dict[int, int] = {}  # fake's port → how many of its delivered calls were routed

    async def run(self, stop: asyncio.Event, finish_within: float) -> None:
        """Run until stop is set, then give dialogues in progress finish_within seconds to end."""
        limits = httpx.Limits(max_connections=self.concurrency * 2, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.base, limits=limits) as self.client:
            poller = asyncio.create_task(self._poll())
            slots = [asyncio.create_task(self._slot(i, stop)) for i in range(self.concurrency)]
            await stop.wait()
            _, pending = await asyncio.wait(slots, timeout=finish_within)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for r in self.book.residents:
                if r.outcome == "running":
                    r.outcome = "cut off"
            await asyncio.sleep(0.5)
            self.collect()
            poller.cancel()

    async def _slot(self, i: int, stop: asyncio.Event) -> None:
        await asyncio.sleep(i * self.think[1] / max(1, self.concurrency))  # spread the first messages
        while not stop.is_set():
            await self._dialogue(self._new_resident())
            await asyncio.sleep(self.rng.uniform(*self.think))

    def _new_resident(self) -> Resident:
        n = len(self.book.residents)
        channel = "telegram" if self.rng.random() < self.telegram_share else "wechat"
        user = str(7_000_000 + n) if channel == "telegram" else f"ofaults{self._run_tag}x{n}"
        r = Resident(n, channel, user, SCRIPTS[n % len(SCRIPTS)])
        self.book.residents.append(r)
        self._by_user[(channel, user)] = r
        return r

    async def _dialogue(self, r: Resident) -> None:
        await self._say(r, "text", r.script[0])
        while r.outcome == "running":
            acked = bool(r.sent) and r.sent[-1].acked
            wait = (self.reply_wait if acked else RESEND_AFTER) - (time.monotonic() - r.last_at)
            try:
                said = await asyncio.wait_for(r.inbox.get(), timeout=max(0.0, wait))
            except TimeoutError:
                if acked:
                    r.outcome = "unanswered"
                    return
                self.book.resends += 1  # the platform gave up on it: the resident writes again
                r.resends += 1
                await self._say(r, *r.last)
                continue
            await self._react(r, said)

    async def _react(self, r: Resident, said: Said) -> None:
        """Answer one bot message the way a resident would."""
        for pattern in TOLD:
            if m := pattern.search(said.text):
                r.own, r.outcome = m.group(1), "told"
                return
        prompt = next((k for k, p in PROMPTS.items() if p.search(said.text)), None)
        if prompt == "error.internal":
            self.book.error_replies += 1
            if r.sent:
                r.sent[-1].error_reply = True
            r.resends += 1
            await self._pause()
            await self._say(r, *r.last)
        elif prompt == "report.duplicate":
            await self._pause()
            await self._say(r, "text", "是" if r.n % 3 == 0 else "否")
        elif prompt in ("report.ask_place", "report.type_place", "report.place_unknown"):
            await self._pause()
            await self._say(r, "text", r.script[1])
        elif prompt == "report.describe":
            await self._pause()
            await self._say(r, "text", r.script[0])
        elif prompt in WANT:
            r.want = WANT[prompt]
        if r.want and said.buttons:
            choice = next(
                ((label, data) for label, data in said.buttons if data.startswith(r.want) and data != "cat:none"), None
            )
            if choice is not None:
                r.want = None
                await self._pause()
                await self._say(r, "button", *choice)

    async def _pause(self) -> None:
        await asyncio.sleep(self.rng.uniform(*self.think))

    async def _say(self, r: Resident, kind: str, text: str, data: str = "") -> None:
        r.last, r.last_at = (kind, text, data), time.monotonic()
        self.book.messages[r.channel] += 1
        if r.channel == "wechat":
            await self._post_wechat(r, kind, text, data)
        else:
            await self._post_telegram(r, kind, text, data)
        r.last_at = time.monotonic()

    async def _post_wechat(self, r: Resident, kind: str, text: str, data: str) -> None:
        assert self.client is not None
        msg_id = str(900_000_000 + next(self._ids))
        fields = {"Content": text, "bizmsgmenuid": data} if kind == "button" else {"Content": text}
        body = message_xml("text", fields, from_user=r.user, to_user="gh_faults", msg_id=msg_id).encode()
        sent = Sent("wechat", msg_id, r.n)
        r.sent.append(sent)
        for attempt in range(1 + WECHAT_RETRIES):
            if attempt:
                self.book.retries["wechat"] += 1
                await asyncio.sleep(WECHAT_RETRY_GAP)
            ts, nonce = str(int(time.time())), f"{self._run_tag}{next(self._nonce)}"
            params = {"signature": sha1_sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": r.user}
            sent.attempts += 1
            self.book.attempts["wechat"] += 1
            try:
                resp = await self.client.post("/wechat", params=params, content=body, timeout=WECHAT_TIMEOUT)
            except httpx.HTTPError as exc:
                self.book.errors[f"wechat: {type(exc).__name__}"] += 1
                continue
            if resp.status_code == 200:
                sent.acked = True
                self.book.acked["wechat"] += 1
                content = xml_fields(resp.text).get("Content") if resp.text not in ("", "success") else None
                if content:  # a question's buttons come as links in it
                    text, links = read_menu_links(content)
                    self.deliver(Said("wechat", r.user, text, tuple(links), via="passive"))
                return
            self.book.errors[f"wechat: HTTP {resp.status_code}"] += 1
            if resp.status_code < 500:
                break  # our request is wrong: no point in redelivering it
        self.book.given_up["wechat"] += 1

    async def _post_telegram(self, r: Resident, kind: str, text: str, data: str) -> None:
        assert self.client is not None
        update_id = 800_000_000 + next(self._ids)
        update = (
            callback_update(update_id, data, uid=int(r.user), message_id=1)
            if kind == "button"
            else text_update(update_id, text, uid=int(r.user))
        )
        sent = Sent("telegram", str(update_id), r.n)
        r.sent.append(sent)
        deadline, delay = time.monotonic() + TELEGRAM_RETRY_FOR, 1.0
        while True:
            sent.attempts += 1
            self.book.attempts["telegram"] += 1
            try:
                resp = await self.client.post(
                    "/telegram/webhook",
                    json=update,
                    timeout=TELEGRAM_TIMEOUT,
                    headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
                )
                if resp.status_code == 200:
                    sent.acked = True
                    self.book.acked["telegram"] += 1
                    return
                self.book.errors[f"telegram: HTTP {resp.status_code}"] += 1
            except httpx.HTTPError as exc:
                self.book.errors[f"telegram: {type(exc).__name__}"] += 1
            if time.monotonic() + delay > deadline:
                self.book.given_up["telegram"] += 1
                return
            self.book.retries["telegram"] += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def deliver(self, said: Said) -> None:
        """Record the ticket numbers in a bot message and hand it to its resident."""
        r = self._by_user.get((said.channel, said.user))
        if r is None:
            return
        for number in NUMBER.findall(said.text):
            r.told.add(number)
            self.book.told.setdefault(number, set()).add(r.n)
        if r.sent and r.sent[-1].answered_in is None:
            r.sent[-1].answered_in = time.monotonic() - r.sent[-1].at
        r.inbox.put_nowait(said)

    def collect(self) -> None:
        """Route the messages the fakes took from the outbox worker since the last call."""
        for fake in (self.wechat, self.telegram):
            done = self._seen.get(fake.port, 0)
            calls = fake.delivered[done:]
            self._seen[fake.port] = done + len(calls)
            for call in calls:
                said = fake.said(call)
                if said is not None:
                    self.deliver(said)

    async def _poll(self) -> None:
        while True:
            self.collect()
            await asyncio.sleep(0.25)
