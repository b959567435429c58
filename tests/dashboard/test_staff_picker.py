"""The staff picker of the ticket page: searchable, scoped to the dispatcher's area, and enforced by the server."""

from __future__ import annotations

import re

from sqlalchemy import select

from backend.db.models import Staff, Ticket

OPTION = re.compile(r'<option value="([A-Z]+\d+)"( disabled)?')


def offered(html: str) -> set[str]:
    """The staff codes a picker offers (enabled options only)."""
    return {code for code, disabled in OPTION.findall(html) if not disabled}


def picker_of(page: str) -> str:
    """The options of the assignee list on a ticket page."""
    start = page.index('id="assignee-code"')
    return page[start : page.index("</select>", start)]


def test_the_picker_first_offers_the_tickets_community_and_department(client, dashboard_login, report):
    ticket = report()  # grid LC010101 of community LC0101; rubbish goes to urban_management (DH12)
    page = dashboard_login("CD01").get(f"/dashboard/tickets/{ticket.number}").text
    first = offered(picker_of(page))
    assert {"GW001", "GW003", "GL01", "CD01", "DH12"} <= first
    assert not first & {"GW053", "SD01", "SD02", "CD02", "DH01"}  # another street, above CD01, other departments
    assert 'id="staff-q"' in page and 'hx-get="/dashboard/staff"' in page


def test_typing_a_name_or_code_filters_the_options(client, dashboard_login, report):
    ticket = report()
    c = dashboard_login("CD01")
    assert offered(c.get("/dashboard/staff", params={"q": "罗强", "ticket": ticket.number, "on_duty": "1"}).text) == {
        "GW001"
    }
    gw = offered(c.get("/dashboard/staff", params={"q": "gw00", "ticket": ticket.number}).text)
    assert gw == {"GW001", "GW002", "GW003", "GW004", "GW005", "GW006"}
    assert "没有符合条件的工作人员" in c.get("/dashboard/staff", params={"q": "GW053"}).text  # outside CD01's area


def test_the_filters_narrow_by_area_department_and_on_duty(client, dashboard_login, report, session):
    ticket = report()
    c = dashboard_login("SD01")

    def pick(**params: str) -> set[str]:
        return offered(c.get("/dashboard/staff", params={"ticket": ticket.number, "on_duty": "1", **params}).text)

    assert pick(grid="LC010103") == {"GW003", "GL01", "CD01", "SD01"}  # the grid's worker and those covering it
    assert pick(department="urban_management") == {"DH12"}  # the ticket's department; not another one
    assert pick(department="housing") == set()
    assert "GW053" in offered(dashboard_login("ADM01").get("/dashboard/staff", params={"q": "GW053"}).text)
    session.execute(select(Staff).where(Staff.code == "GW003")).scalar_one().active = False
    session.commit()
    assert "GW003" not in pick(grid="LC010103")
    inactive = c.get("/dashboard/staff", params={"grid": "LC010103"}).text  # on duty unticked: shown, not pickable
    assert '<option value="GW003" disabled' in inactive


def test_the_server_refuses_an_assignee_outside_the_dispatchers_area(client, dashboard_login, report, session):
    ticket = report()
    c = dashboard_login("CD01")
    refused = c.post(f"/dashboard/tickets/{ticket.number}/reassign", data={"assignee_code": "GW053"})
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    assert "GW053" in c.get(refused.headers["location"]).text  # the refusal names who, in plain words
    session.expire_all()
    assert session.scalars(select(Ticket).where(Ticket.number == ticket.number)).one().assignee_id != (
        session.scalars(select(Staff.id).where(Staff.code == "GW053")).one()
    )
    done = c.post(f"/dashboard/tickets/{ticket.number}/reassign", data={"assignee_code": "GW003"})
    assert "msg=" in done.headers["location"]
    admin = dashboard_login("ADM01")
    assert (
        "msg="
        in admin.post(f"/dashboard/tickets/{ticket.number}/reassign", data={"assignee_code": "GW053"}).headers[
            "location"
        ]
    )
