"""Collect (采集) and route (分流): a message is assessed once, and a report becomes a numbered, routed ticket."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from backend.db.models import Person, Ticket, TicketEvent
from backend.domain.errors import GuardFailed, NotFound
from backend.domain.roles import Role, Tier
from backend.domain.tickets import Action
from backend.domain.triage import DeskReason, Route, gate
from backend.runtime import Runtime
from backend.services.actors import SYSTEM, ActorContext
from backend.services.alarms import raise_alarm
from backend.services.assignment import candidates_remembered
from backend.services.categories import subcategory
from backend.services.desk import put_on_desk
from backend.services.numbering import next_ticket_number
from backend.services.open_tickets import open_tickets
from backend.services.workflow import apply_action

logger = logging.getLogger(__name__)

MAX_TEXT = 4000
# A place named in the text below this gazetteer confidence is not trusted to route or to describe the report.
PLACE_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Placement:
    """Where a report is: the most specific area, its responsible grid, and how we know."""

    area_code: str | None = None
    grid_code: str | None = None
    source: str = "none"  # pin | chosen | text | home | none
    confidence: float = 0.0


@dataclass(frozen=True)
class Assessment:
    """Everything gridbot reads from one message, computed once: what, where, how urgent.

    Downstream steps (the dialogue, the ticket, its audit event) read this object and never analyse the text
    again; a later answer (a typed place, a picked category) refines it with `with_place` / `with_category`.
    """

    text: str
    category_code: str | None
    confidence: float
    top3: tuple[tuple[str, float], ...]
    urgent: bool
    urgency_kinds: tuple[str, ...]
    hotlines: tuple[str, ...]
    place: Placement
    place_words: str | None = None  # the place the text names, when the gazetteer is confident of it
    category_confirmed: bool = False  # picked by a person rather than predicted
    model_version: str | None = None  # the model version that gave confidence and top3 (None: not classified)

    def with_place(self, place: Placement) -> Assessment:
        """The same assessment with a place the reporter gave later."""
        return replace(self, place=place)

    def with_category(self, code: str | None) -> Assessment:
        """The same assessment with a category a person picked (None: they do not know)."""
        return replace(self, category_code=code, category_confirmed=True)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form, to keep between the turns of a dialogue."""
        # What dataclasses.asdict gives, at a thirtieth of its cost (a report dialogue keeps it on every turn): the
        # fields besides `place` are immutable (text, numbers, tuples of them), so they need no deep copy.
        return {**vars(self), "place": dict(vars(self.place))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Assessment:
        """The inverse of to_json."""
        fields = dict(data)
        fields["top3"] = tuple((str(c), float(p)) for c, p in fields.get("top3", ()))
        fields["urgency_kinds"] = tuple(fields.get("urgency_kinds", ()))
        fields["hotlines"] = tuple(fields.get("hotlines", ()))
        fields["place"] = Placement(**fields.get("place", {}))
        return cls(**fields)


@dataclass
class ReportIn:
    """A report as the intake takes it from any channel."""

    text: str
    channel: str
    reporter_id: int | None = None
    lon: float | None = None
    lat: float | None = None
    location_text: str | None = None
    area_code: str | None = None  # chosen by the reporter (e.g. a 小区 button)
    category_code: str | None = None  # confirmed by the reporter or staff
    urgent: bool | None = None  # None: decide from the text
    source: str = "resident"
    note: str | None = None  # kept on the submit event (e.g. an Open311 client's contact fields)
    details: dict[str, Any] = field(default_factory=dict)  # added to the submit event's data


@dataclass(frozen=True)
class _Batch:
    """A batch of messages analysed at once (the inbox processor's), by text: the classifier's predictions,
    made in one call, and the place each text names; with the (grid, category) each text points to."""

    classifier: object
    predictions: Mapping[str, Any]
    places: Mapping[str, Any]
    pairs: frozenset[tuple[str, str]]


# The batch being turned in this thread: `assess` of any of its texts takes what was found here instead of
# analysing the text again, and its duplicate checks read the open tickets of all its texts at once.
_BATCH: ContextVar[_Batch | None] = ContextVar("analysed_batch", default=None)


@contextmanager
def predicted(runtime: Runtime, texts: Sequence[str]) -> Iterator[None]:
    """Classify texts in one vectorised call and find their places; within the block, `assess` of any of them
    uses what was found, and each transaction reads the staff it dispatches to once."""
    classifier = runtime.current_classifier()
    wanted = list(dict.fromkeys(text for text in texts if text.strip()))
    predictions: dict[str, Any] = {}
    if classifier is not None and wanted:
        many = getattr(classifier, "predict_many", None)
        try:
            found = many(wanted) if many is not None else [classifier.predict(text) for text in wanted]
            predictions = dict(zip(wanted, found, strict=True))
        except Exception:  # each turn then predicts on its own (and fails on its own, retried then parked)
            logger.exception("batch classification failed")
    places = {text: runtime.places.best(text) for text in wanted} if runtime.places is not None else {}
    pairs = frozenset(
        (grid, str(prediction.subcategory))
        for text, prediction in predictions.items()
        if prediction.subcategory and (grid := _grid_named(runtime, places.get(text))) is not None
    )
    token = _BATCH.set(_Batch(classifier, predictions, places, pairs))
    try:
        with candidates_remembered():
            yield
    finally:
        _BATCH.reset(token)


def _prediction(classifier: Any, text: str) -> Any:
    batch = _BATCH.get()
    if batch is not None and batch.classifier is classifier and text in batch.predictions:
        return batch.predictions[text]
    return classifier.predict(text)


def _named(runtime: Runtime, text: str) -> Any:
    """The place a text names that is trusted to route it, or None."""
    batch = _BATCH.get()
    if batch is not None and text in batch.places:
        named = batch.places[text]
    else:
        named = runtime.places.best(text) if runtime.places is not None and text else None
    return _trusted(named)


def _trusted(named: Any) -> Any:
    return named if named is not None and named.confidence >= PLACE_CONFIDENCE else None


def _grid_named(runtime: Runtime, named: Any) -> str | None:
    trusted = _trusted(named)
    return runtime.grid_of(trusted.area_code) if trusted is not None else None


def assess(
    runtime: Runtime,
    text: str,
    *,
    lon: float | None = None,
    lat: float | None = None,
    area_code: str | None = None,
    home_area: str | None = None,
    classify: bool = True,
) -> Assessment:
    """Classify (unless told not to), find the place and check urgency of one message, without the database."""
    from nlp.urgency import detect

    category: str | None = None
    confidence = 0.0
    top3: tuple[tuple[str, float], ...] = ()
    model_version: str | None = None
    classifier = runtime.current_classifier() if classify and text.strip() else None
    if classifier is not None:
        prediction = _prediction(classifier, text)
        category, confidence = prediction.subcategory, float(prediction.confidence)
        top3 = tuple((c, float(p)) for c, p in prediction.top3)
        version = getattr(classifier, "version", None)  # a model from the store knows its version
        model_version = version if isinstance(version, str) else "unversioned"
    urgency = detect(text)
    trusted = _named(runtime, text)
    place = _place_from(runtime, lon=lon, lat=lat, area_code=area_code, named=trusted, home_area=home_area)
    return Assessment(
        text=text,
        category_code=category,
        confidence=confidence,
        top3=top3,
        urgent=urgency.is_urgent,
        urgency_kinds=urgency.kinds,
        hotlines=urgency.hotlines,
        place=place,
        place_words=trusted.matched if trusted is not None else None,
        model_version=model_version,
    )


def locate(
    runtime: Runtime,
    *,
    text: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    area_code: str | None = None,
    home_area: str | None = None,
) -> Placement:
    """A pin first, then an area the reporter picked, then place words in the text, then their home."""
    trusted = _named(runtime, text) if text else None
    return _place_from(runtime, lon=lon, lat=lat, area_code=area_code, named=trusted, home_area=home_area)


def _place_from(
    runtime: Runtime,
    *,
    lon: float | None,
    lat: float | None,
    area_code: str | None,
    named: Any,
    home_area: str | None,
) -> Placement:
    if lon is not None and lat is not None:
        code = runtime.grids.locate(lon, lat)
        if code is not None:
            return Placement(code, runtime.grid_of(code), "pin", 1.0)
    if area_code and runtime.grid_of(area_code):
        return Placement(area_code, runtime.grid_of(area_code), "chosen", 1.0)
    if named is not None and runtime.grid_of(named.area_code):
        return Placement(named.area_code, runtime.grid_of(named.area_code), "text", float(named.confidence))
    if home_area and runtime.grid_of(home_area):
        return Placement(home_area, runtime.grid_of(home_area), "home", 0.8)
    return Placement()


def create_ticket(
    session: Session,
    runtime: Runtime,
    report: ReportIn,
    *,
    assessment: Assessment | None = None,
    actor: ActorContext | None = None,
    dispatch: bool = True,
) -> Ticket:
    """Number, categorise and route a report: dispatched when the triage gate is sure, else on the triage desk.

    A caller that has assessed the message already (a chat dialogue) passes its assessment and nothing is
    analysed again; otherwise the report is assessed here. A category in the report is one a person chose.
    `dispatch=False` leaves the ticket submitted (e.g. when it is about to be merged into another).
    Refuses (DomainError) only before its first write, so a refusal leaves the caller nothing to take back.
    Does not commit: the caller owns the transaction.
    """
    text = (report.text or "").strip()
    if not text:
        raise GuardFailed("error.description_required")
    if len(text) > MAX_TEXT:
        raise GuardFailed("error.description_too_long", max_chars=MAX_TEXT)
    if report.reporter_id is not None and session.get(Person, report.reporter_id) is None:
        raise NotFound("error.reporter_not_found")
    if assessment is None:
        assessment = _assess_report(session, runtime, report, text)
    if report.category_code:
        assessment = assessment.with_category(report.category_code)
    category = subcategory(session, runtime, assessment.category_code)
    if report.category_code and category is None:
        raise NotFound("error.unknown_category", category=report.category_code)
    place = assessment.place
    urgent = assessment.urgent if report.urgent is None else report.urgent
    now = runtime.clock.now()
    ticket = Ticket(
        number=next_ticket_number(
            session, prefix=runtime.settings.ticket_number_prefix, now=now, timezone=runtime.settings.timezone
        ),
        channel=report.channel,
        reporter_id=report.reporter_id,
        source=report.source,
        text=text,
        category_code=category.code if category else None,
        category_confidence=1.0 if assessment.category_confirmed else assessment.confidence,
        priority="urgent" if urgent else "normal",
        lon=report.lon,
        lat=report.lat,
        location_text=report.location_text,
        area_code=place.area_code,
        grid_code=place.grid_code,
        community_code=runtime.ancestor_at(place.grid_code, "community"),
        street_code=runtime.ancestor_at(place.grid_code, "street"),
        department_code=category.department if category else None,
        tier=category.tier if category else Tier.grid.value,
        status="submitted",
        light="green",
        reopen_count=0,
        rework_count=0,
        contact_withdrawn=False,
        created_at=now,
        updated_at=now,
        # The column defaults and empty fields set here, not left to the insert: the routing reads them before the
        # ticket is inserted, and the rollup listener need not read them back.
        due_at=None,
        resolved_at=None,
        escalated_at=None,
        # Loaded and empty: rows added through their `ticket` join these lists, so views never select them.
        events=[],
        attachments=[],
        ratings=[],
        followers=[],
    )
    session.add(ticket)
    who = actor or SYSTEM
    session.add(
        TicketEvent(
            ticket=ticket,
            at=now,
            actor_id=who.person_id or report.reporter_id,
            actor_role=(who.role if actor else Role.resident).value,
            action="submit",
            from_status=None,
            to_status="submitted",
            note=report.note,
            data={
                **report.details,
                "place_source": place.source,
                "confidence": round(assessment.confidence, 3),
                "top3": [[c, round(p, 3)] for c, p in assessment.top3],
                "model_version": assessment.model_version,
                "urgency": list(assessment.urgency_kinds),
            },
        )
    )
    if dispatch:
        # The ticket, its events, alarm and notices are inserted by one flush, below, already routed: one INSERT
        # each, no UPDATE. Nothing the routing or the alarm reads depends on them (a ticket without an assignee
        # is in nobody's load), and the number's upsert has just flushed everything else.
        with session.no_autoflush:
            _route(session, runtime, ticket, assessment, urgent=urgent)
            if urgent:
                raise_alarm(session, runtime, ticket)
    session.flush()
    return ticket


def _route(session: Session, runtime: Runtime, ticket: Ticket, assessment: Assessment, *, urgent: bool) -> None:
    """Dispatch a confident, placed report; put any other on the triage desk for a person to decide."""
    verdict = gate(
        category_known=ticket.category_code is not None,
        confidence=assessment.confidence,
        # An urgent report with a place goes out at once: a person on site beats a perfect category.
        confirmed=assessment.category_confirmed or urgent,
        place_known=ticket.grid_code is not None,
        thresholds=runtime.settings.triage_thresholds,
        can_ask=False,  # a dialogue asks before the ticket exists; here it is too late to ask
    )
    if verdict.route is Route.dispatch:
        apply_action(session, runtime, ticket, Action.dispatch, SYSTEM, reason="自动分拨")
        return
    reporter = session.get(Person, ticket.reporter_id) if ticket.reporter_id is not None else None
    home = reporter.home_area_code if reporter is not None else None
    put_on_desk(session, runtime, ticket, verdict.reason or DeskReason.unsure, home_area=home)


def _assess_report(session: Session, runtime: Runtime, report: ReportIn, text: str) -> Assessment:
    """The assessment of a report taken whole (staff intake, Open311): a picked area or typed address wins."""
    reporter = session.get(Person, report.reporter_id) if report.reporter_id is not None else None
    assessment = assess(
        runtime,
        text,
        lon=report.lon,
        lat=report.lat,
        home_area=reporter.home_area_code if reporter is not None else None,
        classify=not report.category_code,
    )
    if report.area_code or (report.lon is None and report.location_text):
        chosen = locate(runtime, area_code=report.area_code, text=report.location_text)
        if chosen.grid_code:
            assessment = assessment.with_place(chosen)
    return assessment


@dataclass(frozen=True)
class Duplicate:
    """An open ticket a new report likely repeats."""

    number: str
    text: str


def likely_duplicate(
    session: Session,
    runtime: Runtime,
    *,
    text: str,
    grid_code: str | None,
    category_code: str | None,
    exclude_id: int = -1,
) -> Duplicate | None:
    """The open ticket in the same grid and category that a text most likely repeats, if any."""
    from nlp.duplicates import Candidate

    if not grid_code or not category_code:
        return None
    now = runtime.clock.now()
    batch = _BATCH.get()
    rows = open_tickets(
        session, runtime, grid_code, category_code, exclude_id=exclude_id, batch_pairs=batch.pairs if batch else ()
    )
    candidates = [
        Candidate(id=str(row.id), text=row.text, grid_code=grid_code, category=category_code, created_at=row.created_at)
        for row in rows
    ]
    new = Candidate(id=str(exclude_id), text=text, grid_code=grid_code, category=category_code, created_at=now)
    matches = runtime.duplicates.find(new, candidates, now)
    if not matches:
        return None
    found = next(row for row in rows if str(row.id) == matches[0][0])
    return Duplicate(found.number, found.text)
