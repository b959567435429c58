"""The persistent model: areas, people, tickets and their audit trail, the outbox, chat state."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from backend.db.types import UTCDateTime, utcnow

# Inbox messages waiting for their turn, leased or not.
INBOX_WAITING_PREDICATE = "status = 'pending'"
# Notifications still to send, leased or not.
NOTIFICATION_PENDING_PREDICATE = "status = 'pending'"
# Tickets that stand resolved (resolved, verified or closed), as the statistics count them.
DONE_PREDICATE = "resolved_at IS NOT NULL AND status IN ('resolved', 'verified', 'closed')"


class Base(DeclarativeBase):
    """Declarative base with a stable naming convention for constraints (Alembic-friendly)."""

    from sqlalchemy import MetaData

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Area(Base):
    """A district, street, community, grid, micro-grid or special grid, with its polygon (WKT)."""

    __tablename__ = "areas"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    households: Mapped[int] = mapped_column(Integer, default=0)
    special_kind: Mapped[str | None] = mapped_column(String(32))
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    geometry_wkt: Mapped[str] = mapped_column(Text)


class Department(Base):
    """A functional department (职能部门)."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    short: Mapped[str] = mapped_column(String(64))


class Category(Base):
    """A top-level category or a subcategory with its responsibility-list entry."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    tier: Mapped[str | None] = mapped_column(String(16))
    hours_normal: Mapped[float | None] = mapped_column(Float)
    hours_urgent: Mapped[float | None] = mapped_column(Float)
    self_close: Mapped[bool] = mapped_column(Boolean, default=False)


class Person(Base):
    """A resident or a staff member; reached through one or more channel identities."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="resident")  # resident | staff
    name: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    home_area_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"))
    home_text: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column()  # personal data erased on request

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="person")
    staff: Mapped[Staff | None] = relationship(back_populates="person", uselist=False)


class ChannelIdentity(Base):
    """A person's account on one channel: WeChat openid, WeCom userid, Telegram user id, console name."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    last_inbound_at: Mapped[datetime | None] = mapped_column()

    person: Mapped[Person] = relationship(back_populates="identities")


class Staff(Base):
    """A staff record: one role scoped to an area or a department."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32), index=True)
    scope_code: Mapped[str | None] = mapped_column(String(64), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    person: Mapped[Person] = relationship(back_populates="staff")


class Ticket(Base):
    """A reported problem (工单) on its way round the closed loop."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_light", "status", "light"),
        Index("ix_tickets_grid_status", "grid_code", "status"),
        # A report's duplicate candidates: the newest tickets of its grid and category, read backwards.
        Index("ix_tickets_grid_category_id", "grid_code", "category_code", "id"),
        Index("ix_tickets_department_status", "department_code", "status"),
        Index("ix_tickets_department_light_status", "department_code", "light", "status"),
        Index("ix_tickets_created_at", "created_at"),
        # The statistics' median handling time reads only this index (PostgreSQL: an index-only scan).
        Index(
            "ix_tickets_done_created_at",
            "created_at",
            postgresql_include=[
                "resolved_at",
                "street_code",
                "community_code",
                "grid_code",
                "department_code",
                "assignee_id",
                "desk_street_code",  # a dispatcher's scope includes its desk
                "desk_community_code",
            ],
            postgresql_where=text(DONE_PREDICATE),
            sqlite_where=text(DONE_PREDICATE),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    source: Mapped[str] = mapped_column(String(16), default="resident")  # resident | patrol | open311
    text: Mapped[str] = mapped_column(Text)
    category_code: Mapped[str | None] = mapped_column(ForeignKey("categories.code"), index=True)
    category_confidence: Mapped[float | None] = mapped_column(Float)
    priority: Mapped[str] = mapped_column(String(8), default="normal")  # normal | urgent
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    location_text: Mapped[str | None] = mapped_column(String(300))
    area_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"))
    grid_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"))
    community_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    street_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    tier: Mapped[str] = mapped_column(String(16), default="grid")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(24), default="submitted")
    status_before_hold: Mapped[str | None] = mapped_column(String(24))
    light: Mapped[str] = mapped_column(String(8), default="green")
    clock_started_at: Mapped[datetime | None] = mapped_column()
    due_at: Mapped[datetime | None] = mapped_column()
    reminded_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    rework_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 核查不通过 → 重办
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # The triage desk (分拨台): set while a person must decide category/department/grid; the desk is the
    # community's, else the street's, else (both None) the district's. Cleared when it is dispatched.
    desk_since: Mapped[datetime | None] = mapped_column(index=True)
    desk_reason: Mapped[str | None] = mapped_column(String(16))
    desk_community_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"))
    desk_street_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # Personal fields removed (retention or erasure); the counts, times, category and grid stay.
    anonymised_at: Mapped[datetime | None] = mapped_column()
    # The reporter erased their data while the ticket was open: nobody can be told or asked to rate.
    contact_withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[Attachment]] = relationship(back_populates="ticket", order_by="Attachment.id")
    ratings: Mapped[list[Rating]] = relationship(back_populates="ticket", order_by="Rating.id")
    # Besides the reporter, who hears of its progress (merged duplicates' reporters): one query per ticket and
    # session at most, none for a ticket created empty.
    followers: Mapped[list[Person]] = relationship(secondary="ticket_followers", order_by="Person.id")


class TicketEvent(Base):
    """One line of a ticket's append-only audit trail: who, when, from → to, note."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    actor_role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class TicketFollower(Base):
    """Someone besides the reporter who hears about a ticket's progress (e.g. a merged duplicate's reporter)."""

    __tablename__ = "ticket_followers"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)


