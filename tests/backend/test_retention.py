"""The retention job: finished tickets lose their personal fields, old photos and transcripts go, statistics stay."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlalchemy import select

from backend.dashboard.exports import statistics_tables
from backend.dashboard.stats import compute_statistics
from backend.db.models import (
    Attachment,
    ConversationState,
    Notification,
    Rating,
    RetentionRun,
    Ticket,
    TicketEvent,
)
from backend.domain.privacy import RetentionPolicy
from backend.domain.tickets import Action
from backend.services.attachments import store_photo
from backend.services.feedback import rate
from backend.services.people import resident_actor
from backend.services.queries import TicketFilter
from backend.services.retention import run_retention
from backend.services.workflow import perform_action

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
POLICY = RetentionPolicy(ticket_days=30, photo_days=10, transcript_days=7)


def _closed_ticket(session, runtime, report, staff, resident, *, text, openid):
    ticket = report(text, openid=openid, location_text="建设路123号")
    store_photo(
        session,
        upload_dir=runtime.settings.upload_dir,
        ticket=ticket,
        data=PNG,
        stage="report",
        uploaded_by=ticket.reporter_id,
        max_bytes=runtime.settings.upload_max_bytes,
    )
    gw = staff("GW001")
    for action in (Action.accept, Action.start):
        perform_action(session, runtime, ticket.number, action, gw)
    perform_action(session, runtime, ticket.number, Action.resolve, gw, reason="已清运，联系13812345678确认")
    perform_action(session, runtime, ticket.number, Action.verify, staff("GL01"))
    session.commit()
    rate(session, runtime, ticket.number, resident_actor(resident(openid)), score="satisfied", comment="谢谢王师傅")
    session.commit()
    return ticket


def test_finished_tickets_are_anonymised_after_the_period_and_statistics_stay(
    session, runtime, clock, report, staff, resident
):
    old = _closed_ticket(
        session, runtime, report, staff, resident, text="我是李四，电话13812345678，垃圾没清运", openid="o_a"
    )
    open_one = report("小区门口垃圾堆成山，电话13912345678", openid="o_b")
    before = statistics_tables(compute_statistics(session, runtime, staff("ADM01"), TicketFilter()))
    photo = runtime.settings.upload_dir / session.scalars(select(Attachment.path)).one()
    assert photo.exists()

    clock.advance(days=31)
    run = run_retention(session, POLICY, clock.now(), upload_dir=runtime.settings.upload_dir)

    session.expire_all()
    gone = session.get(Ticket, old.id)
    assert gone.text == "" and gone.location_text is None and gone.lon is None and gone.reporter_id is None
    assert gone.anonymised_at == clock.now()
    assert all(e.note is None for e in gone.events)
    assert [e.action for e in gone.events][-1] == "close"  # the trail of moves stays
    assert session.scalars(select(Rating.comment).where(Rating.ticket_id == old.id)).all() == [None]
    assert session.scalars(select(Attachment).where(Attachment.ticket_id == old.id)).all() == []
    assert not photo.exists()
    kept = session.get(Ticket, open_one.id)
    assert "13912345678" in kept.text and kept.anonymised_at is None  # open work is untouched
    assert run.counts["tickets_anonymised"] == 1
    after = statistics_tables(compute_statistics(session, runtime, staff("ADM01"), TicketFilter()))
    before.pop("热词"), after.pop("热词")  # hot phrases come from the texts, which are gone
    assert after == before


def test_a_second_run_does_nothing_twice(session, runtime, clock, report, staff, resident):
    _closed_ticket(session, runtime, report, staff, resident, text="垃圾没清运", openid="o_c")
    clock.advance(days=31)
    first = run_retention(session, POLICY, clock.now(), upload_dir=runtime.settings.upload_dir)
    clock.advance(minutes=5)
    second = run_retention(session, POLICY, clock.now(), upload_dir=runtime.settings.upload_dir)
    assert first.counts["tickets_anonymised"] == 1
    assert second.counts["tickets_anonymised"] == 0 and second.counts["photos_deleted"] == 0
    runs = session.scalars(select(RetentionRun).order_by(RetentionRun.id)).all()
    assert [r.counts["tickets_anonymised"] for r in runs[-2:]] == [1, 0]
    assert runs[-1].finished_at is not None and set(runs[-1].cutoffs) == {"tickets", "photos", "transcripts"}


def test_photos_go_before_the_ticket_is_anonymised(session, runtime, clock, report, staff, resident):
    ticket = _closed_ticket(session, runtime, report, staff, resident, text="垃圾没清运", openid="o_d")
    clock.advance(days=11)
    run = run_retention(session, POLICY, clock.now(), upload_dir=runtime.settings.upload_dir)
    session.expire_all()
    assert run.counts["photos_deleted"] == 1 and run.counts["tickets_anonymised"] == 0
    assert session.get(Ticket, ticket.id).text == "垃圾没清运"


def test_chat_transcripts_go_after_their_period(session, runtime, clock, report, staff, resident):
    ticket = report("路灯坏了", openid="o_e")
    session.add(
        ConversationState(channel="wechat", external_id="o_e", state={"flow": "report"}, updated_at=clock.now())
    )
    sent = session.scalars(select(Notification).where(Notification.ticket_id == ticket.id)).all()
    for row in sent:
        row.status, row.created_at = "sent", clock.now()
    session.commit()
    clock.advance(days=8)
    run = run_retention(session, POLICY, clock.now(), upload_dir=runtime.settings.upload_dir)
    assert run.counts["dialogues_deleted"] >= 1 and run.counts["messages_deleted"] >= len(sent) > 0
    assert session.get(ConversationState, ("wechat", "o_e")) is None
    assert session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).all()  # the ticket stays


def test_messages_a_channel_refused_go_with_the_transcripts(session, runtime, clock, report):
    # A reply the resident's channel refused for good (blocked, WeChat's 48 hours over) is kept as status
    # "fallback" beside the message that replaced it: its words are a transcript like any sent message's.
    ticket = report("路灯坏了", openid="o_g")
    rows = session.scalars(select(Notification).where(Notification.ticket_id == ticket.id)).all()
    for row, status in zip(rows, ("fallback", "pending"), strict=False):
        row.status, row.created_at = status, clock.now()
    session.commit()
    clock.advance(days=8)
    run_retention(session, POLICY, clock.now(), upload_dir=runtime.settings.upload_dir)
    left = session.scalars(select(Notification.status).where(Notification.ticket_id == ticket.id)).all()
    assert "fallback" not in left and len(left) == len(rows) - 1


def test_photos_of_reports_never_made_go_with_the_transcripts(session, runtime, clock, report):
    ticket = report("路灯坏了", openid="o_f")
    kept = store_photo(
        session,
        upload_dir=runtime.settings.upload_dir,
        ticket=ticket,
        data=PNG,
        stage="report",
        uploaded_by=ticket.reporter_id,
        max_bytes=runtime.settings.upload_max_bytes,
    )
    session.commit()
    stray = runtime.settings.upload_dir / ("0" * 64 + ".jpg")
    stray.write_bytes(b"left behind")
    clock.advance(days=8)
    old = (clock.now() - timedelta(days=POLICY.transcript_days + 1)).timestamp()
    for path in (stray, runtime.settings.upload_dir / kept.path):
        os.utime(path, (old, old))
    run = run_retention(session, POLICY, clock.now(), upload_dir=runtime.settings.upload_dir)
    assert run.counts["unused_files_deleted"] == 1
    assert not stray.exists() and (runtime.settings.upload_dir / kept.path).exists()
