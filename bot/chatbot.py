"""The channel-neutral chatbot: one Inbound in, a list of Outbound back.

Adapters call `handle_once` (at most once per platform message id, then the stored reply). The backend
runs each turn in one transaction (`backend.usecases.conversation`); everything a dialogue needs between
turns lives in the database, never in this object, so a restart or a second process continues it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.runtime import Runtime
from backend.services.intake import predicted
from backend.texts import lang_of, t
from backend.usecases import Backend
from backend.usecases.conversation import (
    Answer,
    BackendUnavailable,
    ChatMessage,
    ConversationStore,
    TurnAnswer,
    TurnContext,
    TurnOutcome,
)
from bot.flows import resident, staff
from bot.flows.conversation import Conversation
from bot.flows.report import MAX_TEXT
from bot.messages import Inbound, InboundKind, Outbound, outbound_from_json, outbound_to_json
from bot.render import render_notification
from bot.throttle import STATE_KEY as THROTTLE_KEY
from bot.throttle import SenderLimit, Verdict

logger = logging.getLogger(__name__)

# Chooses, inside a turn's transaction, which of its replies go to the outbox in the same commit.
ReplyRoute = Callable[[list[Outbound]], list[Outbound]]


class TurnUnavailable(Exception):
    """The database could not be reached: nothing of the turn was stored; the message should come again."""


class Chatbot:
    """Runs one dialogue turn per inbound message against the backend's use cases."""

    def __init__(self, runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
        self.runtime = runtime
        self.backend = Backend(runtime, session_factory)
        self.store = ConversationStore(self.backend)
        self.limit = SenderLimit(runtime.settings.chat_rate_per_minute, runtime.settings.chat_rate_burst)

    def handle(self, inbound: Inbound) -> list[Outbound]:
        """Answer one inbound message (synchronous; run it in a threadpool from async code).

        For the console and simulator: a database outage is answered with an apology."""
        try:
            return self._answer(inbound, delivery_key=None, outbox=None)
        except TurnUnavailable:
            return [Outbound.say(t("error.internal", lang_of(inbound.language)))]

    def handle_once(self, inbound: Inbound, *, outbox: ReplyRoute | None = None) -> list[Outbound]:
        """`handle` at most once per (channel, message_id): a redelivery gets the stored reply.

        `outbox(replies)`, called just before the turn commits, names the replies to queue for the outbox
        in that same commit, so a reply cannot be lost between the turn and the queue. Raises
        TurnUnavailable when the database is unreachable, so the adapter can ask the platform to deliver
        the message again rather than lose it.
        """
        return self._answer(inbound, delivery_key=self._delivery_key(inbound), outbox=outbox)

    def analysing(self, inbounds: Sequence[Inbound]) -> AbstractContextManager[None]:
        """Classify the texts of a batch of messages in one call; their turns inside the block use it."""
        texts = [(m.text or "").strip()[:MAX_TEXT] for m in inbounds if m.kind in (InboundKind.text, InboundKind.voice)]
        return predicted(self.runtime, texts)

    def handle_batch(
        self,
        turns: Sequence[tuple[Inbound, ReplyRoute]],
        *,
        before_commit: Callable[[Session, list[bool]], None],
        before_turns: Callable[[Session], None] | None = None,
    ) -> list[list[Outbound] | None]:
        """`handle_once` for several senders' messages in one transaction (the inbox processor's batch).

        Each turn runs in a savepoint: one that fails stores nothing and comes back as None, so the caller
        can run it again; `before_commit(session, stored)` (which turns stored their work) commits with the
        others; `before_turns(session)` opens the transaction. Raises TurnUnavailable when the database is away.
        """
        prepared = [self._turn(inbound, self._delivery_key(inbound), route) for inbound, route in turns]

        def then(session: Session, outcomes: list[TurnOutcome]) -> None:
            before_commit(session, [not outcome.failed for outcome in outcomes])

        try:
            outcomes = self.store.run_batch(
                [(m, a) for m, a, _ in prepared], before_commit=then, before_turns=before_turns
            )
        except BackendUnavailable as exc:
            raise TurnUnavailable(str(exc)) from exc
        return [
            None if outcome.failed else self._replies(outcome, lang)
            for (_, _, lang), outcome in zip(prepared, outcomes, strict=True)
        ]

    @staticmethod
    def _delivery_key(inbound: Inbound) -> str | None:
        return inbound.message_id[:128] if inbound.message_id else None

    def _answer(self, inbound: Inbound, *, delivery_key: str | None, outbox: ReplyRoute | None) -> list[Outbound]:
        message, answer, lang = self._turn(inbound, delivery_key, outbox)
        try:
            outcome = self.store.run(message, answer)
        except BackendUnavailable as exc:
            raise TurnUnavailable(str(exc)) from exc
        return self._replies(outcome, lang)

    @staticmethod
    def _replies(outcome: TurnOutcome, lang: str) -> list[Outbound]:
        if outcome.failed:
            return [Outbound.say(t("error.internal", lang))]
        return outbound_from_json(outcome.replies) if outcome.replies else []

    def _turn(
        self, inbound: Inbound, delivery_key: str | None, outbox: ReplyRoute | None
    ) -> tuple[ChatMessage, Answer, str]:
        """The backend's message, the function that answers it, and the reply language."""
        lang = lang_of(inbound.language)
        message = ChatMessage(
            channel=inbound.channel,
            user_id=inbound.user_id,
            display_name=inbound.display_name,
            language=lang,
            language_given=bool(inbound.language),
            delivery_key=delivery_key,
            unfollow=inbound.kind is InboundKind.unfollow,
        )

        def answer(context: TurnContext) -> TurnAnswer:
            out, state = self._converse(inbound, lang, context)
            queued = outbox(out) if outbox is not None else []
            return TurnAnswer(
                replies=outbound_to_json(out), queued=outbound_to_json(queued) if queued else None, state=state
            )

        return message, answer, lang

    def _converse(self, inbound: Inbound, lang: str, context: TurnContext) -> tuple[list[Outbound], dict[str, Any]]:
        """The replies to one message and the dialogue state to keep."""
        state = context.state
        throttle = state.pop(THROTTLE_KEY, None)
        if self.limit.enabled:
            verdict, throttle = self.limit.check(throttle, context.now.timestamp())
            if verdict is not Verdict.handle:
                logger.info("rate limited %s sender (%s)", inbound.channel, verdict.value)
                slow_down = [Outbound.say(t("throttle.slow_down", lang))] if verdict is Verdict.warn else []
                return slow_down, {**state, THROTTLE_KEY: throttle}
        conv = Conversation(
            inbound=inbound,
            speaker=context.speaker,
            casework=context.casework,
            city=self.runtime.city,
            settings=self.runtime.settings,
            lang=lang,
            state=state,
        )
        if context.expired:
            conv.say("session.expired")
        if context.speaker.staff is not None:
            staff.handle(conv)
        else:
            resident.handle(conv)
        # What the turn itself caused for this speaker (e.g. "dispatched" at once) follows its replies.
        for kind, payload in context.casework.take_own_notices():
            conv.out.extend(render_notification(kind, payload, lang))
        kept = {**conv.state, THROTTLE_KEY: throttle} if throttle is not None else conv.state
        return conv.out, kept
