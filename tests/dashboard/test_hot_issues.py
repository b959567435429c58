"""Hot issues on the statistics page and in 向群众汇报: same grid, same problem, several residents."""

from __future__ import annotations

import re

from backend.services.hot_issues import hot_issues
from backend.services.queries import TicketFilter

GARBAGE = (
    "怡和花园门口的垃圾好几天没人清运了，臭得不行",
    "怡和花园门口垃圾好几天没清运，太臭了，哈哈哈",
    "您好，怡和花园门口的垃圾一直没人清运，臭气熏天，谢谢",
)


def _hot_reports(report):
    tickets = [report(text, openid=f"o_hot_{i}") for i, text in enumerate(GARBAGE)]
    report("路灯坏了晚上很黑", category="street_lights", openid="o_lamp")
    return tickets


def test_the_statistics_page_lists_the_hot_issue_with_its_tickets(report, dashboard_login):
    tickets = _hot_reports(report)
    browser = dashboard_login("ADM01")
    page = browser.get("/dashboard/stats").text
    box = re.search(r'id="hot-issues-box" hx-get="([^"]+)" hx-trigger="load"', page)
    assert box, "the statistics page loads its hot issues after the figures"
    table = browser.get(box.group(1).replace("&amp;", "&")).text
    table = table[table.index('id="hot-issues"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td>.*?</tr>", table, re.S)
    assert len(rows) == 1  # the lone street light is no hot issue
    assert "丰产路社区第一网格" in rows[0] and "垃圾" in rows[0]
    assert all(t.number in rows[0] for t in tickets)
    assert "哈哈" not in rows[0] and "谢谢" not in rows[0]
    assert re.search(r"<td>3</td><td>3</td>", rows[0])


def test_the_hot_issue_respects_the_viewers_scope(session, runtime, report, staff):
    _hot_reports(report)
    assert len(hot_issues(session, runtime, staff("ADM01"), TicketFilter())) == 1
    assert hot_issues(session, runtime, staff("GW002"), TicketFilter()) == []  # another grid's worker


def test_the_public_report_shows_the_hot_issue_without_texts_or_numbers(report, client, clock):
    tickets = _hot_reports(report)
    clock.advance(days=1)
    page = client.get("/public/reports/LC0101").text
    issues = page[page.index('id="hot-issues"') :]
    issues = issues[: issues.index("</ol>")]
    assert "丰产路社区第一网格" in issues and "3 位居民反映 3 次" in issues
    assert not any(t.number in page for t in tickets) and "臭" not in page
    english = client.get("/public/reports/LC0101?lang=en").text
    assert "3 reports from 3 residents" in english
