"""The kinds of message the outbox carries: one enum for the writers, the renderers and the tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any


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
    supervised = "supervised"  # past the reopen limit: now with the street command centre and 督办
    registered = "registered"  # the resident left a question unanswered: the report is stored anyway
    # To staff.
    task_new = "task_new"
    task_batch = "task_batch"  # several new tasks in one message: their cards would wait for the recipient's quota
    desk_new = "desk_new"  # a report waits at the dispatcher's triage desk (分拨台)
    desk_batch = "desk_batch"  # several reports waiting at the desk in one message (as task_batch)
    urgent_alarm = "urgent_alarm"  # an urgent report: a person must acknowledge it now
    task_reminder = "task_reminder"
    task_escalated = "task_escalated"
    task_returned = "task_returned"
    task_rework = "task_rework"  # 核查不通过: back to the handler as 重办
    task_reopened = "task_reopened"  # reopened (不满意, the dashboard, 转督办): the same problem again, 重办
    task_cancelled = "task_cancelled"  # cancelled (作废) or merged into another ticket: nothing more to do
    task_withdrawn = "task_withdrawn"  # a correction re-routed the ticket to someone else
    task_contact_withdrawn = "task_contact_withdrawn"  # the reporter erased their data: no one to call back
    verify_request = "verify_request"
    extension_request = "extension_request"
    extension_decided = "extension_decided"
    supervise = "supervise"
    digest = "digest"
    # To residents who asked for it: 向群众汇报, the periodic public report of their area.
    public_report = "public_report"
    # A chat reply already rendered by the dialogue (payload: the replies as JSON).
    chat_reply = "chat_reply"


# Notices a person must see now. The outbox claims by priority before due time, so each takes its recipient's
# next free slot under the rate limits (WeCom: 30 a minute per member), also when it is retried or put back by
# a limit: not the slot after a backlog of routine messages queued earlier.
URGENT_KINDS = frozenset({NoticeKind.urgent_alarm})
URGENT, REPLY, ROUTINE = 2, 1, 0


def priority_of(kind: str) -> int:
    """The outbox priority of a notice of this kind (higher goes first), kept by its retries and fallbacks."""
    return URGENT if kind in URGENT_KINDS else ROUTINE


def reply_priority(*, to_staff: bool) -> int:
    """The outbox priority of a chat reply that could not go as the passive answer.

    A staff member's reply goes before their routine notices: a gridworker who pressed 查看 on site waits for
    that card, not behind a minute of task cards at WeCom's 30 a minute. Their replies are as many as their own
    messages, so they cannot crowd out the notices. A resident's reply keeps its place among the routine
    notices: residents' replies are as many as residents write, and ahead of everything they would hold back
    gridworkers' tasks for as long as an overload lasts."""
    return REPLY if to_staff else ROUTINE


# New-task and desk notices that wait for one recipient's quota (WeCom: 30 messages a minute per member) go out
# together: the worker folds those it claims but may not send within its wait into one list message of their
# kind, which takes the recipient's next slot. A gridworker swamped by a storm's reports gets a list of tasks, a
# dispatcher a list of reports to triage, not minutes of cards.
FOLDS_INTO: Mapping[NoticeKind, NoticeKind] = {
    NoticeKind.task_new: NoticeKind.task_batch,
    NoticeKind.task_batch: NoticeKind.task_batch,
    NoticeKind.desk_new: NoticeKind.desk_batch,
    NoticeKind.desk_batch: NoticeKind.desk_batch,
}
# What a list message gives of each ticket (no report text or place: the list points to "my tasks" or the desk).
BATCH_ITEM_FIELDS = ("number", "category", "priority", "due_at", "reason")


def folded_payload(payloads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One list payload (task_batch, desk_batch) of the tickets of these single and list payloads, in order."""
    items: list[dict[str, Any]] = []
    for payload in payloads:
        for task in payload.get("items") or [payload]:
            items.append({field: task.get(field) for field in BATCH_ITEM_FIELDS})
    return {"items": items, "lang": payloads[0].get("lang")}


def folds_into(kind: str) -> NoticeKind | None:
    """The list kind a held-back notice of this kind is folded into, None for a kind never folded."""
    return FOLDS_INTO[NoticeKind(kind)] if kind in FOLDS_INTO else None


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
    NoticeKind.supervised,
    NoticeKind.registered,
)
STAFF_KINDS = (
    NoticeKind.task_new,
    NoticeKind.task_batch,
    NoticeKind.desk_new,
    NoticeKind.desk_batch,
    NoticeKind.urgent_alarm,
    NoticeKind.task_reminder,
    NoticeKind.task_escalated,
    NoticeKind.task_returned,
    NoticeKind.task_rework,
    NoticeKind.task_reopened,
    NoticeKind.task_cancelled,
    NoticeKind.task_withdrawn,
    NoticeKind.task_contact_withdrawn,
    NoticeKind.verify_request,
    NoticeKind.extension_request,
    NoticeKind.extension_decided,
    NoticeKind.supervise,
    NoticeKind.digest,
)
PUBLIC_KINDS = (NoticeKind.public_report,)
