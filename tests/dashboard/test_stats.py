"""Statistics: counts, handling figures, 绩效考评 tables and hot topics, computed within the viewer's scope."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from backend.dashboard.exports import statistics_tables
from backend.dashboard.stats import Assessment, compute_statistics, hot_phrases, open_by_grid
from backend.domain.tickets import Action
from backend.services.feedback import rate
from backend.services.people import resident_actor
from backend.services.queries import TicketFilter
from backend.services.workflow import perform_action

GRID = "LC010101"


@pytest.fixture
def worked(session, runtime, clock, report, staff, resident):
    """Three garbage reports and one street-light report in one grid; one garbage ticket handled in 2 h
    and rated satisfied, one escalated."""
    done = report(openid="o_done")
    escalated = report("垃圾桶旁边的垃圾一直没人管", openid="o_esc")
    report("小区门口垃圾堆成山，臭气熏天", openid="o_open")
    report("路灯坏了晚上很黑", category="street_lights", openid="o_light")
    gw = staff("GW001")
    for action in (Action.accept, Action.start):
        perform_action(session, runtime, done.number, action, gw)
        session.commit()
    clock.advance(hours=2)
    perform_action(session, runtime, done.number, Action.resolve, gw, reason="已清运")
    perform_action(session, runtime, done.number, Action.verify, staff("GL01"))
    session.commit()
    rate(session, runtime, done.number, resident_actor(resident("o_done")), score="satisfied")
    perform_action(session, runtime, escalated.number, Action.escalate, staff("CD01"), reason="需要社区协调")
    session.commit()
    return {"done": done, "escalated": escalated}


def test_counts_by_category_grid_department_status_and_day(session, runtime, staff, worked, clock):
    stats = compute_statistics(session, runtime, staff("ADM01"), TicketFilter())
    assert stats.total == 4
    subs = {code: n for code, _, n in stats.by_subcategory}
    assert subs == {"garbage_piling": 3, "street_lights": 1}
    tops = {code: n for code, _, n in stats.by_category}
    expected = Counter({runtime.city.subcategories["garbage_piling"].category: 3})
    expected[runtime.city.subcategories["street_lights"].category] += 1
    assert tops == dict(expected)
    assert {code: n for code, _, n in stats.by_grid} == {GRID: 4}
    assert {code: n for code, _, n in stats.by_department} == {"urban_management": 4}
    assert stats.by_status["closed"] == 1 and sum(stats.by_status.values()) == 4
    assert [n for _, n in stats.by_day] == [4]
    assert stats.by_day[0][0] == worked["done"].created_at.astimezone(ZoneInfo(runtime.settings.timezone)).date()


def test_handling_figures_follow_the_worked_ticket(session, runtime, staff, worked):
    stats = compute_statistics(session, runtime, staff("ADM01"), TicketFilter())
    assert stats.median_handling_hours == pytest.approx(2.0, abs=0.01)
    assert stats.on_time_rate == 1.0
    assert stats.satisfaction_rate == 1.0
    assert stats.reopen_rate == 0.0
    assert stats.escalations == 1
    assert stats.open == 3 and stats.overdue == 0


def test_late_resolution_and_dissatisfaction_lower_the_rates(session, runtime, staff, report, resident, clock):
    ticket = report(openid="o_late")
    gw = staff("GW001")
    for action in (Action.accept, Action.start):
        perform_action(session, runtime, ticket.number, action, gw)
        session.commit()
    clock.advance(days=5)  # far beyond the 8 working hours of garbage_piling
    perform_action(session, runtime, ticket.number, Action.resolve, gw, reason="已清运")
    perform_action(session, runtime, ticket.number, Action.verify, staff("GL01"))
    session.commit()
    late = compute_statistics(session, runtime, staff("ADM01"), TicketFilter())
    assert late.on_time_rate == 0.0
    assert late.median_handling_hours == pytest.approx(5 * 24)
    assert late.grid_table[0].score == pytest.approx(60.0)  # 0 on time, no rating yet, all resolved
    rate(session, runtime, ticket.number, resident_actor(resident("o_late")), score="dissatisfied")
    session.commit()  # the rollups count a transaction's changes when it commits
    reopened = compute_statistics(session, runtime, staff("ADM01"), TicketFilter())
    assert reopened.satisfaction_rate == 0.0
    assert reopened.reopen_rate == 1.0  # dissatisfied reopened it
    assert reopened.open == 1 and reopened.median_handling_hours is None


def test_statistics_respect_the_viewers_scope(session, runtime, staff, worked):
    assert compute_statistics(session, runtime, staff("GW002"), TicketFilter()).total == 0
    assert compute_statistics(session, runtime, staff("GW001"), TicketFilter()).total == 4
    assert compute_statistics(session, runtime, staff("DH01"), TicketFilter()).total == 0


def test_period_filter_excludes_older_tickets(session, runtime, staff, worked, clock):
    later = clock.now() + timedelta(days=1)
    assert compute_statistics(session, runtime, staff("ADM01"), TicketFilter(created_from=later)).total == 0


def test_assessment_tables_per_grid_and_department(session, runtime, staff, worked):
    stats = compute_statistics(session, runtime, staff("ADM01"), TicketFilter())
    [grid] = stats.grid_table
    assert (grid.code, grid.total, grid.open, grid.resolved, grid.ratings, grid.good_ratings, grid.escalated) == (
        GRID,
        4,
        3,
        1,
        1,
        1,
        1,
    )
    # on time 1/1, satisfied 1/1, closure 1/4 → 40 + 40 + 20 × 0.25
    assert grid.score == pytest.approx(85.0)
    [dept] = stats.department_table
    assert dept.code == "urban_management" and dept.total == 4 and dept.name


def test_assessment_score_treats_missing_rates_as_full_marks():
    assert Assessment(code="g", name="g").score == 100.0
    assert Assessment(code="g", name="g", total=2, resolved=1, with_due=1, on_time=0).score == pytest.approx(50.0)


def test_hot_topics_show_frequent_categories_and_phrases(session, runtime, staff, worked):
    stats = compute_statistics(session, runtime, staff("ADM01"), TicketFilter())
    assert stats.by_subcategory[0][0] == "garbage_piling"
    words = dict(stats.hot_phrases)
    assert words.get("垃圾", 0) >= 2 and words.get("路灯") == 1
    assert "的" not in words


def test_hot_phrases_count_each_word_once_per_text():
    assert dict(hot_phrases(["垃圾垃圾垃圾", "垃圾没人清运"]))["垃圾"] == 2


def test_open_tickets_per_grid_count_lights(session, runtime, staff, worked):
    worked["escalated"].light = "red"
    session.commit()
    counts = open_by_grid(session, staff("ADM01"))
    assert counts == {GRID: (3, 0, 1)}
    assert open_by_grid(session, staff("GW002")) == {}


def test_statistics_tables_carry_every_section(session, runtime, staff, worked):
    tables = statistics_tables(compute_statistics(session, runtime, staff("ADM01"), TicketFilter()))
    assert set(tables) == {"概览", "按大类", "按小类", "按网格", "按部门", "按日", "网格考评", "部门考评", "热词"}
    overview = dict(tables["概览"][1:])
    assert overview["工单总数"] == 4 and overview["按期办结率"] == "100.0%"


def test_laughter_and_courtesy_are_never_hot_phrases():
    words = dict(hot_phrases(["哈哈哈，您好，路灯坏了，谢谢", "哈哈哈哈 路灯不亮，谢谢领导", "您好，路灯又坏了"]))
    assert words["路灯"] >= 2
    assert not {"哈哈哈", "哈哈哈哈", "您好", "谢谢", "领导"} & set(words)
