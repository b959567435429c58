"""Issue 14 item 7: the dashboard's 作废, 合并, 重新办理 and 延期 decisions follow the rules chat and the API follow,
land in the audit trail, and tell the people concerned with the right words."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from backend.db.models import Notification, Staff, Ticket, TicketEvent
from backend.domain.notifications import NoticeKind
from backend.domain.tickets import Action
from backend.services.people import resident_actor
from backend.services.workflow import perform_action
from bot.render import render_notification
from tests.conftest import DEMO_PASSWORD


def _post(client, number: str, **form: str) -> tuple[str, str]:
    """Post a ticket-page action; ("msg" | "error", text) from the redirect."""
    resp = client.post(f"/dashboard/tickets/{number}/action", data=form)
    assert resp.status_code == 303, resp.text
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    return ("msg", query["msg"][0]) if "msg" in query else ("error", query["error"][0])


def _token(client, code: str) -> dict[str, str]:
    resp = client.post("/api/auth/token", data={"username": code, "password": DEMO_PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def _reload(session, number: str) -> Ticket:
    session.expire_all()
    return session.scalars(select(Ticket).where(Ticket.number == number)).one()


def _notices(session, ticket: Ticket, kind: NoticeKind) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.ticket_id == ticket.id, Notification.kind == kind.value)
            .order_by(Notification.id)
        )
    )


def _text(row: Notification) -> str:
    return "\n".join(f"{m.title or ''}\n{m.text}" for m in render_notification(row.kind, row.payload, "zh"))


def _person_of(session, code: str) -> int:
    return session.scalars(select(Staff.person_id).where(Staff.code == code)).one()


def _events(session, ticket: Ticket, action: str) -> list[TicketEvent]:
    return list(
        session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == action))
    )


# -- 作废 --------------------------------------------------------------------------------------------------


def test_cancel_needs_a_reason_and_tells_the_reporter_and_the_assignee(
    client, dashboard_login, session, runtime, report
):
    ticket = report()
    c = dashboard_login("ADM01")
    assert 'id="do-cancel"' in c.get(f"/dashboard/tickets/{ticket.number}").text

    assert _post(c, ticket.number, action="cancel")[0] == "error"  # no reason: nothing happens
    assert _reload(session, ticket.number).status == "dispatched"
    assert _post(c, ticket.number, action="cancel", reason="重复来电，已电话核实为误报") == ("msg", "已撤销")

    row = _reload(session, ticket.number)
    assert row.status == "cancelled"
    [event] = _events(session, row, "cancel")
    assert (event.actor_role, event.note) == ("admin", "重复来电，已电话核实为误报")
    [told] = _notices(session, row, NoticeKind.cancelled)
    assert told.person_id == row.reporter_id and "重复来电，已电话核实为误报" in _text(told)
    [withdrawn] = _notices(session, row, NoticeKind.task_cancelled)
    assert withdrawn.person_id == _person_of(session, "GW001")
    assert "已作废，您无需再处理" in _text(withdrawn)


def test_a_dispatcher_may_cancel_neither_on_the_dashboard_nor_in_the_api(client, dashboard_login, session, report):
    ticket = report()
    c = dashboard_login("CD01")
    assert 'id="do-cancel"' not in c.get(f"/dashboard/tickets/{ticket.number}").text
    assert _post(c, ticket.number, action="cancel", reason="误报")[0] == "error"
    api = client.post(
        f"/api/tickets/{ticket.number}/actions/cancel", json={"reason": "误报"}, headers=_token(client, "CD01")
    )
    assert api.status_code == 403
    blank = client.post(f"/api/tickets/{ticket.number}/actions/cancel", json={}, headers=_token(client, "ADM01"))
    assert (blank.status_code, blank.json()["key"]) == (422, "error.reason_required")
    assert _reload(session, ticket.number).status == "dispatched"


# -- 合并 --------------------------------------------------------------------------------------------------


def test_merge_tells_every_reporter_the_primary_ticket_number(client, dashboard_login, session, runtime, report):
    primary = report(openid="o_first")
    duplicate = report("怡和花园门口垃圾堆了三天，没人清运", openid="o_second")
    c = dashboard_login("CD01")
    assert 'id="do-merge"' in c.get(f"/dashboard/tickets/{duplicate.number}").text

    assert _post(c, duplicate.number, action="merge")[0] == "error"  # no primary number
    assert _post(c, duplicate.number, action="merge", merge_into="GB20000101-9999")[0] == "error"
    assert _post(c, duplicate.number, action="merge", merge_into=primary.number.lower()) == ("msg", "已合并")

    row = _reload(session, duplicate.number)
    assert (row.status, row.merged_into_id) == ("merged", primary.id)
    [event] = _events(session, row, "merge")
    assert event.data["into"] == primary.number
    [told] = _notices(session, row, NoticeKind.merged)
    assert told.person_id == row.reporter_id
    assert f"已合并到工单 {primary.number} 一并办理" in _text(told)
    [withdrawn] = _notices(session, row, NoticeKind.task_cancelled)
    assert f"已合并到工单 {primary.number}" in _text(withdrawn)


# -- 重新办理 ----------------------------------------------------------------------------------------------


def _closed(session, runtime, report, staff, resident) -> Ticket:
    ticket = report()
    gw = staff("GW001")
    for action in (Action.accept, Action.start):
        perform_action(session, runtime, ticket.number, action, gw)
    perform_action(session, runtime, ticket.number, Action.resolve, gw, reason="已清运")
    perform_action(session, runtime, ticket.number, Action.verify, staff("GL01"))
    perform_action(session, runtime, ticket.number, Action.close, resident_actor(resident("o_resident_1")))
    session.commit()
    return ticket


def test_reopen_needs_a_reason_re_dispatches_and_the_push_says_rework(
    client, dashboard_login, session, runtime, report, staff, resident
):
    ticket = _closed(session, runtime, report, staff, resident)
    assert 'id="do-reopen"' not in dashboard_login("CD01").get(f"/dashboard/tickets/{ticket.number}").text
    c = dashboard_login("SUP01")
    assert 'id="do-reopen"' in c.get(f"/dashboard/tickets/{ticket.number}").text

    assert _post(c, ticket.number, action="reopen")[0] == "error"
    assert _post(c, ticket.number, action="reopen", reason="回访发现垃圾仍未清运")[0] == "msg"

    row = _reload(session, ticket.number)
    assert (row.status, row.reopen_count) == ("dispatched", 1)
    assert row.assignee_id == session.scalars(select(Staff.id).where(Staff.code == "GW001")).one()
    [event] = _events(session, row, "reopen")
    assert (event.actor_role, event.note, event.data["assignee"]) == ("supervisor", "回访发现垃圾仍未清运", "GW001")
    [rework] = _notices(session, row, NoticeKind.task_reopened)
    text = _text(rework)
    assert rework.person_id == _person_of(session, "GW001")
    assert "重办" in text and "新任务" not in text and "回访发现垃圾仍未清运" in text
    assert [b.label for m in render_notification(rework.kind, rework.payload, "zh") for b in m.buttons][0] == "接单"
    [told] = _notices(session, row, NoticeKind.reopened)
    assert told.person_id == row.reporter_id


def test_past_the_limit_the_dashboard_offers_supervision_not_reopen(
    client, dashboard_login, session, runtime, report, staff, resident
):
    ticket = _closed(session, runtime, report, staff, resident)
    ticket.reopen_count = runtime.settings.reopen_limit
    session.commit()
    c = dashboard_login("SUP01")
    page = c.get(f"/dashboard/tickets/{ticket.number}").text
    assert 'id="do-reopen"' not in page and 'id="do-escalate_to_supervisor"' in page
    assert _post(c, ticket.number, action="reopen", reason="仍未解决")[0] == "error"
    assert _post(c, ticket.number, action="escalate_to_supervisor", reason="仍未解决")[0] == "msg"
    row = _reload(session, ticket.number)
    assert (row.status, row.tier) == ("dispatched", "street")
    assert "重办" in _text(_notices(session, row, NoticeKind.task_reopened)[-1])


# -- 延期 --------------------------------------------------------------------------------------------------


def _extension_asked(session, runtime, report, staff) -> Ticket:
    ticket = report()
    gw = staff("GW001")
    perform_action(session, runtime, ticket.number, Action.accept, gw)
    perform_action(session, runtime, ticket.number, Action.request_extension, gw, reason="清运车检修")
    session.commit()
    return ticket


def test_an_approved_extension_is_pushed_to_the_handler(client, dashboard_login, session, runtime, report, staff):
    ticket = _extension_asked(session, runtime, report, staff)
    due = ticket.due_at
    c = dashboard_login("CD01")
    assert _post(c, ticket.number, action="approve_extension", hours="16")[0] == "msg"

    row = _reload(session, ticket.number)
    assert row.status == "accepted" and row.due_at > due
    [event] = _events(session, row, "approve_extension")
    assert event.data["hours"] == 16
    [decided] = _notices(session, row, NoticeKind.extension_decided)
    assert decided.person_id == _person_of(session, "GW001")
    assert decided.payload["decision"] == "approved" and "延期申请已批准" in _text(decided)


def test_a_refused_extension_needs_a_reason_and_the_handler_hears_it(
    client, dashboard_login, session, runtime, report, staff
):
    ticket = _extension_asked(session, runtime, report, staff)
    c = dashboard_login("CD01")
    assert _post(c, ticket.number, action="refuse_extension")[0] == "error"
    assert _reload(session, ticket.number).status == "extension_requested"
    assert _post(c, ticket.number, action="refuse_extension", reason="今天必须清运完毕")[0] == "msg"

    row = _reload(session, ticket.number)
    assert row.status == "accepted"
    [decided] = _notices(session, row, NoticeKind.extension_decided)
    text = _text(decided)
    assert decided.person_id == _person_of(session, "GW001")
    assert "延期申请未获批准" in text and "今天必须清运完毕" in text


def test_a_gridworker_may_not_decide_an_extension_anywhere(client, dashboard_login, session, runtime, report, staff):
    ticket = _extension_asked(session, runtime, report, staff)
    assert _post(dashboard_login("GW001"), ticket.number, action="approve_extension")[0] == "error"
    api = client.post(
        f"/api/tickets/{ticket.number}/actions/approve_extension", json={}, headers=_token(client, "GW001")
    )
    assert api.status_code in (403, 409, 422)
    assert _reload(session, ticket.number).status == "extension_requested"
