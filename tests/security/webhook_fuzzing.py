"""Signed fuzzing of the chat webhooks (/wechat plain and AES, /wecom, /telegram/webhook), shared by the short
test run and scripts/fuzz_long.py.

Each case is a fuzzed document (tests/security/webhook_strategies.py) that is signed — and encrypted where
the mode asks — at send time, with the current timestamp and a fresh nonce, so it gets past the signature
and replay checks into parsing and the conversation engine. About one case in four is forged instead (bad
or missing signature, wrong token, stale or future timestamp, a nonce replayed with another body, a message
packed for another app, a wrong Telegram secret). Oracle per case: no 5xx; a rejected (4xx) request leaves
every table's row count alone; a forged or hostile (DTD) request is never answered 2xx/3xx; a 200 reply in
AES mode decrypts and verifies as the platform would check it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ChannelIdentity, Staff
from backend.settings import Settings
from bot.webhook.deadline import chat_turn_pool
from tests.fakes.wechat import WeChatPlatform, aes_encrypt, sha1_sign
from tests.security.fuzzing import Finding, FuzzReport, _our_frames, grown_tables, row_counts
from tests.security.webhook_strategies import short_text, telegram_bodies, wechat_documents, weighted

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WINDOW_SAFE_SKEW = 250  # genuine requests stay this close to now (the replay window is 300 s)
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffdb004300") + b"\x08" * 64 + b"\xff\xd9"
# WeCom staff bound to their accounts before a run, so staff flows (tasks, card presses) are reached.
BOUND_WECOM_STAFF = ("GW001", "CD01", "ADM01")

# How a request is forged ("" = genuine). Weighted so that about three cases in four are genuine.
SIGNED_FORGERIES = ("signature", "token", "missing", "stale", "future", "timestamp", "replay")
AES_FORGERIES = (*SIGNED_FORGERIES, "msg_signature", "receiver")


@dataclass(frozen=True)
class ChannelKeys:
    """What the platforms share with us: tokens, ids, AES keys, the Telegram secret."""

    wechat_token: str
    wechat_app_id: str
    wechat_aes_key: str  # of the app in AES mode
    wecom_token: str
    wecom_corp_id: str
    wecom_aes_key: str
    telegram_secret: str

    @classmethod
    def from_settings(cls, plain: Settings, aes: Settings) -> ChannelKeys:
        """The keys of a plain-mode app's settings and of an AES-mode app's settings."""
        return cls(
            plain.wechat_token.get_secret_value(),
            plain.wechat_app_id,
            aes.wechat_aes_key,
            plain.wecom_token.get_secret_value(),
            plain.wecom_corp_id,
            plain.wecom_aes_key,
            plain.telegram_secret.get_secret_value(),
        )


@dataclass(frozen=True)
class SignedCase:
    """A document to post (or an echostr to verify) and how its request is to be signed or forged."""

    document: str
    hostile: bool  # a DTD/entity document: must be refused
    forge: str  # "" for a genuine request
    skew: int  # seconds from now: small for genuine requests, past the window for "stale"/"future"
    nonce_tail: str
    junk_timestamp: str
    extra_query: dict[str, str]
    envelope: str  # AES: "normal", "junk" (Encrypt not ciphertext), "missing" (no Encrypt), "bare" (not XML)


@dataclass
class Sent:
    """A request that was sent: its response (None if the app raised), whether it had to be refused and why."""

    response: httpx.Response | None
    must_refuse: str  # "" or the reason, e.g. "forged: stale"
    request: str
    reply_check: Callable[[httpx.Response], str] | None = None  # returns a problem, or ""
    # A replayed plain-mode nonce carries a valid signature; an empty acknowledgement (nothing processed) is a
    # refusal too, as long as it leaves no rows behind.
    empty_ack_refuses: bool = False

    def refused(self, response: httpx.Response) -> bool:
        """Whether the response refused the request (4xx/5xx, or an empty acknowledgement where allowed)."""
        return response.status_code >= 400 or (
            self.empty_ack_refuses and response.status_code == 200 and response.text in ("", "success")
        )


def forge_choice(forgeries: tuple[str, ...]) -> SearchStrategy[str]:
    """ "" three times in four, else one of the forgeries."""
    return weighted((3, st.just("")), (1, st.sampled_from(forgeries)))


def signed_cases(*, wecom: bool, forgeries: tuple[str, ...], echo: bool = False) -> SearchStrategy[SignedCase]:
    """Cases for a signed WeChat/WeCom endpoint (echo: a GET URL check, whose document is the echostr)."""
    documents = (
        weighted((4, st.text(max_size=60)), (1, st.text(min_size=1000, max_size=3000))).map(lambda d: (d, False))
        if echo
        else wechat_documents(wecom=wecom)
    )
    extra = st.dictionaries(
        st.sampled_from(("openid", "encrypt_type", "x", "echostr", "nonce2")) | short_text, short_text, max_size=2
    )
    return st.builds(
        lambda doc, forge, skew, stale, tail, junk_ts, q, env: SignedCase(
            doc[0], doc[1], forge, stale if forge in ("stale", "future") else skew, tail, junk_ts, q, env
        ),
        documents,
        forge_choice(forgeries),
        st.integers(-WINDOW_SAFE_SKEW, WINDOW_SAFE_SKEW),
        st.sampled_from((301, 302, 400, 3600, 86_400 * 365, 2**31)) | st.integers(301, 10**9),
        weighted((4, st.just("")), (1, st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), max_size=12))),
        st.sampled_from(("", " 1", "1.5", "-1", "１２３", "١٢٣", "9" * 40, "abc")),
        weighted((4, st.just({})), (1, extra)),
        weighted((12, st.just("normal")), (1, st.sampled_from(("junk", "missing", "bare")))),
    )


class Nonces:
    """Fresh, unique nonces (the replay window refuses a reused one with another body)."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def fresh(self, tail: str = "") -> str:
        """A nonce never handed out before (a counter plus randomness), with tail appended."""
        with self._lock:
            self._n += 1
            n = self._n
        return f"{n}{secrets.randbelow(10**8)}{tail}"


