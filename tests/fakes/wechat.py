"""The WeChat side of the wire, built without wechatpy: signing, AES packing, message XML and a fake API.

`WeChatPlatform` plays the WeChat (or WeCom) server posting to our webhook; `FakeWeChatAPI` is the
api.weixin.qq.com / qyapi.weixin.qq.com our senders call. Both follow the published protocol with
hashlib and cryptography only, so wechatpy is checked against the protocol, not against itself.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.fakes.server import Answer, Call, FakeServer, Script


def sha1_sign(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode()).hexdigest()


def new_aes_key() -> str:
    """A random 43-character EncodingAESKey."""
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


def aes_encrypt(plain: str, receive_id: str, key43: str) -> str:
    """Pack and encrypt a message as the WeChat server does (random16 + len + msg + appid, PKCS#7 to 32)."""
    key = base64.b64decode(key43 + "=")
    data = plain.encode()
    raw = os.urandom(16) + struct.pack(">I", len(data)) + data + receive_id.encode()
    pad = 32 - len(raw) % 32
    raw += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode()


def aes_decrypt(b64: str, key43: str) -> tuple[str, str]:
    """Decrypt a packed message; returns (plain text, receive id)."""
    key = base64.b64decode(key43 + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    raw = dec.update(base64.b64decode(b64)) + dec.finalize()
    raw = raw[: -raw[-1]]
    n = struct.unpack(">I", raw[16:20])[0]
    return raw[20 : 20 + n].decode(), raw[20 + n :].decode()


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(
    msg_type: str,
    fields: dict[str, Any],
    *,
    from_user: str,
    to_user: str = "gh_gridbot",
    msg_id: str | None = None,
    create_time: int | None = None,
    agent_id: int | None = None,
) -> str:
    """A message or event as the platform posts it (numbers bare, strings in CDATA)."""
    parts = [
        f"<ToUserName>{_cdata(to_user)}</ToUserName>",
        f"<FromUserName>{_cdata(from_user)}</FromUserName>",
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>",
        f"<MsgType>{_cdata(msg_type)}</MsgType>",
    ]
    for name, value in fields.items():
        text = str(value) if isinstance(value, int | float) else _cdata(str(value))
        parts.append(f"<{name}>{text}</{name}>")
    if msg_id is not None:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    if agent_id is not None:
        parts.append(f"<AgentID>{agent_id}</AgentID>")
    return "<xml>" + "".join(parts) + "</xml>"


def xml_fields(xml: str) -> dict[str, str]:
    """The top-level fields of a reply (enough to read our passive replies; CDATA unwrapped)."""
    out: dict[str, str] = {}
    for name, value in re.findall(r"<(\w+)>(.*?)</\1>", xml.split("<xml>", 1)[-1], flags=re.S):
        if value.startswith("<![CDATA[") and value.endswith("]]>"):
            value = value[9:-3]
        out[name] = value
    return out


# A text link the WeChat client shows as a tap target: the tap sends msgmenucontent as the user's message, with
# msgmenuid as bizmsgmenuid (bot/wechat/links.py writes them).
MENU_LINK = re.compile(r'<a href="weixin://bizmsgmenu\?msgmenucontent=([^&"]*)&msgmenuid=([^&"]*)">([^<]*)</a>')


def read_menu_links(content: str) -> tuple[str, list[tuple[str, str]]]:
    """A text message as the client shows it: its text without the link lines, and each link's (label, id)."""
    links = MENU_LINK.findall(content)
    assert all(sent == shown for sent, _, shown in links)  # a tap sends what the link shows
    text = "\n".join(line for line in content.split("\n") if not MENU_LINK.fullmatch(line)).strip("\n")
    return text, [(label, data) for label, data, _ in links]


@dataclass
class Signed:
    """A request ready to post to our webhook."""

    params: dict[str, str]
    body: bytes


class WeChatPlatform:
    """The Official Account / WeCom server side: signs (and in safe mode encrypts) what it posts."""

    def __init__(self, token: str, *, app_id: str = "", aes_key: str = "", wecom: bool = False) -> None:
        self.token = token
        self.app_id = app_id
        self.aes_key = aes_key
        self.wecom = wecom

    def _stamp(self) -> tuple[str, str]:
        # Like the platforms: the current time and a random nonce (our replay window checks both).
        return str(int(time.time())), str(secrets.randbelow(10**10))

    def verify_params(self, echostr: str = "echo-123") -> dict[str, str]:
        """The GET a platform sends to verify the callback URL (WeCom: echostr encrypted)."""
        ts, nonce = self._stamp()
        if self.wecom:
            enc = aes_encrypt(echostr, self.app_id, self.aes_key)
            return {
                "msg_signature": sha1_sign(self.token, ts, nonce, enc),
                "timestamp": ts,
                "nonce": nonce,
                "echostr": enc,
            }
        return {"signature": sha1_sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": echostr}

    def sign(self, xml: str) -> Signed:
        """Sign (and encrypt, when an AES key is set) a message for posting."""
        ts, nonce = self._stamp()
        if not self.aes_key:
            params = {"signature": sha1_sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": "o"}
            return Signed(params, xml.encode())
        enc = aes_encrypt(xml, self.app_id, self.aes_key)
        body = f"<xml><ToUserName>{_cdata(self.app_id)}</ToUserName><Encrypt>{_cdata(enc)}</Encrypt></xml>"
        msg_sig = sha1_sign(self.token, ts, nonce, enc)
        if self.wecom:
            params = {"msg_signature": msg_sig, "timestamp": ts, "nonce": nonce}
        else:
            params = {
                "signature": sha1_sign(self.token, ts, nonce),
                "timestamp": ts,
                "nonce": nonce,
                "openid": "o",
                "encrypt_type": "aes",
                "msg_signature": msg_sig,
            }
        return Signed(params, body.encode())

    def open_reply(self, body: str) -> dict[str, str]:
        """Check and decrypt our passive reply as the platform would; {} for an empty/"success" reply."""
        if body in ("", "success"):
            return {}
        if not self.aes_key:
            return xml_fields(body)
        outer = xml_fields(body)
        expected = sha1_sign(self.token, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
        if outer["MsgSignature"] != expected:
            raise AssertionError("reply signature does not verify")
        plain, receive_id = aes_decrypt(outer["Encrypt"], self.aes_key)
        if receive_id != self.app_id:
            raise AssertionError(f"reply packed for {receive_id!r}, not {self.app_id!r}")
        return xml_fields(plain)


class FakeWeChatAPI(FakeServer):
    """api.weixin.qq.com and qyapi.weixin.qq.com in one: token, customer-service, template, WeCom messages."""

    def __init__(self) -> None:
        super().__init__()
        self.script = Script()
        self.media: dict[str, bytes] = {}
        self.tokens_issued = 0
        self._msgid = 1000
        self._lock2 = threading.Lock()

    @property
    def api_base(self) -> str:
        """What to set as wechat_api_base / wecom_api_base."""
        return self.url + "/cgi-bin/"

    def route(self, call: Call) -> Answer:
        scripted = self.script.pop(call.path)
        if scripted is not None:
            return scripted
        if call.path.endswith(("/token", "/gettoken")):
            with self._lock2:
                self.tokens_issued += 1
                n = self.tokens_issued
            return Answer.json({"access_token": f"TOKEN{n}", "expires_in": 7200})
        if call.path.endswith("/media/get"):
            data = self.media.get(call.query.get("media_id", ""))
            if data is None:
                return Answer.json({"errcode": 40007, "errmsg": "invalid media_id"})
            return Answer(200, data, "image/jpeg")
        if call.method == "POST":
            with self._lock2:
                self._msgid += 1
                msgid = self._msgid
            return Answer.json({"errcode": 0, "errmsg": "ok", "msgid": msgid})
        return Answer.json({"errcode": 0, "errmsg": "ok"})

    def sent(self, path_suffix: str) -> list[dict[str, Any]]:
        """The JSON bodies POSTed to an endpoint, e.g. "message/custom/send"."""
        return [c.json() for c in self.calls_to(path_suffix) if c.method == "POST"]


def errcode(code: int, msg: str = "error") -> Answer:
    """A WeChat API error answer."""
    return Answer.json({"errcode": code, "errmsg": msg})
