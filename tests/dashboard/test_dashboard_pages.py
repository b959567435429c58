"""Dashboard pages through the HTTP client: login, role scope, actions, bulk actions, map and exports."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from backend.db.models import CategoryCorrection, Ticket
from tests.conftest import DEMO_PASSWORD


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/",
        "/dashboard/map",
        "/dashboard/stats",
        "/dashboard/export/tickets.csv",
        "/dashboard/tickets/GB20261123-0001",
    ],
)
def test_pages_need_a_login(client, path):
    resp = client.get(path)
    assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/login"


def test_wrong_password_shows_the_form_again(client):
    resp = client.post("/dashboard/login", data={"username": "SD01", "password": "nope"})
    assert resp.status_code == 401 and "用户名或密码错误" in resp.text
    assert "gridbot_token" not in resp.cookies


def test_login_sets_an_httponly_cookie_and_logout_clears_it(client):
    resp = client.post("/dashboard/login", data={"username": "SD01", "password": DEMO_PASSWORD})
    assert resp.status_code == 303
    assert "httponly" in resp.headers["set-cookie"].lower() and "samesite=lax" in resp.headers["set-cookie"].lower()
    assert client.get("/dashboard/").status_code == 200
    client.post("/dashboard/logout")
    assert client.get("/dashboard/").status_code == 303


def test_cross_site_form_posts_are_refused(client, dashboard_login, report):
    ticket = report()
    c = dashboard_login("CD01")
    resp = c.post(
        f"/dashboard/tickets/{ticket.number}/comment", data={"note": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status_code == 403


# Who sees a garbage ticket in grid LC010101 on the dashboard (the same scope as the API).
@pytest.mark.parametrize(
    ("code", "sees"),
    [
        ("GW001", True),
        ("GW002", False),
        ("CD01", True),
        ("CD02", False),
        ("SD01", True),
        ("SD02", False),
        ("DH12", True),
        ("DH01", False),
        ("SUP01", True),
    ],
)
def test_queue_ticket_page_and_exports_follow_the_role_scope(client, dashboard_login, report, code, sees):
    ticket = report()
    c = dashboard_login(code)
    assert (ticket.number in c.get("/dashboard/").text) is sees
    assert c.get(f"/dashboard/tickets/{ticket.number}").status_code == (200 if sees else 404)
    exported = c.get("/dashboard/export/tickets.csv").text
    assert (ticket.number in exported) is sees
    svg = c.get("/dashboard/map.svg").text
    assert ('data-grid="LC010101" data-state="few"' in svg) is sees


def test_queue_filters_by_status_light_category_grid_department_and_text(client, dashboard_login, report):
    garbage = report()
    lights = report("路灯坏了晚上很黑", category="street_lights", openid="o_2")
    c = dashboard_login("ADM01")

    def listed(**params) -> set[str]:
        page = c.get("/dashboard/", params=params).text
        return {n for n in (garbage.number, lights.number) if f'data-number="{n}"' in page}

    assert listed() == {garbage.number, lights.number}
    assert listed(category="street_lights") == {lights.number}
    assert listed(q="路灯") == {lights.number}
    assert listed(status="closed") == set()
    assert listed(light="red") == set()
    assert listed(grid="LC010102") == set()
    assert listed(grid="LC0101") == {garbage.number, lights.number}  # a community matches its grids
    assert listed(department="housing") == set()
    assert listed(created_from="2026-11-24") == set()
    assert listed(created_from="2026-11-23", created_to="2026-11-23") == {garbage.number, lights.number}


def test_dispatcher_escalates_from_the_ticket_page(client, dashboard_login, report, session):
    ticket = report()
    c = dashboard_login("CD01")
    refused = c.post(f"/dashboard/tickets/{ticket.number}/action", data={"action": "escalate"})
    assert refused.status_code == 303 and "error=" in refused.headers["location"]  # a reason is required
    done = c.post(f"/dashboard/tickets/{ticket.number}/action", data={"action": "escalate", "reason": "需要社区协调"})
    assert "msg=" in done.headers["location"]
    session.expire_all()
    row = session.scalars(select(Ticket).where(Ticket.number == ticket.number)).one()
    assert (row.status, row.tier) == ("dispatched", "community")


def test_gridworker_cannot_correct_categories_from_the_dashboard(client, dashboard_login, report, session):
    ticket = report()
    resp = dashboard_login("GW001").post(
        f"/dashboard/tickets/{ticket.number}/category", data={"category_code": "illegal_ads"}
    )
    assert "error=" in resp.headers["location"]
    assert session.scalars(select(CategoryCorrection)).all() == []


def test_bulk_action_reports_successes_and_failures(client, dashboard_login, report, session):
    first, second = report(), report("垃圾没人清运", openid="o_2")
    c = dashboard_login("CD01")
    c.post(f"/dashboard/tickets/{second.number}/action", data={"action": "suspend", "reason": "等待施工"})
    resp = c.post(
        "/dashboard/bulk", data={"action": "escalate", "reason": "统一协调", "numbers": [first.number, second.number]}
    )
    assert resp.status_code == 303
    page = c.get(resp.headers["location"]).text
    assert "成功 1 张" in page and "失败 1 张" in page
    session.expire_all()
    assert session.scalars(select(Ticket.tier).where(Ticket.number == first.number)).one() == "community"


def test_ticket_page_shows_timeline_map_pin_and_allowed_actions(client, dashboard_login, report):
    ticket = report()
    page = dashboard_login("CD01").get(f"/dashboard/tickets/{ticket.number}").text
    assert 'data-action="submit"' in page and 'data-action="dispatch"' in page
    assert 'class="pin"' in page
    assert 'id="do-escalate"' in page and 'id="do-dispatch"' not in page  # already dispatched


def test_csv_and_xlsx_exports_hold_the_filtered_list(client, dashboard_login, report):
    garbage = report()
    lights = report("路灯坏了晚上很黑", category="street_lights", openid="o_2")
    c = dashboard_login("ADM01")
    resp = c.get("/dashboard/export/tickets.csv", params={"category": "street_lights"})
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0][0] == "工单编号" and [r[0] for r in rows[1:]] == [lights.number]
    xlsx = c.get("/dashboard/export/tickets.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    numbers = [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(numbers) == sorted([garbage.number, lights.number])


def test_statistics_page_and_exports(client, dashboard_login, report):
    report()
    c = dashboard_login("ADM01")
    page = c.get("/dashboard/stats")
    assert page.status_code == 200 and 'id="grid-table"' in page.text and "chart.umd.min.js" in page.text
    wb = load_workbook(io.BytesIO(c.get("/dashboard/export/stats.xlsx").content))
    assert {"概览", "网格考评", "部门考评", "热词"} <= set(wb.sheetnames)
    overview = {k: v for k, v in wb["概览"].iter_rows(min_row=2, values_only=True)}
    assert overview["工单总数"] == 1
    text = c.get("/dashboard/export/stats.csv").content.decode("utf-8-sig")
    assert "【网格考评】" in text and "【热词】" in text


def test_unknown_export_format_is_404(client, dashboard_login):
    assert dashboard_login("ADM01").get("/dashboard/export/tickets.pdf").status_code == 404


def test_static_files_are_served_locally(client):
    for name in ("htmx.min.js", "chart.umd.min.js", "dashboard.css"):
        assert client.get(f"/dashboard/static/{name}").status_code == 200


def test_dispatcher_approves_an_extension_from_the_ticket_page(
    client, dashboard_login, report, session, runtime, staff
):
    from backend.domain.tickets import Action
    from backend.services.workflow import perform_action

    ticket = report()
    gw = staff("GW001")
    for action in (Action.accept, Action.start):
        perform_action(session, runtime, ticket.number, action, gw)
    perform_action(session, runtime, ticket.number, Action.request_extension, gw, reason="需要等材料")
    session.commit()
    due_before = session.scalars(select(Ticket.due_at).where(Ticket.number == ticket.number)).one()
    c = dashboard_login("CD01")
    assert 'id="do-approve_extension"' in c.get(f"/dashboard/tickets/{ticket.number}").text
    resp = c.post(f"/dashboard/tickets/{ticket.number}/action", data={"action": "approve_extension", "hours": "8"})
    assert "msg=" in resp.headers["location"]
    session.expire_all()
    row = session.scalars(select(Ticket).where(Ticket.number == ticket.number)).one()
    assert row.status == "in_progress" and row.due_at > due_before
