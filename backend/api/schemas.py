"""Request and response bodies of the staff API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Token(BaseModel):
    """A bearer token for a logged-in staff member."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str
    name: str


class TicketPublic(BaseModel):
    """A ticket as lists show it."""

    model_config = ConfigDict(from_attributes=True)

    number: str
    status: str
    light: str
    priority: str
    channel: str
    source: str
    text: str
    category_code: str | None
    category_confidence: float | None
    grid_code: str | None
    area_code: str | None
    community_code: str | None
    street_code: str | None
    department_code: str | None
    tier: str
    assignee: str | None = None
    location_text: str | None
    lon: float | None
    lat: float | None
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DeskItem(TicketPublic):
    """A report waiting at a triage desk (分拨台), with why and since when, and the classifier's top choices."""

    desk_reason: str
    desk_since: datetime
    desk_community_code: str | None
    desk_street_code: str | None
    suggestions: list[tuple[str, float]] = []


class DeskDecisionIn(BaseModel):
    """A dispatcher's one-step decision: category (hence department and tier) and grid."""

    category_code: str = Field(min_length=1, max_length=64)
    grid_code: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=500)


class EventPublic(BaseModel):
    """One line of a ticket's timeline."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor_role: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    data: dict[str, Any]


class AttachmentPublic(BaseModel):
    """A photo attached to a ticket."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    stage: str
    content_type: str
    size: int
    created_at: datetime


class RatingPublic(BaseModel):
    """A resident's rating."""

    model_config = ConfigDict(from_attributes=True)

    score: str
    comment: str | None
    created_at: datetime


class TicketDetail(TicketPublic):
    """A ticket with its timeline, photos, ratings and the actions the viewer may take."""

    timeline: list[EventPublic]
    attachments: list[AttachmentPublic]
    ratings: list[RatingPublic]
    allowed_actions: list[str]
    reopen_count: int


class TicketPage(BaseModel):
    """One page of a filtered ticket list."""

    items: list[TicketPublic]
    limit: int
    offset: int
    has_more: bool


class TicketCreate(BaseModel):
    """A report taken by staff (hotline call, walk-in, patrol) through the API."""

    text: str = Field(min_length=1, max_length=4000)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    location_text: str | None = Field(default=None, max_length=300)
    area_code: str | None = Field(default=None, max_length=64)
    category_code: str | None = Field(default=None, max_length=64)
    urgent: bool | None = None
    channel: str = Field(default="hotline", pattern="^(hotline|walk_in|patrol|api)$")


class ActionIn(BaseModel):
    """Parameters of a state-machine action."""

    reason: str | None = Field(default=None, max_length=2000)
    assignee_code: str | None = Field(default=None, max_length=64)
    merge_into: str | None = Field(default=None, max_length=32)
    hours: float | None = Field(default=None, gt=0, le=720)


class ReassignIn(BaseModel):
    """Give a ticket to another staff member."""

    assignee_code: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


class CommentIn(BaseModel):
    """A note on a ticket's timeline."""

    note: str = Field(min_length=1, max_length=2000)


class CategoryIn(BaseModel):
    """A dispatcher's category correction."""

    category_code: str = Field(min_length=1, max_length=64)


class LocateOut(BaseModel):
    """The area a point falls in."""

    lon: float
    lat: float
    area_code: str | None
    grid_code: str | None
    name: str | None
    level: str | None


class Counts(BaseModel):
    """Basic counts for the viewer's scope."""

    total: int
    by_status: dict[str, int]
    by_light: dict[str, int]
    by_category: dict[str, int]
    by_department: dict[str, int]
