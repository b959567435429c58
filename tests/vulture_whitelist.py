"""Names vulture cannot see being used; read by `vulture` (see [tool.vulture] in pyproject.toml), never imported.

Functions a framework finds through a decorator (FastAPI routes and exception handlers, typer commands,
SQLAlchemy event listeners, pydantic validators) are skipped there with `ignore_decorators`. This file
lists the rest, grouped by who uses them. The check runs at confidence 80; with this file,
`.venv/bin/vulture --min-confidence 60` also comes back clean, so a sweep for dead functions only shows new ones.
"""

import sqlite3

from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import BaseModel

from backend.api.metrics import DatabaseCollector
from backend.api.schemas import TicketPage, TicketPublic, Token
from backend.cityconfig.schemas import CityConfig
from backend.db import models
from backend.db.types import UTCDateTime
from backend.domain import escalation
from backend.domain.notifications import NoticeKind
from backend.domain.routing import GridIndex
from backend.domain.sla import WorkingCalendar
from backend.ports import FrozenClock
from backend.services import notify, people
from backend.services.sla_job import SlaTickSummary
from backend.workers import outbox
from backend.workers.ratelimit import Rate
from bot import app
from bot.messages import Inbound
from bot.wechat.send import ApiBaseWeChatClient
from bot.wecom.send import ApiBaseWeComClient
from nlp import normalize
from nlp.classify import TextFeatures

_called_by_a_library = (
    DatabaseCollector.collect,  # prometheus_client calls a registered collector's collect()
    BaseModel.model_config,  # pydantic reads it from every model and settings class
    models.Base.type_annotation_map,  # SQLAlchemy's declarative mapping reads it
    UTCDateTime.impl,  # SQLAlchemy TypeDecorator hooks
    UTCDateTime.cache_ok,
    UTCDateTime.process_bind_param,
    UTCDateTime.process_result_value,
    sqlite3.Connection.isolation_level,  # set on the DBAPI connection in backend/db/session.py
    Cell.font,  # openpyxl attributes set in backend/dashboard/exports.py
    Worksheet.freeze_panes,
    ApiBaseWeChatClient.fetch_access_token,  # wechatpy calls it when its token expires
    ApiBaseWeComClient.fetch_access_token,
    app.serve_app,  # uvicorn factory "bot.app:serve_app" (bot/main.py serve)
    TextFeatures._lookup,  # a cache read back through __dict__, dropped on pickling
)

_read_outside_python = (
    Token.token_type,  # fields of API responses, serialised by FastAPI
    Token.expires_in,
    TicketPublic.category_confidence,
    TicketPage.has_more,
    models.Area.geometry_wkt,  # columns written here and read by SQL, exports or operators
    models.Ticket.category_confidence,
    models.CategoryCorrection.old_category,
    models.CategoryCorrection.corrected_by,
    models.Notification.lease_owner,
    models.Notification.sent_at,
    NoticeKind.task_new,  # the one list of kinds; writers still pass these as strings (issue 13, item 5)
    NoticeKind.task_reminder,
    NoticeKind.task_escalated,
    NoticeKind.task_returned,
    NoticeKind.verify_request,
    NoticeKind.extension_request,
    NoticeKind.extension_decided,
    SlaTickSummary.checked,  # counters of a run: printed by `gridbot sla-tick`, summed by DrainResult.add
    SlaTickSummary.reminders,
    outbox.DrainResult.retried,
    outbox.DrainResult.dead,
    outbox.DrainResult.deferred,
    outbox.RepeatReport.possible_repeats,
    outbox.RepeatReport.notifications,
    Inbound.received_at,  # the platform's timestamp, set by the WeChat and Telegram parsers; nothing reads it yet
)

_used_by_tests_bench_or_scripts = (
    CityConfig.staff_for,
    GridIndex.from_polygons,
    WorkingCalendar.hours_per_day,
    FrozenClock,
    notify.STAFF_KINDS,
    people.resident_for,
    people.resident_actor,
    escalation.plan_sla_actions,
    outbox.drain_until_idle,
    outbox.repeat_report,
    Rate.max_in_window,
    normalize.has_traditional,
)