class Attachment(Base):
    """A photo attached to a ticket at some stage (report, on site, resolved …)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    stage: Mapped[str] = mapped_column(String(24), default="report")
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(300))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="attachments")


class Rating(Base):
    """A resident's rating of a handled ticket."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    score: Mapped[str] = mapped_column(String(32))  # satisfied | basically_satisfied | dissatisfied
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="ratings")


class CategoryCorrection(Base):
    """A dispatcher's correction of a ticket's category, kept for retraining."""

    __tablename__ = "category_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    old_category: Mapped[str | None] = mapped_column(String(64))
    new_category: Mapped[str] = mapped_column(String(64))
    corrected_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alarm(Base):
    """An urgent report's alarm: pushed at once to its area's dispatchers, up a level until someone acknowledges it."""

    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True, unique=True)
    level: Mapped[str] = mapped_column(String(16))  # community | street | district
    area_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"))  # None at the district
    raised_at: Mapped[datetime] = mapped_column()
    level_since: Mapped[datetime] = mapped_column()  # when it reached this level: the acknowledgement clock
    acked_at: Mapped[datetime | None] = mapped_column(index=True)
    acked_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    ticket: Mapped[Ticket] = relationship()


class TicketCounter(Base):
    """The last ticket sequence number issued on a day (for GB20261122-0001 style numbers)."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Notification(Base):
    """An outbox row: written in the same transaction as the change it announces."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id"))  # the change it announces
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|dead|fallback|folded
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Claimed before any lower priority row that is due (backend.domain.notifications.priority_of).
    priority: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()

    ticket: Mapped[Ticket | None] = relationship()
    event: Mapped[TicketEvent | None] = relationship()


# The claim's order: due rows of the highest priority first, then by due time (backend/workers/outbox.py).
Index("ix_notifications_claim", Notification.status, Notification.priority.desc(), Notification.next_attempt_at)
# A recipient's queued rows: a claim folds every new task waiting for a member into the one slot it gets.
Index(
    "ix_notifications_pending_recipient",
    Notification.channel,
    Notification.external_id,
    postgresql_where=text(NOTIFICATION_PENDING_PREDICATE),
    sqlite_where=text(NOTIFICATION_PENDING_PREDICATE),
)


