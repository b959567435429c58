"""Messages that carry no words the dialogue can use: a voice message without recognised text, a video, a
file, a shared link. Each gets a clear answer and leaves the dialogue in progress as it was."""

from __future__ import annotations

from bot.flows.conversation import Conversation
from bot.messages import InboundKind

MAX_TITLE = 60


def answer_wordless(conv: Conversation) -> bool:
    """Answer a message of a kind no dialogue step takes; True when it was one."""
    inbound = conv.inbound
    if inbound.kind is InboundKind.voice and not conv.text:
        conv.say("voice.empty")  # no speech model here: the platform's recognition is all we have
    elif inbound.kind is InboundKind.video:
        conv.say("video.not_accepted")
    elif inbound.kind is InboundKind.file:
        conv.say("file.not_accepted", name=inbound.label[:MAX_TITLE] or "—")
    elif inbound.kind is InboundKind.link:
        title = conv.text.splitlines()[0] if conv.text else inbound.label
        conv.say("link.not_read", title=title[:MAX_TITLE] or "—")
    else:
        return False
    return True
