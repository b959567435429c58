"""An inbox processor process for the crash test: `python -m tests.inbox.processor_entry DB_URL MODEL_DIR DATA_DIR ID`.

It prints "ready" once the models are loaded, and "turn" before each turn, so the test can kill it mid-batch.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from backend.settings import Settings
from backend.usecases.operations import open_backend
from bot.chatbot import Chatbot
from bot.inbox import InboxProcessor, ProcessorConfig
from tests.conftest import CONFIG_DIR


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("model_dir")
    parser.add_argument("data_dir")
    parser.add_argument("worker_id")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(
        env="test",
        data_dir=Path(args.data_dir),
        model_dir=Path(args.model_dir),
        config_dir=CONFIG_DIR,
        database_url=args.db_url,
    )
    backend = open_backend(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    processor = InboxProcessor(
        backend.session_factory,
        Chatbot(backend.runtime, backend.session_factory),
        worker_id=args.worker_id,
        config=ProcessorConfig(batch_size=20, lease_seconds=2.0, idle_sleep=0.02),
        on_turn=lambda item: print("turn", item.message_id, flush=True),
    )
    print("ready", flush=True)
    processor.run(stop)


if __name__ == "__main__":
    main()
