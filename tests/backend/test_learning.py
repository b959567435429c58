"""The model learns live: `retrain` from the city's corrections, refusal of a worse model, the swap a running
runtime picks up without a restart, and rollback. Real database, real model files in a temporary directory."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy.orm import Session, sessionmaker

from backend.api.metrics import TimedClassifier
from backend.db.models import Ticket
from backend.ports import FrozenClock
from backend.runtime import Runtime, build_runtime
from backend.services.actors import ActorContext
from backend.services.corrections import correct_category
from backend.services.intake import assess
from backend.services.learning import labelled_history
from backend.settings import Settings
from backend.usecases.learning import model_versions, retrain_model, rollback_model
from nlp.modelfile import save_model
from nlp.modelstore import SHIPPED_DIR, active_version
from nlp.train import train_model
from tests.nlp.test_modelfile import INFO, _corpus

MANHOLE = ["井盖丢了一个大坑", "窨井盖缺失很危险", "路面井盖破损塌陷"]
GARBAGE = "锦绣苑垃圾好几天没拉走，请尽快处理"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A model directory whose v1 knows three categories (garbage, street lights, water), and no road damage."""
    texts, labels = _corpus(1)
    model, _ = train_model(texts, labels, label_info=INFO)
    root = tmp_path / "models"
    save_model(model, root / SHIPPED_DIR, metadata={"built_from": "custom"})
    return root


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """The small seed corpus the candidates are trained on."""
    path = tmp_path / "seed.csv"
    texts, labels = _corpus(1)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "text"])
        writer.writerows(zip(labels, texts, strict=True))
    return path


@pytest.fixture
def live(settings: Settings, store: Path) -> Settings:
    """Settings on the temporary model directory, checked for a new version on every classification."""
    return settings.model_copy(update={"model_dir": store, "model_check_seconds": 0.0})


@pytest.fixture
def corrected(
    session: Session,
    runtime: Runtime,
    clock: FrozenClock,
    report: Callable[..., Ticket],
    staff: Callable[[str], ActorContext],
) -> Callable[[str, str, str], None]:
    """A report filed under one category and corrected by a dispatcher to another, an hour after the last one."""

    def make(text: str, filed: str, corrected_to: str) -> None:
        ticket = report(text, category=filed)
        clock.advance(hours=1)
        correct_category(session, runtime, ticket.number, staff("CD01"), category_code=corrected_to)
        session.commit()

    return make


def _leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.startswith(".tmp") or p.suffix == ".tmp"]


def test_a_better_model_is_activated_and_a_running_runtime_uses_it_then_rolls_back(
    live: Settings, corpus: Path, session_factory: sessionmaker[Session], corrected: Callable[[str, str, str], None]
) -> None:
    running = build_runtime(live)  # a server started before the retrain
    running.classifier = TimedClassifier(running.classifier, Histogram("t", "t", registry=CollectorRegistry()))  # type: ignore[arg-type]
    before = assess(running, "建设路井盖丢了一个大坑")
    assert before.model_version == "v1" and before.category_code != "road_damage"
    for i in range(10):
        corrected(f"建设路{i}号{MANHOLE[i % 3]}", "garbage_piling", "road_damage")
    in_flight = running.classifier

    result = retrain_model(live, session_factory, corpus_dir=corpus)

    assert result.accepted and (result.learned, result.held_back) == (8, 2)
    assert result.current.accuracy == 0.0 and result.candidate.accuracy == 1.0
    assert result.version is not None and active_version(live.model_dir) == result.version
    after = assess(running, "建设路井盖丢了一个大坑")  # no restart
    assert (after.model_version, after.category_code) == (result.version, "road_damage")
    assert 0.0 < after.confidence <= 1.0 and len(after.top3) == 3
    assert isinstance(running.classifier, TimedClassifier)  # the metrics wrapper survives the swap
    assert in_flight.predict("路灯不亮了").subcategory == "street_lights"  # the old object still answers
    [_, new] = model_versions(live)
    assert new.meta["evaluation"]["candidate"] == {
        "accuracy": 1.0,
        "macro_f1": 1.0,
        "department_accuracy": 1.0,
        "department_macro_f1": 1.0,
    }
    assert new.meta["base_version"] == "v1" and new.meta["learned_from_history"] == 8
    assert _leftovers(live.model_dir) == []

    assert rollback_model(live) == "v1"
    rolled = assess(running, "建设路井盖丢了一个大坑")
    assert rolled.model_version == "v1" and rolled.category_code != "road_damage"


def test_a_worse_model_is_refused_and_the_active_one_stays(
    live: Settings, corpus: Path, session_factory: sessionmaker[Session], corrected: Callable[[str, str, str], None]
) -> None:
    running = build_runtime(live)
    for _ in range(16):  # wrong corrections: garbage called street lights
        corrected(GARBAGE, "garbage_piling", "street_lights")
    for _ in range(4):  # the newest, right again
        corrected(GARBAGE, "street_lights", "garbage_piling")

    result = retrain_model(live, session_factory, corpus_dir=corpus)

    assert not result.accepted and result.version is None
    assert result.held_back == 4 and result.current.accuracy == 1.0 and result.candidate.accuracy < 1.0
    assert active_version(live.model_dir) == "v1" and [v.name for v in model_versions(live)] == ["v1"]
    assert assess(running, GARBAGE).model_version == "v1"
    assert _leftovers(live.model_dir) == []


def test_with_no_history_nothing_is_activated(
    live: Settings, corpus: Path, session_factory: sessionmaker[Session]
) -> None:
    result = retrain_model(live, session_factory, corpus_dir=corpus)
    assert (result.held_back, result.accepted) == (0, False)
    assert active_version(live.model_dir) == "v1"


def test_history_is_each_ticket_once_with_the_newest_decision(
    session: Session, corrected: Callable[[str, str, str], None], report: Callable[..., Ticket], staff, runtime, clock
) -> None:
    corrected(GARBAGE, "street_lights", "road_damage")
    [ticket] = [t for t in session.query(Ticket).all() if t.text == GARBAGE]
    clock.advance(hours=1)
    correct_category(session, runtime, ticket.number, staff("CD01"), category_code="garbage_piling")
    session.commit()
    [item] = labelled_history(session)
    assert (item.text, item.label, item.source) == (GARBAGE, "garbage_piling", "correction")
