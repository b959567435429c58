"""Walk one WeChat text from the webhook to a stored ticket: which of our files run, and how often each
analysis step (gazetteer, grid lookup, urgency, classifier) is called.

    python scripts/walk_message.py [--text "..."]

It builds a throw-away SQLite database with the demo city, posts one signed plain-mode WeChat message
to the real app and profiles that request only.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Functions that are one analysis step each: (file suffix, function name) → the step's name.
STEPS = {
    ("nlp/places.py", "best"): "gazetteer",
    ("backend/domain/routing.py", "locate"): "grid lookup",
    ("nlp/urgency.py", "detect"): "urgency",
    ("nlp/classify.py", "predict"): "classifier",
}
PACKAGES = ("bot/", "backend/", "nlp/")


def _xml(openid: str, text: str, msg_id: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--text", default="和谐家园门口马路上有个大坑，电动车差点摔了")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from backend.settings import Settings
    from bot.app import build_app
    from bot.main import cli  # noqa: F401  (the same imports as `gridbot serve`)

    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'walk.db'}"
    settings = Settings(env="test", database_url=url, data_dir=tmp, wechat_token="walk-token", chat_rate_per_minute=0)
    from backend.cityconfig import load_city_config
    from backend.db.migrate import upgrade
    from backend.db.session import make_engine, make_session_factory
    from backend.services.reference import sync_reference, sync_staff

    upgrade(url)
    city = load_city_config(settings.config_dir)
    with make_session_factory(make_engine(url))() as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=None)
        session.commit()
    app = build_app(settings)
    client = TestClient(app)

    files: Counter[str] = Counter()
    steps: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call":
            return
        name = frame.f_code.co_filename
        if not name.startswith(str(ROOT)):
            return
        rel = name[len(str(ROOT)) + 1 :]
        if rel.startswith(PACKAGES):
            files[rel] += 1
            step = STEPS.get((rel, frame.f_code.co_name))
            if step:
                steps[step] += 1

    body = _xml("o_walk_resident", args.text, 880001).encode()
    ts, nonce = str(int(time.time())), "walknonce"
    signature = hashlib.sha1("".join(sorted(["walk-token", ts, nonce])).encode()).hexdigest()
    import threading

    threading.setprofile(profile)  # type: ignore[arg-type]
    sys.setprofile(profile)  # type: ignore[arg-type]
    try:
        response = client.post(
            "/wechat", params={"signature": signature, "timestamp": ts, "nonce": nonce}, content=body
        )
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    print(f"HTTP {response.status_code}; reply: {response.text[:120]!r}")
    print(f"{len(files)} of our files ran during the request:")
    for rel in sorted(files):
        print(f"  {rel}")
    print("analysis steps:", dict(steps) or "none")


if __name__ == "__main__":
    main()
