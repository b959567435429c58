"""Model versions: saved complete or not at all, activated by an atomic pointer, rolled back, and listed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from nlp.classify import ComplaintClassifier
from nlp.modelfile import save_model
from nlp.modelstore import (
    ACTIVE_FILE,
    SHIPPED_DIR,
    ModelStoreError,
    activate,
    active_version,
    list_versions,
    load_version,
    pointer_stamp,
    rollback,
    save_version,
)
from nlp.train import train_model
from tests.nlp.test_modelfile import INFO, _corpus

NOW = datetime(2026, 12, 4, 22, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def model() -> ComplaintClassifier:
    texts, labels = _corpus(3)
    fitted, _ = train_model(texts, labels, label_info=INFO)
    return fitted


@pytest.fixture
def root(model: ComplaintClassifier, tmp_path: Path) -> Path:
    """A model directory holding only v1."""
    path = tmp_path / "models"
    save_model(model, path / SHIPPED_DIR, metadata={"built_from": "custom"})
    return path


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.startswith(".tmp") or p.suffix == ".tmp")


def test_v1_is_active_until_another_version_is_activated(model: ComplaintClassifier, root: Path) -> None:
    assert active_version(root) == "v1" and pointer_stamp(root) is None
    name = save_version(root, model, metadata={"built_from": "retrain"}, now=NOW)
    assert name == "v2-20261204T221500Z"
    assert active_version(root) == "v1"  # saved, not active

    assert activate(root, name) == "v1"
    assert active_version(root) == name and pointer_stamp(root) is not None
    loaded = load_version(root, name)
    assert loaded.version == name and loaded.predict("路灯不亮了").subcategory == "street_lights"
    assert [(v.name, v.active) for v in list_versions(root)] == [("v1", False), (name, True)]
    assert _leftovers(root) == []


def test_rollback_returns_to_the_version_before_and_then_has_nothing_left(
    model: ComplaintClassifier, root: Path
) -> None:
    v2 = save_version(root, model, metadata={}, now=NOW)
    v3 = save_version(root, model, metadata={}, now=NOW)
    assert v3.startswith("v3-")
    activate(root, v2)
    before = pointer_stamp(root)
    activate(root, v3)
    assert pointer_stamp(root) != before  # the cheap stamp a running process compares

    assert rollback(root) == v2
    assert rollback(root) == "v1"
    with pytest.raises(ModelStoreError, match="no earlier version"):
        rollback(root)
    assert active_version(root) == "v1"
    assert _leftovers(root) == []


def test_a_version_that_does_not_exist_or_does_not_load_is_never_activated(
    model: ComplaintClassifier, root: Path
) -> None:
    with pytest.raises(ModelStoreError, match="not a model version"):
        activate(root, "../elsewhere")
    v2 = save_version(root, model, metadata={}, now=NOW)
    (root / v2 / "model.joblib").write_bytes(b"tampered")
    with pytest.raises(Exception, match="sha256"):
        activate(root, v2)
    assert active_version(root) == "v1" and not (root / ACTIVE_FILE).exists()


def test_a_failed_save_leaves_no_version_and_no_temporary_files(model: ComplaintClassifier, root: Path) -> None:
    with pytest.raises(TypeError):
        save_version(root, model, metadata={"not json": object()}, now=NOW)
    assert [v.name for v in list_versions(root)] == ["v1"]
    assert _leftovers(root) == [] and sorted(p.name for p in root.iterdir()) == [".store.lock", SHIPPED_DIR]