class WeChatSigner:
    """Signs, encrypts and sends cases to /wechat (plain or AES mode) or /wecom as the platform would."""

    def __init__(self, *, path: str, token: str, app_id: str, aes_key: str = "", wecom: bool = False) -> None:
        self.path = path
        self.token = token
        self.app_id = app_id
        self.aes_key = aes_key
        self.wecom = wecom
        self.nonces = Nonces()
        self.last: tuple[dict[str, str], bytes] | None = None  # the last genuine POST, for "replay"
        self.platform = WeChatPlatform(token, app_id=app_id, aes_key=aes_key, wecom=wecom)

    def _stamp(self, case: SignedCase) -> tuple[str, str]:
        now = int(time.time())
        ts = str(now - case.skew if case.forge == "stale" else now + case.skew)
        return case.junk_timestamp if case.forge == "timestamp" else ts, self.nonces.fresh(case.nonce_tail)

    def _envelope(self, case: SignedCase) -> tuple[bytes, str]:
        """The AES envelope body and the Encrypt value signed by msg_signature."""
        receiver = "wx_someone_else" if case.forge == "receiver" else self.app_id
        enc = aes_encrypt(case.document, receiver, self.aes_key)
        if case.envelope == "junk":
            enc = case.document[:200] or "AAAA"
        if case.envelope == "bare":
            return case.document.encode("utf-8", "surrogatepass"), enc
        inner = "" if case.envelope == "missing" else f"<Encrypt><![CDATA[{enc}]]></Encrypt>"
        return f"<xml><ToUserName><![CDATA[{self.app_id}]]></ToUserName>{inner}</xml>".encode(), enc

    def post(self, client: TestClient, case: SignedCase) -> Sent:
        """Sign (and encrypt) the case's document and post it."""
        ts, nonce = self._stamp(case)
        token = "wrong-token" if case.forge == "token" else self.token
        if self.aes_key:
            body, enc = self._envelope(case)
            params = {"msg_signature": sha1_sign(token, ts, nonce, enc), "timestamp": ts, "nonce": nonce}
            if not self.wecom:
                params.update(signature=sha1_sign(token, ts, nonce), openid="oFuzz", encrypt_type="aes")
        else:
            body = case.document.encode("utf-8", "surrogatepass")
            params = {"signature": sha1_sign(token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": "oFuzz"}
        params = {**case.extra_query, **params}
        params = self._forge_params(case, params)
        reason = self._refusal(case)
        if case.forge == "replay" and self.last is not None:
            if self.last[1] == body:
                reason = ""  # the very same request again: a platform retry, which may pass
            params = dict(self.last[0])
        response = _send(client, "POST", self.path, params=params, content=body)
        if response is not None and not reason and response.status_code == 200:
            self.last = (params, body)
        check = self._check_reply if self.aes_key else None
        return Sent(
            response,
            reason,
            _describe("POST", self.path, params, body),
            check,
            empty_ack_refuses=case.forge == "replay",
        )

    def get(self, client: TestClient, case: SignedCase) -> Sent:
        """The URL check: echostr signed (WeCom: encrypted, then signed)."""
        ts, nonce = self._stamp(case)
        token = "wrong-token" if case.forge == "token" else self.token
        if self.wecom:
            receiver = "ww_someone_else" if case.forge == "receiver" else self.app_id
            echostr = case.document if case.envelope == "junk" else aes_encrypt(case.document, receiver, self.aes_key)
            params = {
                "msg_signature": sha1_sign(token, ts, nonce, echostr),
                "timestamp": ts,
                "nonce": nonce,
                "echostr": echostr,
            }
        else:
            params = {
                "signature": sha1_sign(token, ts, nonce),
                "timestamp": ts,
                "nonce": nonce,
                "echostr": case.document,
            }
        params = self._forge_params(case, {**case.extra_query, **params})
        reason = "" if case.forge == "replay" else self._refusal(case)  # no body to replay on a GET
        response = _send(client, "GET", self.path, params=params)
        return Sent(response, reason, _describe("GET", self.path, params, b""))

    def _forge_params(self, case: SignedCase, params: dict[str, str]) -> dict[str, str]:
        name = "msg_signature" if self.wecom or case.forge == "msg_signature" else "signature"
        if case.forge in ("signature", "msg_signature") and name in params:
            params[name] = secrets.token_hex(20)
        elif case.forge == "missing":
            params.pop(name, None)
        return params

    def _refusal(self, case: SignedCase) -> str:
        if case.forge and not (case.forge == "replay" and self.last is None):
            return f"forged: {case.forge}"
        return "hostile XML (DTD or entities)" if case.hostile else ""

    def _check_reply(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            return ""
        try:
            self.platform.open_reply(response.text)
        except Exception as exc:  # the platform would drop this reply
            return f"reply does not verify: {type(exc).__name__}: {exc}"
        return ""


@dataclass(frozen=True)
class TelegramCase:
    """An update body and how the secret header is sent ("" = the right secret)."""

    body: bytes
    forge: str
    content_type: str


TELEGRAM_FORGERIES = ("missing", "empty", "wrong", "prefix", "suffix", "upper")


def telegram_cases() -> SearchStrategy[TelegramCase]:
    """Telegram updates (valid-ish and arbitrary JSON) with the secret header, sometimes forged."""
    return st.builds(
        TelegramCase,
        telegram_bodies,
        forge_choice(TELEGRAM_FORGERIES),
        weighted((6, st.just("application/json")), (1, st.sampled_from(("", "text/plain", "x/y")))),
    )


def send_telegram(client: TestClient, case: TelegramCase, secret: str) -> Sent:
    """Post one update with the (possibly forged) secret header."""
    value = {
        "": secret,
        "empty": "",
        "wrong": secrets.token_hex(8),
        "prefix": secret[:-1],
        "suffix": secret + "x",
        "upper": secret.upper() if secret.upper() != secret else secret + "X",
    }.get(case.forge)
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    if value is not None:
        headers[SECRET_HEADER] = value
    response = _send(client, "POST", "/telegram/webhook", headers=headers, content=case.body)
    reason = f"forged: {case.forge} secret" if case.forge else ""
    return Sent(response, reason, f"POST /telegram/webhook forge={case.forge!r} body={case.body[:300]!r}")


def _send(client: TestClient, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
    try:
        return client.request(method, path, **kwargs)
    except Exception:
        _LAST_ERROR.value = _our_frames()
        return None


class _LastError(threading.local):
    value = ""


_LAST_ERROR = _LastError()


def _describe(method: str, path: str, params: dict[str, str], body: bytes) -> str:
    return f"{method} {path} params={params!r} body={body[:300]!r}{' …' if len(body) > 300 else ''}"


@dataclass(frozen=True)
class Family:
    """One fuzzed endpoint and mode: its name, which app serves it, its cases and how to send one."""

    name: str
    app: str  # "plain" or "aes"
    strategy: SearchStrategy[Any]
    send: Callable[[TestClient, Any], Sent]
    forged: tuple[Any, ...] = ()  # one explicit case per forgery, so refusals are exercised whatever the draws


def forged_signed(forgeries: tuple[str, ...], document: str) -> tuple[SignedCase, ...]:
    """One genuine-looking case per forgery (past the window for "stale"/"future")."""
    return tuple(
        SignedCase(document, False, forge, 3600 if forge in ("stale", "future") else 0, "", "abc", {}, "normal")
        for forge in forgeries
    )


def forged_telegram() -> tuple[TelegramCase, ...]:
    """A plain text update sent once with each forged secret header."""
    body = (
        b'{"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "hi"}}'
    )
    return tuple(TelegramCase(body, forge, "application/json") for forge in TELEGRAM_FORGERIES)


def webhook_families(keys: ChannelKeys) -> list[Family]:
    """Every signed webhook family: WeChat plain and AES (POST and GET), WeCom (POST and GET), Telegram."""
    plain = WeChatSigner(path="/wechat", token=keys.wechat_token, app_id=keys.wechat_app_id)
    aes = WeChatSigner(path="/wechat", token=keys.wechat_token, app_id=keys.wechat_app_id, aes_key=keys.wechat_aes_key)
    wecom = WeChatSigner(
        path="/wecom", token=keys.wecom_token, app_id=keys.wecom_corp_id, aes_key=keys.wecom_aes_key, wecom=True
    )
    text = "<xml><ToUserName>gh</ToUserName><FromUserName>oForged</FromUserName><CreateTime>1</CreateTime>"
    text += "<MsgType>text</MsgType><Content>路灯坏了</Content><MsgId>1</MsgId></xml>"
    return [
        Family(
            "POST /wechat (signed, plain)",
            "plain",
            signed_cases(wecom=False, forgeries=SIGNED_FORGERIES),
            plain.post,
            forged_signed(SIGNED_FORGERIES, text),
        ),
        Family(
            "POST /wechat (signed, aes)",
            "aes",
            signed_cases(wecom=False, forgeries=AES_FORGERIES),
            aes.post,
            forged_signed(AES_FORGERIES, text),
        ),
        Family(
            "GET /wechat (signed)",
            "plain",
            signed_cases(wecom=False, forgeries=SIGNED_FORGERIES, echo=True),
            plain.get,
            forged_signed(SIGNED_FORGERIES, "echo"),
        ),
        Family(
            "POST /wecom (signed)",
            "plain",
            signed_cases(wecom=True, forgeries=AES_FORGERIES),
            wecom.post,
            forged_signed(AES_FORGERIES, text),
        ),
        Family(
            "GET /wecom (signed)",
            "plain",
            signed_cases(wecom=True, forgeries=AES_FORGERIES, echo=True),
            wecom.get,
            forged_signed(AES_FORGERIES, "echo"),
        ),
        Family(
            "POST /telegram/webhook (secret)",
            "plain",
            telegram_cases(),
            lambda client, case: send_telegram(client, case, keys.telegram_secret),
            forged_telegram(),
        ),
    ]


class ErrorLog(logging.Handler):
    """Collects ERROR records: an exception the app caught and logged still means a user got an internal-error
    reply (the engine's "error.internal") or nothing at all (PTB's handler errors)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @staticmethod
    def describe(record: logging.LogRecord) -> str:
        """The message and, if there is one, the exception with the frames in our code."""
        text = f"{record.name}: {record.getMessage()}"
        return text + ("\n" + _our_frames(record.exc_info) if record.exc_info else "")


def settle_turns(database_url: str) -> None:
    """Wait until every chat turn queued so far has finished: a turn past the reply budget writes its late
    reply after the response, and must not be counted against the next request."""
    pool = chat_turn_pool(database_url)
    workers = pool._max_workers  # the pool's size: 1 on SQLite, 4 otherwise
    barrier = threading.Barrier(workers + 1)
    for _ in range(workers):
        pool.submit(barrier.wait, 120)
    barrier.wait(120)


def fuzz_family(
    client: TestClient,
    session_factory: sessionmaker[Session],
    family: Family,
    *,
    examples: int,
    report: FuzzReport,
    tables: Iterable[str],
    database_url: str,
    seed: int | None = 0,
    max_seconds: float | None = None,
) -> None:
    """Run `examples` cases of one family through the client, recording statuses and findings in report."""
    tables = tuple(tables)
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    errors = ErrorLog()

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is not None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        print_blob=False,
    )
    @given(case=family.strategy)
    def run(case: Any) -> None:
        if deadline is not None and time.monotonic() > deadline:
            return
        settle_turns(database_url)
        before = row_counts(session_factory, tables)
        logged = len(errors.records)
        sent = family.send(client, case)
        response = sent.response
        status = None if response is None else response.status_code
        report.count(family.name, status)
        if response is None:
            report.findings.append(Finding("exception", family.name, "platform", None, sent.request, _LAST_ERROR.value))
            return
        text = response.text[:500]
        if status is not None and status >= 500:
            report.findings.append(Finding("5xx", family.name, "platform", status, sent.request, text))
        if sent.must_refuse and not sent.refused(response):
            report.findings.append(
                Finding(
                    "accepted", family.name, "platform", status, sent.request, f"{sent.must_refuse}; response {text}"
                )
            )
        if sent.reply_check is not None and (problem := sent.reply_check(response)):
            report.findings.append(Finding("reply", family.name, "platform", status, sent.request, problem))
        settle_turns(database_url)
        for record in errors.records[logged:]:
            report.findings.append(
                Finding("logged", family.name, "platform", status, sent.request, ErrorLog.describe(record))
            )
        if status is not None and (400 <= status < 500 or sent.must_refuse):
            grown = grown_tables(before, row_counts(session_factory, tables))
            if grown:
                report.findings.append(
                    Finding(
                        "rows",
                        family.name,
                        "platform",
                        status,
                        sent.request,
                        f"rows changed: {grown}; response {text[:300]}",
                    )
                )

    for case in family.forged:
        run = hypothesis.example(case=case)(run)
    if seed is None:
        run = hypothesis.seed(random.getrandbits(64))(run)
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        with contextlib.suppress(hypothesis.errors.Unsatisfiable):
            run()
    finally:
        root.removeHandler(errors)


def fuzz_webhooks(
    clients: dict[str, TestClient],
    session_factory: sessionmaker[Session],
    keys: ChannelKeys,
    *,
    examples: int | dict[str, int],
    report: FuzzReport,
    tables: Iterable[str],
    database_url: str,
    seed: int | None = 0,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Every signed webhook family; examples is a count per family, or per family name."""
    started = time.perf_counter()
    for family in webhook_families(keys):
        n = examples if isinstance(examples, int) else examples.get(family.name, 0)
        if n <= 0:
            continue
        fuzz_family(
            clients[family.app],
            session_factory,
            family,
            examples=n,
            report=report,
            tables=tables,
            database_url=database_url,
            seed=seed,
        )
        if progress:
            progress(f"{family.name} → {report.per_operation[family.name]} cases, {report.cases} so far")
    report.seconds += time.perf_counter() - started


def prepare(session_factory: sessionmaker[Session], telegram_files: dict[str, bytes]) -> None:
    """Bind the demo staff's WeCom accounts (so staff flows are reached) and give the fake Bot API some files."""
    with session_factory() as session:
        for code in BOUND_WECOM_STAFF:
            staff = session.scalar(select(Staff).where(Staff.code == code))
            bound = session.scalar(
                select(ChannelIdentity.id).where(
                    ChannelIdentity.channel == "wecom", ChannelIdentity.external_id == code
                )
            )
            if staff is not None and bound is None:
                session.add(ChannelIdentity(person_id=staff.person_id, channel="wecom", external_id=code))
        session.commit()
    telegram_files.update({"fz-jpeg": JPEG, "fz-junk": b"not an image" * 10, "fz-empty": b""})
