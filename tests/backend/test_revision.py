"""A reporter's edit of a report still waiting at a triage desk: the words are replaced and assessed once
more; nobody else may do it, and once it is dispatched it is refused."""

from __future__ import annotations

import pytest

from backend.domain.errors import GuardFailed, PermissionDenied
from backend.services.revision import revise_report
from tests.backend.conftest import resident_ctx


def test_a_waiting_report_takes_the_new_words_category_and_place(session, runtime, report, resident):
    ticket = report("那个东西坏了", category=None, lon=None, lat=None)
    assert ticket.status == "submitted" and ticket.grid_code is None
    revise_report(
        session, runtime, ticket.number, "怡和花园5栋门口的路灯不亮了", actor=resident_ctx(resident("o_resident_1"))
    )
    assert ticket.text == "怡和花园5栋门口的路灯不亮了"
    assert ticket.category_code == "street_lights" and ticket.grid_code == "LC010101"
    revise = ticket.events[-1]
    assert revise.action == "revise" and revise.note == "那个东西坏了" and revise.to_status == "submitted"


def test_only_the_reporter_may_revise(session, runtime, report, resident):
    ticket = report("那个东西坏了", category=None, lon=None, lat=None)
    with pytest.raises(PermissionDenied):
        revise_report(session, runtime, ticket.number, "别人的修改", actor=resident_ctx(resident("o_someone_else")))


def test_a_dispatched_report_can_no_longer_be_revised(session, runtime, report, resident):
    ticket = report()
    assert ticket.status == "dispatched"
    with pytest.raises(GuardFailed) as refused:
        revise_report(session, runtime, ticket.number, "改一下", actor=resident_ctx(resident("o_resident_1")))
    assert refused.value.code == "error.report_taken_up"
    assert ticket.text != "改一下"
