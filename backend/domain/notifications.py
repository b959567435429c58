"""The kinds of message the outbox carries: one enum for the writers, the renderers and the tests."""

from __future__ import annotations

from enum import StrEnum


class NoticeKind(StrEnum):
    """What an outbox row announces; its payload holds the parameters, the renderer the words."""

    # To the resident who reported (and followers).
    dispatched = "dispatched"
    accepted = "accepted"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"
    reopened = "reopened"
    cancelled = "cancelled"
    merged = "merged"
    escalated = "escalated"
    # To staff.
    task_new = "task_new"
    task_reminder = "task_reminder"
    task_escalated = "task_escalated"
    task_returned = "task_returned"
    verify_request = "verify_request"
    extension_request = "extension_request"
    extension_decided = "extension_decided"
    supervise = "supervise"
    digest = "digest"
    # A chat reply already rendered by the dialogue (payload: the replies as JSON).
    chat_reply = "chat_reply"


RESIDENT_KINDS = (
    NoticeKind.dispatched,
    NoticeKind.accepted,
    NoticeKind.in_progress,
    NoticeKind.resolved,
    NoticeKind.closed,
    NoticeKind.reopened,
    NoticeKind.cancelled,
    NoticeKind.merged,
    NoticeKind.escalated,
)
STAFF_KINDS = (
    NoticeKind.task_new,
    NoticeKind.task_reminder,
    NoticeKind.task_escalated,
    NoticeKind.task_returned,
    NoticeKind.verify_request,
    NoticeKind.extension_request,
    NoticeKind.extension_decided,
    NoticeKind.supervise,
    NoticeKind.digest,
)