class InboxMessage(Base):
    """An inbound chat message stored by a webhook, waiting for (or done with) its turn: the durable inbox."""

    __tablename__ = "inbox_messages"
    __table_args__ = (
        UniqueConstraint("channel", "message_id"),
        Index("ix_inbox_messages_claim", "status", "id"),
        Index("ix_inbox_messages_sender", "channel", "sender", "status", "id"),
        # The waiting queue alone, in arrival order (backend/usecases/inbox.py reads it with this literal).
        Index(
            "ix_inbox_messages_waiting",
            "id",
            postgresql_where=text(INBOX_WAITING_PREDICATE),
            sqlite_where=text(INBOX_WAITING_PREDICATE),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|parked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column()
    # A webhook of another process waiting for the passive reply (backend/usecases/passive_replies.py).
    reply_until: Mapped[datetime | None] = mapped_column()
    passive_reply: Mapped[str | None] = mapped_column(Text)


class NotificationAttempt(Base):
    """One try at delivering a notification, successful or not."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    worker: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # sent | retry | fallback | dead
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)


class RateSlot(Base):
    """The outbox's rate-limit schedule of one channel (recipient "") or one recipient, shared by every worker.

    `tat` is the GCRA theoretical arrival time in epoch seconds of the database clock: the next message
    conforms from `tat - tolerance` on. A missing row is a full bucket.
    """

    __tablename__ = "rate_slots"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(128), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)


class JobLease(Base):
    """A lease row so a periodic job runs once per period across several workers."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    last_period: Mapped[str | None] = mapped_column(String(32))


class ConversationState(Base):
    """The dialogue state of one chat user, so a restart or another process loses nothing."""

    __tablename__ = "conversation_states"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboundMessage(Base):
    """A platform delivery already seen (MsgId, update_id …), with the reply it got, for dedupe."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "message_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    message_key: Mapped[str] = mapped_column(String(128))
    # Who sent it, so an erasure can drop the stored reply (it may echo their report).
    external_id: Mapped[str | None] = mapped_column(String(128))
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookNonce(Base):
    """A (timestamp, nonce) a signed webhook request used, with a digest of its body, to refuse replays."""

    __tablename__ = "webhook_nonces"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class BindCode(Base):
    """A one-time code an admin issues so a staff member can bind a chat account."""

    __tablename__ = "bind_codes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class RetentionRun(Base):
    """One run of the retention job: the cut-offs it used and what it removed."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    cutoffs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PrivacyAccess(Base):
    """An audited access to personal data: a reveal of masked contact details, an erasure or an export."""

    __tablename__ = "privacy_access"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(16))  # reveal | erase | export
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    actor_code: Mapped[str] = mapped_column(String(64))  # staff code, or "resident" for their own request
    actor_role: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reason: Mapped[str] = mapped_column(Text, default="")


class TicketRollup(Base):
    """Statistics rollup (backend/db/rollups.py): sums per local day of report, area, department and status.

    Rows are deltas appended on every flush and folded by a periodic job, so a key may have several rows.
    """

    __tablename__ = "ticket_rollups"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    street_code: Mapped[str] = mapped_column(String(64), default="")
    community_code: Mapped[str] = mapped_column(String(64), default="")
    grid_code: Mapped[str] = mapped_column(String(64), default="")
    department_code: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(24))
    n: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    with_due: Mapped[int] = mapped_column(Integer, default=0)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    reworks: Mapped[int] = mapped_column(Integer, default=0)
    escalated: Mapped[int] = mapped_column(Integer, default=0)
    ever_resolved: Mapped[int] = mapped_column(Integer, default=0)
    ratings: Mapped[int] = mapped_column(Integer, default=0)
    good_ratings: Mapped[int] = mapped_column(Integer, default=0)


class CategoryRollup(Base):
    """Statistics rollup: tickets per local day of report, street, community, department and subcategory."""

    __tablename__ = "category_rollups"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    street_code: Mapped[str] = mapped_column(String(64), default="")
    community_code: Mapped[str] = mapped_column(String(64), default="")
    department_code: Mapped[str] = mapped_column(String(64), default="")
    category_code: Mapped[str] = mapped_column(String(64), default="")
    n: Mapped[int] = mapped_column(Integer, default=0)


class ReportSubscription(Base):
    """A resident who asked for the periodic public report (向群众汇报) of an area, pushed in their channel."""

    __tablename__ = "report_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    area_code: Mapped[str] = mapped_column(ForeignKey("areas.code"))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
