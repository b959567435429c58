"""The Telegram adapter: the /telegram/webhook route, long polling and the outbox sender (python-telegram-bot v22)."""

import os

# Opt in to PTB's timedelta time periods (v22.2+): otherwise PTB warns about the int form whenever it
# builds a RetryAfter, and the future major version makes timedelta the only form anyway.
os.environ.setdefault("PTB_TIMEDELTA", "true")
