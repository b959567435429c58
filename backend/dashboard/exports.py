"""CSV and XLSX exports of a filtered ticket list and of the statistics, with Chinese headers and local times."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.dashboard.labels import label
from backend.dashboard.stats import Assessment, Statistics
from backend.db.models import Area, Category, Department, Person, Staff, Ticket
from backend.services.actors import ActorContext
from backend.services.queries import TicketFilter, filtered
from backend.services.reveal import masked

MAX_EXPORT_ROWS = 200_000
TICKET_HEADER = [
    "工单编号",
    "状态",
    "预警",
    "紧急程度",
    "事项大类",
    "事项小类",
    "网格",
    "社区",
    "街道",
    "责任部门",
    "处置层级",
    "处置人",
    "反映内容",
    "地点",
    "上报时间",
    "办理期限",
    "办结时间",
    "结案时间",
]
ASSESSMENT_HEADER = [
    "编码",
    "名称",
    "工单总数",
    "在办",
    "超期在办",
    "已办结",
    "按期办结率",
    "满意率",
    "重复办理",
    "核查不通过重办",
    "吹哨上报",
    "考评得分",
]
CSV_MIME = "text/csv; charset=utf-8"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _local(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""


def _pct(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


Row = Sequence[object]


def ticket_rows(
    session: Session, actor: ActorContext, f: TicketFilter, *, timezone: str, limit: int = MAX_EXPORT_ROWS
) -> Iterator[Row]:
    """The filtered tickets in the actor's scope as export rows (header first), newest first."""
    tz = ZoneInfo(timezone)
    areas = dict(session.execute(select(Area.code, Area.name)).all())
    depts = dict(session.execute(select(Department.code, Department.name)).all())
    cats = {c: (n, p) for c, n, p in session.execute(select(Category.code, Category.name, Category.parent_code))}
    staff = {
        i: f"{c} {n}"
        for i, c, n in session.execute(
            select(Staff.id, Staff.code, Person.name).join(Person, Staff.person_id == Person.id)
        )
    }
    yield TICKET_HEADER
    stmt = filtered(actor, f).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)
    for t in session.scalars(stmt.execution_options(yield_per=2000)):
        sub_name, parent = cats.get(t.category_code or "", ("", None))
        yield [
            t.number,
            label("status", t.status),
            label("light", t.light),
            label("priority", t.priority),
            cats.get(parent or "", ("", None))[0],
            sub_name,
            areas.get(t.grid_code or "", ""),
            areas.get(t.community_code or "", ""),
            areas.get(t.street_code or "", ""),
            depts.get(t.department_code or "", ""),
            label("tier", t.tier),
            staff.get(t.assignee_id or 0, ""),
            masked(t.text),
            masked(t.location_text) or "",
            _local(t.created_at, tz),
            _local(t.due_at, tz),
            _local(t.resolved_at, tz),
            _local(t.closed_at, tz),
        ]


def _assessment_row(row: Assessment) -> Row:
    return [
        row.code,
        row.name,
        row.total,
        row.open,
        row.overdue,
        row.resolved,
        _pct(row.on_time_rate),
        _pct(row.satisfaction_rate),
        row.reopened,
        row.reworks,
        row.escalated,
        row.score,
    ]


def statistics_tables(stats: Statistics) -> dict[str, list[Row]]:
    """The statistics as named tables (sheet name → rows with a header row)."""
    hours = stats.median_handling_hours
    overview: list[Row] = [
        ["指标", "数值"],
        ["工单总数", stats.total],
        ["在办", stats.open],
        ["超期在办（红灯）", stats.overdue],
        ["办理时长中位数（小时）", "" if hours is None else hours],
        ["按期办结率", _pct(stats.on_time_rate)],
        ["满意率", _pct(stats.satisfaction_rate)],
        ["重复办理率", _pct(stats.reopen_rate)],
        ["核查不通过重办", stats.reworks],
        ["吹哨上报", stats.escalations],
    ]
    return {
        "概览": overview,
        "按大类": [["编码", "事项大类", "工单数"], *[list(r) for r in stats.by_category]],
        "按小类": [["编码", "事项小类", "工单数"], *[list(r) for r in stats.by_subcategory]],
        "按网格": [["编码", "网格", "工单数"], *[list(r) for r in stats.by_grid]],
        "按部门": [["编码", "部门", "工单数"], *[list(r) for r in stats.by_department]],
        "按日": [["日期", "工单数"], *[[day.isoformat(), n] for day, n in stats.by_day]],
        "网格考评": [ASSESSMENT_HEADER, *[_assessment_row(r) for r in stats.grid_table]],
        "部门考评": [ASSESSMENT_HEADER, *[_assessment_row(r) for r in stats.department_table]],
        "热词": [["关键词", "出现次数"], *[[w, n] for w, n in stats.hot_phrases]],
    }


def to_csv(rows: Iterable[Row]) -> Iterator[str]:
    """CSV text chunks with a UTF-8 BOM, so Excel opens the Chinese correctly."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    yield "\ufeff"
    for i, row in enumerate(rows):
        writer.writerow(row)
        if i % 1000 == 999:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def statistics_csv(stats: Statistics) -> str:
    """All statistics tables in one CSV, each under a 【name】 line and separated by a blank line."""
    rows: list[Row] = []
    for name, table in statistics_tables(stats).items():
        rows += [[f"【{name}】"], *table, []]
    return "".join(to_csv(rows))


def to_xlsx(sheets: Mapping[str, Iterable[Row]]) -> bytes:
    """An XLSX workbook with one sheet per table, header row bold and frozen."""
    from openpyxl.styles import Font

    wb = Workbook(write_only=False)
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(title=name[:31])
        widths: dict[int, int] = {}
        for r, row in enumerate(rows, start=1):
            ws.append(list(row))
            for c, value in enumerate(row, start=1):
                widths[c] = min(60, max(widths.get(c, 6), len(str(value)) * 2 + 2))
            if r == 1:
                for cell in ws[1]:
                    cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for c, w in widths.items():
            ws.column_dimensions[get_column_letter(c)].width = w
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
